// Agent services, checks and metrics over real HTTP against the `meshfed agent` binary:
// registration (the mesh-gateway shape `meshfed mesh-gateway` uses) synced to the catalog, TCP
// and TTL checks, deregistration, persistence across a restart, Consul's 400/404 texts, and
// /v1/agent/metrics in JSON and Prometheus form. Plus in-process anti-entropy and reaping
// against the real RPC endpoints.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <regex>

#include <fmt/format.h>
#include <asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "agent/httplib.hpp"
#include "agent/local_state.hpp"
#include "rpc/endpoints.hpp"
#include "rpc/state_store.hpp"
#include "tests/support/process.hpp"

using namespace std::chrono_literals;
using json = nlohmann::json;
using meshfed::test::child_process;
using meshfed::test::free_tcp_port;
using meshfed::test::temp_dir;
using ::testing::HasSubstr;

namespace {

// A listening TCP socket on 127.0.0.1 (what a TCP check connects to).
class listener {
  public:
    listener() {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
        ::listen(fd_, 64);
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
    }
    ~listener() { close(); }
    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    int port() const { return port_; }

  private:
    int fd_ = -1;
    int port_ = 0;
};

class agent_fixture {
  public:
    explicit agent_fixture(const temp_dir& dir) : dir_(dir), http_port_(free_tcp_port()) {
        dir.write("server.hcl",
                  "node_name = \"n1\"\ndatacenter = \"dc1\"\nserver = true\n"
                  "bootstrap = true\nbind_addr = \"127.0.0.1\"\n"
                  "ports { serf_wan = 0 server = 0 http = " +
                      std::to_string(http_port_) + " }\ndata_dir = \"" + (dir / "data").string() +
                      "\"\n");
        start();
    }

    void start() {
        proc_.reset();
        proc_ = std::make_unique<child_process>(
            MESHFED_BINARY,
            std::vector<std::string>{"agent", "-config", (dir_ / "server.hcl").string()},
            dir_ / fmt::format("agent-{}.log", ++starts_));
        ASSERT_TRUE(proc_->wait_for_output("meshfed agent running", 15s)) << proc_->output();
    }
    void restart() {
        proc_->signal(SIGTERM);
        ASSERT_TRUE(proc_->wait_exit(15s).has_value());
        start();
    }

    httplib::Result get(const std::string& path) { return client().Get(path); }
    httplib::Result put(const std::string& path, const std::string& body = "") {
        return client().Put(path, body, "application/json");
    }
    json get_json(const std::string& path) {
        auto r = get(path);
        if (!r || r->status != 200) return nullptr;
        return json::parse(r->body, nullptr, false);
    }
    // Polls `path` until `pred(json)` holds.
    template <class Pred>
    bool wait_json(const std::string& path, Pred pred, std::chrono::milliseconds timeout = 15s) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            auto j = get_json(path);
            if (!j.is_discarded() && !j.is_null() && pred(j)) return true;
            std::this_thread::sleep_for(100ms);
        }
        return false;
    }
    std::string log() const { return proc_->output(); }

  private:
    httplib::Client client() {
        httplib::Client c("127.0.0.1", http_port_);
        c.set_read_timeout(10, 0);
        return c;
    }
    const temp_dir& dir_;
    int http_port_;
    int starts_ = 0;  // one log per run: "agent running" must come from this one
    std::unique_ptr<child_process> proc_;
};

json check_of(const json& health_entries, const std::string& check_id) {
    for (const auto& e : health_entries)
        for (const auto& c : e["Checks"])
            if (c["CheckID"] == check_id) return c;
    return nullptr;
}

