// RPC endpoints (rpc/endpoints.hpp) called through the handler registry with msgpack bodies:
// Status.*, Catalog.*, Health.ServiceNodes, Internal.ServiceDump, register_self, and blocking
// queries (wake on change, time out, 500 parked waiters woken by one change).
#include "rpc/endpoints.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "rpc/command_log.hpp"

namespace meshfed::rpc {
namespace {

using namespace std::chrono_literals;
using bytes = std::vector<std::uint8_t>;

struct call_result {
    int replies = 0;
    std::string error;
    bytes body;
    bool done() const { return replies > 0; }
};

class Endpoints : public ::testing::Test {
  protected:
    Endpoints() : ep_(io_.get_executor(), store_, config()) { ep_.register_handlers(registry_); }

    static endpoints_config config() {
        endpoints_config c;
        c.datacenter = "dc1";
        c.rpc_address = "10.0.0.1:8300";
        return c;
    }

    std::shared_ptr<call_result> call(std::string_view method, const bytes& body) {
        auto r = std::make_shared<call_result>();
        registry_.dispatch(method, body, [r](std::string err, bytes b) {
            ++r->replies;
            r->error = std::move(err);
            r->body = std::move(b);
        });
        return r;
    }

    template <class Req>
    std::shared_ptr<call_result> call(std::string_view method, const Req& req) {
        return call(method, encode_to_bytes(req));
    }

    template <class Reply>
    Reply decode(const call_result& r) {
        EXPECT_TRUE(r.done());
        EXPECT_EQ(r.error, "");
        auto v = decode_from_bytes<Reply>(r.body);
        EXPECT_TRUE(v) << (v ? "" : v.error().message());
        return v ? *v : Reply{};
    }

    void register_node(const std::string& name, const std::string& service = {},
                       const std::string& kind = {}, const std::string& status = "passing") {
        register_request r;
        r.datacenter = "dc1";
        r.node = name;
        r.address = "10.1.0." + std::to_string(name.size());
        if (!service.empty()) {
            r.service = node_service{};
            r.service->service = service;
            r.service->kind = kind;
            r.service->port = 8443;
            health_check c;
            c.name = service + " alive";
            c.status = status;
            c.service_id = service;
            r.check = c;
        }
        auto res = call("Catalog.Register", r);
        ASSERT_TRUE(res->done());
        ASSERT_EQ(res->error, "");
        EXPECT_EQ(res->body, bytes{0x80});
    }

    // Runs the io_context until `r` is answered or `limit` passes.
    void run_until(const call_result& r, std::chrono::milliseconds limit) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (!r.done() && std::chrono::steady_clock::now() < deadline) {
            io_.run_one_for(10ms);
        }
    }

