// State store (rpc/state_store.hpp): Consul's register/deregister semantics and modify indexes,
// queries, watches, snapshots and the command encoding.
#include "rpc/state_store.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace meshfed::rpc {
namespace {

register_request reg(std::string node_name, std::string address = "10.0.0.1") {
    register_request r;
    r.datacenter = "dc1";
    r.node = std::move(node_name);
    r.address = std::move(address);
    return r;
}

node_service svc(std::string id, std::string name, std::vector<std::string> tags = {},
                 std::int64_t port = 80) {
    node_service s;
    s.id = std::move(id);
    s.service = std::move(name);
    s.tags = std::move(tags);
    s.port = port;
    return s;
}

health_check chk(std::string id, std::string status, std::string service_id = {}) {
    health_check c;
    c.check_id = std::move(id);
    c.name = c.check_id;
    c.status = std::move(status);
    c.service_id = std::move(service_id);
    return c;
}

class StateStore : public ::testing::Test {
  protected:
    std::uint64_t apply(const command& c) {
        const auto idx = ++index_;
        auto r = store_.apply(idx, c);
        EXPECT_TRUE(r) << (r ? "" : r.error().message);
        return idx;
    }
    state_store store_;
    std::uint64_t index_ = 0;
};

TEST_F(StateStore, RegisterCreatesNodeServiceAndCheckWithIndexes) {
    auto r = reg("Node1");
    r.service = svc("web1", "web", {"v1"});
    r.check = chk("web-alive", "passing", "web1");
    const auto i = apply(r);
    EXPECT_EQ(store_.table_index(table::nodes), i);
    EXPECT_EQ(store_.table_index(table::services), i);
    EXPECT_EQ(store_.table_index(table::checks), i);
    auto nodes = store_.list_nodes();
    ASSERT_EQ(nodes.value.size(), 1u);
    EXPECT_EQ(nodes.value[0].name, "Node1");
    EXPECT_EQ(nodes.value[0].create_index, i);
    EXPECT_EQ(nodes.value[0].modify_index, i);
    auto ns = store_.node_services_of("node1");  // case-insensitive
    ASSERT_TRUE(ns.value);
    ASSERT_EQ(ns.value->services.count("web1"), 1u);
    EXPECT_EQ(ns.value->services.at("web1").weights_, (weights{1, 1}));  // Consul default
    auto checks = store_.node_checks("NODE1").value;
    ASSERT_EQ(checks.size(), 1u);
    EXPECT_EQ(checks[0].service_name, "web");  // filled from the service
    EXPECT_EQ(checks[0].service_tags, std::vector<std::string>{"v1"});
    EXPECT_EQ(checks[0].node, "Node1");
}

TEST_F(StateStore, ReRegisterIdenticalKeepsIndexes) {
    auto r = reg("n1");
    r.service = svc("web", "web");
    r.checks = {chk("c1", "passing")};
    const auto first = apply(r);
    const auto second = apply(r);
    EXPECT_GT(second, first);
    EXPECT_EQ(store_.table_index(table::nodes), first);
    EXPECT_EQ(store_.table_index(table::services), first);
    EXPECT_EQ(store_.table_index(table::checks), first);
    EXPECT_EQ(store_.last_index(), second);
}

TEST_F(StateStore, UpdateBumpsModifyIndexKeepsCreateIndex) {
    auto r = reg("n1");
    r.service = svc("web", "web", {}, 80);
    const auto first = apply(r);
    r.service->port = 81;
    const auto second = apply(r);
    auto ns = store_.node_services_of("n1").value;
    ASSERT_TRUE(ns);
    const auto& s = ns->services.at("web");
    EXPECT_EQ(s.create_index, first);
    EXPECT_EQ(s.modify_index, second);
    EXPECT_EQ(store_.table_index(table::services), second);
    EXPECT_EQ(store_.table_index(table::nodes), first);  // node unchanged
}

TEST_F(StateStore, SkipNodeUpdateLeavesNodeAlone) {
    apply(reg("n1", "10.0.0.1"));
    auto r = reg("n1", "10.9.9.9");
    r.skip_node_update = true;
    r.service = svc("db", "db");
    apply(r);
    EXPECT_EQ(store_.list_nodes().value[0].address, "10.0.0.1");
}

TEST_F(StateStore, DeregisterNodeCascadesToServicesAndChecks) {
    auto r = reg("n1");
    r.service = svc("web", "web");
    r.checks = {chk("node-check", "passing"), chk("svc-check", "passing", "web")};
    apply(r);
    auto r2 = reg("n2");
    r2.service = svc("web", "web");
    apply(r2);
    deregister_request d;
    d.node = "N1";
    const auto i = apply(d);
    EXPECT_EQ(store_.node_count(), 1u);
    EXPECT_EQ(store_.service_count(), 1u);
    EXPECT_EQ(store_.check_count(), 0u);
    EXPECT_EQ(store_.table_index(table::nodes), i);
    EXPECT_EQ(store_.table_index(table::services), i);
    EXPECT_EQ(store_.table_index(table::checks), i);
    EXPECT_FALSE(store_.node_services_of("n1").value);
}

TEST_F(StateStore, DeregisterServiceRemovesOnlyItsChecks) {
    auto r = reg("n1");
    r.service = svc("web", "web");
    r.checks = {chk("node-check", "passing"), chk("svc-check", "passing", "web")};
    const auto created = apply(r);
    deregister_request d;
    d.node = "n1";
    d.service_id = "web";
    const auto i = apply(d);
    EXPECT_EQ(store_.service_count(), 0u);
    auto checks = store_.node_checks("n1").value;
    ASSERT_EQ(checks.size(), 1u);
    EXPECT_EQ(checks[0].check_id, "node-check");
    EXPECT_EQ(store_.table_index(table::services), i);
    EXPECT_EQ(store_.table_index(table::nodes), created);
}

TEST_F(StateStore, DeregisterMissingThingsChangesNoIndex) {
    apply(reg("n1"));
    deregister_request d;
    d.node = "ghost";
    apply(d);
    d.node = "n1";
    d.check_id = "nope";
    apply(d);
    EXPECT_EQ(store_.table_index(table::nodes), 1u);
    EXPECT_EQ(store_.table_index(table::checks), 0u);
}

TEST_F(StateStore, InvalidRegistrationsRejectedAtomically) {
    auto r = reg("n1");
    r.checks = {chk("c", "passing", "no-such-service")};
    auto v = store_.apply(1, r);
    index_ = 1;
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().code, store_errc::unknown_service);
    EXPECT_EQ(v.error().message, "Unknown service ID 'no-such-service' for check ID 'c'");
    EXPECT_EQ(store_.node_count(), 0u);  // nothing half-applied
    EXPECT_EQ(store_.last_index(), 1u);  // but the index is consumed (Raft FSM semantics)

