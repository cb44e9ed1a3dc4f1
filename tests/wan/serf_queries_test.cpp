// serf user events and queries: dedupe rings, re-broadcast rule, size limits, acks/responses to
// the query's Addr:Port, filters, relays, internal queries (_serf_ping, _serf_conflict and the
// keyring queries mutating the shared keyring + persistence), our own queries and key_operation.
#include <gtest/gtest.h>

#include "tests/wan/serf_fixture.hpp"
#include "wan/wire/crypto.hpp"

namespace meshfed::wan {
namespace {

using namespace std::chrono_literals;
using serf_testing::consul_tags;
using serf_testing::hex;
using serf_testing::make_node;
using serf_testing::to_hex;

// §14.9 user event {CC true, LTime 1, Name "deploy", Payload "v42"}.
constexpr std::string_view event_14_9 =
    "0384a24343c3a54c54696d6501a44e616d65a66465706c6f79a75061796c6f6164a3763432";
// udp.tsv frame 32: query "uptime" (ack requested) from s1 at 127.0.0.1:17946.
constexpr std::string_view query_frame32 =
    "048ba441646472a47f000001a746696c74657273c0a5466c61677301a24944ce3e0e87fea54c54696d6501a44e61"
    "6d65a6757074696d65a75061796c6f6164a470696e67a4506f7274cd461aab52656c6179466163746f7200aa536f"
    "757263654e6f6465a27331a754696d656f7574ce77359400";

bytes key_of(std::uint8_t seed) {
    bytes k(32);
    for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(seed + i);
    return k;
}

msg_query make_query(std::uint64_t ltime, std::uint32_t id, std::string name, bytes payload = {}) {
    msg_query q;
    q.ltime = ltime;
    q.id = id;
    q.addr = {10, 0, 0, 7};
    q.port = 8302;
    q.source_node = "asker.dc7";
    q.flags = query_flag_ack;
    q.timeout_ns = 5'000'000'000;
    q.name = std::move(name);
    q.payload = std::move(payload);
    return q;
}

class SerfQueries : public serf_testing::serf_fixture {
  protected:
    // The non-ack response packets sent so far, decoded.
    std::vector<msg_query_response> responses() {
        std::vector<msg_query_response> out;
        for (const auto& p : host->packets) {
            auto r = decode_query_response(p.msg);
            if (r && !r->ack()) out.push_back(*r);
        }
        return out;
    }
    msg_key_response key_response(std::size_t i = 0) {
        auto rs = responses();
        EXPECT_GT(rs.size(), i);
        auto k = decode_key_response(rs.at(i).payload);
        EXPECT_TRUE(k);
        return k.value_or(msg_key_response{});
    }
    void enable_keyring() {
        auto cfg = default_config();
        cfg.keyring = std::make_shared<wire::keyring>(wire::keyring::create(key_of(1)).value());
        cfg.persist_keyring = [this](std::span<const bytes> keys) {
            persisted.emplace_back(keys.begin(), keys.end());
            return persist_error;
        };
        make(std::move(cfg));
    }
    std::vector<std::vector<bytes>> persisted;
    std::string persist_error;
};

// ---- user events
// ------------------------------------------------------------------------------------

TEST_F(SerfQueries, UserEventFromCaptureDeliveredOnceAndRebroadcast) {
    receive(hex(event_14_9));
    ASSERT_EQ(user_events.size(), 1u);
    EXPECT_EQ(user_events[0].name, "deploy");
    EXPECT_EQ(std::string(user_events[0].payload.begin(), user_events[0].payload.end()), "v42");
    EXPECT_TRUE(user_events[0].coalesce);
    EXPECT_EQ(s->event_clock(), 2u);
    auto b = drain();
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(to_hex(b[0]), event_14_9);
    receive(hex(event_14_9));  // duplicate
    EXPECT_EQ(user_events.size(), 1u);
    EXPECT_TRUE(drain().empty());
    EXPECT_EQ(s->stats().events_duplicate, 1u);
    // Same LTime, other payload: a different event.
    receive(encode(msg_user_event{1, "deploy", {'v', '4', '3'}, true}));
    EXPECT_EQ(user_events.size(), 2u);
}

TEST_F(SerfQueries, OldUserEventsAreDropped) {
    receive(encode(msg_user_event{2000, "a", {}, false}));
    ASSERT_EQ(user_events.size(), 1u);
    receive(encode(msg_user_event{1000, "old", {}, false}));  // < clock - 512
    EXPECT_EQ(user_events.size(), 1u);
    EXPECT_EQ(s->stats().events_old, 1u);
    EXPECT_EQ(s->stats().drops(serf_errc::stale), 1u);
}

TEST_F(SerfQueries, UserEventApiLimitsAndLocalDelivery) {
    auto r = s->user_event(clock.now, "n", bytes(600, 'x'), false);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), "user event exceeds configured limit of 512 bytes before encoding");
    r = s->user_event(clock.now, "n", bytes(500, 'x'), false);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), "encoded user event exceeds configured limit of 512 bytes after encoding");
    ASSERT_TRUE(s->user_event(clock.now, "deploy", {'v', '4', '2'}, true));
    ASSERT_EQ(user_events.size(), 1u);
    auto b = drain();
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(to_hex(b[0]), event_14_9);  // byte-identical to the captured serf event
}

