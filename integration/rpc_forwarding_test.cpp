// RPC across datacenters with real agents: two meshfed servers (dc1, dc2) joined over WAN
// gossip; the Go reference client (rpcpeer: real yamux + net-rpc-msgpackrpc) calls dc1 and
// names dc2 in the request, and dc2's server answers. Also the three ways into port 8300.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "integration/support.hpp"

using namespace meshfed::it;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

namespace {

const fs::path rpcpeer = fs::path(MESHFED_INTEROP_BIN) / "rpcpeer";

nlohmann::json call(const std::string& addr, const std::string& method, const std::string& args,
                    const std::string& extra = "") {
    auto r =
        meshfed::test::run_command(rpcpeer.string() + " -write-ext=false -timeout 10s -addr " +
                                   addr + " -method " + method + " -args '" + args + "'" + extra);
    auto pos = r.output.find('{');
    if (pos == std::string::npos) return {{"raw", r.output}};
    auto j = nlohmann::json::parse(r.output.substr(pos), nullptr, false);
    return j.is_discarded() ? nlohmann::json{{"raw", r.output}} : j;
}

class RpcForwarding : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!fs::exists(rpcpeer)) GTEST_SKIP() << rpcpeer << " is not built (scripts/setup)";
    }
    temp_dir root;
};

}  // namespace

TEST_F(RpcForwarding, CallNamingAnotherDatacenterIsAnsweredThere) {
    auto dc1 = start_meshfed(root, "s1", "dc1");
    ASSERT_TRUE(dc1.proc->wait_for_output("meshfed agent running", 10s)) << dc1.log();
    auto dc2 = start_meshfed(root, "s2", "dc2", "retry_join_wan = [\"" + dc1.addr() + "\"]\n");
    ASSERT_TRUE(dc2.proc->wait_for_output("(WAN) joined", 15s)) << dc2.log();

    // A service only dc2 has.
    auto reg = call(dc2.rpc_addr(), "Catalog.Register",
                    R"({"Datacenter":"dc2","Node":"web-node","Address":"10.0.0.7",)"
                    R"("Service":{"ID":"web1","Service":"web","Port":8080,"Tags":["v1"]}})");
    ASSERT_FALSE(reg.contains("error")) << reg.dump() << dc2.log();

    // dc1 learns dc2's server from the WAN pool, then forwards.
    nlohmann::json remote;
    ASSERT_TRUE(eventually(
        [&] {
            remote = call(dc1.rpc_addr(), "Catalog.ListServices", R"({"Datacenter":"dc2"})");
            return remote.contains("reply");
        },
        15s))
        << remote.dump() << dc1.log();
    EXPECT_TRUE(remote["reply"]["Services"].contains("web")) << remote.dump();
    EXPECT_TRUE(remote["reply"]["Services"].contains("consul")) << remote.dump();
    EXPECT_GT(remote["reply"].value("Index", 0), 0) << remote.dump();

    auto local = call(dc1.rpc_addr(), "Catalog.ListServices", R"({"Datacenter":"dc1"})");
    ASSERT_TRUE(local.contains("reply")) << local.dump();
    EXPECT_FALSE(local["reply"]["Services"].contains("web")) << local.dump();

    auto nodes =
        call(dc1.rpc_addr(), "Catalog.ServiceNodes", R"({"Datacenter":"dc2","ServiceName":"web"})");
    ASSERT_TRUE(nodes.contains("reply")) << nodes.dump();
    auto list = nodes["reply"]["ServiceNodes"];
    ASSERT_EQ(list.size(), 1u) << nodes.dump();
    EXPECT_EQ(list[0]["Node"], "web-node");
    EXPECT_EQ(list[0]["ServicePort"], 8080);

    auto dcs = call(dc1.rpc_addr(), "Catalog.ListDatacenters", "{}");
    ASSERT_TRUE(dcs.contains("reply")) << dcs.dump();
    EXPECT_EQ(dcs["reply"], nlohmann::json::array({"dc1", "dc2"})) << dcs.dump();

    auto unknown = call(dc1.rpc_addr(), "Catalog.ListServices", R"({"Datacenter":"dc9"})");
    EXPECT_EQ(unknown.value("error", ""), "No path to datacenter") << unknown.dump();

    // dc2 goes away: dc1 reports it has no reachable server there (once gossip notices).
    dc2.proc->signal(SIGKILL);
    nlohmann::json gone;
    EXPECT_TRUE(eventually(
        [&] {
            gone = call(dc1.rpc_addr(), "Catalog.ListServices", R"({"Datacenter":"dc2"})");
            auto err = gone.value("error", "");
            return err.find("rpc") != std::string::npos || err == "No path to datacenter" ||
                   err == "Remote DC has no server currently reachable";
        },
        20s))
        << gone.dump();
}

