// The agent's HTTP API over real HTTP (cpp-httplib client) against an http_api served on a real
// io_context with the real handler table, endpoints and state store: Consul's shapes, headers,
// status codes and texts, ?dc= routing, blocking queries (one and 500 at once) and bad input.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include <asio/connect.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <nlohmann/json.hpp>

#include "agent/http/agent_endpoints.hpp"
#include "agent/http/catalog_endpoints.hpp"
#include "agent/http/http_api.hpp"
#include "agent/http/json_codec.hpp"
#include "agent/httplib.hpp"
#include "rpc/endpoints.hpp"
#include "rpc/router.hpp"
#include "rpc/state_store.hpp"

using namespace std::chrono_literals;
using json = nlohmann::json;
namespace http = meshfed::agent::http;
namespace rpc = meshfed::rpc;
namespace wan = meshfed::wan;

namespace {

class HttpApi : public ::testing::Test {
  protected:
    asio::io_context io;
    rpc::state_store store;
    rpc::handler_registry handlers;
    rpc::router router{"dc1"};
    std::unique_ptr<rpc::endpoints> eps;
    std::unique_ptr<http::http_api> api;
    std::thread thread;
    int port = 0;

    void SetUp() override {
        rpc::endpoints_config ec;
        ec.datacenter = "dc1";
        ec.rpc_address = "127.0.0.1:8300";
        eps = std::make_unique<rpc::endpoints>(io.get_executor(), store, ec);
        eps->register_handlers(handlers);
        ASSERT_TRUE(eps->register_self("n1", "127.0.0.1", "dc1", 8300, ""));
        http::http_config hc;
        hc.port = 0;
        hc.datacenter = "dc1";
        hc.max_body = 64 * 1024;
        hc.hard_max_body = 1024 * 1024;
        // The agent's routing: local handler table, the router for other datacenters (none
        // are known here, so they get the router's own error text).
        api = std::make_unique<http::http_api>(
            io, hc,
            [this](std::string dc, std::string method, std::vector<std::uint8_t> body,
                   rpc::reply_fn reply) {
                if (dc.empty() || dc == "dc1") return handlers.dispatch(method, body, reply);
                auto t = router.route(dc);
                reply(t ? std::string("unexpected route") : t.error(), {0x80});
            });
        http::register_catalog_endpoints(*api);
        http::agent_control ctl;
        ctl.wan_members = [] {
            wan::member m;
            m.name = "n1.dc1";
            m.addr = *wan::node_addr::parse("127.0.0.1", 8302);
            m.tags = {{"role", "consul"}, {"dc", "dc1"}};
            m.status = wan::member_status::alive;
            m.protocol_min = 1;
            m.protocol_max = 5;
            m.protocol_cur = 2;
            m.delegate_min = 2;
            m.delegate_max = 5;
            m.delegate_cur = 4;
            return std::vector<wan::member>{m};
        };
        http::register_agent_endpoints(*api, ctl);
        auto started = api->start();
        ASSERT_TRUE(started) << started.error();
        port = api->port();
        ASSERT_GT(port, 0);
        thread = std::thread([this] {
            auto guard = asio::make_work_guard(io);
            io.run();
        });
    }

    void TearDown() override {
        if (thread.joinable()) {
            asio::post(io, [this] {
                eps->release_parked();
                api->stop();
                io.stop();
            });
            thread.join();
        }
    }

    httplib::Client client(std::chrono::seconds read_timeout = 10s) {
        httplib::Client c("127.0.0.1", port);
        c.set_read_timeout(read_timeout);
        c.set_connection_timeout(5s);
        return c;
    }

    httplib::Result get(const std::string& path) { return client().Get(path.c_str()); }
    httplib::Result put(const std::string& path, const std::string& body) {
        return client().Put(path.c_str(), body, "application/json");
    }

    // Runs `fn` on the io thread and returns its result.
    template <class Fn>
    auto on_io(Fn fn) {
        std::promise<decltype(fn())> p;
        asio::post(io, [&] { p.set_value(fn()); });
        return p.get_future().get();
    }

    static void expect_reply(const httplib::Result& r, int status, const std::string& body) {
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, status);
        EXPECT_EQ(r->body, body);
    }