// ---- incoming queries
// ----------------------------------------------------------------------------

TEST_F(SerfQueries, CapturedQueryIsAckedDeliveredAndRebroadcast) {
    receive(hex(query_frame32));
    ASSERT_EQ(host->packets.size(), 1u);
    const auto& ack = host->packets[0];
    EXPECT_EQ(ack.to, (node_addr{{127, 0, 0, 1}, 17946}));
    EXPECT_EQ(ack.to_node, "s1");
    EXPECT_EQ(decode_query_response(ack.msg).value(),
              (msg_query_response{1, 1041139710, "self.dc1", query_flag_ack, {}}));
    ASSERT_EQ(queries.size(), 1u);
    EXPECT_EQ(queries[0].name, "uptime");
    EXPECT_EQ(queries[0].deadline, clock.now + 2s);
    EXPECT_EQ(drain().size(), 1u);
    EXPECT_EQ(s->query_clock(), 2u);

    ASSERT_TRUE(s->respond(clock.now, queries[0], bytes{'u', 'p'}));
    auto rs = responses();
    ASSERT_EQ(rs.size(), 1u);
    EXPECT_EQ(rs[0], (msg_query_response{1, 1041139710, "self.dc1", 0, {'u', 'p'}}));
    auto again = s->respond(clock.now, queries[0], bytes{'x'});
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error(), "response already sent");

    receive(hex(query_frame32));  // duplicate: no second ack, no re-broadcast
    EXPECT_EQ(host->packets.size(), 2u);
    EXPECT_TRUE(drain().empty());
    EXPECT_EQ(s->stats().queries_duplicate, 1u);
}

TEST_F(SerfQueries, ResponsePastDeadlineIsRefused) {
    receive(encode(make_query(3, 5, "late")));
    ASSERT_EQ(queries.size(), 1u);
    clock.advance(6s);
    auto r = s->respond(clock.now, queries[0], bytes{'x'});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), "response is past the deadline");
}

TEST_F(SerfQueries, FiltersDecideWhoAnswersButEveryoneRebroadcasts) {
    auto q = make_query(3, 1, "q1");
    q.filters = {encode_filter(node_filter{{"other.dc1"}})};
    receive(encode(q));
    EXPECT_TRUE(host->packets.empty());
    EXPECT_TRUE(queries.empty());
    EXPECT_EQ(drain().size(), 1u);
    EXPECT_EQ(s->stats().queries_filtered, 1u);

    q = make_query(4, 2, "q2");
    q.filters = {encode_filter(node_filter{{"x", "self.dc1"}}),
                 encode_filter(tag_filter{"dc", "^dc[0-9]$"})};
    receive(encode(q));
    EXPECT_EQ(host->packets.size(), 1u);
    EXPECT_EQ(queries.size(), 1u);

    q = make_query(5, 3, "q3");
    q.filters = {encode_filter(tag_filter{"dc", "^dc2$"})};
    receive(encode(q));
    EXPECT_EQ(queries.size(), 1u);

    q = make_query(6, 4, "q4");
    q.filters = {encode_filter(tag_filter{"dc", "(unclosed"})};
    receive(encode(q));
    q = make_query(7, 5, "q5");
    q.filters = {hex("07c0")};
    receive(encode(q));
    EXPECT_EQ(queries.size(), 1u);
    EXPECT_EQ(s->stats().drops(serf_errc::bad_filter), 2u);

    EXPECT_EQ(drain().size(), 4u);  // q2..q5 all re-broadcast
    q = make_query(8, 6, "q6");
    q.flags = query_flag_ack | query_flag_no_broadcast;
    receive(encode(q));
    EXPECT_EQ(queries.size(), 2u);
    EXPECT_TRUE(drain().empty());
}