std::string mesh_gateway_registration(int check_port) {
    json j = {{"Name", "mesh-gateway"},
              {"ID", "mesh-gateway"},
              {"Kind", "mesh-gateway"},
              {"Port", 8443},
              {"Address", "127.0.0.1"},
              {"Meta", {{"consul-wan-federation", "1"}}},
              {"TaggedAddresses",
               {{"lan", {{"Address", "127.0.0.1"}, {"Port", 8443}}},
                {"wan", {{"Address", "127.0.0.2"}, {"Port", 9443}}}}},
              {"Proxy", {{"Config", {{"envoy_gateway_bind_addresses", json::object()}}}}},
              {"Check",
               {{"Name", "Mesh Gateway Listening"},
                {"TCP", "127.0.0.1:" + std::to_string(check_port)},
                {"Interval", "1s"},
                {"DeregisterCriticalServiceAfter", "6h"}}}};
    return j.dump();
}

}  // namespace

TEST(AgentServices, MeshGatewayWithTcpCheckReachesCatalogAndHealthAndFollowsTheSocket) {
    temp_dir dir;
    agent_fixture a(dir);
    listener sock;
    auto r = a.put("/v1/agent/service/register", mesh_gateway_registration(sock.port()));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;

    auto services = a.get_json("/v1/agent/services");
    ASSERT_TRUE(services.contains("mesh-gateway")) << services.dump();
    const auto& s = services["mesh-gateway"];
    EXPECT_EQ(s["Kind"], "mesh-gateway");
    EXPECT_EQ(s["Service"], "mesh-gateway");
    EXPECT_EQ(s["Port"], 8443);
    EXPECT_EQ(s["Meta"]["consul-wan-federation"], "1");
    EXPECT_EQ(s["TaggedAddresses"]["wan"]["Address"], "127.0.0.2");
    EXPECT_EQ(s["TaggedAddresses"]["wan"]["Port"], 9443);
    EXPECT_EQ(s["Weights"], json({{"Passing", 1}, {"Warning", 1}}));
    EXPECT_EQ(s["Datacenter"], "dc1");
    EXPECT_TRUE(s["Proxy"].contains("Config")) << s.dump();

    // The check starts critical (Consul's default) and turns passing once it connects.
    const std::string cid = "service:mesh-gateway";
    ASSERT_TRUE(a.wait_json("/v1/health/service/mesh-gateway", [&](const json& j) {
        auto c = check_of(j, cid);
        return c.is_object() && c["Status"] == "passing";
    })) << a.get("/v1/health/service/mesh-gateway")->body;
    auto health = a.get_json("/v1/health/service/mesh-gateway");
    auto c = check_of(health, cid);
    EXPECT_EQ(c["Output"], "TCP connect 127.0.0.1:" + std::to_string(sock.port()) + ": Success");
    EXPECT_EQ(c["Name"], "Mesh Gateway Listening");
    EXPECT_EQ(c["Type"], "tcp");
    EXPECT_EQ(health[0]["Service"]["Kind"], "mesh-gateway");
    EXPECT_EQ(health[0]["Node"]["Node"], "n1");
    EXPECT_EQ(health[0]["Node"]["Address"], "127.0.0.1");

    auto catalog = a.get_json("/v1/catalog/service/mesh-gateway");
    ASSERT_EQ(catalog.size(), 1u) << catalog.dump();
    EXPECT_EQ(catalog[0]["ServiceKind"], "mesh-gateway");
    EXPECT_EQ(catalog[0]["ServiceMeta"]["consul-wan-federation"], "1");
    EXPECT_EQ(catalog[0]["ServiceTaggedAddresses"]["wan"]["Port"], 9443);

    auto checks = a.get_json("/v1/agent/checks");
    EXPECT_EQ(checks[cid]["Status"], "passing");
    EXPECT_EQ(checks[cid]["ServiceID"], "mesh-gateway");
    EXPECT_EQ(checks[cid]["Definition"]["Interval"], "1s");
    EXPECT_EQ(checks[cid]["Definition"]["DeregisterCriticalServiceAfter"], "6h0m0s");

    // Nothing listens any more: critical, with Go's dial error, promptly in the catalog.
    sock.close();
    ASSERT_TRUE(a.wait_json("/v1/health/service/mesh-gateway", [&](const json& j) {
        auto c = check_of(j, cid);
        return c.is_object() && c["Status"] == "critical";
    }));
    c = check_of(a.get_json("/v1/health/service/mesh-gateway"), cid);
    EXPECT_THAT(c["Output"].get<std::string>(), HasSubstr("connect: connection refused"));
    EXPECT_EQ(a.get_json("/v1/health/service/mesh-gateway?passing").size(), 0u);
}