TEST_F(RpcForwarding, PlainUpgradeAndNativeTlsIntoTheAgent) {
    auto run = [&](const std::string& args) {
        return meshfed::test::run_command("cd " + root.path().string() + " && " + MESHFED_BINARY +
                                          " " + args);
    };
    ASSERT_EQ(run("tls ca create").status, 0);
    ASSERT_EQ(run("tls cert create -server -dc dc1 -node s1").status, 0);
    ASSERT_EQ(run("tls cert create -client -dc dc1").status, 0);
    auto f = [&](const std::string& n) { return (root.path() / n).string(); };
    std::string tls = "tls {\n defaults {\n  ca_file = \"" + f("consul-agent-ca.pem") +
                      "\"\n  cert_file = \"" + f("dc1-server-consul-0.pem") +
                      "\"\n  key_file = \"" + f("dc1-server-consul-0-key.pem") + "\"\n }\n}\n";
    auto a = start_meshfed(root, "s1", "dc1", tls);
    ASSERT_TRUE(a.proc->wait_for_output("meshfed agent running", 10s)) << a.log();
    std::string client = " -ca " + f("consul-agent-ca.pem") + " -cert " +
                         f("dc1-client-consul-0.pem") + " -key " + f("dc1-client-consul-0-key.pem");
    // Consul's Status.Ping replies with an empty struct.
    auto plain = call(a.rpc_addr(), "Status.Ping", "{}");
    EXPECT_EQ(plain.value("reply", nlohmann::json()), nlohmann::json::object()) << plain.dump();
    auto up = call(a.rpc_addr(), "Catalog.ListServices", "{}",
                   " -tls-mode upgrade -server-name server.dc1.consul" + client);
    EXPECT_TRUE(up.contains("reply")) << up.dump();
    auto alpn = call(a.rpc_addr(), "Status.Ping", "{}",
                     " -tls-mode alpn -sni s1.server.dc1.consul" + client);
    EXPECT_EQ(alpn.value("reply", nlohmann::json()), nlohmann::json::object()) << alpn.dump();
    EXPECT_EQ(alpn["tls"]["alpn"], "consul/rpc-multi");
    auto leader = call(a.rpc_addr(), "Status.Leader", "{}");
    EXPECT_EQ(leader.value("reply", ""), a.rpc_addr()) << leader.dump();
}

TEST_F(RpcForwarding, CatalogSurvivesARestart) {
    auto a = start_meshfed(root, "s1", "dc1");
    ASSERT_TRUE(a.proc->wait_for_output("meshfed agent running", 10s)) << a.log();
    auto reg = call(a.rpc_addr(), "Catalog.Register",
                    R"({"Datacenter":"dc1","Node":"db-node","Address":"10.0.0.9",)"
                    R"("Service":{"ID":"db1","Service":"db","Port":5432}})");
    ASSERT_FALSE(reg.contains("error")) << reg.dump();
    a.proc->signal(SIGTERM);
    ASSERT_EQ(a.proc->wait_exit(20s).value_or(-1), 0) << a.log();
    // Same data_dir, same config: the registration is still there.
    a.proc = std::make_unique<child_process>(
        MESHFED_BINARY,
        std::vector<std::string>{"agent", "-config", (a.dir / "server.hcl").string()},
        a.dir / "agent2.log");
    ASSERT_TRUE(a.proc->wait_for_output("meshfed agent running", 10s)) << a.log();
    nlohmann::json svc;
    ASSERT_TRUE(eventually(
        [&] {
            svc = call(a.rpc_addr(), "Catalog.ListServices", R"({"Datacenter":"dc1"})");
            return svc.contains("reply");
        },
        10s));
    EXPECT_TRUE(svc["reply"]["Services"].contains("db")) << svc.dump();
}