TEST_F(SerfQueries, RelayFactorSendsCopiesThroughAlivePeers) {
    add_peer("a.dc2", 2);
    auto q = make_query(3, 9, "_serf_ping");
    q.relay_factor = 1;
    receive(encode(q));
    ASSERT_EQ(host->packets.size(), 2u);
    EXPECT_EQ(host->packets[0].to, (node_addr{{10, 0, 0, 7}, 8302}));
    EXPECT_EQ(host->packets[1].to_node, "a.dc2");
    auto rel = decode_relay(host->packets[1].msg);
    ASSERT_TRUE(rel);
    EXPECT_EQ(rel->dest_ip, (bytes{10, 0, 0, 7}));
    EXPECT_EQ(rel->dest_port, 8302);
    EXPECT_EQ(rel->dest_name, "asker.dc7");
    EXPECT_EQ(rel->inner, host->packets[0].msg);
    EXPECT_TRUE(queries.empty());  // internal query: not delivered to the agent
}

TEST_F(SerfQueries, RelayMessagesAreForwardedOnlyIfTheyAreResponses) {
    msg_query_response inner{7, 9, "z.dc3", 0, {'p'}};
    receive(encode(msg_relay{{10, 0, 0, 8}, 8302, "", "dest.dc4", encode(inner)}));
    ASSERT_EQ(host->packets.size(), 1u);
    EXPECT_EQ(host->packets[0].to, (node_addr{{10, 0, 0, 8}, 8302}));
    EXPECT_EQ(host->packets[0].to_node, "dest.dc4");
    EXPECT_EQ(host->packets[0].msg, encode(inner));
    receive(encode(msg_relay{{10, 0, 0, 8}, 8302, "", "dest.dc4", encode(msg_join{1, "x"})}));
    receive(encode(msg_relay{{10, 0, 8}, 8302, "", "dest.dc4", encode(inner)}));
    EXPECT_EQ(host->packets.size(), 1u);
    EXPECT_EQ(s->stats().relays_forwarded, 1u);
}

TEST_F(SerfQueries, ConflictQueryAnswersWhatWeKnow) {
    add_peer("a.dc2", 2);
    receive(encode(make_query(3, 1, "_serf_conflict", {'a', '.', 'd', 'c', '2'})));
    receive(encode(make_query(4, 2, "_serf_conflict", {'n', 'o'})));
    receive(encode(make_query(5, 3, "_serf_conflict", {'s', 'e', 'l', 'f', '.', 'd', 'c', '1'})));
    auto rs = responses();
    ASSERT_EQ(rs.size(), 2u);
    auto m = decode_conflict_response(rs[0].payload);
    ASSERT_TRUE(m && m->has_value());
    EXPECT_EQ((*m)->name, "a.dc2");
    EXPECT_EQ((*m)->addr, (bytes{10, 0, 0, 2}));
    EXPECT_EQ((*m)->status, 1);
    EXPECT_EQ((*m)->delegate_cur, 4);
    EXPECT_EQ(to_hex(rs[1].payload), "06c0");
}

// ---- keyring queries
// --------------------------------------------------------------------------------

TEST_F(SerfQueries, KeyringQueriesMutateSharedKeyringAndPersist) {
    enable_keyring();
    auto ring = s->config().keyring;
    const bytes k1 = key_of(1), k2 = key_of(50);

    receive(encode(make_query(3, 1, "_serf_install-key", encode(msg_key_request{k2}))));
    EXPECT_EQ(key_response(0), (msg_key_response{true, "", {}, ""}));
    ASSERT_EQ(ring->keys().size(), 2u);
    ASSERT_EQ(persisted.size(), 1u);
    EXPECT_EQ(persisted[0].size(), 2u);

    receive(encode(make_query(4, 2, "_serf_use-key", encode(msg_key_request{k2}))));
    EXPECT_TRUE(key_response(1).result);
    EXPECT_EQ(bytes(ring->primary().begin(), ring->primary().end()), k2);

    receive(encode(make_query(5, 3, "_serf_remove-key", encode(msg_key_request{k2}))));
    EXPECT_EQ(key_response(2),
              (msg_key_response{false, "Removing the primary key is not allowed", {}, ""}));

    receive(encode(make_query(6, 4, "_serf_remove-key", encode(msg_key_request{k1}))));
    EXPECT_TRUE(key_response(3).result);
    EXPECT_EQ(ring->keys().size(), 1u);
    EXPECT_EQ(persisted.size(), 3u);

    receive(encode(make_query(7, 5, "_serf_use-key", encode(msg_key_request{k1}))));
    EXPECT_EQ(key_response(4).message, "Requested key is not in the keyring");

    receive(encode(make_query(8, 6, "_serf_install-key", encode(msg_key_request{bytes(7, 1)}))));
    EXPECT_EQ(key_response(5).message, "key size must be 16, 24 or 32 bytes");

    receive(encode(make_query(9, 7, "_serf_install-key", hex("07c1"))));  // undecodable
    EXPECT_EQ(key_response(6), (msg_key_response{false, "", {}, ""}));
    EXPECT_EQ(s->stats().key_queries, 7u);
}