    std::uint64_t index_of(const httplib::Result& r) {
        return std::stoull(r->get_header_value("X-Consul-Index"));
    }
};

TEST_F(HttpApi, StatusEndpoints) {
    auto r = get("/v1/status/leader");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
    EXPECT_EQ(r->body, "\"127.0.0.1:8300\"");
    r = get("/v1/status/peers");
    ASSERT_TRUE(r);
    EXPECT_EQ(json::parse(r->body), json::array({"127.0.0.1:8300"}));
}

TEST_F(HttpApi, CatalogReadShapesAndHeaders) {
    auto r = get("/v1/catalog/datacenters");
    ASSERT_TRUE(r);
    EXPECT_EQ(json::parse(r->body), json::array({"dc1"}));

    r = get("/v1/catalog/services");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(json::parse(r->body), (json{{"consul", json::array()}}));
    EXPECT_GE(index_of(r), 1u);
    EXPECT_EQ(r->get_header_value("X-Consul-KnownLeader"), "true");
    EXPECT_EQ(r->get_header_value("X-Consul-LastContact"), "0");

    r = get("/v1/catalog/service/consul");
    ASSERT_TRUE(r);
    auto sn = json::parse(r->body);
    ASSERT_EQ(sn.size(), 1u);
    EXPECT_EQ(sn[0]["Node"], "n1");
    EXPECT_EQ(sn[0]["ServiceName"], "consul");
    EXPECT_EQ(sn[0]["ServicePort"], 8300);
    EXPECT_EQ(sn[0]["ServiceTags"], json::array());
    EXPECT_EQ(sn[0]["ServiceWeights"], (json{{"Passing", 1}, {"Warning", 1}}));
    EXPECT_FALSE(sn[0].contains("PeerName"));  // omitempty
    EXPECT_TRUE(sn[0].contains("CreateIndex"));

    // Never null: an unknown service is [].
    r = get("/v1/catalog/service/nothing-here");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "[]");
    EXPECT_TRUE(r->has_header("X-Consul-Index"));

    r = get("/v1/catalog/nodes");
    ASSERT_TRUE(r);
    auto nodes = json::parse(r->body);
    ASSERT_EQ(nodes.size(), 1u);
    EXPECT_EQ(nodes[0]["Node"], "n1");
    EXPECT_EQ(nodes[0]["Address"], "127.0.0.1");
    EXPECT_EQ(nodes[0]["Datacenter"], "dc1");

    r = get("/v1/catalog/node/n1");
    ASSERT_TRUE(r);
    auto ns = json::parse(r->body);
    EXPECT_EQ(ns["Node"]["Node"], "n1");
    EXPECT_EQ(ns["Services"]["consul"]["Service"], "consul");
    EXPECT_EQ(ns["Services"]["consul"]["Tags"], json::array());
    EXPECT_FALSE(ns["Services"]["consul"].contains("LocallyRegisteredAsSidecar"));

    expect_reply(get("/v1/catalog/node/unknown"), 200, "null");

    r = get("/v1/health/service/consul");
    ASSERT_TRUE(r);
    auto h = json::parse(r->body);
    ASSERT_EQ(h.size(), 1u);
    EXPECT_EQ(h[0]["Node"]["Node"], "n1");
    EXPECT_EQ(h[0]["Service"]["ID"], "consul");
    EXPECT_EQ(h[0]["Checks"][0]["CheckID"], "serfHealth");
    EXPECT_EQ(h[0]["Checks"][0]["Status"], "passing");
}

