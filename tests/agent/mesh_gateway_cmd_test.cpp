// `meshfed mesh-gateway`: Consul's flag checks and texts, the registration it sends to the agent,
// and where it listens.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "agent/mesh_gateway_cmd.hpp"

using meshfed::agent::check_mesh_gateway_flags;
using meshfed::agent::mesh_gateway_listen_addresses;
using meshfed::agent::mesh_gateway_options;
using meshfed::agent::mesh_gateway_registration;

namespace {
mesh_gateway_options gw() {
    mesh_gateway_options o;
    o.gateway = "mesh";
    o.register_service = true;
    o.expose_servers = true;
    o.address = "10.0.0.5:8443";
    o.wan_address = "198.18.0.5:9443";
    return o;
}
}  // namespace

TEST(MeshGatewayCmd, ConsulsFlagChecksInConsulsOrder) {
    auto o = gw();
    o.mesh_gateway = true;
    EXPECT_EQ(check_mesh_gateway_flags(o),
              "The mesh-gateway flag is deprecated and cannot be used alongside the gateway flag");
    o = gw();
    o.gateway = "";
    o.mesh_gateway = true;  // the deprecated spelling works alone
    EXPECT_EQ(check_mesh_gateway_flags(o), std::nullopt);
    EXPECT_EQ(o.gateway, "mesh");
    o = gw();
    o.gateway = "ingress";
    EXPECT_EQ(check_mesh_gateway_flags(o), "'-expose-servers' can only be used for mesh gateways");
    o = gw();
    o.register_service = false;
    EXPECT_EQ(check_mesh_gateway_flags(o), "'-expose-servers' requires '-register'");
    o = gw();
    o.address = "10.0.0.5:http";
    EXPECT_EQ(check_mesh_gateway_flags(o),
              "Failed to parse the -address parameter: strconv.Atoi: parsing \"http\": invalid "
              "syntax");
    o = gw();
    o.bind_addresses = {"nope"};
    EXPECT_EQ(check_mesh_gateway_flags(o), "invalid -bind-address \"nope\": expected name=ip:port");
}

TEST(MeshGatewayCmd, AdminBindTakesIpPortOrLocalhost) {
    auto o = gw();
    o.admin_bind = "localhost:19000";  // Envoy's default spelling
    EXPECT_EQ(check_mesh_gateway_flags(o), std::nullopt);
    EXPECT_EQ(o.admin_bind, "127.0.0.1:19000");
    o = gw();
    o.admin_bind = "19000";
    EXPECT_EQ(check_mesh_gateway_flags(o), "invalid -admin-bind \"19000\": expected ip:port");
}

// GET /stats on the admin listener: the proxy's counters, then each route's.
TEST(MeshGatewayCmd, StatsNameEveryCounterAndEachRoute) {
    meshfed::mesh::proxy_stats s;
    s.accepted = 7;
    s.refused_source_cap = 1;
    s.hello_timeouts = 2;
    s.bad_hello = 3;
    s.unknown_sni = 4;
    s.active = 5;
    s.routes["dc:dc2"].connections = 6;
    s.routes["dc:dc2"].bytes_up = 100;
    auto c = meshfed::agent::mesh_gateway_counters(s);
    ASSERT_EQ(c.size(), 6u + 5u);
    EXPECT_EQ(c[0], (std::pair<std::string, std::uint64_t>{"accepted", 7}));
    EXPECT_EQ(c[1], (std::pair<std::string, std::uint64_t>{"refused_source_cap", 1}));
    EXPECT_EQ(c[2], (std::pair<std::string, std::uint64_t>{"hello_timeouts", 2}));
    EXPECT_EQ(c[3], (std::pair<std::string, std::uint64_t>{"bad_hello", 3}));
    EXPECT_EQ(c[4], (std::pair<std::string, std::uint64_t>{"unknown_sni", 4}));
    EXPECT_EQ(c[5], (std::pair<std::string, std::uint64_t>{"active", 5}));
    EXPECT_EQ(c[6], (std::pair<std::string, std::uint64_t>{"route.dc:dc2.connections", 6}));
    EXPECT_EQ(c[9], (std::pair<std::string, std::uint64_t>{"route.dc:dc2.bytes_up", 100}));
}