TEST_F(SerfQueries, ListKeysResponseFormat) {
    enable_keyring();
    ASSERT_TRUE(s->config().keyring->add_key(key_of(50)));
    receive(encode(make_query(3, 1, "_serf_list-keys", encode(msg_key_request{}))));
    auto k = key_response();
    EXPECT_TRUE(k.result);
    EXPECT_EQ(k.message, "");
    EXPECT_EQ(k.keys, (std::vector<std::string>{wire::encode_base64(key_of(1)),
                                                wire::encode_base64(key_of(50))}));
    EXPECT_EQ(k.primary_key, wire::encode_base64(key_of(1)));
    EXPECT_EQ(k.primary_key, "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=");
}

TEST_F(SerfQueries, ListKeysTruncatedToResponseLimit) {
    enable_keyring();
    for (int i = 0; i < 59; ++i) ASSERT_TRUE(s->config().keyring->add_key(key_of(100 + i)));
    receive(encode(make_query(3, 1, "_serf_list-keys", encode(msg_key_request{}))));
    ASSERT_EQ(responses().size(), 1u);
    for (const auto& p : host->packets) EXPECT_LE(p.msg.size(), 1024u);
    auto k = key_response();
    EXPECT_TRUE(k.result);
    EXPECT_LT(k.keys.size(), 60u);
    EXPECT_GT(k.keys.size(), 15u);
    EXPECT_EQ(k.message, "truncated key list response, showing first " +
                             std::to_string(k.keys.size()) + " of 60 keys");
}

TEST_F(SerfQueries, KeyQueriesWithoutKeyring) {
    receive(encode(make_query(3, 1, "_serf_install-key", encode(msg_key_request{key_of(1)}))));
    receive(encode(make_query(4, 2, "_serf_list-keys", encode(msg_key_request{}))));
    EXPECT_EQ(key_response(0).message, "No keyring to modify (encryption not enabled)");
    EXPECT_EQ(key_response(1).message, "Keyring is empty (encryption not enabled)");
    EXPECT_FALSE(key_response(1).result);
}

TEST_F(SerfQueries, PersistFailureIsReported) {
    enable_keyring();
    persist_error = "open serf/remote.keyring: permission denied";
    receive(encode(make_query(3, 1, "_serf_install-key", encode(msg_key_request{key_of(9)}))));
    EXPECT_EQ(key_response(), (msg_key_response{false, persist_error, {}, ""}));
}

// ---- our own queries
// --------------------------------------------------------------------------------

TEST_F(SerfQueries, OwnQueryCollectsAcksResponsesThenDone) {
    add_peer("a.dc2", 2);
    std::vector<query_reply> got;
    query_params p;
    p.request_ack = true;
    p.timeout = 2s;
    auto id =
        s->query(clock.now, "uptime", {'p'}, p, [&](const query_reply& r) { got.push_back(r); });
    ASSERT_TRUE(id);
    EXPECT_EQ(id->first, 1u);
    // our own ack was handled in place (no UDP to ourselves)
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].type, query_reply::kind::ack);
    EXPECT_EQ(got[0].from, "self.dc1");
    EXPECT_TRUE(host->packets.empty());
    ASSERT_EQ(queries.size(), 1u);  // delivered to our own agent too
    auto b = drain();
    ASSERT_EQ(b.size(), 1u);
    auto q = decode_query(b[0]);
    ASSERT_TRUE(q);
    EXPECT_EQ(q->addr, (bytes{10, 0, 0, 1}));
    EXPECT_EQ(q->timeout_ns, 2'000'000'000);

    receive(encode(msg_query_response{1, id->second, "a.dc2", query_flag_ack, {}}));
    receive(encode(msg_query_response{1, id->second, "a.dc2", 0, {'u', 'p'}}));
    receive(encode(msg_query_response{1, id->second, "a.dc2", 0, {'u', 'p'}}));  // duplicate
    receive(encode(msg_query_response{1, id->second + 1, "b.dc2", 0, {}}));      // wrong ID
    receive(encode(msg_query_response{9, id->second, "b.dc2", 0, {}}));          // unknown
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[2].type, query_reply::kind::response);
    EXPECT_EQ(got[2].payload, (bytes{'u', 'p'}));
    EXPECT_EQ(s->stats().query_replies_dropped, 3u);
    EXPECT_EQ(s->next_wakeup(), clock.now + 2s);
    clock.advance(2s);
    s->tick(clock.now);
    ASSERT_EQ(got.size(), 4u);
    EXPECT_EQ(got[3].type, query_reply::kind::done);
    receive(encode(msg_query_response{1, id->second, "c.dc2", 0, {}}));  // too late
    EXPECT_EQ(got.size(), 4u);
}

