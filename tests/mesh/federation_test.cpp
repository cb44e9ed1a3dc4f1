// Federation-state routines (mesh/federation.hpp): IsSame and the replication diff; anti-entropy,
// replication, locator refresh and pruning driven through a scripted `call` (every request is
// decoded and checked, every reply chosen by the test), their backoff and stop(); and two
// datacenters with real state stores and endpoints wired in-process (primary + secondary).
#include "mesh/federation.hpp"

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rpc/endpoints.hpp"
#include "rpc/handler.hpp"
#include "rpc/state_store.hpp"

namespace meshfed::mesh {
namespace {

using namespace std::chrono_literals;
using bytes = std::vector<std::uint8_t>;
using steady = std::chrono::steady_clock;

rpc::check_service_node gateway(std::string node, std::string lan, std::string wan,
                                std::string status = "passing") {
    rpc::check_service_node csn;
    csn.node_ = rpc::node{};
    csn.node_->name = node;
    csn.node_->address = lan;
    csn.service = rpc::node_service{};
    csn.service->kind = "mesh-gateway";
    csn.service->id = "mesh-gateway";
    csn.service->service = "mesh-gateway";
    csn.service->address = lan;
    csn.service->port = 8443;
    csn.service->tagged_addresses["lan"] = {lan, 8443};
    csn.service->tagged_addresses["wan"] = {wan, 443};
    csn.service->meta[std::string(meta_wan_federation_key)] = "1";
    rpc::health_check c;
    c.node = node;
    c.check_id = "service:mesh-gateway";
    c.name = "mesh-gateway listening";
    c.status = status;
    c.service_id = "mesh-gateway";
    c.service_name = "mesh-gateway";
    csn.checks.push_back(c);
    return csn;
}

rpc::federation_state fed_state(std::string dc, std::vector<rpc::check_service_node> gws,
                                std::uint64_t modify_index = 0) {
    rpc::federation_state st;
    st.datacenter = std::move(dc);
    st.mesh_gateways = std::move(gws);
    st.create_index = modify_index;
    st.modify_index = modify_index;
    return st;
}

federation_timing fast_timing() {
    federation_timing t;
    t.loop_rate = 1000;
    t.loop_burst = 5;
    t.loop_backoff_base = 5ms;
    t.loop_backoff_max = 40ms;
    t.replication_rate = 1000;
    t.replication_burst = 5;
    t.replication_backoff_base = 5ms;
    t.replication_backoff_max = 40ms;
    t.apply_interval = 1ms;
    t.prune_interval = 20ms;
    return t;
}

bool run_until(asio::io_context& io, const std::function<bool()>& pred,
               std::chrono::milliseconds limit = 5s) {
    const auto deadline = steady::now() + limit;
    while (!pred()) {
        if (steady::now() > deadline) return false;
        io.restart();
        io.run_for(2ms);
    }
    return true;
}

// ---- pure functions ----------------------------------------------------------------------------
TEST(FederationStateSame, IgnoresUpdatedAtAndIndexes) {
    auto a = fed_state("dc2", {gateway("gw1", "10.2.0.1", "198.51.100.1")}, 5);
    auto b = a;
    b.updated_at = rpc::go_time::from(std::chrono::system_clock::now());
    b.primary_modify_index = 77;
    b.modify_index = 9;
    b.mesh_gateways[0].service->modify_index = 40;
    b.mesh_gateways[0].checks[0].modify_index = 41;
    EXPECT_TRUE(same_federation_state(a, b));

    auto other_dc = b;
    other_dc.datacenter = "dc3";
    EXPECT_FALSE(same_federation_state(a, other_dc));
    auto critical = b;
    critical.mesh_gateways[0].checks[0].status = "critical";
    EXPECT_FALSE(same_federation_state(a, critical));
    auto moved = b;
    moved.mesh_gateways[0].service->tagged_addresses["wan"].address = "198.51.100.9";
    EXPECT_FALSE(same_federation_state(a, moved));
    auto more = b;
    more.mesh_gateways.push_back(gateway("gw2", "10.2.0.2", "198.51.100.2"));
    EXPECT_FALSE(same_federation_state(a, more));
    auto extra_check = b;
    extra_check.mesh_gateways[0].checks.push_back(extra_check.mesh_gateways[0].checks[0]);
    EXPECT_FALSE(same_federation_state(a, extra_check));
    auto renamed_node = b;
    renamed_node.mesh_gateways[0].node_->address = "10.2.0.99";
    EXPECT_FALSE(same_federation_state(a, renamed_node));
    auto no_node = b;
    no_node.mesh_gateways[0].node_.reset();
    EXPECT_FALSE(same_federation_state(a, no_node));
}

TEST(FederationStateDiff, ByDatacenterAndRemoteModifyIndex) {
    std::vector<rpc::federation_state> local = {fed_state("dc4", {}, 3), fed_state("dc1", {}, 2),
                                                fed_state("dc2", {}, 2), fed_state("dc0", {}, 1)};
    std::vector<rpc::federation_state> remote = {fed_state("dc2", {}, 20), fed_state("dc1", {}, 8),
                                                 fed_state("dc3", {}, 15)};
    auto d = diff_federation_states(local, remote, 10);
    ASSERT_EQ(d.deletions.size(), 2u);  // local only
    EXPECT_EQ(d.deletions[0].datacenter, "dc0");
    EXPECT_EQ(d.deletions[1].datacenter, "dc4");
    ASSERT_EQ(d.updates.size(), 2u);  // dc1 is not newer than the last remote index
    EXPECT_EQ(d.updates[0].datacenter, "dc2");
    EXPECT_EQ(d.updates[1].datacenter, "dc3");

    // A full sync (last index 0) rewrites everything the primary has.
    d = diff_federation_states(local, remote, 0);
    EXPECT_EQ(d.updates.size(), 3u);
    EXPECT_EQ(d.deletions.size(), 2u);
    d = diff_federation_states({}, {}, 0);
    EXPECT_TRUE(d.updates.empty());
    EXPECT_TRUE(d.deletions.empty());
}

// ---- scripted RPC ------------------------------------------------------------------------------
struct recorded_call {
    std::string dc, method;
    bytes body;
    rpc::reply_fn reply;
    steady::time_point at;
    bool answered = false;

