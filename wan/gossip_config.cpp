#include "wan/gossip_config.hpp"

#include <fmt/format.h>

namespace meshfed::wan {

std::vector<std::string> gossip_config::validate() const {
    std::vector<std::string> errs;
    auto positive = [&](const char* name, long long v) {
        if (v <= 0) errs.push_back(fmt::format("gossip_wan.{} must be positive, got {}", name, v));
    };
    positive("gossip_nodes", gossip_nodes);
    positive("gossip_interval", gossip_interval.count());
    positive("probe_interval", probe_interval.count());
    positive("probe_timeout", probe_timeout.count());
    positive("suspicion_mult", suspicion_mult);
    positive("retransmit_mult", retransmit_mult);
    positive("push_pull_interval", push_pull_interval.count());
    positive("reconnect_interval", reconnect_interval.count());
    positive("tcp_timeout", tcp_timeout.count());
    // memberlist requires the probe to time out before the next probe round starts.
    if (probe_timeout.count() > 0 && probe_interval.count() > 0 && probe_timeout > probe_interval) {
        errs.push_back(
            fmt::format("gossip_wan.probe_timeout ({}ms) must not be longer than "
                        "gossip_wan.probe_interval ({}ms)",
                        probe_timeout.count(), probe_interval.count()));
    }
    // Consul refuses reconnect timeouts under 8 hours (a short one reaps members of a
    // datacenter that is only partitioned for a while).
    if (reconnect_timeout < std::chrono::hours(8))
        errs.push_back(
            fmt::format("reconnect_timeout_wan must be >= 8h, got {}h", reconnect_timeout.count()));
    if (label.size() > 255)
        errs.push_back(fmt::format("gossip_wan.label is {} bytes; the limit is 255", label.size()));
    return errs;
}

}  // namespace meshfed::wan
