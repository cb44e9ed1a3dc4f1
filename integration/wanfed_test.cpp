// WAN federation via mesh gateways, end to end with real processes: a primary (dc1) and a
// secondary (dc2), each one server and one `meshfed mesh-gateway`. The servers advertise
// unroutable WAN addresses (TEST-NET 192.0.2.x), so every cross-DC byte — first contact, gossip,
// RPC forwarding, federation-state replication — can only travel server -> local gateway ->
// remote gateway -> server, with TLS end to end.
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "agent/httplib.hpp"
#include "integration/support.hpp"

using namespace meshfed::it;
using nlohmann::json;

namespace {

json http_get(int port, const std::string& path, int* status = nullptr) {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(10, 0);
    auto r = c.Get(path);
    if (status) *status = r ? r->status : 0;
    if (!r || r->status != 200) return json();
    auto j = json::parse(r->body, nullptr, false);
    return j.is_discarded() ? json() : j;
}

struct dc_setup {
    meshfed_agent server;
    std::unique_ptr<child_process> gateway;
    int gw_port = 0;
    std::string gw_addr() const { return "127.0.0.1:" + std::to_string(gw_port); }
};

class Wanfed : public ::testing::Test {
  protected:
    temp_dir root;
    std::string f(const std::string& n) { return (root.path() / n).string(); }
    int run(const std::string& args) {
        return meshfed::test::run_command("cd " + root.path().string() + " && " + MESHFED_BINARY +
                                          " " + args)
            .status;
    }
    std::string server_hcl(const std::string& dc, int index, const std::string& extra) {
        std::string cert = dc + "-server-consul-" + std::to_string(index);
        return "advertise_addr_wan = \"192.0.2." + std::to_string(index + 1) +
               "\"\n"
               "primary_datacenter = \"dc1\"\nretry_interval_wan = \"1s\"\n"
               "connect {\n enabled = true\n enable_mesh_gateway_wan_federation = true\n}\n"
               "tls {\n defaults {\n  ca_file = \"" +
               f("consul-agent-ca.pem") + "\"\n  cert_file = \"" + f(cert + ".pem") +
               "\"\n  key_file = \"" + f(cert + "-key.pem") +
               "\"\n  verify_incoming = true\n  verify_outgoing = true\n }\n"
               " internal_rpc {\n  verify_server_hostname = true\n }\n}\n" +
               extra;
    }
    void start_gateway(dc_setup& d, const std::string& name) {
        if (d.gw_port == 0) d.gw_port = meshfed::test::free_tcp_port();  // restarts keep it
        d.gateway = std::make_unique<child_process>(
            MESHFED_BINARY,
            std::vector<std::string>{"mesh-gateway", "-gateway=mesh", "-register",
                                     "-expose-servers", "-address", d.gw_addr(), "-wan-address",
                                     d.gw_addr(), "-http-addr", d.server.http_addr()},
            root.path() / (name + ".log"));
    }
    bool wan_alive(const dc_setup& d, const std::string& member) {
        auto j = http_get(d.server.http_port, "/v1/agent/members?wan=1");
        if (!j.is_array()) return false;
        for (const auto& m : j)
            if (m.value("Name", "") == member && m.value("Status", 0) == 1) return true;
        return false;
    }
};

}  // namespace