TEST(AgentServices, TtlCheckExpiresPassesAndUpdates) {
    temp_dir dir;
    agent_fixture a(dir);
    auto r = a.put("/v1/agent/service/register",
                   R"({"Name":"web","Port":80,"Check":{"CheckID":"web-ttl","TTL":"1s"}})");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(a.get_json("/v1/agent/checks")["web-ttl"]["Status"], "critical");

    r = a.put("/v1/agent/check/pass/web-ttl?note=all%20good");
    ASSERT_EQ(r->status, 200) << r->body;
    ASSERT_TRUE(a.wait_json("/v1/health/service/web", [](const json& j) {
        auto c = check_of(j, "web-ttl");
        return c.is_object() && c["Status"] == "passing" && c["Output"] == "all good";
    }));
    // No update within the TTL: critical, keeping the last output.
    ASSERT_TRUE(a.wait_json("/v1/health/service/web", [](const json& j) {
        auto c = check_of(j, "web-ttl");
        return c.is_object() && c["Status"] == "critical";
    }));
    EXPECT_EQ(a.get_json("/v1/agent/checks")["web-ttl"]["Output"],
              "TTL expired (last output before timeout follows): all good");

    r = a.put("/v1/agent/check/update/web-ttl", R"({"Status":"warning","Output":"slow"})");
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(a.get_json("/v1/agent/checks")["web-ttl"]["Status"], "warning");

    r = a.put("/v1/agent/check/update/web-ttl", R"({"Status":"bogus"})");
    EXPECT_EQ(r->status, 400);
    EXPECT_EQ(r->body, "Invalid check status: 'bogus'");
    r = a.put("/v1/agent/check/pass/nope");
    EXPECT_EQ(r->status, 404);
    EXPECT_EQ(r->body,
              "Unknown check ID \"nope\". Ensure that the check ID is passed, not the check name.");
}

TEST(AgentServices, DeregisterRemovesFromCatalogAndRegistrationsSurviveRestart) {
    temp_dir dir;
    agent_fixture a(dir);
    listener sock;
    ASSERT_EQ(a.put("/v1/agent/service/register", mesh_gateway_registration(sock.port()))->status,
              200);
    ASSERT_EQ(
        a.put("/v1/agent/service/register", R"({"Name":"api","Tags":["v1"],"Port":9000})")->status,
        200);
    ASSERT_TRUE(
        a.wait_json("/v1/catalog/service/api", [](const json& j) { return j.size() == 1; }));

    a.restart();
    auto services = a.get_json("/v1/agent/services");
    EXPECT_TRUE(services.contains("mesh-gateway")) << services.dump();
    ASSERT_TRUE(services.contains("api"));
    EXPECT_EQ(services["api"]["Tags"], json::array({"v1"}));
    EXPECT_TRUE(a.get_json("/v1/agent/checks").contains("service:mesh-gateway"));
    ASSERT_TRUE(a.wait_json("/v1/health/service/mesh-gateway", [](const json& j) {
        auto c = check_of(j, "service:mesh-gateway");
        return c.is_object() && c["Status"] == "passing";
    }));

    auto r = a.put("/v1/agent/service/deregister/api");
    ASSERT_EQ(r->status, 200) << r->body;
    ASSERT_TRUE(a.wait_json("/v1/catalog/service/api", [](const json& j) { return j.empty(); }));
    EXPECT_FALSE(a.get_json("/v1/agent/services").contains("api"));
    r = a.put("/v1/agent/service/deregister/api");
    EXPECT_EQ(r->status, 404);
    EXPECT_EQ(r->body,
              "Unknown service ID \"api\". Ensure that the service ID is passed, not "
              "the service name.");

    // Deregistered stays deregistered across a restart; the server's own service is untouched.
    a.restart();
    EXPECT_FALSE(a.get_json("/v1/agent/services").contains("api"));
    EXPECT_EQ(a.get_json("/v1/catalog/service/api").size(), 0u);
    EXPECT_EQ(a.get_json("/v1/catalog/service/consul").size(), 1u);
    EXPECT_EQ(a.get("/v1/agent/service/api")->status, 404);
}