    template <class T>
    T request() const {
        auto v = rpc::decode_from_bytes<T>(body);
        EXPECT_TRUE(v) << method << ": " << (v ? "" : v.error().message());
        return v ? *v : T{};
    }
    template <class T>
    void answer(const T& value) {
        ASSERT_FALSE(answered);
        answered = true;
        reply({}, rpc::encode_to_bytes(value));
    }
    void answer_ok() {  // FederationState.Apply's bool reply
        ASSERT_FALSE(answered);
        answered = true;
        reply({}, bytes{0xc3});
    }
    void fail(std::string error) {
        ASSERT_FALSE(answered);
        answered = true;
        reply(std::move(error), {});
    }
};

class FederationScripted : public ::testing::Test {
  protected:
    federation_states::call_fn call_fn() {
        return [this](std::string dc, std::string method, bytes body, rpc::reply_fn reply) {
            auto c = std::make_shared<recorded_call>();
            c->dc = std::move(dc);
            c->method = std::move(method);
            c->body = std::move(body);
            c->reply = std::move(reply);
            c->at = steady::now();
            calls_.push_back(c);
        };
    }
    federation_states::apply_fn apply_fn() {
        return [this](rpc::federation_state_request r) -> std::expected<void, std::string> {
            applied_.push_back(std::move(r));
            if (!apply_error_.empty()) return std::unexpected(apply_error_);
            return {};
        };
    }
    std::unique_ptr<federation_states> make(std::string dc, std::string primary,
                                            federation_timing t = fast_timing()) {
        federation_config cfg;
        cfg.datacenter = dc;
        cfg.primary_datacenter = primary;
        cfg.timing = t;
        locator_ = std::make_unique<gateway_locator>(dc, primary, 1);
        return std::make_unique<federation_states>(
            io_.get_executor(), cfg, call_fn(), apply_fn(), [this] { return known_; }, *locator_,
            [this] { return now_; });
    }
    // The oldest unanswered call of `method` to `dc` (other than `skip`).
    std::shared_ptr<recorded_call> next(const std::string& method, const std::string& dc,
                                        const std::shared_ptr<recorded_call>& skip = nullptr) {
        std::shared_ptr<recorded_call> found;
        run_until(io_, [&] {
            for (auto& c : calls_) {
                if (!c->answered && c->method == method && c->dc == dc && c != skip) {
                    found = c;
                    return true;
                }
            }
            return false;
        });
        EXPECT_TRUE(found) << "no call " << method << " to " << dc;
        return found;
    }
    std::size_t count(const std::string& method) const {
        std::size_t n = 0;
        for (auto& c : calls_) n += c->method == method;
        return n;
    }
    void settle(std::chrono::milliseconds d = 30ms) {
        io_.restart();
        io_.run_for(d);
    }

