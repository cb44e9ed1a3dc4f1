// The mesh gateway's routing table from the agent's JSON (Consul's shapes).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "mesh/gateway_routes.hpp"

using namespace meshfed::mesh;
using nlohmann::json;

namespace {
json csn(const std::string& node, const std::string& node_addr, json service,
         json checks = json::array()) {
    return json{{"Node", {{"Node", node}, {"Address", node_addr}, {"Datacenter", "dcX"}}},
                {"Service", std::move(service)},
                {"Checks", std::move(checks)}};
}
}  // namespace

TEST(GatewayRoutes, LocalServersUseServiceAddressElseNodeAddress) {
    json entries = json::array({
        csn("s1", "10.0.0.1", {{"Service", "consul"}, {"Address", ""}, {"Port", 8300}}),
        csn("s2", "10.0.0.2", {{"Service", "consul"}, {"Address", "10.9.9.2"}, {"Port", 18300}}),
        csn("s3", "", {{"Service", "consul"}, {"Port", 8300}}),       // no address: skipped
        csn("s4", "10.0.0.4", {{"Service", "consul"}, {"Port", 0}}),  // no port: skipped
        json("garbage"),
    });
    route_build_report rep;
    auto m = local_servers_from_health(entries, &rep);
    ASSERT_EQ(m.size(), 2u);
    EXPECT_EQ(m["s1"], (endpoint{"10.0.0.1", 8300}));
    EXPECT_EQ(m["s2"], (endpoint{"10.9.9.2", 18300}));
    EXPECT_EQ(rep.skipped, 3u);
}

TEST(GatewayRoutes, FederationGatewaysUseWanTaggedAddressAndSkipLocalAndCritical) {
    json gw_ok = csn("g2", "10.2.0.1",
                     {{"Service", "mesh-gateway"},
                      {"Kind", "mesh-gateway"},
                      {"Address", "10.2.0.1"},
                      {"Port", 8443},
                      {"TaggedAddresses",
                       {{"lan", {{"Address", "10.2.0.1"}, {"Port", 8443}}},
                        {"wan", {{"Address", "198.18.2.1"}, {"Port", 9443}}}}}});
    json gw_no_wan = csn("g2b", "10.2.0.2",
                         {{"Service", "mesh-gateway"}, {"Address", "10.2.0.2"}, {"Port", 8443}});
    json gw_critical = csn("g2c", "10.2.0.3",
                           {{"Service", "mesh-gateway"}, {"Address", "10.2.0.3"}, {"Port", 8443}},
                           json::array({{{"CheckID", "c"}, {"Status", "critical"}}}));
    // No service address: the node's tagged wan address comes before its LAN address.
    json gw_node_wan = csn("g2d", "10.2.0.4", {{"Service", "mesh-gateway"}, {"Port", 8443}});
    gw_node_wan["Node"]["TaggedAddresses"] = {{"lan", "10.2.0.4"}, {"wan", "198.18.2.4"}};
    json by_dc = {
        {"dc1",
         json::array({csn("g1", "10.1.0.1", {{"Service", "mesh-gateway"}, {"Port", 8443}})})},
        {"dc2", json::array({gw_ok, gw_no_wan, gw_critical, gw_node_wan})}};
    auto m = dc_gateways_from_federation(by_dc, "dc1");
    ASSERT_EQ(m.size(), 1u);  // dc1 is ours
    ASSERT_EQ(m["dc2"].size(), 3u);
    EXPECT_EQ(m["dc2"][0], (endpoint{"198.18.2.1", 9443}));
    EXPECT_EQ(m["dc2"][1], (endpoint{"10.2.0.2", 8443}));
    EXPECT_EQ(m["dc2"][2], (endpoint{"198.18.2.4", 8443}));
}

TEST(GatewayRoutes, WrongShapesGiveEmptyTablesNotCrashes) {
    route_build_report rep;
    EXPECT_TRUE(local_servers_from_health(json::object(), &rep).empty());
    EXPECT_TRUE(dc_gateways_from_federation(json::array(), "dc1", &rep).empty());
    EXPECT_TRUE(dc_gateways_from_federation(json(nullptr), "dc1", &rep).empty());
    EXPECT_EQ(rep.skipped, 2u);
    json odd = {{"dc2", json::array({json::object(), json(3)})}};
    EXPECT_TRUE(dc_gateways_from_federation(odd, "dc1", &rep).empty());
    EXPECT_EQ(rep.skipped, 4u);
}