TEST(MeshGatewayCmd, RegistrationIsConsulsWanFederationGateway) {
    auto o = gw();
    ASSERT_EQ(check_mesh_gateway_flags(o), std::nullopt);
    auto j = mesh_gateway_registration(o);
    EXPECT_EQ(j["Kind"], "mesh-gateway");
    EXPECT_EQ(j["Name"], "mesh-gateway");
    EXPECT_EQ(j["ID"], "mesh-gateway");
    EXPECT_EQ(j["Address"], "10.0.0.5");
    EXPECT_EQ(j["Port"], 8443);
    EXPECT_EQ(j["TaggedAddresses"]["lan"],
              (nlohmann::json{{"Address", "10.0.0.5"}, {"Port", 8443}}));
    EXPECT_EQ(j["TaggedAddresses"]["wan"],
              (nlohmann::json{{"Address", "198.18.0.5"}, {"Port", 9443}}));
    EXPECT_EQ(j["Meta"]["consul-wan-federation"], "1");
    EXPECT_EQ(j["Check"]["Name"], "mesh-gateway listening");
    EXPECT_EQ(j["Check"]["TCP"], "10.0.0.5:8443");
    EXPECT_EQ(j["Check"]["Interval"], "10s");
    EXPECT_EQ(j["Check"]["DeregisterCriticalServiceAfter"], "6h");
    EXPECT_FALSE(j.contains("Proxy"));
}

TEST(MeshGatewayCmd, WithoutExposeServersNoFederationMetaAndDefaultPort) {
    mesh_gateway_options o;
    o.gateway = "mesh";
    o.register_service = true;
    o.service = "gw-east";
    ASSERT_EQ(check_mesh_gateway_flags(o), std::nullopt);
    auto j = mesh_gateway_registration(o);
    EXPECT_FALSE(j.contains("Meta"));
    EXPECT_EQ(j["ID"], "gw-east");
    EXPECT_EQ(j["Port"], 8443);                      // Consul's default gateway port
    EXPECT_EQ(j["Check"]["TCP"], "127.0.0.1:8443");  // no LAN address: the agent's loopback
}

TEST(MeshGatewayCmd, ListensOnBindAddressesElseLanAndALocalWan) {
    auto o = gw();
    ASSERT_EQ(check_mesh_gateway_flags(o), std::nullopt);
    // 198.18.0.5 is not an address of this host (a NAT or load balancer): not bound.
    EXPECT_EQ(mesh_gateway_listen_addresses(o), (std::vector<std::string>{"10.0.0.5:8443"}));
    o.address = "127.0.0.1:8443";
    o.wan_address = "127.0.0.2:9443";
    EXPECT_EQ(mesh_gateway_listen_addresses(o),
              (std::vector<std::string>{"127.0.0.1:8443", "127.0.0.2:9443"}));
    o.wan_address = o.address;
    EXPECT_EQ(mesh_gateway_listen_addresses(o), (std::vector<std::string>{"127.0.0.1:8443"}));
    o.address = ":8443";  // wildcard LAN listener: it covers the WAN side already
    o.wan_address = "127.0.0.2:8443";
    EXPECT_EQ(mesh_gateway_listen_addresses(o), (std::vector<std::string>{"0.0.0.0:8443"}));
    o.bind_addresses = {"lan=127.0.1.1:8443", "wan=127.0.1.2:8443"};
    ASSERT_EQ(check_mesh_gateway_flags(o), std::nullopt);
    EXPECT_EQ(mesh_gateway_listen_addresses(o),
              (std::vector<std::string>{"127.0.1.1:8443", "127.0.1.2:8443"}));
    auto j = mesh_gateway_registration(o);
    EXPECT_EQ(j["Proxy"]["Config"]["envoy_gateway_no_default_bind"], true);
    EXPECT_EQ(j["Proxy"]["Config"]["envoy_gateway_bind_addresses"]["wan"]["Address"], "127.0.1.2");
}
