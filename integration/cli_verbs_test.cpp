// The CLI verbs against real agents: two meshfed servers (dc1, dc2) joined over WAN with
// `meshfed join -wan`, then `members -wan`, `catalog datacenters`, `catalog services` and
// `catalog nodes` for the remote datacenter (forwarded over RPC), `info` and `leave`, each run
// as a `meshfed` process and compared with the table Consul's command prints.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "agent/cli_http.hpp"
#include "common/version.hpp"
#include "integration/support.hpp"

using namespace meshfed::it;
using ::testing::HasSubstr;

namespace {

struct cli_run {
    int status = -1;
    std::string out, err;
};

// `meshfed <args>` as a separate process; stdout and stderr kept apart.
cli_run meshfed_cli(const temp_dir& root, const std::string& args) {
    auto err_file = root.path() / "cli.stderr";
    auto r = meshfed::test::run_command("{ " + std::string(MESHFED_BINARY) + " " + args + " 2>" +
                                        err_file.string() + "; }");
    return {r.status, r.output, meshfed::test::read_text(err_file)};
}

// A table laid out by hand: every column but the last left-aligned to its widest cell, two
// spaces between columns (the layout of Consul's columnize output).
std::string table(const std::vector<std::vector<std::string>>& rows) {
    std::vector<size_t> widths;
    for (const auto& r : rows)
        for (size_t i = 0; i < r.size(); ++i) {
            if (widths.size() <= i) widths.push_back(0);
            widths[i] = std::max(widths[i], r[i].size());
        }
    std::string out;
    for (const auto& r : rows) {
        for (size_t i = 0; i + 1 < r.size(); ++i) out += fmt::format("{:<{}}  ", r[i], widths[i]);
        out += r.back() + "\n";
    }
    return out;
}

std::string build_version() {
    auto tag = meshfed::build_tag();
    return tag.substr(0, tag.find(':'));
}

class CliVerbs : public ::testing::Test {
  protected:
    void SetUp() override {
        dc1 = start_meshfed(root, "s1", "dc1");
        dc2 = start_meshfed(root, "s2", "dc2");
        ASSERT_TRUE(dc1.proc->wait_for_output("meshfed agent running", 10s)) << dc1.log();
        ASSERT_TRUE(dc2.proc->wait_for_output("meshfed agent running", 10s)) << dc2.log();
        // The HTTP API answers once the agent has started it.
        for (auto* a : {&dc1, &dc2})
            ASSERT_TRUE(eventually([&] { return cli(*a, "catalog datacenters").status == 0; }, 10s))
                << a->log();
    }

    cli_run cli(const meshfed_agent& a, const std::string& args) {
        return meshfed_cli(root, args + " -http-addr " + a.http_addr());
    }

    // Runs the verb until it prints `want` (gossip and forwarding converge) or `limit` passes.
    cli_run cli_until(const meshfed_agent& a, const std::string& args, const std::string& want,
                      std::chrono::milliseconds limit = 15s) {
        cli_run r;
        eventually(
            [&] {
                r = cli(a, args);
                return r.out == want;
            },
            limit);
        return r;
    }

    temp_dir root;
    meshfed_agent dc1, dc2;
};

}  // namespace