TEST(AgentServices, BadRegistrationsAreRefusedWithConsulTexts) {
    temp_dir dir;
    agent_fixture a(dir);
    const std::pair<std::string, std::string> cases[] = {
        {R"({"Port":1})", "Missing service name"},
        {R"({"Name":"x","Address":"0.0.0.0"})", "Invalid service address"},
        {R"({"Name":"x","Meta":{"consul-foo":"1"}})",
         "Invalid Service Meta: Couldn't load metadata pair ('consul-foo', '1'): Key prefix "
         "'consul-' is reserved for internal use"},
        // consul-wan-federation is only allowed on mesh gateways.
        {R"({"Name":"x","Meta":{"consul-wan-federation":"1"}})",
         "Invalid Service Meta: Couldn't load metadata pair ('consul-wan-federation', '1'): Key "
         "prefix 'consul-' is reserved for internal use"},
        {R"({"Name":"gw","Kind":"mesh-gateway"})",
         "Validation failed: 1 error occurred:\n\t* Port must be non-zero for a mesh-gateway\n\n"},
        {R"({"Name":"x","Check":{"TCP":"127.0.0.1:1"}})",
         "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService "
         "checks"},
        {R"({"Name":"x","Check":{"TCP":"127.0.0.1:1","Interval":"1s","TTL":"1s"}})",
         "Invalid check: Interval and TTL cannot both be specified"},
        {R"({"Name":"x","Checks":[{"Name":"c"}]})",
         "Invalid check: TTL must be > 0 for TTL checks"},
        {R"({"Name":"x","Check":{"TTL":"10s","Status":"green"}})",
         "Status for checks must 'passing', 'warning', 'critical'"},
        {R"({"Name":"x","Weights":{"Passing":0}})",
         "Invalid Weights: Passing must be greater than 0"},
        {R"({"Name":"x","Port":"80"})",
         "Request decode failed: json: cannot unmarshal string into Go struct field "
         "ServiceDefinition.Port of type int"},
        {R"({"Name":"x","Check":{"TTL":"soon"}})",
         "Request decode failed: time: invalid duration \"soon\""},
        {R"({"Name":"x","Check":{"HTTP":"http://x/","Interval":"1s"}})",
         "Invalid check: meshfed runs TCP and TTL checks only (HTTP checks are not supported)"},
    };
    for (const auto& [body, text] : cases) {
        auto r = a.put("/v1/agent/service/register", body);
        ASSERT_TRUE(r) << body;
        EXPECT_EQ(r->status, 400) << body;
        EXPECT_EQ(r->body, text) << body;
    }
    auto r = a.put("/v1/agent/service/register", "{not json");
    EXPECT_EQ(r->status, 400);
    EXPECT_THAT(r->body, HasSubstr("Request decode failed: "));
    EXPECT_EQ(a.get_json("/v1/agent/services"), json::object());
    // The mesh gateway may carry consul-wan-federation.
    r = a.put(
        "/v1/agent/service/register",
        R"({"Name":"gw","Kind":"mesh-gateway","Port":8443,"Meta":{"consul-wan-federation":"1"}})");
    EXPECT_EQ(r->status, 200) << r->body;
}

