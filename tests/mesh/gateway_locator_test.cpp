// Gateway locator (mesh/gateway_locator.hpp): healthy wanfed gateway filter, Consul's
// BestAddress, list recomputation, pick_gateway's rules (consul-wanfed.md §5.3), the
// 3-consecutive-failures replication signal (§5.4) and its log lines.
#include "mesh/gateway_locator.hpp"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

namespace meshfed::mesh {
namespace {

using strings = std::vector<std::string>;

rpc::check_service_node gateway(std::string node, std::string lan, std::int64_t port,
                                std::string wan = {}, std::int64_t wan_port = 0, bool wanfed = true,
                                std::string status = "passing") {
    rpc::check_service_node csn;
    csn.node_ = rpc::node{};
    csn.node_->name = node;
    csn.node_->address = "10.255.0.1";
    csn.service = rpc::node_service{};
    csn.service->kind = "mesh-gateway";
    csn.service->id = "mesh-gateway";
    csn.service->service = "mesh-gateway";
    csn.service->address = lan;
    csn.service->port = port;
    if (!lan.empty()) csn.service->tagged_addresses["lan"] = {lan, port};
    if (!wan.empty()) csn.service->tagged_addresses["wan"] = {wan, wan_port};
    if (wanfed) csn.service->meta[std::string(meta_wan_federation_key)] = "1";
    rpc::health_check c;
    c.node = node;
    c.check_id = "service:mesh-gateway";
    c.status = status;
    csn.checks.push_back(c);
    return csn;
}

rpc::federation_state state(std::string dc, std::vector<rpc::check_service_node> gws) {
    rpc::federation_state st;
    st.datacenter = std::move(dc);
    st.mesh_gateways = std::move(gws);
    return st;
}

struct captured_log {
    std::ostringstream out;
    std::shared_ptr<spdlog::logger> logger;
    captured_log() {
        auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
        sink->set_pattern("%v");
        logger = std::make_shared<spdlog::logger>("test.gateway_locator", sink);
        logger->set_level(spdlog::level::trace);
    }
    std::string take() {
        auto s = out.str();
        out.str({});
        return s;
    }
};

TEST(GatewayLocatorHealth, NeedsWanfedMetaAndNoCriticalCheck) {
    EXPECT_TRUE(healthy_wanfed_gateway(gateway("a", "10.0.0.1", 443)));
    EXPECT_TRUE(healthy_wanfed_gateway(gateway("a", "10.0.0.1", 443, {}, 0, true, "warning")));
    EXPECT_FALSE(healthy_wanfed_gateway(gateway("a", "10.0.0.1", 443, {}, 0, false)));
    EXPECT_FALSE(healthy_wanfed_gateway(gateway("a", "10.0.0.1", 443, {}, 0, true, "critical")));
    auto other_meta = gateway("a", "10.0.0.1", 443);
    other_meta.service->meta[std::string(meta_wan_federation_key)] = "true";
    EXPECT_FALSE(healthy_wanfed_gateway(other_meta));
    // One critical check among passing ones is enough to drop it.
    auto mixed = gateway("a", "10.0.0.1", 443);
    mixed.checks.push_back(mixed.checks.front());
    mixed.checks.back().status = "critical";
    EXPECT_FALSE(healthy_wanfed_gateway(mixed));
    rpc::check_service_node no_service;
    EXPECT_FALSE(healthy_wanfed_gateway(no_service));
}

TEST(GatewayLocatorAddress, BestAddressOrder) {
    // WAN: service tagged wan with its own port.
    EXPECT_EQ(gateway_address(gateway("a", "10.0.0.1", 8443, "198.51.100.1", 443), true),
              "198.51.100.1:443");
    // WAN tag without a port keeps the service port.
    EXPECT_EQ(gateway_address(gateway("a", "10.0.0.1", 8443, "198.51.100.1", 0), true),
              "198.51.100.1:8443");
    // No wan tag: service address. LAN never reads the wan tag.
    EXPECT_EQ(gateway_address(gateway("a", "10.0.0.1", 8443), true), "10.0.0.1:8443");
    EXPECT_EQ(gateway_address(gateway("a", "10.0.0.1", 8443, "198.51.100.1", 443), false),
              "10.0.0.1:8443");
    // No service address: node tagged wan (WAN only), then node address.
    auto bare = gateway("a", "", 8443);
    bare.node_->tagged_addresses["wan"] = "203.0.113.9";
    EXPECT_EQ(gateway_address(bare, true), "203.0.113.9:8443");
    EXPECT_EQ(gateway_address(bare, false), "10.255.0.1:8443");
    // IPv6 is bracketed.
    EXPECT_EQ(gateway_address(gateway("a", "fd00::1", 8443), false), "[fd00::1]:8443");
    // Undialable: no host at all, or no port.
    auto nowhere = gateway("a", "", 8443);
    nowhere.node_->address.clear();
    EXPECT_EQ(gateway_address(nowhere, false), std::nullopt);
    EXPECT_EQ(gateway_address(gateway("a", "10.0.0.1", 0), false), std::nullopt);
    EXPECT_EQ(gateway_address(gateway("a", "10.0.0.1", 70000), false), std::nullopt);
}

TEST(GatewayLocator, UpdateKeepsHealthyWanfedGatewaysSorted) {
    captured_log log;
    gateway_locator loc("dc2", "dc1", 1, log.logger);
    EXPECT_FALSE(loc.populated());
    loc.update({
        state("dc1", {gateway("p2", "10.1.0.2", 8443, "192.0.2.2", 443),
                      gateway("p1", "10.1.0.1", 8443, "192.0.2.1", 443),
                      gateway("p3", "10.1.0.3", 8443, "192.0.2.3", 443, false),
                      gateway("p4", "10.1.0.4", 8443, "192.0.2.4", 443, true, "critical")}),
        state("dc2", {gateway("l2", "10.2.0.2", 8443, "198.51.100.2", 443),
                      gateway("l1", "10.2.0.1", 8443, "198.51.100.1", 443)}),
        state("dc3", {gateway("x1", "10.3.0.1", 8443, "203.0.113.1", 443)}),
    });
    EXPECT_TRUE(loc.populated());
    EXPECT_TRUE(loc.seen_federation_states());
    EXPECT_EQ(loc.primary_gateways(), (strings{"192.0.2.1:443", "192.0.2.2:443"}));
    EXPECT_EQ(loc.local_gateways(), (strings{"10.2.0.1:8443", "10.2.0.2:8443"}));
    auto text = log.take();
    EXPECT_NE(text.find("new cached locations of mesh gateways"), std::string::npos) << text;
    EXPECT_NE(text.find("primary=[192.0.2.1:443 192.0.2.2:443]"), std::string::npos) << text;
    EXPECT_NE(text.find("local=[10.2.0.1:8443 10.2.0.2:8443]"), std::string::npos) << text;

    // Same input: no log. A gateway turning critical leaves the list.
    loc.update({state("dc1", {gateway("p2", "10.1.0.2", 8443, "192.0.2.2", 443),
                              gateway("p1", "10.1.0.1", 8443, "192.0.2.1", 443)}),
                state("dc2", {gateway("l2", "10.2.0.2", 8443, "198.51.100.2", 443),
                              gateway("l1", "10.2.0.1", 8443, "198.51.100.1", 443)})});
    EXPECT_EQ(log.take(), "");
    loc.update(
        {state("dc1", {gateway("p2", "10.1.0.2", 8443, "192.0.2.2", 443),
                       gateway("p1", "10.1.0.1", 8443, "192.0.2.1", 443)}),
         state("dc2", {gateway("l2", "10.2.0.2", 8443, "198.51.100.2", 443, true, "critical"),
                       gateway("l1", "10.2.0.1", 8443, "198.51.100.1", 443)})});
    EXPECT_EQ(loc.local_gateways(), (strings{"10.2.0.1:8443"}));

    // A federation state list without our DC empties the local list.
    loc.update({state("dc1", {gateway("p1", "10.1.0.1", 8443, "192.0.2.1", 443)})});
    EXPECT_TRUE(loc.local_gateways().empty());
    EXPECT_EQ(loc.primary_gateways(), (strings{"192.0.2.1:443"}));

    // Undialable entries are skipped and counted.
    loc.update({state("dc1", {gateway("p1", "10.1.0.1", 0, "192.0.2.1", 0)})});
    EXPECT_TRUE(loc.primary_gateways().empty());
    EXPECT_EQ(loc.stats().unusable, 1u);
}

TEST(GatewayLocator, PrimaryFeedsBothListsFromItsOwnState) {
    gateway_locator loc("dc1", "dc1", 1);
    loc.update({state("dc1", {gateway("p1", "10.1.0.1", 8443, "192.0.2.1", 443)}),
                state("dc2", {gateway("l1", "10.2.0.1", 8443, "198.51.100.1", 443)})});
    EXPECT_EQ(loc.primary_gateways(), (strings{"192.0.2.1:443"}));
    EXPECT_EQ(loc.local_gateways(), (strings{"10.1.0.1:8443"}));
    // In the primary: the primary's own WAN list for itself, local gateways for the others.
    EXPECT_EQ(loc.pick_gateway("dc1"), "192.0.2.1:443");
    EXPECT_EQ(loc.pick_gateway("dc2"), "10.1.0.1:8443");
    EXPECT_FALSE(loc.dial_primary_through_local_gateway());
}

TEST(GatewayLocatorPick, NothingUntilPopulated) {
    gateway_locator loc("dc2", "dc1", 1);
    loc.refresh_primary_fallback({"192.0.2.10:443"});
    EXPECT_EQ(loc.pick_gateway("dc1"), "");
    EXPECT_EQ(loc.pick_gateway("dc3"), "");
    EXPECT_EQ(loc.stats().empty_picks, 2u);
    // Populated with nothing (a fresh secondary): the fallback reaches the primary.
    loc.update({});
    EXPECT_TRUE(loc.populated());
    EXPECT_EQ(loc.pick_gateway("dc1"), "192.0.2.10:443");
    EXPECT_EQ(loc.pick_gateway("dc3"), "");
}

TEST(GatewayLocatorPick, SecondaryRules) {
    gateway_locator loc("dc2", "dc1", 7);
    loc.refresh_primary_fallback({"192.0.2.9:443", "192.0.2.1:443"});
    EXPECT_EQ(loc.primary_fallback(), (strings{"192.0.2.1:443", "192.0.2.9:443"}));
    loc.update({state("dc1", {gateway("p1", "10.1.0.1", 8443, "192.0.2.1", 443),
                              gateway("p2", "10.1.0.2", 8443, "192.0.2.2", 443)})});
    // No local gateways yet: the sorted union of the primary's and the fallback (no duplicate).
    EXPECT_TRUE(loc.dial_primary_through_local_gateway());
    EXPECT_EQ(loc.candidates("dc1"), (strings{"192.0.2.1:443", "192.0.2.2:443", "192.0.2.9:443"}));
    // Other secondaries only ever through local gateways: none yet.
    EXPECT_TRUE(loc.candidates("dc3").empty());
    EXPECT_EQ(loc.pick_gateway("dc3"), "");

    loc.update({state("dc1", {gateway("p1", "10.1.0.1", 8443, "192.0.2.1", 443),
                              gateway("p2", "10.1.0.2", 8443, "192.0.2.2", 443)}),
                state("dc2", {gateway("l1", "10.2.0.1", 8443, "198.51.100.1", 443)})});
    EXPECT_EQ(loc.pick_gateway("dc1"), "10.2.0.1:8443");
    EXPECT_EQ(loc.pick_gateway("dc3"), "10.2.0.1:8443");
    EXPECT_EQ(loc.pick_gateway("dc9"), "10.2.0.1:8443");
}

TEST(GatewayLocatorPick, RandomChoiceCoversAllAndFollowsTheSeed) {
    auto states = std::vector<rpc::federation_state>{
        state("dc1", {}),
        state("dc2", {gateway("l1", "10.2.0.1", 8443), gateway("l2", "10.2.0.2", 8443),
                      gateway("l3", "10.2.0.3", 8443)})};
    gateway_locator a("dc2", "dc1", 42), b("dc2", "dc1", 42);
    a.update(states);
    b.update(states);
    std::map<std::string, int> seen;
    for (int i = 0; i < 300; ++i) {
        auto x = a.pick_gateway("dc3");
        EXPECT_EQ(x, b.pick_gateway("dc3"));
        ++seen[x];
    }
    ASSERT_EQ(seen.size(), 3u);
    for (auto& [addr, n] : seen) EXPECT_GT(n, 50) << addr;
}

TEST(GatewayLocatorSignal, ThreeConsecutiveFailuresDialThePrimaryDirectly) {
    captured_log log;
    gateway_locator loc("dc2", "dc1", 3, log.logger);
    // A follower (no replication signal) uses local gateways blindly.
    EXPECT_TRUE(loc.dial_primary_through_local_gateway());
    EXPECT_NE(log.take().find("will dial the primary datacenter using our local mesh gateways "
                              "if possible"),
              std::string::npos);
    for (int i = 0; i < 5; ++i) loc.report_replication("rpc error: timeout", false);
    EXPECT_TRUE(loc.dial_primary_through_local_gateway());

    // The leader: the signal counts. The follower's failures above are on record.
    loc.set_use_replication_signal(true);
    EXPECT_FALSE(loc.dial_primary_through_local_gateway());
    loc.report_replication("", true);
    EXPECT_TRUE(loc.dial_primary_through_local_gateway());
    log.take();

    loc.update({state("dc1", {gateway("p1", "10.1.0.1", 8443, "192.0.2.1", 443)}),
                state("dc2", {gateway("l1", "10.2.0.1", 8443, "198.51.100.1", 443)})});
    loc.refresh_primary_fallback({"192.0.2.50:443"});
    log.take();
    loc.report_replication("No path to datacenter", true);
    loc.report_replication("No path to datacenter", true);
    EXPECT_TRUE(loc.dial_primary_through_local_gateway());  // maybe just a little broken
    EXPECT_EQ(loc.pick_gateway("dc1"), "10.2.0.1:8443");
    EXPECT_EQ(log.take().find("will dial"), std::string::npos);

    loc.report_replication("No path to datacenter", true);
    EXPECT_FALSE(loc.dial_primary_through_local_gateway());
    EXPECT_EQ(loc.candidates("dc1"), (strings{"192.0.2.1:443", "192.0.2.50:443"}));
    // Other DCs are still reached through the local gateways.
    EXPECT_EQ(loc.pick_gateway("dc3"), "10.2.0.1:8443");
    auto text = log.take();
    EXPECT_NE(text.find("will dial the primary datacenter through its mesh gateways"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("datacenter=dc2 primary_datacenter=dc1"), std::string::npos) << text;
    EXPECT_NE(text.find("primary_gateways=[192.0.2.1:443]"), std::string::npos) << text;
    EXPECT_NE(text.find("fallback=[192.0.2.50:443]"), std::string::npos) << text;

    loc.report_replication("No path to datacenter", true);  // still direct, no new log line
    EXPECT_EQ(log.take(), "");
    loc.report_replication("", true);
    EXPECT_TRUE(loc.dial_primary_through_local_gateway());
    EXPECT_EQ(loc.pick_gateway("dc1"), "10.2.0.1:8443");
    text = log.take();
    EXPECT_NE(text.find("will dial the primary datacenter using our local mesh gateways if "
                        "possible: datacenter=dc2 primary_datacenter=dc1 "
                        "local_gateways=[10.2.0.1:8443]"),
              std::string::npos)
        << text;
    EXPECT_EQ(loc.stats().mode_flips, 4u);

    // Losing leadership: back to trusting the local gateways whatever replication said.
    for (int i = 0; i < 3; ++i) loc.report_replication("x", true);
    EXPECT_FALSE(loc.dial_primary_through_local_gateway());
    loc.set_use_replication_signal(false);
    EXPECT_TRUE(loc.dial_primary_through_local_gateway());
}

TEST(GatewayLocatorSignal, PrimaryNeverDialsThroughLocal) {
    captured_log log;
    gateway_locator loc("dc1", "dc1", 3, log.logger);
    loc.set_use_replication_signal(true);
    loc.report_replication("", true);
    EXPECT_FALSE(loc.dial_primary_through_local_gateway());
    for (int i = 0; i < 4; ++i) loc.report_replication("x", true);
    EXPECT_FALSE(loc.dial_primary_through_local_gateway());
    EXPECT_EQ(log.take().find("will dial"), std::string::npos);  // meaningless in the primary
}

TEST(GatewayLocator, PrimaryReadyFiresOnceWhenThePrimaryListFills) {
    gateway_locator loc("dc2", "dc1", 3);
    int fired = 0;
    loc.on_primary_gateways_ready([&] { ++fired; });
    loc.update({state("dc2", {gateway("l1", "10.2.0.1", 8443)})});
    EXPECT_FALSE(loc.primary_gateways_ready());
    EXPECT_EQ(fired, 0);
    loc.update({state("dc1", {gateway("p1", "10.1.0.1", 8443, "192.0.2.1", 443)})});
    EXPECT_TRUE(loc.primary_gateways_ready());
    loc.update({state("dc1", {gateway("p2", "10.1.0.2", 8443, "192.0.2.2", 443)})});
    loc.update({});
    EXPECT_EQ(fired, 1);
    EXPECT_TRUE(loc.primary_gateways_ready());  // stays ready (Consul closes a channel once)
    int late = 0;
    loc.on_primary_gateways_ready([&] { ++late; });
    EXPECT_EQ(late, 1);
}

TEST(GatewayLocator, FallbackChangesAreLogged) {
    captured_log log;
    gateway_locator loc("dc2", "dc1", 3, log.logger);
    log.take();
    loc.refresh_primary_fallback({"192.0.2.2:443", "192.0.2.1:443"});
    auto text = log.take();
    EXPECT_NE(text.find("updated fallback list of primary mesh gateways: primary_datacenter=dc1 "
                        "mesh_gateways=[192.0.2.1:443 192.0.2.2:443]"),
              std::string::npos)
        << text;
    loc.refresh_primary_fallback({"192.0.2.1:443", "192.0.2.2:443"});
    EXPECT_EQ(log.take(), "");
}

}  // namespace
}  // namespace meshfed::mesh