// The seed's "New secondary" order: the primary's server and gateway, then each secondary's
// server (first contact through primary_gateways) and gateway.
TEST_F(Wanfed, ThreeDatacentersFederateOnlyThroughTheirMeshGateways) {
    ASSERT_EQ(run("tls ca create"), 0);
    const int n_dcs = 3;
    const auto t0 = std::chrono::steady_clock::now();
    auto phase = [&](const char* what) {
        std::fprintf(stderr, "[wanfed] %s after %lld ms\n", what,
                     static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::steady_clock::now() - t0)
                                                .count()));
    };
    std::vector<dc_setup> dcs(n_dcs);
    auto diag = [&] {
        std::string out;
        for (int i = 0; i < n_dcs; ++i) {
            out += "\n--- s" + std::to_string(i + 1) + ":\n" + dcs[i].server.log();
            if (dcs[i].gateway)
                out += "\n--- gw" + std::to_string(i + 1) + ":\n" + dcs[i].gateway->output();
        }
        return out;
    };
    for (int i = 0; i < n_dcs; ++i) {
        std::string dc = "dc" + std::to_string(i + 1), node = "s" + std::to_string(i + 1);
        ASSERT_EQ(run("tls cert create -server -dc " + dc + " -node " + node), 0);
        std::string extra = i == 0 ? "" : "primary_gateways = [\"" + dcs[0].gw_addr() + "\"]\n";
        dcs[i].server = start_meshfed(root, node, dc, server_hcl(dc, 0, extra));
        ASSERT_TRUE(dcs[i].server.proc->wait_for_output("meshfed agent running", 10s)) << diag();
        start_gateway(dcs[i], "gw" + std::to_string(i + 1));
        ASSERT_TRUE(dcs[i].gateway->wait_for_output("Registered service: mesh-gateway", 10s))
            << diag();
    }
    phase("all servers and gateways started");
    // members -wan everywhere: every server alive.
    EXPECT_TRUE(eventually(
        [&] {
            for (auto& d : dcs)
                for (int j = 0; j < n_dcs; ++j)
                    if (!wan_alive(d, "s" + std::to_string(j + 1) + ".dc" + std::to_string(j + 1)))
                        return false;
            return true;
        },
        120s))
        << diag();
    phase("every server alive in every members -wan");
    // Every secondary holds the primary's view of every DC's federation state.
    EXPECT_TRUE(eventually(
        [&] {
            for (auto& d : dcs) {
                auto j = http_get(d.server.http_port, "/v1/internal/federation-states");
                if (!j.is_array()) return false;
                std::set<std::string> with_gateways;
                for (const auto& st : j)
                    if (st.contains("MeshGateways") && st["MeshGateways"].is_array() &&
                        !st["MeshGateways"].empty())
                        with_gateways.insert(st.value("Datacenter", ""));
                if (with_gateways.size() != static_cast<std::size_t>(n_dcs)) return false;
            }
            return true;
        },
        120s))
        << diag();
    phase("every DC holds every federation state");
    // catalog services of every other DC from every DC, dc2 <-> dc3 included.
    std::string failing;
    EXPECT_TRUE(eventually(
        [&] {
            for (int i = 0; i < n_dcs; ++i)
                for (int j = 0; j < n_dcs; ++j) {
                    if (i == j) continue;
                    auto c = http_get(dcs[i].server.http_port,
                                      "/v1/catalog/services?dc=dc" + std::to_string(j + 1));
                    if (!c.is_object() || !c.contains("consul") || !c.contains("mesh-gateway")) {
                        failing = "dc" + std::to_string(i + 1) + " -> dc" + std::to_string(j + 1);
                        return false;
                    }
                }
            return true;
        },
        120s))
        << failing << diag();
    phase("catalog services of every other DC from every DC");
    if (std::getenv("MESHFED_DIAG")) std::fprintf(stderr, "%s\n", diag().c_str());
    // No server holds a TCP connection to another datacenter's server: everything cross-DC goes
    // to a gateway (their WAN addresses are unroutable anyway, so UDP cannot cross either).
    for (int i = 0; i < n_dcs; ++i) {
        auto ss = meshfed::test::run_command("ss -tnpH state established 2>/dev/null");
        for (int j = 0; j < n_dcs; ++j) {
            if (i == j) continue;
            std::string pid = "pid=" + std::to_string(dcs[i].server.proc->pid()) + ",";
            for (int port : {dcs[j].server.rpc_port, dcs[j].server.serf_port}) {
                std::istringstream lines(ss.output);
                for (std::string line; std::getline(lines, line);)
                    if (line.find(pid) != std::string::npos &&
                        line.find(" 127.0.0.1:" + std::to_string(port) + " ") != std::string::npos)
                        ADD_FAILURE()
                            << "s" << i + 1 << " talks to s" << j + 1 << " directly: " << line;
            }
        }
    }
}