TEST(AgentServices, ReplaceExistingChecksDropsChecksNotInTheNewRegistration) {
    temp_dir dir;
    agent_fixture a(dir);
    ASSERT_EQ(
        a.put("/v1/agent/service/register",
              R"({"Name":"s","Checks":[{"CheckID":"a","TTL":"30s"},{"CheckID":"b","TTL":"30s"}]})")
            ->status,
        200);
    ASSERT_EQ(a.put("/v1/agent/service/register",
                    R"({"Name":"s","Checks":[{"CheckID":"a","TTL":"30s"}]})")
                  ->status,
              200);
    EXPECT_TRUE(a.get_json("/v1/agent/checks").contains("b"));
    ASSERT_EQ(a.put("/v1/agent/service/register?replace-existing-checks",
                    R"({"Name":"s","Checks":[{"CheckID":"a","TTL":"30s"}]})")
                  ->status,
              200);
    auto checks = a.get_json("/v1/agent/checks");
    EXPECT_TRUE(checks.contains("a"));
    EXPECT_FALSE(checks.contains("b"));
    ASSERT_TRUE(a.wait_json("/v1/health/service/s", [](const json& j) {
        return j.size() == 1 && check_of(j, "a").is_object() && check_of(j, "b").is_null();
    }));
}

TEST(AgentMetrics, JsonAndPrometheusFormats) {
    temp_dir dir;
    agent_fixture a(dir);
    ASSERT_EQ(a.put("/v1/agent/service/register", R"({"Name":"m","Check":{"TTL":"30s"}})")->status,
              200);
    auto j = a.get_json("/v1/agent/metrics");
    ASSERT_TRUE(j.is_object());
    EXPECT_TRUE(j["Timestamp"].is_string());
    EXPECT_TRUE(std::regex_match(j["Timestamp"].get<std::string>(),
                                 std::regex(R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC)")));
    for (const char* k : {"Gauges", "Points", "Counters", "Samples"}) EXPECT_TRUE(j[k].is_array());
    auto find = [&](const char* section, const std::string& name, const json& labels) -> json {
        for (const auto& m : j[section])
            if (m["Name"] == name && (labels.is_null() || m["Labels"] == labels)) return m;
        return nullptr;
    };
    auto req = find("Counters", "consul.rpc.request", nullptr);
    ASSERT_TRUE(req.is_object()) << j.dump();
    for (const char* k : {"Count", "Rate", "Sum", "Min", "Max", "Mean", "Stddev", "Labels"})
        EXPECT_TRUE(req.contains(k)) << k;
    // The registration went through Catalog.Register on the RPC path.
    EXPECT_GE(find("Counters", "consul.meshfed.anti_entropy.registers", nullptr)["Count"], 1);
    EXPECT_EQ(find("Gauges", "consul.meshfed.agent.services", nullptr)["Value"], 1.0);
    EXPECT_TRUE(find("Counters", "consul.serf.member.join", {{"network", "wan"}}).is_object());
    EXPECT_TRUE(find("Counters", "consul.meshfed.memberlist.dropped",
                     {{"network", "wan"}, {"reason", "bad_crc"}})
                    .is_object() ||
                find("Counters", "consul.meshfed.memberlist.dropped", nullptr).is_object());

    auto r = a.get("/v1/agent/metrics?format=prometheus");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    // Every line is a comment or `name{labels} value`; each name has one TYPE before its samples.
    const std::regex sample(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")"
                            R"((,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")*\})? -?[0-9.eE+]+)");
    const std::regex type_line(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge))");
    std::set<std::string> typed;
    std::istringstream in(r->body);
    std::string line;
    int samples = 0;
    bool saw_request = false;
    while (std::getline(in, line)) {
        std::smatch m;
        if (line.starts_with("# HELP ")) continue;
        if (std::regex_match(line, m, type_line)) {
            EXPECT_TRUE(typed.insert(m[1]).second) << "TYPE twice: " << line;
            continue;
        }
        ASSERT_TRUE(std::regex_match(line, m, sample)) << line;
        EXPECT_TRUE(typed.contains(m[1])) << "sample before its TYPE: " << line;
        ++samples;
        if (line.starts_with("consul_rpc_request ")) saw_request = true;
    }
    EXPECT_GT(samples, 20);
    EXPECT_TRUE(saw_request) << r->body;
    EXPECT_TRUE(typed.contains("consul_serf_member_join"));
}

