#include "agent/cli.hpp"

#include <sodium.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "tests/support/process.hpp"

using meshfed::agent::normalize_go_flags;
using meshfed::agent::run_cli;
using ::testing::HasSubstr;

namespace {

struct cli_result {
    int code;
    std::string out, err;
};

cli_result cli(std::vector<std::string> args) {
    std::ostringstream out, err;
    int code = run_cli(args, out, err);
    return {code, out.str(), err.str()};
}

}  // namespace

TEST(GoFlags, SingleDashLongFlagsBecomeDoubleDash) {
    EXPECT_EQ(normalize_go_flags({"agent", "-config", "a.hcl", "-config-dir=d", "-h", "--x", "-"}),
              (std::vector<std::string>{"agent", "--config", "a.hcl", "--config-dir=d", "-h", "--x",
                                        "-"}));
    // After "--" everything is positional.
    EXPECT_EQ(normalize_go_flags({"validate", "--", "-odd-name.hcl"}),
              (std::vector<std::string>{"validate", "--", "-odd-name.hcl"}));
}

TEST(Cli, VersionPrintsBanner) {
    auto r = cli({"version"});
    EXPECT_EQ(r.code, 0);
    EXPECT_THAT(r.out, HasSubstr("meshfed v"));
    EXPECT_THAT(r.out, HasSubstr("Protocol 2 spoken by default"));
}

TEST(Cli, KeygenPrints32RandomBytesBase64) {
    auto a = cli({"keygen"});
    auto b = cli({"keygen"});
    ASSERT_EQ(a.code, 0);
    ASSERT_EQ(a.out.size(), 45u);  // 44 base64 chars + newline
    EXPECT_NE(a.out, b.out);
    unsigned char bin[64];
    size_t len = 0;
    ASSERT_EQ(sodium_base642bin(bin, sizeof bin, a.out.data(), 44, nullptr, &len, nullptr,
                                sodium_base64_VARIANT_ORIGINAL),
              0);
    EXPECT_EQ(len, 32u);
}

TEST(Cli, ValidateGoodConfig) {
    meshfed::test::temp_dir dir;
    dir.write("s.hcl", "data_dir = \"/tmp/d\"\nnode_name = \"n1\"\nserver = true\n");
    auto r = cli({"validate", (dir / "s.hcl").string()});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "Configuration is valid!\n");
    auto q = cli({"validate", "-quiet", (dir / "s.hcl").string()});
    EXPECT_EQ(q.code, 0);
    EXPECT_EQ(q.out, "");
}

TEST(Cli, ValidatePrintsEveryProblemAndFails) {
    meshfed::test::temp_dir dir;
    dir.write("s.hcl", "node_name = \"a.b\"\nports { server = 70000 }\nbind_adr = \"x\"\n");
    auto r = cli({"validate", dir.path().string()});
    EXPECT_EQ(r.code, 1);
    EXPECT_THAT(r.err, HasSubstr("4 errors occurred:"));
    EXPECT_THAT(r.err, HasSubstr("node_name \"a.b\" must not contain '.'"));
    EXPECT_THAT(r.err, HasSubstr("ports.server: invalid port 70000"));
    EXPECT_THAT(r.err, HasSubstr("s.hcl:3:1: unknown configuration key 'bind_adr'"));
    EXPECT_THAT(r.err, HasSubstr("data_dir cannot be empty"));
    EXPECT_EQ(r.out, "");
}

TEST(Cli, ValidateNeedsAPath) {
    auto r = cli({"validate"});
    EXPECT_EQ(r.code, 1);
    EXPECT_THAT(r.err, HasSubstr("paths is required"));
}

TEST(Cli, HelpOnEveryVerb) {
    for (const char* verb : {"agent", "validate", "version", "keygen"}) {
        auto r = cli({verb, "-h"});
        EXPECT_EQ(r.code, 0) << verb;
        EXPECT_THAT(r.out, HasSubstr(verb)) << verb;
    }
    EXPECT_THAT(cli({"agent", "-h"}).out, HasSubstr("--config"));
}

TEST(Cli, UnknownVerbAndNoVerbFail) {
    EXPECT_EQ(cli({}).code, 1);
    auto r = cli({"frobnicate"});
    EXPECT_EQ(r.code, 1);
}

TEST(Cli, AgentWithBadConfigPrintsProblemsAndExits1) {
    meshfed::test::temp_dir dir;
    dir.write("s.hcl",
              "server = true\nretry_join_wan = [\"1.2.3.4\"]\n"
              "connect { enable_mesh_gateway_wan_federation = true }\n");
    auto r =
        cli({"agent", "-config", (dir / "s.hcl").string(), "-data-dir", (dir / "data").string()});
    EXPECT_EQ(r.code, 1);
    EXPECT_THAT(r.err, HasSubstr("'retry_join_wan' is incompatible with "
                                 "'connect.enable_mesh_gateway_wan_federation = true'"));
    EXPECT_FALSE(std::filesystem::exists(dir / "data")) << "a bad config must not start anything";
}

TEST(Cli, TlsCaAndCertCreateWriteConsulFiles) {
    meshfed::test::temp_dir dir;
    auto in_dir = [&](const std::string& args) {
        return meshfed::test::run_command("cd " + dir.path().string() + " && " + MESHFED_BINARY +
                                          " " + args);
    };
    auto ca = in_dir("tls ca create");
    ASSERT_EQ(ca.status, 0) << ca.output;
    EXPECT_EQ(ca.output, "==> Saved consul-agent-ca.pem\n==> Saved consul-agent-ca-key.pem\n");
    auto again = in_dir("tls ca create");
    EXPECT_EQ(again.status, 1);
    EXPECT_THAT(again.output, HasSubstr("consul-agent-ca.pem already exists."));
    auto srv = in_dir("tls cert create -server -dc dc2 -node n7");
    ASSERT_EQ(srv.status, 0) << srv.output;
    EXPECT_THAT(srv.output, HasSubstr("==> WARNING: Server Certificates grants authority"));
    EXPECT_THAT(srv.output, HasSubstr("==> Using consul-agent-ca.pem and consul-agent-ca-key.pem"));
    EXPECT_THAT(srv.output, HasSubstr("==> Saved dc2-server-consul-0.pem"));
    EXPECT_THAT(srv.output, HasSubstr("==> Saved dc2-server-consul-0-key.pem"));
    auto verify = meshfed::test::run_command("openssl verify -CAfile " +
                                             (dir / "consul-agent-ca.pem").string() + " " +
                                             (dir / "dc2-server-consul-0.pem").string());
    EXPECT_EQ(verify.status, 0) << verify.output;
    auto none = in_dir("tls cert create");
    EXPECT_EQ(none.status, 1);
    EXPECT_THAT(none.output, HasSubstr("Please provide either -server, -client, or -cli"));
    auto node_client = in_dir("tls cert create -client -node n1");
    EXPECT_EQ(node_client.status, 1);
    EXPECT_THAT(node_client.output, HasSubstr("-node requires -server"));
}