    asio::io_context io_;
    std::vector<std::shared_ptr<recorded_call>> calls_;
    std::vector<rpc::federation_state_request> applied_;
    std::string apply_error_;
    std::vector<std::string> known_ = {"dc1", "dc2"};
    std::chrono::system_clock::time_point now_ =
        std::chrono::system_clock::time_point{} + std::chrono::seconds(1'800'000'000);
    std::unique_ptr<gateway_locator> locator_;
};

TEST_F(FederationScripted, AntiEntropyInThePrimaryAppliesLocallyOnlyWhenDifferent) {
    auto t = fast_timing();
    t.prune_interval = 1h;
    auto fs = make("dc1", "dc1", t);
    fs->start_leader_routines();
    const auto gws = std::vector{gateway("gw1", "10.1.0.1", "192.0.2.1")};

    auto dump = next("Internal.ServiceDump", "dc1");
    auto dq = dump->request<rpc::service_dump_request>();
    EXPECT_EQ(dq.datacenter, "dc1");
    EXPECT_EQ(dq.service_kind, "mesh-gateway");
    EXPECT_TRUE(dq.use_service_kind);
    EXPECT_EQ(dq.options.min_query_index, 0u);
    rpc::indexed_nodes_with_gateways d;
    d.nodes = gws;
    d.meta.index = 12;
    dump->answer(d);

    auto get = next("FederationState.Get", "dc1");
    auto gq = get->request<rpc::federation_state_query>();
    EXPECT_EQ(gq.datacenter, "dc1");
    EXPECT_EQ(gq.target_datacenter, "dc1");
    get->answer(rpc::federation_state_response{});  // not stored yet

    auto apply = next("FederationState.Apply", "dc1");
    auto req = apply->request<rpc::federation_state_request>();
    EXPECT_EQ(req.op, "upsert");
    EXPECT_EQ(req.datacenter, "dc1");
    ASSERT_TRUE(req.state);
    EXPECT_EQ(req.state->datacenter, "dc1");
    EXPECT_EQ(req.state->mesh_gateways, gws);
    EXPECT_EQ(req.state->updated_at, rpc::go_time::from(now_));
    apply->answer_ok();

    // The next round blocks on the dump's index; an unchanged store is not rewritten.
    dump = next("Internal.ServiceDump", "dc1");
    EXPECT_EQ(dump->request<rpc::service_dump_request>().options.min_query_index, 12u);
    d.meta.index = 13;
    dump->answer(d);
    get = next("FederationState.Get", "dc1");
    rpc::federation_state_response stored;
    stored.state = *req.state;
    stored.state->updated_at = rpc::go_time::from(now_ - 1h);  // ignored
    stored.state->modify_index = 13;
    get->answer(stored);
    dump = next("Internal.ServiceDump", "dc1");
    EXPECT_EQ(dump->request<rpc::service_dump_request>().options.min_query_index, 13u);
    EXPECT_EQ(count("FederationState.Apply"), 1u);
    EXPECT_EQ(fs->stats().ae_synced, 1u);
    EXPECT_EQ(fs->stats().ae_skipped, 1u);
    EXPECT_EQ(count("FederationState.List"), 0u);  // no replication in the primary
}

TEST_F(FederationScripted, AntiEntropyInASecondarySendsToThePrimaryAndRetriesErrors) {
    auto fs = make("dc2", "dc1");
    fs->start_leader_routines();
    rpc::indexed_nodes_with_gateways d;
    d.nodes = {gateway("gw2", "10.2.0.1", "198.51.100.1")};
    d.meta.index = 4;
    next("Internal.ServiceDump", "dc2")->answer(d);
    next("FederationState.Get", "dc2")->answer(rpc::federation_state_response{});
    auto apply = next("FederationState.Apply", "dc1");
    auto req = apply->request<rpc::federation_state_request>();
    EXPECT_EQ(req.datacenter, "dc1");
    EXPECT_EQ(req.state->datacenter, "dc2");
    apply->fail("No path to datacenter");
    // The error costs a backoff and a fresh round (not blocking: the index did not advance).
    auto dump = next("Internal.ServiceDump", "dc2");
    EXPECT_EQ(dump->request<rpc::service_dump_request>().options.min_query_index, 0u);
    EXPECT_EQ(fs->stats().ae_errors, 1u);
    dump->answer(d);
    next("FederationState.Get", "dc2")->answer(rpc::federation_state_response{});
    next("FederationState.Apply", "dc1")->answer_ok();
    dump = next("Internal.ServiceDump", "dc2");
    EXPECT_EQ(dump->request<rpc::service_dump_request>().options.min_query_index, 4u);
    EXPECT_EQ(fs->stats().ae_synced, 1u);
}

TEST_F(FederationScripted, ReplicationDiffsAppliesAndFeedsTheLocator) {
    auto fs = make("dc2", "dc1");
    fs->start_leader_routines();
    EXPECT_TRUE(locator_->dial_primary_through_local_gateway());

    auto remote = next("FederationState.List", "dc1");
    auto rq = remote->request<rpc::dc_specific_request>();
    EXPECT_EQ(rq.datacenter, "dc1");
    EXPECT_TRUE(rq.options.allow_stale);
    EXPECT_EQ(rq.options.min_query_index, 0u);
    rpc::indexed_federation_states primary_view;
    primary_view.states = {fed_state("dc2", {gateway("gw2", "10.2.0.1", "198.51.100.1")}, 7),
                           fed_state("dc1", {gateway("gw1", "10.1.0.1", "192.0.2.1")}, 5)};
    primary_view.meta.index = 9;
    remote->answer(primary_view);

    auto local = next("FederationState.List", "dc2");
    EXPECT_EQ(local->request<rpc::dc_specific_request>().datacenter, "dc2");
    rpc::indexed_federation_states mine;
    mine.states = {fed_state("dc3", {}, 2), fed_state("dc1", {}, 1)};
    mine.meta.index = 4;
    local->answer(mine);

    ASSERT_TRUE(run_until(io_, [&] { return applied_.size() == 3; }));
    EXPECT_EQ(applied_[0].op, "delete");
    EXPECT_EQ(applied_[0].datacenter, "dc2");
    EXPECT_EQ(applied_[0].state->datacenter, "dc3");
    EXPECT_EQ(applied_[1].op, "upsert");
    EXPECT_EQ(applied_[1].state->datacenter, "dc1");
    EXPECT_EQ(applied_[1].state->primary_modify_index, 5u);
    EXPECT_EQ(applied_[2].state->datacenter, "dc2");
    EXPECT_EQ(applied_[2].state->primary_modify_index, 7u);
    EXPECT_EQ(applied_[2].state->mesh_gateways, primary_view.states[0].mesh_gateways);

    // Blocking on the remote index; three failed fetches in a row: dial the primary directly.
    remote = next("FederationState.List", "dc1");
    EXPECT_EQ(remote->request<rpc::dc_specific_request>().options.min_query_index, 9u);
    EXPECT_EQ(fs->stats().last_remote_index, 9u);
    remote->fail("rpc error making call: EOF");
    EXPECT_TRUE(locator_->dial_primary_through_local_gateway());
    remote = next("FederationState.List", "dc1");
    EXPECT_EQ(remote->request<rpc::dc_specific_request>().options.min_query_index, 0u);
    remote->fail("rpc error making call: EOF");
    EXPECT_TRUE(locator_->dial_primary_through_local_gateway());
    remote = next("FederationState.List", "dc1");
    remote->fail("Remote DC has no server currently reachable");
    ASSERT_TRUE(run_until(io_, [&] { return !locator_->dial_primary_through_local_gateway(); }));
    EXPECT_EQ(fs->stats().replication_errors, 3u);

    // Success again: back through the local gateways, and a full sync rewrites both states.
    applied_.clear();
    next("FederationState.List", "dc1")->answer(primary_view);
    ASSERT_TRUE(run_until(io_, [&] { return locator_->dial_primary_through_local_gateway(); }));
    rpc::indexed_federation_states synced;
    synced.states = {fed_state("dc1", {}, 10), fed_state("dc2", {}, 11)};
    synced.meta.index = 11;
    next("FederationState.List", "dc2")->answer(synced);
    ASSERT_TRUE(run_until(io_, [&] { return applied_.size() == 2; }));
    EXPECT_EQ(applied_[0].op, "upsert");
    EXPECT_EQ(applied_[1].op, "upsert");

    // Losing leadership turns the signal off: followers trust the local gateways.
    for (int i = 0; i < 3; ++i) locator_->report_replication("x", true);
    EXPECT_FALSE(locator_->dial_primary_through_local_gateway());
    fs->stop_leader_routines();
    EXPECT_TRUE(locator_->dial_primary_through_local_gateway());
    EXPECT_FALSE(fs->leader_routines_running());
}

TEST_F(FederationScripted, ReplicationApplyFailureIsAnErrorAndForcesAFullSync) {
    auto fs = make("dc2", "dc1");
    fs->start_leader_routines();
    rpc::indexed_federation_states primary_view;
    primary_view.states = {fed_state("dc1", {}, 5)};
    primary_view.meta.index = 5;
    apply_error_ = "disk full";
    next("FederationState.List", "dc1")->answer(primary_view);
    next("FederationState.List", "dc2")->answer(rpc::indexed_federation_states{});
    auto again = next("FederationState.List", "dc1");
    EXPECT_EQ(again->request<rpc::dc_specific_request>().options.min_query_index, 0u);
    EXPECT_EQ(fs->stats().replication_errors, 1u);
    // The fetch itself worked: the locator saw a success.
    EXPECT_EQ(locator_->stats().replication_err, 0u);
}

TEST_F(FederationScripted, LocatorRefreshBlocksOnTheLocalListAndBacksOff) {
    auto t = fast_timing();
    t.loop_backoff_base = 50ms;
    t.loop_backoff_max = 1s;
    auto fs = make("dc2", "dc1", t);
    fs->start_locator_refresh();
    auto c = next("FederationState.List", "dc2");
    EXPECT_EQ(c->request<rpc::dc_specific_request>().options.min_query_index, 0u);
    rpc::indexed_federation_states list;
    list.states = {fed_state("dc1", {gateway("gw1", "10.1.0.1", "192.0.2.1")}, 3),
                   fed_state("dc2", {gateway("gw2", "10.2.0.1", "198.51.100.1")}, 4)};
    list.meta.index = 4;
    c->answer(list);
    c = next("FederationState.List", "dc2");
    EXPECT_EQ(c->request<rpc::dc_specific_request>().options.min_query_index, 4u);
    EXPECT_EQ(locator_->primary_gateways(), std::vector<std::string>{"192.0.2.1:443"});
    EXPECT_EQ(locator_->local_gateways(), std::vector<std::string>{"10.2.0.1:8443"});

    // Errors: waits of 50, 100, 200 ms; a success resets the backoff.
    std::vector<steady::time_point> answered;
    for (int i = 0; i < 3; ++i) {
        answered.push_back(steady::now());
        c->fail("rpc: endpoints are shut down");
        c = next("FederationState.List", "dc2");
        EXPECT_GE(c->at - answered.back(), 50ms * (1 << i)) << i;
    }
    EXPECT_EQ(c->request<rpc::dc_specific_request>().options.min_query_index, 4u);
    c->answer(list);
    c = next("FederationState.List", "dc2");
    const auto before = steady::now();
    c->fail("rpc: endpoints are shut down");
    c = next("FederationState.List", "dc2");
    EXPECT_GE(c->at - before, 50ms);
    EXPECT_LT(c->at - before, 350ms);  // 400 ms had the backoff not been reset
    EXPECT_EQ(fs->stats().locator_errors, 4u);
}

TEST_F(FederationScripted, AntiEntropyWakesWhenOurStoredStateChanges) {
    auto fs = make("dc2", "dc1");
    fs->start();
    const auto gws = std::vector{gateway("gw2", "10.2.0.1", "198.51.100.1")};
    rpc::indexed_nodes_with_gateways d;
    d.nodes = gws;
    d.meta.index = 6;
    next("Internal.ServiceDump", "dc2")->answer(d);
    rpc::federation_state_response stored;
    stored.state = fed_state("dc2", gws, 8);
    next("FederationState.Get", "dc2")->answer(stored);
    auto blocked = next("Internal.ServiceDump", "dc2");
    EXPECT_EQ(blocked->request<rpc::service_dump_request>().options.min_query_index, 6u);

    // The locator refresh sees our state, as stored: nothing to do.
    rpc::indexed_federation_states list;
    list.states = {fed_state("dc2", gws, 8)};
    list.meta.index = 8;
    next("FederationState.List", "dc2")->answer(list);
    settle();
    EXPECT_EQ(fs->stats().ae_woken, 0u);
    // Our state vanishes from the store (the primary pruned it and replication deleted it):
    // anti-entropy looks again at once and re-sends it.
    list.states.clear();
    list.meta.index = 9;
    auto refresh = next("FederationState.List", "dc2");
    EXPECT_EQ(refresh->request<rpc::dc_specific_request>().options.min_query_index, 8u);
    refresh->answer(list);
    auto dump = next("Internal.ServiceDump", "dc2", blocked);
    EXPECT_EQ(dump->request<rpc::service_dump_request>().options.min_query_index, 0u);
    EXPECT_EQ(fs->stats().ae_woken, 1u);
    dump->answer(d);
    next("FederationState.Get", "dc2")->answer(rpc::federation_state_response{});
    auto apply = next("FederationState.Apply", "dc1");
    EXPECT_EQ(apply->request<rpc::federation_state_request>().state->mesh_gateways, gws);
    // The abandoned blocking dump's late reply is dropped.
    blocked->answer(d);
    settle();
    EXPECT_EQ(count("FederationState.Apply"), 1u);
}

TEST_F(FederationScripted, PruningDeletesStatesOfUnknownDatacentersOnly) {
    auto fs = make("dc1", "dc1");
    fs->start_leader_routines();
    auto list = next("FederationState.List", "dc1");
    rpc::indexed_federation_states all;
    all.states = {fed_state("dc1", {}, 1), fed_state("dc2", {}, 2), fed_state("dc3", {}, 3)};
    all.meta.index = 3;
    list->answer(all);
    ASSERT_TRUE(run_until(io_, [&] { return applied_.size() == 1; }));
    EXPECT_EQ(applied_[0].op, "delete");
    EXPECT_EQ(applied_[0].datacenter, "dc1");
    EXPECT_EQ(applied_[0].state->datacenter, "dc3");
    EXPECT_EQ(fs->stats().pruned, 1u);

    // The router knowing nothing (not started yet) prunes nothing, not even a list call.
    known_.clear();
    const auto lists = count("FederationState.List");
    settle(80ms);
    EXPECT_EQ(count("FederationState.List"), lists);
    EXPECT_EQ(applied_.size(), 1u);
}

TEST_F(FederationScripted, StopAbandonsPendingCallsAndCallsNothingMore) {
    auto fs = make("dc2", "dc1");
    fs->start();
    auto dump = next("Internal.ServiceDump", "dc2");
    auto remote = next("FederationState.List", "dc1");
    auto local = next("FederationState.List", "dc2");
    EXPECT_TRUE(fs->leader_routines_running());
    fs->stop();
    EXPECT_FALSE(fs->leader_routines_running());
    const auto n = calls_.size();
    rpc::indexed_federation_states primary_view;
    primary_view.states = {fed_state("dc1", {}, 5)};
    primary_view.meta.index = 5;
    remote->answer(primary_view);
    local->answer(primary_view);
    settle(50ms);
    EXPECT_EQ(calls_.size(), n);
    EXPECT_TRUE(applied_.empty());
    EXPECT_TRUE(locator_->primary_gateways().empty());
    // Replies after destruction are dropped too.
    fs.reset();
    dump->answer(rpc::indexed_nodes_with_gateways{});
    settle(10ms);
    EXPECT_EQ(calls_.size(), n);
}

}  // namespace

// ---- two datacenters, real stores and endpoints ------------------------------------------------
namespace {

struct datacenter_server {
    explicit datacenter_server(asio::io_context& io, std::string dc, std::string primary)
        : name(std::move(dc)), ep(io.get_executor(), store, config(name, primary)) {
        ep.register_handlers(registry);
    }
    static rpc::endpoints_config config(const std::string& dc, const std::string& primary) {
        rpc::endpoints_config c;
        c.datacenter = dc;
        c.rpc_address = "127.0.0.1:8300";
        c.primary_datacenter = primary == dc ? "" : primary;
        return c;
    }
    std::expected<void, std::string> apply(rpc::federation_state_request r) {
        rpc::command cmd{std::move(r)};
        if (auto v = store.validate(cmd); !v) return std::unexpected(v.error().message);
        if (auto a = store.apply(store.last_index() + 1, cmd); !a) {
            return std::unexpected(a.error().message);
        }
        return {};
    }

