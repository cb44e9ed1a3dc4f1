#include "tls/names.hpp"

#include <gtest/gtest.h>

using namespace meshfed::tls;

TEST(ServerNames, Build) {
    EXPECT_EQ(server_name("dc1", "consul"), "server.dc1.consul");
    EXPECT_EQ(node_server_name("n1", "dc2", "consul"), "n1.server.dc2.consul");
}

TEST(ServerNames, Parse) {
    auto any = parse_server_name("server.dc1.consul", "consul");
    ASSERT_TRUE(any);
    EXPECT_EQ(any->dc, "dc1");
    EXPECT_EQ(any->node, "");
    auto one = parse_server_name("N1.Server.DC2.consul.", "consul");
    ASSERT_TRUE(one);
    EXPECT_EQ(one->node, "n1");
    EXPECT_EQ(one->dc, "dc2");
    auto multi = parse_server_name("n1.server.dc3.mesh.example.com", "mesh.example.com");
    ASSERT_TRUE(multi);
    EXPECT_EQ(multi->dc, "dc3");
}

TEST(ServerNames, RejectsOtherNames) {
    EXPECT_FALSE(parse_server_name("client.dc1.consul", "consul"));
    EXPECT_FALSE(parse_server_name("web.default.dc1.internal.abc.consul", "consul"));
    EXPECT_FALSE(parse_server_name("server.dc1.other", "consul"));
    EXPECT_FALSE(parse_server_name("a.b.server.dc1.consul", "consul"));
    EXPECT_FALSE(parse_server_name("consul", "consul"));
    EXPECT_FALSE(parse_server_name("", "consul"));
    EXPECT_FALSE(parse_server_name(".server.dc1.consul", "consul"));
}
