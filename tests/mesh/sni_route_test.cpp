#include "mesh/sni_route.hpp"

#include <gtest/gtest.h>

using namespace meshfed::mesh;

TEST(SniRoute, LocalServerByNode) {
    auto r = route_for_sni("n1.server.dc1.consul", "dc1", "consul");
    EXPECT_EQ(r.kind, route_kind::local_server);
    EXPECT_EQ(r.node, "n1");
    EXPECT_EQ(r.dc, "dc1");
}

TEST(SniRoute, AnyLocalServer) {
    EXPECT_EQ(route_for_sni("server.dc1.consul", "dc1", "consul").kind,
              route_kind::any_local_server);
}

TEST(SniRoute, RemoteDatacenter) {
    auto r = route_for_sni("n9.server.dc2.consul", "dc1", "consul");
    EXPECT_EQ(r.kind, route_kind::remote_datacenter);
    EXPECT_EQ(r.dc, "dc2");
    EXPECT_EQ(route_for_sni("server.dc3.consul", "dc1", "consul").kind,
              route_kind::remote_datacenter);
}

TEST(SniRoute, RefusesEverythingElse) {
    EXPECT_EQ(route_for_sni("example.com", "dc1", "consul").kind, route_kind::refused);
    EXPECT_EQ(route_for_sni("server.dc1.otherdomain", "dc1", "consul").kind, route_kind::refused);
    EXPECT_EQ(route_for_sni("", "dc1", "consul").kind, route_kind::refused);
    EXPECT_STREQ(to_string(route_kind::refused), "refused");
}