    std::string name;
    rpc::state_store store;
    rpc::endpoints ep;
    rpc::handler_registry registry;
    std::unique_ptr<gateway_locator> locator;
    std::unique_ptr<federation_states> fed;
};

}  // namespace

class FederationTwoDatacenters : public ::testing::Test {
  protected:
    void SetUp() override {
        dc1_ = std::make_unique<datacenter_server>(io_, "dc1", "dc1");
        dc2_ = std::make_unique<datacenter_server>(io_, "dc2", "dc1");
        dc2_->ep.set_forwarder(
            [this](std::string dc, std::string method, bytes body, rpc::reply_fn reply) {
                route("dc2", std::move(dc), std::move(method), std::move(body), std::move(reply));
            });
        for (auto* s : {dc1_.get(), dc2_.get()}) {
            s->locator = std::make_unique<gateway_locator>(s->name, "dc1", 5);
            auto t = fast_timing();
            t.query_wait = 200ms;
            t.prune_interval = 1h;
            federation_config cfg{s->name, "dc1", t};
            const std::string from = s->name;
            s->fed = std::make_unique<federation_states>(
                io_.get_executor(), cfg,
                [this, from](std::string dc, std::string method, bytes body, rpc::reply_fn reply) {
                    route(from, std::move(dc), std::move(method), std::move(body),
                          std::move(reply));
                },
                [s](rpc::federation_state_request r) { return s->apply(std::move(r)); },
                [] {
                    return std::vector<std::string>{"dc1", "dc2"};
                },
                *s->locator);
        }
    }
    void TearDown() override {
        dc2_->fed->stop();
        dc1_->fed->stop();
    }