// Issue 7's fail-over: with dc2's gateway killed, dc2's server falls back to dialing the
// primary's gateways directly (after the replication failures / the gateway's check going
// critical) and still reaches dc1; with the gateway back it returns to its local gateway.
TEST_F(Wanfed, SecondaryFallsBackToThePrimarysGatewaysAndReturns) {
    ASSERT_EQ(run("tls ca create"), 0);
    std::vector<dc_setup> dcs(2);
    auto diag = [&] {
        std::string out;
        for (int i = 0; i < 2; ++i) {
            out += "\n--- s" + std::to_string(i + 1) + ":\n" + dcs[i].server.log();
            if (dcs[i].gateway)
                out += "\n--- gw" + std::to_string(i + 1) + ":\n" + dcs[i].gateway->output();
        }
        return out;
    };
    for (int i = 0; i < 2; ++i) {
        std::string dc = "dc" + std::to_string(i + 1), node = "s" + std::to_string(i + 1);
        ASSERT_EQ(run("tls cert create -server -dc " + dc + " -node " + node), 0);
        std::string extra = i == 0 ? "" : "primary_gateways = [\"" + dcs[0].gw_addr() + "\"]\n";
        dcs[i].server = start_meshfed(root, node, dc, server_hcl(dc, 0, extra));
        ASSERT_TRUE(dcs[i].server.proc->wait_for_output("meshfed agent running", 10s)) << diag();
        start_gateway(dcs[i], "gw" + std::to_string(i + 1));
        ASSERT_TRUE(dcs[i].gateway->wait_for_output("Registered service: mesh-gateway", 10s))
            << diag();
    }
    auto dc1_reachable_from_dc2 = [&] {
        auto c = http_get(dcs[1].server.http_port, "/v1/catalog/services?dc=dc1");
        return c.is_object() && c.contains("consul");
    };
    // Settled: dc2 dials dc1 through its own gateway.
    ASSERT_TRUE(eventually(
        [&] {
            return dc1_reachable_from_dc2() &&
                   dcs[1].server.log().find(
                       "will dial the primary datacenter using our local "
                       "mesh gateways") != std::string::npos;
        },
        120s))
        << diag();
    const auto before = dcs[1].server.log().size();

    dcs[1].gateway->signal(SIGKILL);  // no deregistration: its check has to notice
    // Replication through the dead gateway fails; after 3 failures the locator dials the
    // primary's gateways directly, and once the gateway's check is critical it leaves the list.
    EXPECT_TRUE(eventually(
        [&] {
            return dcs[1].server.log().find(
                       "will dial the primary datacenter through its mesh "
                       "gateways",
                       before) != std::string::npos;
        },
        120s))
        << diag();
    EXPECT_TRUE(eventually(
        [&] { return dcs[1].server.log().find("local=[]", before) != std::string::npos; }, 120s))
        << diag();
    EXPECT_TRUE(eventually(dc1_reachable_from_dc2, 60s)) << diag();

    const auto before_back = dcs[1].server.log().size();
    dcs[1].gateway.reset();
    start_gateway(dcs[1], "gw2-restarted");
    ASSERT_TRUE(dcs[1].gateway->wait_for_output("Registered service: mesh-gateway", 10s)) << diag();
    // Healthy again (its check passes), replicated back: the locator lists it as local again.
    const std::string local_again = "local=[" + dcs[1].gw_addr() + "]";
    EXPECT_TRUE(eventually(
        [&] { return dcs[1].server.log().find(local_again, before_back) != std::string::npos; },
        120s))
        << diag();
    EXPECT_TRUE(eventually(dc1_reachable_from_dc2, 60s)) << diag();
}