    auto r2 = reg("n2");
    health_check other = chk("c", "passing");
    other.node = "someone-else";
    r2.checks = {other};
    ASSERT_FALSE(store_.validate(r2));
    EXPECT_EQ(store_.apply(1, reg("n3")).error().code, store_errc::index_not_increasing);

    apply(reg("a"));
    auto idr = reg("a");
    idr.id = "11111111-2222-3333-4444-555555555555";
    apply(idr);
    auto clash = reg("b");
    clash.id = "11111111-2222-3333-4444-555555555555";
    auto c = store_.validate(clash);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code, store_errc::conflict);
}

TEST_F(StateStore, CheckStatusDefaultsToCritical) {
    auto r = reg("n1");
    r.checks = {chk("c", "")};
    apply(r);
    EXPECT_EQ(store_.node_checks("n1").value.at(0).status, "critical");
    EXPECT_EQ(store_.checks_in_state("critical").value.size(), 1u);
    EXPECT_EQ(store_.checks_in_state("passing").value.size(), 0u);
    EXPECT_EQ(store_.checks_in_state("any").value.size(), 1u);
}

TEST_F(StateStore, ListServicesUnionsTagsAndFiltersByNodeMeta) {
    auto a = reg("a");
    a.node_meta = {{"rack", "r1"}};
    a.service = svc("web-a", "web", {"v1", "blue"});
    apply(a);
    auto b = reg("b");
    b.service = svc("web-b", "web", {"v2", "blue"});
    apply(b);
    auto all = store_.list_services();
    EXPECT_EQ(all.value.at("web"), (std::vector<std::string>{"v1", "blue", "v2"}));
    auto filtered = store_.list_services({{"rack", "r1"}});
    EXPECT_EQ(filtered.value.at("web"), (std::vector<std::string>{"v1", "blue"}));
    EXPECT_EQ(store_.list_nodes({{"rack", "r1"}}).value.size(), 1u);
}