    // In-process "network": a call for a datacenter is dispatched to that server's handlers;
    // while partitioned, calls between the datacenters (and replies in flight) fail.
    void route(const std::string& from, std::string dc, std::string method, bytes body,
               rpc::reply_fn reply) {
        datacenter_server* target = dc == "dc1" ? dc1_.get() : dc == "dc2" ? dc2_.get() : nullptr;
        if (!target) return reply("No path to datacenter", {});
        if (from == dc) return target->registry.dispatch(method, body, std::move(reply));
        if (partitioned_) {
            asio::post(io_, [reply] { reply("rpc error making call: connection refused", {}); });
            return;
        }
        target->registry.dispatch(method, body, [this, reply](std::string err, bytes b) {
            if (partitioned_) return reply("rpc error making call: EOF", {});
            reply(std::move(err), std::move(b));
        });
    }

    void register_gateway(datacenter_server& s, const std::string& node, const std::string& lan,
                          const std::string& wan, const std::string& status) {
        rpc::register_request r;
        r.datacenter = s.name;
        r.node = node;
        r.address = lan;
        auto gw = gateway(node, lan, wan, status);
        r.service = *gw.service;
        r.checks = gw.checks;
        bool done = false;
        s.registry.dispatch("Catalog.Register", rpc::encode_to_bytes(r),
                            [&](std::string err, bytes) {
                                EXPECT_EQ(err, "");
                                done = true;
                            });
        ASSERT_TRUE(run_until(io_, [&] { return done; }));
    }

