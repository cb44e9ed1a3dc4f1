// Consul struct codec (rpc/structs.hpp): golden bytes built by hand from sorted Go field names,
// round trips, and named corruption cases for the bounded decoders.
#include "rpc/structs.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <utility>
#include <vector>

namespace meshfed::rpc {
namespace {

using bytes = std::vector<std::uint8_t>;

// fixstr (all names here are < 32 bytes).
bytes s(std::string_view v) {
    bytes out{static_cast<std::uint8_t>(0xa0 | v.size())};
    out.insert(out.end(), v.begin(), v.end());
    return out;
}

bytes cat(std::initializer_list<bytes> parts) {
    bytes out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

// A Go struct map from (key, value) pairs that the test lists in bytewise-sorted order.
bytes go_map(std::initializer_list<std::pair<std::string_view, bytes>> fields) {
    bytes out;
    if (fields.size() < 16) {
        out.push_back(static_cast<std::uint8_t>(0x80 | fields.size()));
    } else {
        out = {0xde, 0x00, static_cast<std::uint8_t>(fields.size())};
    }
    std::string_view prev;
    for (const auto& [k, v] : fields) {
        EXPECT_LT(prev, k) << "test table not sorted";
        prev = k;
        auto key = s(k);
        out.insert(out.end(), key.begin(), key.end());
        out.insert(out.end(), v.begin(), v.end());
    }
    return out;
}

const bytes nil{0xc0};
const bytes f{0xc2};
const bytes t{0xc3};
const bytes zero{0x00};
const bytes empty_map{0x80};
const bytes empty_array{0x90};

TEST(StateStructs, GoldenServiceAddressAndWeights) {
    service_address a{"10.0.0.1", 8443};
    EXPECT_EQ(encode_to_bytes(a),
              go_map({{"Address", s("10.0.0.1")}, {"Port", {0xcd, 0x20, 0xfb}}}));
    weights w{1, 1};
    EXPECT_EQ(encode_to_bytes(w), go_map({{"Passing", {0x01}}, {"Warning", {0x01}}}));
}

TEST(StateStructs, GoldenNodeSortedKeys) {
    node n;
    n.id = "";
    n.name = "srv1";
    n.address = "10.0.0.1";
    n.datacenter = "dc1";
    n.tagged_addresses = {{"lan", "10.0.0.1"}, {"wan", "1.2.3.4"}};
    n.meta = {};
    n.create_index = 5;
    n.modify_index = 300;
    const bytes expected = go_map({
        {"Address", s("10.0.0.1")},
        {"CreateIndex", {0x05}},
        {"Datacenter", s("dc1")},
        {"ID", s("")},
        {"Locality", nil},
        {"Meta", empty_map},
        {"ModifyIndex", {0xcd, 0x01, 0x2c}},
        {"Node", s("srv1")},
        {"Partition", s("")},
        {"PeerName", s("")},
        {"TaggedAddresses", cat({{0x82}, s("lan"), s("10.0.0.1"), s("wan"), s("1.2.3.4")})},
    });
    EXPECT_EQ(encode_to_bytes(n), expected);
    auto back = decode_from_bytes<node>(expected);
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(*back, n);
}

TEST(StateStructs, GoldenDeregisterRequest) {
    deregister_request d;
    d.datacenter = "dc1";
    d.node = "n1";
    d.service_id = "web";
    EXPECT_EQ(encode_to_bytes(d), go_map({{"CheckID", s("")},
                                          {"Datacenter", s("dc1")},
                                          {"Node", s("n1")},
                                          {"PeerName", s("")},
                                          {"ServiceID", s("web")},
                                          {"Token", s("")}}));
}

// QueryOptions flattened among DCSpecificRequest's own fields, all sorted together (16 keys ->
// map16).
TEST(StateStructs, GoldenDCSpecificRequestFlattensQueryOptions) {
    dc_specific_request r;
    r.datacenter = "dc2";
    r.options.min_query_index = 7;
    r.options.max_query_time = std::chrono::seconds(1);
    const bytes source = go_map({{"Datacenter", s("")},
                                 {"Ip", s("")},
                                 {"Node", s("")},
                                 {"NodePartition", s("")},
                                 {"Segment", s("")}});
    const bytes expected = go_map({
        {"AllowNotModifiedResponse", f},
        {"AllowStale", f},
        {"Datacenter", s("dc2")},
        {"Filter", s("")},
        {"MaxAge", zero},
        {"MaxQueryTime", {0xce, 0x3b, 0x9a, 0xca, 0x00}},
        {"MaxStaleDuration", zero},
        {"MinQueryIndex", {0x07}},
        {"MustRevalidate", f},
        {"NodeMetaFilters", empty_map},
        {"PeerName", s("")},
        {"RequireConsistent", f},
        {"Source", source},
        {"StaleIfError", zero},
        {"Token", s("")},
        {"UseCache", f},
    });
    EXPECT_EQ(encode_to_bytes(r), expected);
    auto back = decode_from_bytes<dc_specific_request>(expected);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->datacenter, "dc2");
    EXPECT_EQ(back->options.min_query_index, 7u);
    EXPECT_EQ(back->options.max_query_time, std::chrono::seconds(1));
}

TEST(StateStructs, GoldenIndexedServicesFlattensQueryMeta) {
    indexed_services r;
    r.services = {{"consul", {}}, {"web", {"v1"}}};
    r.meta.index = 12;
    r.meta.known_leader = true;
    const bytes expected = go_map({
        {"Backend", zero},
        {"ConsistencyLevel", s("")},
        {"Index", {0x0c}},
        {"KnownLeader", t},
        {"LastContact", zero},
        {"NotModified", f},
        {"ResultsFilteredByACLs", f},
        {"Services", cat({{0x82}, s("consul"), empty_array, s("web"), {0x91}, s("v1")})},
    });
    EXPECT_EQ(encode_to_bytes(r), expected);
}

TEST(StateStructs, GoldenFederationStateTimeAsBinaryBlob) {
    federation_state st;
    st.datacenter = "dc1";
    st.updated_at.unix_seconds = 0;  // 1970-01-01T00:00:00Z
    st.create_index = 3;
    st.modify_index = 4;
    st.primary_modify_index = 4;
    bytes blob{0xaf, 0x01};  // raw, 15 bytes, version 1
    const std::uint64_t secs = 62135596800ull;
    for (int i = 7; i >= 0; --i) blob.push_back(static_cast<std::uint8_t>(secs >> (8 * i)));
    blob.insert(blob.end(), {0, 0, 0, 0, 0xff, 0xff});
    EXPECT_EQ(encode_to_bytes(st), go_map({{"CreateIndex", {0x03}},
                                           {"Datacenter", s("dc1")},
                                           {"MeshGateways", empty_array},
                                           {"ModifyIndex", {0x04}},
                                           {"PrimaryModifyIndex", {0x04}},
                                           {"UpdatedAt", blob}}));
}

node_service sample_gateway() {
    node_service g;
    g.kind = "mesh-gateway";
    g.id = "mesh-gateway";
    g.service = "mesh-gateway";
    g.address = "10.0.0.5";
    g.port = 8443;
    g.tagged_addresses = {{"lan", {"10.0.0.5", 8443}}, {"wan", {"198.51.100.5", 443}}};
    g.meta = {{"consul-wan-federation", "1"}};
    g.weights_ = weights{1, 1};
    // An opaque Proxy map as Go would send it (subset): {"Config": {"x": true}}.
    g.proxy.bytes = cat({{0x81}, s("Config"), {0x81}, s("x"), t});
    g.create_index = 10;
    g.modify_index = 11;
    return g;
}

TEST(StateStructs, RoundTripCheckServiceNodeAndRequests) {
    check_service_node csn;
    csn.node_ = node{};
    csn.node_->name = "gw-node";
    csn.node_->address = "10.0.0.5";
    csn.service = sample_gateway();
    health_check hc;
    hc.node = "gw-node";
    hc.check_id = "service:mesh-gateway";
    hc.name = "mesh-gateway listening";
    hc.status = "passing";
    hc.service_id = "mesh-gateway";
    hc.service_tags = {"a", "b"};
    hc.exposed_port = -1;  // negative ints survive
    csn.checks = {hc};
    auto b = encode_to_bytes(csn);
    auto back = decode_from_bytes<check_service_node>(b);
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(*back, csn);

    register_request reg;
    reg.node = "n";
    reg.address = "1.1.1.1";
    reg.service = sample_gateway();
    reg.check = hc;
    reg.node_meta = {{"k", "v"}};
    auto rb = decode_from_bytes<register_request>(encode_to_bytes(reg));
    ASSERT_TRUE(rb);
    EXPECT_EQ(*rb, reg);

    federation_state_request fr;
    fr.datacenter = "dc1";
    fr.op = "upsert";
    fr.state = federation_state{};
    fr.state->datacenter = "dc2";
    fr.state->mesh_gateways = {csn};
    fr.state->updated_at = go_time::from(std::chrono::system_clock::now());
    auto fb = decode_from_bytes<federation_state_request>(encode_to_bytes(fr));
    ASSERT_TRUE(fb);
    EXPECT_EQ(*fb, fr);

    datacenter_indexed_check_service_nodes dn;
    dn.datacenter_nodes["dc2"] = {csn};
    dn.meta.index = 9;
    auto db = decode_from_bytes<datacenter_indexed_check_service_nodes>(encode_to_bytes(dn));
    ASSERT_TRUE(db);
    EXPECT_EQ(db->datacenter_nodes, dn.datacenter_nodes);
    EXPECT_EQ(db->meta.index, 9u);
}

TEST(StateStructs, DecodeAcceptsAnyOrderNilsAndUnknownKeys) {
    // Declaration order (not sorted), a nil Tags, str8 for a string, and two unknown keys.
    const bytes body = cat({{0x86},
                            s("ID"),
                            s("web1"),
                            s("Service"),
                            {0xd9, 0x03, 'w', 'e', 'b'},
                            s("Tags"),
                            nil,
                            s("FutureField"),
                            cat({{0x92, 0x01, 0x02}}),
                            s("Port"),
                            {0xd1, 0x1f, 0x90},  // int16 8080 (v2 style)
                            s("Weird"),
                            {0xc7, 0x01, 0x05, 0x00}});  // ext8
    decode_counters counters;
    auto ns = decode_from_bytes<node_service>(body, {}, &counters);
    ASSERT_TRUE(ns) << ns.error().message();
    EXPECT_EQ(ns->id, "web1");
    EXPECT_EQ(ns->service, "web");
    EXPECT_TRUE(ns->tags.empty());
    EXPECT_EQ(ns->port, 8080);
    EXPECT_EQ(counters.unknown_fields, 2u);
    EXPECT_EQ(counters.rejected, 0u);
}

// ---- named corruption cases --------------------------------------------------------------------
TEST(StateStructsCorrupt, Truncated) {
    auto full = encode_to_bytes(sample_gateway());
    decode_counters counters;
    for (std::size_t n = 0; n < full.size(); ++n) {
        auto r = decode_from_bytes<node_service>(std::span(full).first(n), {}, &counters);
        ASSERT_FALSE(r) << "prefix " << n;
        EXPECT_EQ(r.error(), codec_errc::truncated) << "prefix " << n;
    }
    EXPECT_EQ(counters.rejected, full.size());
}

TEST(StateStructsCorrupt, OversizedArrayCountRejectedBeforeAllocating) {
    // Tags claims 2^32-1 entries; only a few bytes follow.
    const bytes body = cat({{0x81}, s("Tags"), {0xdd, 0xff, 0xff, 0xff, 0xff}, s("a"), s("b")});
    decode_counters counters;
    auto r = decode_from_bytes<node_service>(body, {}, &counters);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), codec_errc::message_too_large);
    EXPECT_EQ(counters.oversized, 1u);
    EXPECT_EQ(counters.rejected, 1u);
    // Within max_elements but more than the input can hold: truncated.
    const bytes body2 = cat({{0x81}, s("Tags"), {0xdc, 0x01, 0x00}, s("a")});
    auto r2 = decode_from_bytes<node_service>(body2);
    ASSERT_FALSE(r2);
    EXPECT_EQ(r2.error(), codec_errc::truncated);
}