// In process: anti-entropy against the real RPC endpoints, and DeregisterCriticalServiceAfter.
TEST(LocalState, ReapsServicesCriticalTooLongAndRepairsCatalogDrift) {
    using namespace meshfed;
    asio::io_context io;
    rpc::state_store store;
    rpc::endpoints_config ec;
    ec.datacenter = "dc1";
    ec.rpc_address = "127.0.0.1:8300";
    rpc::endpoints ep(io.get_executor(), store, ec);
    rpc::handler_registry handlers;
    ep.register_handlers(handlers);
    ASSERT_TRUE(ep.register_self("n1", "127.0.0.1", "dc1", 8300, ""));
    auto call = [&](std::string, std::string method, std::vector<std::uint8_t> body,
                    rpc::reply_fn reply) { handlers.dispatch(method, body, std::move(reply)); };
    agent::local_state_config cfg;
    cfg.node_name = "n1";
    cfg.datacenter = "dc1";
    cfg.address = "127.0.0.1";
    cfg.sync_interval = 200ms;
    cfg.reap_interval = 50ms;
    cfg.deregister_min = 0ms;
    agent::local_state ls(io, cfg, call);
    ls.start();

    auto def = agent::decode_service_definition(json::parse(
        R"({"Name":"doomed","Check":{"TTL":"100ms","DeregisterCriticalServiceAfter":"300ms"}})"));
    ASSERT_TRUE(def) << def.error();
    ls.add_service(std::move(*def), false, nullptr);
    auto keep = agent::decode_service_definition(json::parse(R"({"Name":"keep","Port":1})"));
    ASSERT_TRUE(keep);
    ls.add_service(std::move(*keep), false, nullptr);

    auto node_services = [&]() {
        std::map<std::string, rpc::node_service> out;
        rpc::node_specific_request q;
        q.datacenter = "dc1";
        q.node = "n1";
        handlers.dispatch("Catalog.NodeServices", rpc::encode_to_bytes(q),
                          [&](std::string err, std::vector<std::uint8_t> body) {
                              auto r = rpc::decode_from_bytes<rpc::indexed_node_services>(body);
                              if (err.empty() && r && r->node_services_)
                                  out = r->node_services_->services;
                          });
        return out;
    };
    io.run_for(100ms);
    auto now = node_services();
    EXPECT_TRUE(now.contains("doomed"));
    EXPECT_TRUE(now.contains("keep"));
    EXPECT_TRUE(now.contains("consul"));

    // Someone removes "keep" from the catalog behind the agent's back and adds a service to
    // its node: the next full sync restores the one and removes the other.
    rpc::deregister_request d;
    d.datacenter = "dc1";
    d.node = "n1";
    d.service_id = "keep";
    handlers.dispatch("Catalog.Deregister", rpc::encode_to_bytes(d), [](auto, auto) {});
    rpc::register_request stray;
    stray.datacenter = "dc1";
    stray.node = "n1";
    stray.address = "127.0.0.1";
    stray.skip_node_update = true;
    stray.service = rpc::node_service{};
    stray.service->id = stray.service->service = "stray";
    handlers.dispatch("Catalog.Register", rpc::encode_to_bytes(stray), [](auto, auto) {});
    EXPECT_FALSE(node_services().contains("keep"));

    // TTL 100 ms expires, 300 ms critical, reaped; plus a full sync or two.
    io.run_for(1200ms);
    now = node_services();
    EXPECT_FALSE(now.contains("doomed"));
    EXPECT_FALSE(ls.services().contains("doomed"));
    EXPECT_TRUE(now.contains("keep"));
    EXPECT_FALSE(now.contains("stray"));
    EXPECT_TRUE(now.contains("consul"));
    EXPECT_EQ(ls.stats().services_reaped, 1u);
    EXPECT_GE(ls.stats().full_syncs, 2u);
    ls.stop();
}