    static std::optional<rpc::federation_state> stored(datacenter_server& s,
                                                       const std::string& dc) {
        return s.store.federation_state_get(dc).value;
    }

    asio::io_context io_;
    bool partitioned_ = false;
    std::unique_ptr<datacenter_server> dc1_, dc2_;
};

TEST_F(FederationTwoDatacenters, GatewaysReachThePrimaryReplicateBackAndFeedTheLocators) {
    register_gateway(*dc1_, "gw-dc1", "10.1.0.1", "192.0.2.1", "passing");
    register_gateway(*dc2_, "gw-dc2", "10.2.0.1", "198.51.100.1", "passing");
    dc1_->fed->start();
    dc2_->fed->start();

    using strings = std::vector<std::string>;
    ASSERT_TRUE(run_until(io_,
                          [&] {
                              auto p1 = stored(*dc1_, "dc1"), p2 = stored(*dc1_, "dc2");
                              auto s1 = stored(*dc2_, "dc1"), s2 = stored(*dc2_, "dc2");
                              return p1 && p2 && s1 && s2 &&
                                     s1->primary_modify_index == p1->modify_index &&
                                     s2->primary_modify_index == p2->modify_index &&
                                     dc2_->locator->local_gateways() == strings{"10.2.0.1:8443"} &&
                                     dc2_->locator->primary_gateways() == strings{"192.0.2.1:443"};
                          }))
        << "dc1 has " << dc1_->store.federation_state_list().value.size() << ", dc2 has "
        << dc2_->store.federation_state_list().value.size();
    // The secondary's gateways went to the primary through FederationState.Apply.
    auto in_primary = stored(*dc1_, "dc2");
    ASSERT_EQ(in_primary->mesh_gateways.size(), 1u);
    EXPECT_EQ(in_primary->mesh_gateways[0].service->tagged_addresses.at("wan").address,
              "198.51.100.1");
    EXPECT_FALSE(in_primary->updated_at.is_zero());
    EXPECT_EQ(in_primary->primary_modify_index, 0u);
    ASSERT_TRUE(run_until(io_, [&] {
        return dc1_->locator->local_gateways() == strings{"10.1.0.1:8443"} &&
               dc1_->locator->primary_gateways() == strings{"192.0.2.1:443"};
    }));
    EXPECT_EQ(dc2_->locator->pick_gateway("dc1"), "10.2.0.1:8443");
    EXPECT_EQ(dc1_->locator->pick_gateway("dc2"), "10.1.0.1:8443");

    // dc2's gateway turns critical: it leaves dc2's list (via the primary and back), and dc2
    // reaches the primary through the primary's gateways.
    register_gateway(*dc2_, "gw-dc2", "10.2.0.1", "198.51.100.1", "critical");
    ASSERT_TRUE(run_until(io_, [&] { return dc2_->locator->local_gateways().empty(); }));
    EXPECT_EQ(stored(*dc1_, "dc2")->mesh_gateways.at(0).checks.at(0).status, "critical");
    EXPECT_EQ(dc2_->locator->pick_gateway("dc1"), "192.0.2.1:443");
    register_gateway(*dc2_, "gw-dc2", "10.2.0.1", "198.51.100.1", "passing");
    ASSERT_TRUE(run_until(
        io_, [&] { return dc2_->locator->local_gateways() == strings{"10.2.0.1:8443"}; }));

    // The primary unreachable: after 3 failed replication fetches dc2 dials the primary's
    // gateways directly, and returns to its local gateway once replication works again.
    EXPECT_TRUE(dc2_->locator->dial_primary_through_local_gateway());
    partitioned_ = true;
    ASSERT_TRUE(
        run_until(io_, [&] { return !dc2_->locator->dial_primary_through_local_gateway(); }));
    EXPECT_GE(dc2_->fed->stats().replication_errors, 3u);
    EXPECT_EQ(dc2_->locator->pick_gateway("dc1"), "192.0.2.1:443");
    EXPECT_EQ(dc2_->locator->pick_gateway("dc3"), "10.2.0.1:8443");
    partitioned_ = false;
    ASSERT_TRUE(
        run_until(io_, [&] { return dc2_->locator->dial_primary_through_local_gateway(); }));
    EXPECT_EQ(dc2_->locator->pick_gateway("dc1"), "10.2.0.1:8443");
    EXPECT_EQ(dc1_->fed->stats().replication_rounds, 0u);  // the primary never replicates
}

}  // namespace meshfed::mesh
