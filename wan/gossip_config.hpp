#pragma once
// Timing and sizing of the WAN gossip pool (memberlist + serf), owned by wan/.
// Defaults are what a Consul server runs on its WAN pool: memberlist's DefaultWANConfig with
// Consul's agent defaults applied on top (agent/config/default.go gives gossip_wan
// gossip_nodes = 3 and retransmit_mult = 4, the LAN values, not memberlist's WAN 4). The
// `gossip_wan { ... }` config block overrides the six fields Consul exposes, plus three meshfed
// extensions: push_pull_interval, reconnect_interval and tcp_timeout.
// Plain data; validate() returns every problem as text.
#include <chrono>
#include <string>
#include <vector>

namespace meshfed::wan {

struct gossip_config {
    using ms = std::chrono::milliseconds;
    // Exposed through `gossip_wan { ... }`.
    int gossip_nodes = 3;
    ms gossip_interval{500};
    ms probe_interval{5000};
    ms probe_timeout{3000};
    int suspicion_mult = 6;
    int retransmit_mult = 4;
    // memberlist DefaultWANConfig values Consul does not expose.
    int indirect_checks = 3;
    int suspicion_max_timeout_mult = 6;
    int awareness_max_multiplier = 8;
    ms push_pull_interval{60000};
    ms gossip_to_the_dead_time{60000};
    ms tcp_timeout{30000};  // also the deadline of an inbound stream (gossip_wan.tcp_timeout)
    int udp_buffer_size = 1400;
    // serf settings of Consul's WAN pool.
    ms dead_node_reclaim_time{30000};
    // serf's ReconnectInterval (Consul does not expose it; meshfed's gossip_wan does, like
    // push_pull_interval, so test pools with fast probes are not stuck for 30 s on a member
    // failed before its path through the gateways existed).
    ms reconnect_interval{30000};
    std::chrono::hours reconnect_timeout{72};  // reconnect_timeout_wan
    std::chrono::hours tombstone_timeout{24};
    // memberlist label (gossip_wan.label): packets and streams of other pools are refused.
    std::string label;

    std::vector<std::string> validate() const;  // "gossip_wan.probe_timeout must be ..." etc.
};

}  // namespace meshfed::wan