TEST_F(HttpApi, RegisterDeregisterTagsAndPassing) {
    auto r = put("/v1/catalog/register",
                 R"({"Datacenter":"dc1","Node":"web-node","Address":"10.0.0.5",)"
                 R"("service":{"Service":"web","Tags":["v1","blue"],"Port":8080},)"
                 R"("Check":{"CheckID":"web-alive","Name":"web alive","Status":"critical",)"
                 R"("ServiceID":"web"}})");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->body, "true");

    r = get("/v1/catalog/service/web?tag=v1");
    ASSERT_TRUE(r);
    auto sn = json::parse(r->body);
    ASSERT_EQ(sn.size(), 1u);  // lower-case "service" key matched, as encoding/json does
    EXPECT_EQ(sn[0]["ServiceTags"], json::array({"v1", "blue"}));
    EXPECT_EQ(get("/v1/catalog/service/web?tag=v2")->body, "[]");

    EXPECT_EQ(json::parse(get("/v1/catalog/services")->body)["web"], json::array({"v1", "blue"}));
    EXPECT_EQ(json::parse(get("/v1/health/service/web")->body).size(), 1u);
    EXPECT_EQ(get("/v1/health/service/web?passing")->body, "[]");
    EXPECT_EQ(get("/v1/health/service/web?passing=false")->body.size() > 2, true);
    EXPECT_EQ(get("/v1/health/service/web?passing=maybe")->status, 400);

    r = put("/v1/catalog/deregister", R"({"Node":"web-node","ServiceID":"web"})");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(get("/v1/catalog/service/web")->body, "[]");

    // An RPC error is a 500 carrying the RPC's text.
    expect_reply(put("/v1/catalog/register", R"({"Node":"x"})"), 500,
                 "Must provide address if SkipNodeUpdate is not set");
}

TEST_F(HttpApi, ErrorsUseConsulCodesAndTexts) {
    expect_reply(get("/v1/catalog/services?dc=dc9"), 500, "No path to datacenter");

    expect_reply(get("/v1/no/such/path"), 404, "404 page not found\n");

    expect_reply(client().Post("/v1/status/leader", "", "application/json"), 405,
                 "method POST not allowed");
    expect_reply(client().Delete("/v1/catalog/register"), 405, "method DELETE not allowed");

    expect_reply(put("/v1/catalog/register", std::string(100 * 1024, 'x')), 413,
                 "Request body too large, max size: 65536 bytes");

    expect_reply(put("/v1/catalog/register", R"({"Node": "a", )"), 400,
                 "Request decode failed: unexpected EOF");
    auto r = put("/v1/catalog/register", R"({"Node": nope})");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_EQ(r->body.rfind("Request decode failed: invalid character 'o'", 0), 0u) << r->body;
    expect_reply(
        put("/v1/catalog/register", R"({"Node":"a","Address":"b","Service":{"Port":"80"}})"), 400,
        "Request decode failed: json: cannot unmarshal string into Go struct field "
        "RegisterRequest.Service.Port of type int");
    EXPECT_EQ(put("/v1/catalog/register", "[1,2]")->status, 400);
    EXPECT_EQ(put("/v1/catalog/register", std::string(200, '[') + std::string(200, ']'))->status,
              400);

    expect_reply(get("/v1/catalog/services?wait=soon"), 400, "Invalid wait time");
    expect_reply(get("/v1/catalog/services?index=abc"), 400, "Invalid index");
    expect_reply(get("/v1/catalog/services?stale&consistent"), 400,
                 "Cannot specify ?stale with ?consistent, conflicting semantics.");
    expect_reply(get("/v1/catalog/service/"), 400, "Missing service name");

    // Garbage on the wire and a body beyond the hard limit close their connections; the
    // agent keeps serving.
    {
        asio::io_context cio;
        asio::ip::tcp::socket s(cio);
        s.connect({asio::ip::make_address("127.0.0.1"), static_cast<std::uint16_t>(port)});
        std::string junk = "\x16\x03\x01 not http at all\r\n\r\n";
        asio::write(s, asio::buffer(junk));
        std::array<char, 256> buf{};
        std::error_code ec;
        asio::read(s, asio::buffer(buf), ec);
        EXPECT_TRUE(ec);  // closed by the server
    }
    r = put("/v1/catalog/register", std::string(2 * 1024 * 1024, 'x'));
    EXPECT_TRUE(!r || r->status == 413);
    r = get("/v1/status/leader");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(on_io([this] { return api->stats().responses_4xx; }) >= 10, true);
}