TEST_F(StateStore, ServiceNodesByNameAndTags) {
    for (auto [n, tags] : std::vector<std::pair<std::string, std::vector<std::string>>>{
             {"c", {"primary"}}, {"a", {"replica"}}, {"b", {"Primary", "x"}}}) {
        auto r = reg(n);
        r.node_meta = {{"n", n}};
        r.service = svc("db", "db", tags);
        apply(r);
    }
    auto all = store_.service_nodes("DB");
    ASSERT_EQ(all.value.size(), 3u);
    EXPECT_EQ(all.value[0].node, "a");  // ordered by node
    EXPECT_EQ(all.value[0].node_meta.at("n"), "a");
    EXPECT_EQ(all.value[0].service_name, "db");
    auto primary = store_.service_nodes("db", {"primary"});
    ASSERT_EQ(primary.value.size(), 2u);  // tag match is case-insensitive
    EXPECT_EQ(store_.service_nodes("db", {"primary", "x"}).value.size(), 1u);
    EXPECT_EQ(all.index, store_.max_index(query_tables::service_nodes));
}

TEST_F(StateStore, CheckServiceNodesWithPassingFilter) {
    auto a = reg("a");
    a.service = svc("web", "web");
    a.checks = {chk("serfHealth", "passing"), chk("web-http", "passing", "web")};
    apply(a);
    auto b = reg("b");
    b.service = svc("web", "web");
    b.checks = {chk("serfHealth", "passing"), chk("web-http", "warning", "web")};
    apply(b);
    auto all = store_.check_service_nodes("web");
    ASSERT_EQ(all.value.size(), 2u);
    ASSERT_EQ(all.value[0].checks.size(), 2u);
    EXPECT_EQ(all.value[0].checks[0].check_id, "serfHealth");  // node checks first
    EXPECT_EQ(all.value[0].checks[1].check_id, "web-http");
    auto passing = store_.check_service_nodes("web", {}, true);
    ASSERT_EQ(passing.value.size(), 1u);
    EXPECT_EQ(passing.value[0].node_->name, "a");
}

TEST_F(StateStore, ServiceDumpByKindFindsMeshGateways) {
    auto g = reg("gw");
    g.service = svc("mesh-gateway", "mesh-gateway", {}, 8443);
    g.service->kind = "mesh-gateway";
    g.service->meta = {{"consul-wan-federation", "1"}};
    g.service->tagged_addresses = {{"wan", {"198.51.100.1", 443}}};
    apply(g);
    auto w = reg("w");
    w.service = svc("web", "web");
    apply(w);
    auto gws = store_.service_dump("mesh-gateway", true);
    ASSERT_EQ(gws.value.size(), 1u);
    EXPECT_EQ(gws.value[0].service->tagged_addresses.at("wan").port, 443);
    EXPECT_EQ(store_.service_dump("", false).value.size(), 2u);
}

TEST_F(StateStore, FederationStateUpsertGetListDelete) {
    federation_state_request up;
    up.op = "upsert";
    up.state = federation_state{};
    up.state->datacenter = "dc2";
    const auto i1 = apply(up);
    up.state->primary_modify_index = 77;
    const auto i2 = apply(up);
    auto got = store_.federation_state_get("dc2");
    ASSERT_TRUE(got.value);
    EXPECT_EQ(got.value->create_index, i1);
    EXPECT_EQ(got.value->modify_index, i2);
    EXPECT_EQ(got.index, i2);
    EXPECT_EQ(store_.federation_state_list().value.size(), 1u);
    federation_state_request del = up;
    del.op = "delete";
    const auto i3 = apply(del);
    EXPECT_FALSE(store_.federation_state_get("dc2").value);
    EXPECT_EQ(store_.table_index(table::federation_states), i3);
    federation_state_request bad = up;
    bad.op = "frobnicate";
    EXPECT_EQ(store_.validate(bad).error().message,
              "Invalid federation state operation: frobnicate");
    bad.op = "upsert";
    bad.state->datacenter.clear();
    EXPECT_EQ(store_.validate(bad).error().message,
              "invalid request: missing federation state datacenter");
}