TEST_F(SerfQueries, OwnQuerySizeLimitAndFilters) {
    auto r = s->query(clock.now, "big", bytes(1100, 'x'), {}, nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), "query exceeds limit of 1024 bytes");
    query_params p;
    p.filter_nodes = {"a.dc2"};
    p.filter_tags = {{"dc", "^dc2$"}};
    ASSERT_TRUE(s->query(clock.now, "f", {}, p, nullptr));
    EXPECT_TRUE(queries.empty());  // we do not pass our own filters
    auto q = decode_query(drain().at(0)).value();
    ASSERT_EQ(q.filters.size(), 2u);
    EXPECT_EQ(std::get<node_filter>(decode_filter(q.filters[0]).value()).nodes,
              (std::vector<std::string>{"a.dc2"}));
    p.filter_tags = {{"dc", "(bad"}};
    EXPECT_FALSE(s->query(clock.now, "f", {}, p, nullptr));
}

TEST_F(SerfQueries, DefaultQueryTimeoutScalesWithPoolSize) {
    EXPECT_EQ(s->default_query_timeout(), 8s);  // 500ms x 16 x ceil(log10(2))
    for (int i = 2; i < 12; ++i) host->nodes.push_back(make_node("n" + std::to_string(i), i));
    EXPECT_EQ(s->default_query_timeout(), 16s);  // 11 nodes -> ceil(log10(12)) = 2
}

TEST_F(SerfQueries, KeyOperationAggregatesResponses) {
    enable_keyring();
    add_peer("a.dc2", 2);
    std::optional<key_response_summary> sum;
    ASSERT_TRUE(s->key_operation(clock.now, key_op::list, "",
                                 [&](const key_response_summary& r) { sum = r; }));
    EXPECT_FALSE(sum);  // our own answer arrived; a.dc2 has not answered yet
    auto q = decode_query(drain().at(0)).value();
    EXPECT_EQ(q.name, "_serf_list-keys");
    EXPECT_EQ(to_hex(q.payload), "0781a34b6579a0");  // what serf's KeyManager sends
    msg_key_response theirs{
        true, "", {wire::encode_base64(key_of(1))}, wire::encode_base64(key_of(1))};
    receive(encode(msg_query_response{q.ltime, q.id, "a.dc2", 0, encode(theirs)}));
    ASSERT_TRUE(sum);
    EXPECT_EQ(sum->num_nodes, 2);
    EXPECT_EQ(sum->num_resp, 2);
    EXPECT_EQ(sum->num_err, 0);
    EXPECT_EQ(sum->keys.at(wire::encode_base64(key_of(1))), 2);
    EXPECT_EQ(sum->primary_keys.at(wire::encode_base64(key_of(1))), 2);
    EXPECT_EQ(sum->error, "");
}

TEST_F(SerfQueries, KeyOperationReportsFailuresAtTimeout) {
    enable_keyring();
    add_peer("a.dc2", 2);
    std::optional<key_response_summary> sum;
    ASSERT_TRUE(s->key_operation(clock.now, key_op::use, wire::encode_base64(key_of(77)),
                                 [&](const key_response_summary& r) { sum = r; }));
    clock.advance(s->default_query_timeout());
    s->tick(clock.now);
    ASSERT_TRUE(sum);
    EXPECT_EQ(sum->num_resp, 1);
    EXPECT_EQ(sum->num_err, 1);
    EXPECT_EQ(sum->messages.at("self.dc1"), "Requested key is not in the keyring");
    EXPECT_EQ(sum->error, "1/2 nodes reported failure");
    EXPECT_FALSE(s->key_operation(clock.now, key_op::install, "not base64!", nullptr));
}

}  // namespace
}  // namespace meshfed::wan