TEST_F(HttpApi, BlockingQueryWakesOnCatalogChange) {
    auto first = get("/v1/catalog/services");
    ASSERT_TRUE(first);
    const auto idx = index_of(first);
    auto waiter = std::async(std::launch::async, [this, idx] {
        auto c = client(30s);
        auto start = std::chrono::steady_clock::now();
        auto r = c.Get(("/v1/catalog/services?index=" + std::to_string(idx) + "&wait=20s").c_str());
        return std::make_pair(std::move(r), std::chrono::steady_clock::now() - start);
    });
    // Parked, not answered.
    for (int i = 0; i < 100 && on_io([this] { return eps->parked(); }) == 0; ++i)
        std::this_thread::sleep_for(10ms);
    ASSERT_EQ(on_io([this] { return eps->parked(); }), 1u);
    EXPECT_EQ(waiter.wait_for(200ms), std::future_status::timeout);
    auto reg = put("/v1/catalog/register",
                   R"({"Node":"db-node","Address":"10.0.0.9","Service":{"Service":"db"}})");
    ASSERT_TRUE(reg);
    ASSERT_EQ(reg->status, 200);
    auto [r, took] = waiter.get();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_GT(index_of(r), idx);
    EXPECT_TRUE(json::parse(r->body).contains("db"));
    EXPECT_LT(took, 10s);

    // ?wait bounds the wait when nothing changes.
    auto c = client(30s);
    auto start = std::chrono::steady_clock::now();
    auto idle = c.Get(
        ("/v1/catalog/services?index=" + std::to_string(index_of(r)) + "&wait=300ms").c_str());
    ASSERT_TRUE(idle);
    EXPECT_EQ(idle->status, 200);
    EXPECT_EQ(index_of(idle), index_of(r));
    auto waited = std::chrono::steady_clock::now() - start;
    EXPECT_GE(waited, 290ms);
    EXPECT_LT(waited, 5s);
}

TEST_F(HttpApi, FiveHundredBlockingQueriesWakeTogetherWhileOthersAreServed) {
    constexpr int n = 500;
    const auto idx = index_of(get("/v1/catalog/services"));
    std::atomic<int> ok{0}, woke_with_change{0};
    std::vector<std::thread> clients;
    clients.reserve(n);
    for (int i = 0; i < n; ++i) {
        clients.emplace_back([&, this] {
            httplib::Client c("127.0.0.1", port);
            c.set_read_timeout(60s);
            c.set_connection_timeout(10s);
            auto r =
                c.Get(("/v1/catalog/services?index=" + std::to_string(idx) + "&wait=50s").c_str());
            if (r && r->status == 200) {
                ++ok;
                if (json::parse(r->body).contains("late")) ++woke_with_change;
            }
        });
    }
    for (int i = 0; i < 1000 && on_io([this] { return eps->parked(); }) < n; ++i)
        std::this_thread::sleep_for(20ms);
    ASSERT_EQ(on_io([this] { return eps->parked(); }), static_cast<std::size_t>(n));

    // Other requests are answered promptly while 500 queries are parked.
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i) {
        auto r = get("/v1/status/leader");
        ASSERT_TRUE(r);
        ASSERT_EQ(r->status, 200);
    }
    auto per_request = (std::chrono::steady_clock::now() - t0) / 20;
    EXPECT_LT(per_request, 100ms);

    auto t1 = std::chrono::steady_clock::now();
    auto reg = put("/v1/catalog/register",
                   R"({"Node":"late-node","Address":"10.0.0.7","Service":{"Service":"late"}})");
    ASSERT_TRUE(reg);
    ASSERT_EQ(reg->status, 200);
    for (auto& t : clients) t.join();
    auto all_woke = std::chrono::steady_clock::now() - t1;
    EXPECT_EQ(ok.load(), n);
    EXPECT_EQ(woke_with_change.load(), n);
    EXPECT_LT(all_woke, 10s);
    EXPECT_EQ(on_io([this] { return eps->parked(); }), 0u);
}