    asio::io_context io_;
    state_store store_;
    handler_registry registry_;
    endpoints ep_;
};

TEST_F(Endpoints, StatusPingLeaderPeers) {
    auto ping = call("Status.Ping", bytes{0x80});
    ASSERT_TRUE(ping->done());
    EXPECT_EQ(ping->error, "");
    EXPECT_EQ(ping->body, bytes{0x80});

    auto leader = call("Status.Leader", dc_specific_request{});
    bytes expected{0xad};
    for (char c : std::string("10.0.0.1:8300")) expected.push_back(static_cast<std::uint8_t>(c));
    EXPECT_EQ(leader->body, expected);

    auto peers = call("Status.Peers", dc_specific_request{});
    bytes expected_peers{0x91};
    expected_peers.insert(expected_peers.end(), expected.begin(), expected.end());
    EXPECT_EQ(peers->body, expected_peers);

    auto missing = call("Status.Nope", bytes{0x80});
    EXPECT_EQ(missing->error, "rpc: can't find method Status.Nope");
}

TEST_F(Endpoints, ListDatacentersUsesCallbackOrLocal) {
    auto local = call("Catalog.ListDatacenters", bytes{0x80});
    EXPECT_EQ(local->body, (bytes{0x91, 0xa3, 'd', 'c', '1'}));
    ep_.set_datacenters([] { return std::vector<std::string>{"dc1", "dc2"}; });
    auto both = call("Catalog.ListDatacenters", bytes{0x80});
    EXPECT_EQ(both->body, (bytes{0x92, 0xa3, 'd', 'c', '1', 0xa3, 'd', 'c', '2'}));
}

TEST_F(Endpoints, RegisterThenQueryEveryShape) {
    register_node("alpha", "web");
    register_node("beta", "web", "", "critical");
    register_node("gw1", "mesh-gateway", "mesh-gateway");
    const auto index = store_.last_index();
    EXPECT_EQ(index, 3u);

    auto nodes = decode<indexed_nodes>(*call("Catalog.ListNodes", dc_specific_request{}));
    ASSERT_EQ(nodes.nodes.size(), 3u);
    EXPECT_EQ(nodes.nodes[0].name, "alpha");
    EXPECT_EQ(nodes.meta.index, index);
    EXPECT_TRUE(nodes.meta.known_leader);

    auto services = decode<indexed_services>(*call("Catalog.ListServices", dc_specific_request{}));
    EXPECT_EQ(services.services.size(), 2u);
    EXPECT_TRUE(services.services.contains("mesh-gateway"));

    service_specific_request web;
    web.service_name = "web";
    auto sn = decode<indexed_service_nodes>(*call("Catalog.ServiceNodes", web));
    ASSERT_EQ(sn.service_nodes.size(), 2u);
    EXPECT_EQ(sn.service_nodes[1].node, "beta");
    EXPECT_EQ(sn.service_nodes[1].service_port, 8443);

    node_specific_request nreq;
    nreq.node = "gw1";
    auto ns = decode<indexed_node_services>(*call("Catalog.NodeServices", nreq));
    ASSERT_TRUE(ns.node_services_);
    EXPECT_EQ(ns.node_services_->services.at("mesh-gateway").kind, "mesh-gateway");
    nreq.node = "nobody";
    auto none = decode<indexed_node_services>(*call("Catalog.NodeServices", nreq));
    EXPECT_FALSE(none.node_services_);

    auto health = decode<indexed_check_service_nodes>(*call("Health.ServiceNodes", web));
    ASSERT_EQ(health.nodes.size(), 2u);
    EXPECT_EQ(health.nodes[1].checks.at(0).status, "critical");
    EXPECT_EQ(health.meta.index, index);

    service_dump_request dump;
    dump.service_kind = "mesh-gateway";
    dump.use_service_kind = true;
    auto d = decode<indexed_nodes_with_gateways>(*call("Internal.ServiceDump", dump));
    ASSERT_EQ(d.nodes.size(), 1u);
    EXPECT_EQ(d.nodes[0].node_->name, "gw1");
    // Old clients read the same bytes as IndexedCheckServiceNodes.
    auto old = decode<indexed_check_service_nodes>(*call("Internal.ServiceDump", dump));
    EXPECT_EQ(old.nodes.size(), 1u);
}

TEST_F(Endpoints, HandcraftedGoOrderBodyAccepted) {
    register_node("alpha", "web");
    // ServiceSpecificRequest in declaration order with a few QueryOptions, as a Go client
    // built without sorting would send it; unknown "Partition" key included.
    bytes body{0x84};
    auto put = [&](std::string_view s) {
        body.push_back(static_cast<std::uint8_t>(0xa0 | s.size()));
        body.insert(body.end(), s.begin(), s.end());
    };
    put("Datacenter");
    put("dc1");
    put("ServiceName");
    put("web");
    put("Partition");
    put("default");
    put("AllowStale");
    body.push_back(0xc3);
    auto r = call("Health.ServiceNodes", body);
    auto reply = decode<indexed_check_service_nodes>(*r);
    EXPECT_EQ(reply.nodes.size(), 1u);
    EXPECT_EQ(ep_.stats().decode.unknown_fields, 1u);
}

TEST_F(Endpoints, RegisterErrorsUseConsulTexts) {
    register_request r;
    EXPECT_EQ(call("Catalog.Register", r)->error, "Must provide node");
    r.node = "n";
    EXPECT_EQ(call("Catalog.Register", r)->error,
              "Must provide address if SkipNodeUpdate is not set");
    r.address = "10.0.0.9";
    r.id = "not-a-uuid";
    EXPECT_EQ(call("Catalog.Register", r)->error, "Bad node ID: uuid string is wrong length");
    r.id.clear();
    r.service = node_service{};
    r.service->id = "x";
    EXPECT_EQ(call("Catalog.Register", r)->error, "Must provide service name with ID");
    r.service->service = "x";
    r.service->address = "0.0.0.0";
    EXPECT_EQ(call("Catalog.Register", r)->error, "Invalid service address");
    r.service.reset();
    health_check c;
    c.check_id = "c";
    c.service_id = "ghost";
    r.checks = {c};
    EXPECT_EQ(call("Catalog.Register", r)->error, "Unknown service ID 'ghost' for check ID 'c'");
    EXPECT_EQ(store_.node_count(), 0u);
    EXPECT_EQ(call("Catalog.Deregister", deregister_request{})->error, "Must provide node");
    EXPECT_EQ(call("Catalog.ServiceNodes", service_specific_request{})->error,
              "Must provide service name");
    EXPECT_EQ(call("Health.ServiceNodes", service_specific_request{})->error,
              "Must provide service name");
    EXPECT_EQ(call("Catalog.NodeServices", node_specific_request{})->error, "Must provide node");
    EXPECT_GE(ep_.stats().errors, 10u);
}

TEST_F(Endpoints, UndecodableArgumentsAnsweredAndCounted) {
    for (const bytes& body : {bytes{0xc1}, bytes{0x91, 0x01}, bytes{}, bytes{0x81, 0xa4}}) {
        auto r = call("Catalog.ListNodes", body);
        ASSERT_TRUE(r->done());
        EXPECT_EQ(r->error.rfind("rpc: cannot decode Catalog.ListNodes arguments: ", 0), 0u)
            << r->error;
        EXPECT_EQ(r->body, bytes{0x80});
    }
    EXPECT_EQ(ep_.stats().decode_errors, 4u);
    EXPECT_EQ(ep_.stats().decode.rejected, 4u);
}

TEST_F(Endpoints, DeregisterCascades) {
    register_node("alpha", "web");
    deregister_request d;
    d.node = "alpha";
    auto r = call("Catalog.Deregister", d);
    EXPECT_EQ(r->error, "");
    EXPECT_EQ(store_.node_count(), 0u);
    EXPECT_EQ(store_.check_count(), 0u);
}

TEST_F(Endpoints, RegisterSelfAddsConsulServiceWithSerfHealth) {
    auto idx = ep_.register_self("server-1", "10.0.0.1", "dc1", 8300,
                                 "8a3c1e8e-1b9d-4e0e-9d55-3c1c2b0b6f00");
    ASSERT_TRUE(idx) << idx.error().message;
    service_specific_request req;
    req.service_name = "consul";
    auto health = decode<indexed_check_service_nodes>(*call("Health.ServiceNodes", req));
    ASSERT_EQ(health.nodes.size(), 1u);
    const auto& csn = health.nodes[0];
    EXPECT_EQ(csn.node_->name, "server-1");
    EXPECT_EQ(csn.node_->id, "8a3c1e8e-1b9d-4e0e-9d55-3c1c2b0b6f00");
    EXPECT_EQ(csn.service->id, "consul");
    EXPECT_EQ(csn.service->port, 8300);
    ASSERT_EQ(csn.checks.size(), 1u);
    EXPECT_EQ(csn.checks[0].check_id, "serfHealth");
    EXPECT_EQ(csn.checks[0].name, "Serf Health Status");
    EXPECT_EQ(csn.checks[0].status, "passing");
    // Idempotent: a second call changes no table index.
    const auto services_index = store_.table_index(table::services);
    ASSERT_TRUE(ep_.register_self("server-1", "10.0.0.1", "dc1", 8300,
                                  "8a3c1e8e-1b9d-4e0e-9d55-3c1c2b0b6f00"));
    EXPECT_EQ(store_.table_index(table::services), services_index);
}

TEST_F(Endpoints, BlockingQueryWakesOnChange) {
    register_node("alpha", "web");
    service_specific_request req;
    req.service_name = "web";
    req.options.min_query_index = store_.last_index();
    req.options.max_query_time = 30s;
    auto r = call("Health.ServiceNodes", req);
    io_.poll();
    EXPECT_FALSE(r->done());
    EXPECT_EQ(ep_.parked(), 1u);
    register_node("unrelated-node");  // nodes table moved: part of Health's tables
    run_until(*r, 2s);
    ASSERT_TRUE(r->done());
    auto reply = decode<indexed_check_service_nodes>(*r);
    EXPECT_GT(reply.meta.index, req.options.min_query_index);
    EXPECT_EQ(ep_.parked(), 0u);
    EXPECT_EQ(ep_.stats().woken, 1u);
    EXPECT_EQ(store_.watch_count(), 0u);
    io_.poll();
    EXPECT_EQ(r->replies, 1);
}

TEST_F(Endpoints, BlockingQueryOnOtherTableKeepsWaiting) {
    register_node("alpha");
    dc_specific_request req;  // Catalog.ListServices waits on the services table only
    req.options.min_query_index = std::max<std::uint64_t>(store_.table_index(table::services), 1);
    req.options.max_query_time = 30s;
    auto r = call("Catalog.ListServices", req);
    io_.poll();
    EXPECT_FALSE(r->done());
    register_node("beta");  // nodes only
    io_.poll();
    EXPECT_FALSE(r->done());
    register_node("gamma", "db");
    run_until(*r, 2s);
    auto reply = decode<indexed_services>(*r);
    EXPECT_TRUE(reply.services.contains("db"));
}

TEST_F(Endpoints, BlockingQueryTimesOut) {
    register_node("alpha", "web");
    service_specific_request req;
    req.service_name = "web";
    req.options.min_query_index = store_.last_index();
    req.options.max_query_time = 50ms;
    const auto start = std::chrono::steady_clock::now();
    auto r = call("Catalog.ServiceNodes", req);
    run_until(*r, 3s);
    ASSERT_TRUE(r->done());
    const auto waited = std::chrono::steady_clock::now() - start;
    EXPECT_GE(waited, 50ms);
    EXPECT_LT(waited, 2s);
    auto reply = decode<indexed_service_nodes>(*r);
    EXPECT_EQ(reply.meta.index, req.options.min_query_index);  // unchanged
    EXPECT_EQ(reply.service_nodes.size(), 1u);
    EXPECT_EQ(ep_.stats().timed_out, 1u);
    EXPECT_EQ(store_.watch_count(), 0u);
}

TEST_F(Endpoints, BlockingQueryIndexAheadOfStoreAnswersAtOnce) {
    register_node("alpha");
    dc_specific_request req;
    req.options.min_query_index = 1000;  // e.g. the client saw another server's index
    auto r = call("Catalog.ListNodes", req);
    ASSERT_TRUE(r->done());
    EXPECT_EQ(ep_.stats().parked, 0u);
}

TEST_F(Endpoints, FiveHundredParkedQueriesAllWakeOnOneChange) {
    register_node("alpha", "web");
    const auto min = store_.last_index();
    std::vector<std::shared_ptr<call_result>> calls;
    for (int i = 0; i < 500; ++i) {
        service_specific_request req;
        req.service_name = "web";
        req.options.min_query_index = min;
        req.options.max_query_time = 60s;
        calls.push_back(
            call(i % 2 ? "Health.ServiceNodes" : "Catalog.ServiceNodes", encode_to_bytes(req)));
    }
    io_.poll();
    EXPECT_EQ(ep_.parked(), 500u);
    EXPECT_EQ(store_.watch_count(), 500u);
    register_node("beta", "web");
    for (int i = 0; i < 100 && ep_.parked() > 0; ++i) io_.poll();
    io_.poll();
    EXPECT_EQ(ep_.parked(), 0u);
    EXPECT_EQ(store_.watch_count(), 0u);
    for (std::size_t i = 0; i < calls.size(); ++i) {
        ASSERT_EQ(calls[i]->replies, 1) << i;
        ASSERT_EQ(calls[i]->error, "");
        if (i % 2) {
            auto reply = decode_from_bytes<indexed_check_service_nodes>(calls[i]->body);
            ASSERT_TRUE(reply);
            EXPECT_EQ(reply->nodes.size(), 2u);
            EXPECT_GT(reply->meta.index, min);
        } else {
            auto reply = decode_from_bytes<indexed_service_nodes>(calls[i]->body);
            ASSERT_TRUE(reply);
            EXPECT_EQ(reply->service_nodes.size(), 2u);
        }
    }
    EXPECT_EQ(ep_.stats().woken, 500u);
}

TEST_F(Endpoints, ReleaseParkedAnswersEveryWaiter) {
    register_node("alpha", "web");
    dc_specific_request req;
    req.options.min_query_index = store_.table_index(table::nodes);
    auto r = call("Catalog.ListNodes", req);
    io_.poll();
    ASSERT_FALSE(r->done());
    ep_.release_parked();
    EXPECT_TRUE(r->done());
    EXPECT_EQ(store_.watch_count(), 0u);
    io_.poll();
    EXPECT_EQ(r->replies, 1);
}

TEST(EndpointsLifetime, HandlersOutlivingEndpointsAnswerShutDown) {
    asio::io_context io;
    state_store store;
    handler_registry registry;
    std::shared_ptr<call_result> parked = std::make_shared<call_result>();
    {
        endpoints ep(io.get_executor(), store, {});
        ep.register_handlers(registry);
        dc_specific_request req;
        req.options.min_query_index = 1;
        registry.dispatch("Catalog.ListNodes", encode_to_bytes(req),
                          [parked](std::string, bytes) { ++parked->replies; });
        EXPECT_EQ(ep.parked(), 1u);
    }
    EXPECT_EQ(store.watch_count(), 0u);
    io.poll();  // the cancelled timer's handler runs harmlessly
    EXPECT_EQ(parked->replies, 0);
    std::string err;
    registry.dispatch("Status.Ping", bytes{0x80}, [&](std::string e, bytes) { err = e; });
    EXPECT_EQ(err, "rpc: endpoints are shut down");
}

TEST(EndpointsDurable, CommitsThroughCommandLog) {
    namespace fs = std::filesystem;
    std::random_device rd;
    const auto dir = fs::temp_directory_path() /
                     ("meshfed-ep-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    {
        asio::io_context io;
        state_store store;
        command_log_options o;
        o.dir = dir;
        auto log = command_log::open(o, store);
        ASSERT_TRUE(log) << log.error().message;
        endpoints ep(io.get_executor(), store, {});
        ep.set_commit([l = log->get()](const command& c) { return l->commit(c); });
        ASSERT_TRUE(ep.register_self("srv", "10.0.0.1", "dc1", 8300, ""));
        EXPECT_EQ((*log)->records(), 1u);
    }
    {
        state_store store;
        command_log_options o;
        o.dir = dir;
        ASSERT_TRUE(command_log::open(o, store));
        EXPECT_EQ(store.service_nodes("consul").value.size(), 1u);
    }
    fs::remove_all(dir);
}

}  // namespace
}  // namespace meshfed::rpc