TEST(StateStructsCorrupt, OversizedString) {
    decode_limits limits;
    limits.max_string = 4;
    const bytes body = cat({{0x81}, s("Node"), s("toolong")});
    auto r = decode_from_bytes<node>(body, limits);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), codec_errc::message_too_large);
}

TEST(StateStructsCorrupt, OversizedOpaque) {
    decode_limits limits;
    limits.max_opaque = 3;
    const bytes body = cat({{0x81}, s("Proxy"), {0x81}, s("Config"), t});
    auto r = decode_from_bytes<node_service>(body, limits);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), codec_errc::message_too_large);
}

TEST(StateStructsCorrupt, BadType) {
    // Port as a string, ModifyIndex negative, body an array, key an integer.
    for (const bytes& body :
         {cat({{0x81}, s("Port"), s("80")}), cat({{0x81}, s("ModifyIndex"), {0xff}}),
          bytes{0x91, 0x01}, bytes{0x81, 0x01, 0x01}, cat({{0x81}, s("Tags"), s("notalist")}),
          cat({{0x81}, s("EnableTagOverride"), {0x01}})}) {
        auto r = decode_from_bytes<node_service>(body);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error(), codec_errc::bad_type);
    }
}

TEST(StateStructsCorrupt, BadTag) {
    for (const bytes& body : {bytes{0xc1}, cat({{0x81}, s("Node"), {0xc1}}),
                              cat({{0x81}, s("Unknown"), {0x91, 0xc1}})}) {
        auto r = decode_from_bytes<node>(body);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error(), codec_errc::bad_tag);
    }
}