TEST_F(HttpApi, FederationStates) {
    // FederationState.Apply through the RPC table, as a gateway-enabled server would.
    rpc::federation_state_request req;
    req.datacenter = "dc1";
    req.op = "upsert";
    rpc::federation_state st;
    st.datacenter = "dc2";
    rpc::check_service_node gw;
    rpc::node gn;
    gn.name = "gw-node";
    gn.address = "10.2.0.1";
    gw.node_ = gn;
    rpc::node_service gs;
    gs.kind = "mesh-gateway";
    gs.id = gs.service = "mesh-gateway";
    gs.port = 8443;
    gw.service = gs;
    st.mesh_gateways.push_back(gw);
    req.state = st;
    auto applied = on_io([&] {
        std::string err;
        std::vector<std::uint8_t> body;
        handlers.dispatch("FederationState.Apply", rpc::encode_to_bytes(req),
                          [&](std::string e, std::vector<std::uint8_t> b) {
                              err = std::move(e);
                              body = std::move(b);
                          });
        return err;
    });
    ASSERT_EQ(applied, "");

    auto r = get("/v1/internal/federation-states");
    ASSERT_TRUE(r);
    auto list = json::parse(r->body);
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0]["Datacenter"], "dc2");
    EXPECT_EQ(list[0]["MeshGateways"][0]["Service"]["Port"], 8443);
    EXPECT_EQ(list[0]["MeshGateways"][0]["Service"]["Kind"], "mesh-gateway");
    EXPECT_TRUE(list[0]["UpdatedAt"].get<std::string>().ends_with("Z"));
    EXPECT_TRUE(r->has_header("X-Consul-Index"));

    r = get("/v1/internal/federation-state/dc2");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    auto one = json::parse(r->body);
    EXPECT_EQ(one["State"]["Datacenter"], "dc2");
    EXPECT_TRUE(one.contains("Index"));
    EXPECT_EQ(get("/v1/internal/federation-state/dc7")->status, 404);

    r = get("/v1/internal/federation-states/mesh-gateways");
    ASSERT_TRUE(r);
    auto gws = json::parse(r->body);
    ASSERT_TRUE(gws.contains("dc2"));
    EXPECT_EQ(gws["dc2"][0]["Node"]["Node"], "gw-node");

    // A blocking federation-state query wakes on a change to that table.
    const auto idx = index_of(r);
    auto waiter = std::async(std::launch::async, [this, idx] {
        return client(30s).Get(
            ("/v1/internal/federation-states?index=" + std::to_string(idx) + "&wait=20s").c_str());
    });
    for (int i = 0; i < 100 && on_io([this] { return eps->parked(); }) == 0; ++i)
        std::this_thread::sleep_for(10ms);
    req.op = "delete";
    ASSERT_EQ(on_io([&] {
                  std::string err;
                  handlers.dispatch("FederationState.Apply", rpc::encode_to_bytes(req),
                                    [&](std::string e, std::vector<std::uint8_t>) { err = e; });
                  return err;
              }),
              "");
    auto woke = waiter.get();
    ASSERT_TRUE(woke);
    EXPECT_EQ(woke->body, "[]");
    EXPECT_GT(index_of(woke), idx);
}

TEST_F(HttpApi, AgentMembersShape) {
    auto r = get("/v1/agent/members?wan=1");
    ASSERT_TRUE(r);
    auto m = json::parse(r->body);
    ASSERT_EQ(m.size(), 1u);
    EXPECT_EQ(m[0]["Name"], "n1.dc1");
    EXPECT_EQ(m[0]["Addr"], "127.0.0.1");
    EXPECT_EQ(m[0]["Port"], 8302);
    EXPECT_EQ(m[0]["Status"], 1);
    EXPECT_EQ(m[0]["Tags"]["role"], "consul");
    EXPECT_EQ(m[0]["ProtocolCur"], 2);
    EXPECT_EQ(m[0]["DelegateMax"], 5);
    // No LAN join without a LAN pool; keyring without a WAN pool: 500 with a reason.
    EXPECT_EQ(put("/v1/agent/join/127.0.0.1", "")->status, 500);
    EXPECT_EQ(get("/v1/operator/keyring")->status, 500);
    EXPECT_EQ(client().Patch("/v1/operator/keyring", "", "application/json")->body,
              "method PATCH not allowed");
}

TEST(HttpJson, Rfc3339) {
    rpc::go_time t;
    EXPECT_EQ(http::rfc3339(t), "0001-01-01T00:00:00Z");
    t.unix_seconds = 1700000000;
    t.nanoseconds = 500000000;
    EXPECT_EQ(http::rfc3339(t), "2023-11-14T22:13:20.5Z");
}

}  // namespace