TEST_F(CliVerbs, WanJoinThenMembersDatacentersAndRemoteCatalog) {
    // join -wan through dc2's HTTP API, naming dc1's WAN gossip address.
    auto join = cli(dc2, "join -wan " + dc1.addr());
    ASSERT_EQ(join.status, 0) << join.err << dc2.log();
    EXPECT_EQ(join.out, "Successfully joined cluster by contacting 1 nodes.\n");
    EXPECT_EQ(join.err, "");

    std::string build = build_version();
    auto server_row = [&](const meshfed_agent& a, const std::string& status) {
        return std::vector<std::string>{a.wan_name(), a.addr(), status,    "server", build,
                                        "2",          a.dc,     "default", "<all>"};
    };
    const std::vector<std::string> header = {"Node",     "Address", "Status",    "Type",   "Build",
                                             "Protocol", "DC",      "Partition", "Segment"};
    std::string expected_members =
        table({header, server_row(dc1, "alive"), server_row(dc2, "alive")});
    auto members = cli_until(dc1, "members -wan", expected_members);
    EXPECT_EQ(members.out, expected_members) << members.err;
    EXPECT_EQ(members.status, 0);
    // dc2 sees the same pool.
    EXPECT_EQ(cli_until(dc2, "members -wan", expected_members).out, expected_members);

    // -detailed: the tags, sorted, with the filled partition and segment.
    auto detailed = cli(dc1, "members -wan -detailed -status alive");
    EXPECT_EQ(detailed.status, 0);
    EXPECT_THAT(detailed.out,
                HasSubstr("ap=default,bootstrap=1,build=" + meshfed::build_tag() + ",dc=dc1,"));
    EXPECT_THAT(detailed.out, HasSubstr(",role=consul,segment=<all>,"));
    auto none = cli(dc1, "members -wan -status failed");
    EXPECT_EQ(none.status, 2);
    EXPECT_EQ(none.out, "");

    auto dcs = cli_until(dc1, "catalog datacenters", "dc1\ndc2\n");
    EXPECT_EQ(dcs.out, "dc1\ndc2\n") << dcs.err;

    // A service only dc2 has, registered through dc2's HTTP API.
    meshfed::agent::cli::http_config dc2_http;
    dc2_http.port = dc2.http_port;
    meshfed::agent::cli::api_client client(dc2_http);
    auto reg = client.request_ok(
        "PUT", "/v1/catalog/register", {},
        R"({"Datacenter":"dc2","Node":"web-node","Address":"10.0.0.7",)"
        R"("Service":{"ID":"web1","Service":"web","Port":8080,"Tags":["v2","v1"]}})");
    ASSERT_TRUE(reg) << reg.error() << dc2.log();

    // Asked of dc1, answered by dc2 over the forwarded RPC.
    auto services = cli_until(dc1, "catalog services -datacenter dc2", "consul\nweb\n");
    EXPECT_EQ(services.out, "consul\nweb\n") << services.err << dc1.log();
    auto tags = cli(dc1, "catalog services -datacenter dc2 -tags");
    EXPECT_EQ(tags.status, 0);
    EXPECT_EQ(tags.out, "consul      \nweb         v1,v2\n");
    EXPECT_EQ(cli(dc1, "catalog services").out, "consul\n");

    auto nodes = cli(dc1, "catalog nodes -datacenter dc2 -service web");
    EXPECT_EQ(nodes.status, 0) << nodes.err;
    EXPECT_EQ(nodes.out,
              table({{"Node", "ID", "Address", "DC"}, {"web-node", "", "10.0.0.7", "dc2"}}));

    auto unknown = cli(dc1, "catalog services -datacenter dc9");
    EXPECT_EQ(unknown.status, 1);
    EXPECT_EQ(unknown.out, "");
    EXPECT_EQ(unknown.err,
              "Error listing services: Unexpected response code: 500 (No path to datacenter)\n");
}

TEST_F(CliVerbs, InfoLeaveAndConnectionErrors) {
    auto info = cli(dc1, "info");
    EXPECT_EQ(info.status, 0) << info.err;
    EXPECT_THAT(info.out, HasSubstr("consul:\n"));
    EXPECT_THAT(info.out, HasSubstr("\tserver = true\n"));

    auto leave = cli(dc2, "leave");
    EXPECT_EQ(leave.status, 0) << leave.err;
    EXPECT_EQ(leave.out, "Graceful leave complete\n");
    EXPECT_TRUE(dc2.proc->wait_for_output("agent stopped", 15s)) << dc2.log();

    // Nothing listens on dc2's HTTP port any more: Go's dial error after Consul's prefix.
    cli_run gone;
    EXPECT_TRUE(eventually(
        [&] {
            gone = cli(dc2, "members -wan");
            return gone.status == 1;
        },
        10s));
    EXPECT_EQ(gone.err,
              fmt::format("Error retrieving members: Get \"http://{0}/v1/agent/members?"
                          "segment=_all&wan=1\": dial tcp {0}: connect: connection refused\n",
                          dc2.http_addr()));
}