TEST_F(StateStore, WatchFiresOnceWhenItsTablesMovePastMinIndex) {
    apply(reg("n1"));
    int fired = 0;
    store_.watch(mask(table::services), store_.max_index(mask(table::services)), [&] { ++fired; });
    apply(reg("n2"));  // nodes only: not our table
    EXPECT_EQ(fired, 0);
    auto r = reg("n2");
    r.service = svc("web", "web");
    apply(r);
    EXPECT_EQ(fired, 1);
    r.service->port = 99;
    apply(r);
    EXPECT_EQ(fired, 1);  // once
    EXPECT_EQ(store_.watch_count(), 0u);
}

TEST_F(StateStore, WatchImmediateCancelAndReentrant) {
    apply(reg("n1"));
    int fired = 0;
    EXPECT_EQ(store_.watch(mask(table::nodes), 0, [&] { ++fired; }), 0u);
    EXPECT_EQ(fired, 1);
    auto id = store_.watch(mask(table::nodes), store_.last_index(), [&] { fired += 100; });
    EXPECT_TRUE(store_.cancel(id));
    EXPECT_FALSE(store_.cancel(id));
    // A callback that re-arms itself and queries the store.
    int rearmed = 0;
    std::function<void()> cb = [&] {
        ++rearmed;
        EXPECT_EQ(store_.list_nodes().value.size(), store_.node_count());
        store_.watch(mask(table::nodes), store_.table_index(table::nodes), cb);
    };
    store_.watch(mask(table::nodes), store_.table_index(table::nodes), cb);
    apply(reg("n2"));
    apply(reg("n3"));
    EXPECT_EQ(fired, 1);
    EXPECT_EQ(rearmed, 2);
    EXPECT_EQ(store_.watch_count(), 1u);
}

TEST_F(StateStore, SnapshotRestoreRoundTripFiresWatches) {
    auto r = reg("n1");
    r.service = svc("web", "web", {"t"});
    r.checks = {chk("c", "passing", "web")};
    apply(r);
    federation_state_request up;
    up.op = "upsert";
    up.state = federation_state{};
    up.state->datacenter = "dc1";
    apply(up);
    const auto snap = store_.snapshot();

    state_store other;
    int fired = 0;
    other.watch(query_tables::health, 0, [&] { ++fired; });  // index 0: fires immediately
    other.watch(mask(table::federation_states), 0, [&] { ++fired; });
    ASSERT_TRUE(other.restore(snap));
    EXPECT_EQ(fired, 2);
    EXPECT_EQ(other.last_index(), store_.last_index());
    for (std::size_t t = 0; t < table_count; ++t) {
        EXPECT_EQ(other.table_index(static_cast<table>(t)),
                  store_.table_index(static_cast<table>(t)));
    }
    EXPECT_EQ(other.check_service_nodes("web").value, store_.check_service_nodes("web").value);
    EXPECT_EQ(other.federation_state_list().value, store_.federation_state_list().value);
    EXPECT_FALSE(other.restore(std::vector<std::uint8_t>{0xc1}));
}

TEST(StateCommand, EncodeDecodeWithConsulTypeByte) {
    auto r = reg("n1");
    r.service = svc("web", "web");
    auto b = encode_command(r);
    ASSERT_FALSE(b.empty());
    EXPECT_EQ(b[0], 0);  // RegisterRequestType
    auto back = decode_command(b);
    ASSERT_TRUE(back && *back);
    EXPECT_EQ(std::get<register_request>(**back), r);
    deregister_request d;
    d.node = "x";
    EXPECT_EQ(encode_command(d)[0], 1);
    federation_state_request f;
    EXPECT_EQ(encode_command(f)[0], 30);
    // Unknown types: ignorable with the 128 flag, an error otherwise.
    auto ignorable = decode_command(std::vector<std::uint8_t>{128 | 77, 0x80});
    ASSERT_TRUE(ignorable);
    EXPECT_FALSE(*ignorable);
    EXPECT_FALSE(decode_command(std::vector<std::uint8_t>{77, 0x80}));
    EXPECT_FALSE(decode_command(std::vector<std::uint8_t>{}));
}

}  // namespace
}  // namespace meshfed::rpc