TEST(StateStructsCorrupt, BadTime) {
    const bytes body = cat({{0x81}, s("UpdatedAt"), s("short")});
    auto r = decode_from_bytes<federation_state>(body);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), codec_errc::bad_time);
}

TEST(StateStructsCorrupt, DepthExceeded) {
    // MeshGateways -> [ {Service: {...}} ] nested past a tight depth limit.
    decode_limits limits;
    limits.max_depth = 2;
    federation_state st;
    st.mesh_gateways.push_back(check_service_node{});
    st.mesh_gateways.back().service = sample_gateway();
    auto r = decode_from_bytes<federation_state>(encode_to_bytes(st), limits);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), codec_errc::depth_exceeded);
    // Deep nesting inside an unknown key is bounded by the reader's skip depth.
    bytes deep = cat({{0x81}, s("X")});
    for (int i = 0; i < 200; ++i) deep.push_back(0x91);
    deep.push_back(0x01);
    auto r2 = decode_from_bytes<node>(deep);
    ASSERT_FALSE(r2);
    EXPECT_EQ(r2.error(), codec_errc::depth_exceeded);
}

TEST(StateStructsCorrupt, RandomFlipsNeverCrash) {
    check_service_node csn;
    csn.node_ = node{};
    csn.node_->name = "n";
    csn.service = sample_gateway();
    csn.checks.resize(3);
    const auto good = encode_to_bytes(csn);
    std::mt19937 rng(42);
    for (int i = 0; i < 5000; ++i) {
        auto b = good;
        const int flips = 1 + static_cast<int>(rng() % 4);
        for (int k = 0; k < flips; ++k) b[rng() % b.size()] = static_cast<std::uint8_t>(rng());
        (void)decode_from_bytes<check_service_node>(b);
    }
    SUCCEED();
}

}  // namespace
}  // namespace meshfed::rpc
