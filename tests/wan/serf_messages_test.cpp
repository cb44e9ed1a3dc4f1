// serf message codec: golden vectors from real captures (gossip-protocol.md §14) and from
// go-msgpack 0.5.5 encoding serf's structs (Go oracle run on this machine), named corruption
// cases per decoder, tags, filters and the tag-filter regex matcher (table from Go's regexp).
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "tests/wan/serf_test_util.hpp"
#include "wan/serf_messages.hpp"

namespace meshfed::wan {
namespace {

using serf_testing::hex;
using serf_testing::to_hex;

// §14.3 part 2 (after memberlist's 08): serf join intent {LTime 1, Node "s2"}.
constexpr std::string_view join_14_3 = "0182a54c54696d6501a44e6f6465a27332";
// §14.9 leave intent {LTime 2, Node "s2", Prune false}.
constexpr std::string_view leave_14_9 = "0083a54c54696d6502a44e6f6465a27332a55072756e65c2";
// §14.9 user event {CC true, LTime 1, Name "deploy", Payload "v42"}.
constexpr std::string_view event_14_9 =
    "0384a24343c3a54c54696d6501a44e616d65a66465706c6f79a75061796c6f6164a3763432";
// serf-plain-nocompression/udp.tsv frame 32: query "uptime" from s1.
constexpr std::string_view query_frame32 =
    "048ba441646472a47f000001a746696c74657273c0a5466c61677301a24944ce3e0e87fea54c54696d6501a44e61"
    "6d65a6757074696d65a75061796c6f6164a470696e67a4506f7274cd461aab52656c6179466163746f7200aa536f"
    "757263654e6f6465a27331a754696d656f7574ce77359400";
// frame 31: query ack {Flags 1, From "s1", ID 1041139710, LTime 1, Payload nil}.
constexpr std::string_view ack_frame31 =
    "0585a5466c61677301a446726f6da27331a24944ce3e0e87fea54c54696d6501a75061796c6f6164c0";
// §14.2/§14.3 Meta: ff + {role: consul, dc: dc9} (Go map order).
constexpr std::string_view meta_capture = "ff82a4726f6c65a6636f6e73756ca26463a3646339";

// §14.5: the 586-byte serf user state of s2's push/pull.
std::vector<std::uint8_t> push_pull_14_5() {
    std::string h = "0286aa4576656e744c54696d6501a64576656e7473dc0200";
    for (int i = 0; i < 512; ++i) h += "c0";
    h += "a54c54696d6501ab4c6566744d656d6265727390aa51756572794c54696d6501ac5374617475734c54696d65"
         "7381a2733200";
    return hex(h);
}

// Go oracle (go-msgpack 0.5.5 encoding serf's structs; see the report for the program).
constexpr std::string_view go_keyreq =
    "0781a34b6579da0020000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr std::string_view go_keyreq_empty = "0781a34b6579a0";
constexpr std::string_view go_keyresp_list =
    "0884a44b65797391da002c41414543417751464267634943516f4c4441304f4478415245684d55465259584742"
    "6b61477877644868383da74d657373616765a0aa5072696d6172794b6579da002c414145434177514642676349"
    "43516f4c4441304f4478415245684d554652595847426b61477877644868383da6526573756c74c3";
constexpr std::string_view go_keyresp_err =
    "0884a44b657973c0a74d657373616765da0023526571756573746564206b6579206973206e6f7420696e2074"
    "6865206b657972696e67aa5072696d6172794b6579a0a6526573756c74c2";
constexpr std::string_view go_member =
    "068ba441646472a47f000001ab44656c656761746543757204ab44656c65676174654d617805ab44656c656761"
    "74654d696e02a44e616d65a673312e646339a4506f7274cd206eab50726f746f636f6c43757202ab50726f746f"
    "636f6c4d617805ab50726f746f636f6c4d696e01a653746174757301a45461677381a4726f6c65a6636f6e7375"
    "6c";
constexpr std::string_view go_relay =
    "0982a8446573744164647283a24950a47f000001a4506f7274cd461aa45a6f6e65a0a8446573744e616d65a273"
    "310585a5466c61677300a446726f6da27332a24944ce3e0e87fea54c54696d6507a75061796c6f6164a4706f6e"
    "67";
constexpr std::string_view go_filter_node = "0092a27331a27332";
constexpr std::string_view go_filter_tag = "0182a445787072a45e636f6ea3546167a4726f6c65";
constexpr std::string_view go_query_filters =
    "048ba441646472a40a000001a746696c7465727391a50091a27331a5466c61677303a2494463a54c54696d6503"
    "a44e616d65af5f736572665f6c6973742d6b657973a75061796c6f6164a70781a34b6579a0a4506f7274cd206e"
    "ab52656c6179466163746f7202aa536f757263654e6f6465a5612e646331a754696d656f7574cf00000001dcd6"
    "5000";

// ---- goldens
// --------------------------------------------------------------------------------------

TEST(SerfMessagesGolden, JoinIntentFromCapture14_3) {
    auto raw = hex(join_14_3);
    auto m = decode_join(raw);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->ltime, 1u);
    EXPECT_EQ(m->node, "s2");
    EXPECT_EQ(to_hex(encode(*m)), join_14_3);
}

TEST(SerfMessagesGolden, LeaveIntentFromCapture14_9) {
    auto m = decode_leave(hex(leave_14_9));
    ASSERT_TRUE(m);
    EXPECT_EQ(*m, (msg_leave{2, "s2", false}));
    EXPECT_EQ(to_hex(encode(*m)), leave_14_9);
}

TEST(SerfMessagesGolden, UserEventFromCapture14_9) {
    auto m = decode_user_event(hex(event_14_9));
    ASSERT_TRUE(m);
    EXPECT_EQ(m->ltime, 1u);
    EXPECT_EQ(m->name, "deploy");
    EXPECT_EQ(std::string(m->payload.begin(), m->payload.end()), "v42");
    EXPECT_TRUE(m->cc);
    EXPECT_EQ(to_hex(encode(*m)), event_14_9);
}

TEST(SerfMessagesGolden, QueryFromCaptureFrame32) {
    auto m = decode_query(hex(query_frame32));
    ASSERT_TRUE(m);
    EXPECT_EQ(m->ltime, 1u);
    EXPECT_EQ(m->id, 1041139710u);
    EXPECT_EQ(m->addr, (bytes{127, 0, 0, 1}));
    EXPECT_EQ(m->port, 17946);
    EXPECT_EQ(m->source_node, "s1");
    EXPECT_TRUE(m->filters.empty());
    EXPECT_TRUE(m->ack());
    EXPECT_FALSE(m->no_broadcast());
    EXPECT_EQ(m->relay_factor, 0);
    EXPECT_EQ(m->timeout_ns, 2'000'000'000);
    EXPECT_EQ(m->name, "uptime");
    EXPECT_EQ(std::string(m->payload.begin(), m->payload.end()), "ping");
    EXPECT_EQ(to_hex(encode(*m)), query_frame32);
}

TEST(SerfMessagesGolden, QueryAckFromCaptureFrame31) {
    auto m = decode_query_response(hex(ack_frame31));
    ASSERT_TRUE(m);
    EXPECT_TRUE(m->ack());
    EXPECT_EQ(m->from, "s1");
    EXPECT_EQ(m->id, 1041139710u);
    EXPECT_TRUE(m->payload.empty());
    EXPECT_EQ(to_hex(encode(*m)), ack_frame31);
}

TEST(SerfMessagesGolden, PushPullUserStateFromCapture14_5) {
    auto raw = push_pull_14_5();
    ASSERT_EQ(raw.size(), 586u);
    auto m = decode_push_pull(raw);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->ltime, 1u);
    EXPECT_EQ(m->event_ltime, 1u);
    EXPECT_EQ(m->query_ltime, 1u);
    EXPECT_TRUE(m->left_members.empty());
    EXPECT_EQ(m->status_ltimes, (std::map<std::string, std::uint64_t>{{"s2", 0}}));
    ASSERT_EQ(m->events.size(), 512u);
    for (const auto& e : m->events) EXPECT_FALSE(e.has_value());
    EXPECT_EQ(encode(*m), raw);
}

TEST(SerfMessagesGolden, PushPullWithEventsRoundTrip) {
    msg_push_pull pp;
    pp.ltime = 9;
    pp.status_ltimes = {{"a", 3}, {"b", 4}};
    pp.left_members = {"b"};
    pp.event_ltime = 5;
    pp.events.resize(4);
    pp.events[1] = user_events_slot{1, {{"deploy", {'v', '4', '2'}}, {"x", {}}}};
    pp.query_ltime = 7;
    auto raw = encode(pp);
    auto back = decode_push_pull(raw);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, pp);
}

TEST(SerfMessagesGolden, TagsFromCaptureMeta) {
    auto t = decode_tags(hex(meta_capture));
    ASSERT_TRUE(t);
    EXPECT_EQ(*t, (tag_map{{"role", "consul"}, {"dc", "dc9"}}));
    // We emit keys sorted (Go's map order is random): same map, deterministic bytes.
    EXPECT_EQ(to_hex(encode_tags(*t)), "ff82a26463a3646339a4726f6c65a6636f6e73756c");
    EXPECT_EQ(decode_tags(encode_tags(*t)).value(), *t);
}

TEST(SerfMessagesGolden, TagsRoleFallbackAndProtocol2) {
    std::string role = "consul";
    auto t =
        decode_tags(std::span(reinterpret_cast<const std::uint8_t*>(role.data()), role.size()));
    ASSERT_TRUE(t);
    EXPECT_EQ(*t, (tag_map{{"role", "consul"}}));
    auto empty = decode_tags({});
    ASSERT_TRUE(empty);
    EXPECT_EQ(*empty, (tag_map{{"role", ""}}));
    EXPECT_EQ(encode_tags({{"role", "lb"}, {"dc", "x"}}, 2), (bytes{'l', 'b'}));
    EXPECT_TRUE(encode_tags({{"dc", "x"}}, 2).empty());
}

TEST(SerfMessagesGolden, GoOracleKeyRequest) {
    msg_key_request r;
    for (int i = 0; i < 32; ++i) r.key.push_back(static_cast<std::uint8_t>(i));
    EXPECT_EQ(to_hex(encode(r)), go_keyreq);
    EXPECT_EQ(decode_key_request(hex(go_keyreq)).value(), r);
    EXPECT_EQ(to_hex(encode(msg_key_request{})), go_keyreq_empty);
}

TEST(SerfMessagesGolden, GoOracleKeyResponses) {
    msg_key_response list{true,
                          "",
                          {"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="},
                          "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="};
    EXPECT_EQ(to_hex(encode(list)), go_keyresp_list);
    EXPECT_EQ(decode_key_response(hex(go_keyresp_list)).value(), list);
    msg_key_response err{false, "Requested key is not in the keyring", {}, ""};
    EXPECT_EQ(to_hex(encode(err)), go_keyresp_err);
    EXPECT_EQ(decode_key_response(hex(go_keyresp_err)).value(), err);
}

TEST(SerfMessagesGolden, GoOracleConflictMember) {
    msg_member m{"s1.dc9", {127, 0, 0, 1}, 8302, {{"role", "consul"}}, 1, 1, 5, 2, 2, 5, 4};
    EXPECT_EQ(to_hex(encode_conflict_response(&m)), go_member);
    auto back = decode_conflict_response(hex(go_member));
    ASSERT_TRUE(back);
    ASSERT_TRUE(back->has_value());
    EXPECT_EQ(**back, m);
    EXPECT_EQ(to_hex(encode_conflict_response(nullptr)), "06c0");
    auto nil = decode_conflict_response(hex("06c0"));
    ASSERT_TRUE(nil);
    EXPECT_FALSE(nil->has_value());
}

TEST(SerfMessagesGolden, GoOracleRelay) {
    msg_query_response inner{7, 1041139710, "s2", 0, {'p', 'o', 'n', 'g'}};
    msg_relay r{{127, 0, 0, 1}, 17946, "", "s1", encode(inner)};
    EXPECT_EQ(to_hex(encode(r)), go_relay);
    auto back = decode_relay(hex(go_relay));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, r);
    EXPECT_EQ(decode_query_response(back->inner).value(), inner);
}

TEST(SerfMessagesGolden, GoOracleFilters) {
    EXPECT_EQ(to_hex(encode_filter(node_filter{{"s1", "s2"}})), go_filter_node);
    EXPECT_EQ(to_hex(encode_filter(tag_filter{"role", "^con"})), go_filter_tag);
    auto nf = decode_filter(hex(go_filter_node));
    ASSERT_TRUE(nf);
    EXPECT_EQ(std::get<node_filter>(*nf).nodes, (std::vector<std::string>{"s1", "s2"}));
    auto tf = decode_filter(hex(go_filter_tag));
    ASSERT_TRUE(tf);
    EXPECT_EQ(std::get<tag_filter>(*tf), (tag_filter{"role", "^con"}));
}

TEST(SerfMessagesGolden, GoOracleQueryWithFiltersAndInt64Timeout) {
    msg_query q;
    q.ltime = 3;
    q.id = 99;
    q.addr = {10, 0, 0, 1};
    q.port = 8302;
    q.source_node = "a.dc1";
    q.filters = {encode_filter(node_filter{{"s1"}})};
    q.flags = 3;
    q.relay_factor = 2;
    q.timeout_ns = 8'000'000'000;
    q.name = "_serf_list-keys";
    q.payload = encode(msg_key_request{});
    EXPECT_EQ(to_hex(encode(q)), go_query_filters);
    EXPECT_EQ(decode_query(hex(go_query_filters)).value(), q);
}

// ---- corruption, per decoder
// -------------------------------------------------------------------------

template <class F>
void expect_all_prefixes_rejected(std::string_view golden, F decode) {
    auto raw = hex(golden);
    for (std::size_t n = 0; n < raw.size(); ++n) {
        auto r = decode(std::span<const std::uint8_t>(raw.data(), n));
        EXPECT_FALSE(r) << "prefix " << n;
        if (n > 1 && !r) {
            EXPECT_TRUE(r.error() == serf_errc::truncated || r.error() == serf_errc::malformed)
                << "prefix " << n << " " << to_string(r.error());
        }
    }
}

TEST(SerfMessagesCorruption, LeaveTruncated) {
    expect_all_prefixes_rejected(leave_14_9, [](auto s) { return decode_leave(s); });
}
TEST(SerfMessagesCorruption, JoinTruncated) {
    expect_all_prefixes_rejected(join_14_3, [](auto s) { return decode_join(s); });
}
TEST(SerfMessagesCorruption, UserEventTruncated) {
    expect_all_prefixes_rejected(event_14_9, [](auto s) { return decode_user_event(s); });
}
TEST(SerfMessagesCorruption, QueryTruncated) {
    expect_all_prefixes_rejected(query_frame32, [](auto s) { return decode_query(s); });
}
TEST(SerfMessagesCorruption, QueryResponseTruncated) {
    expect_all_prefixes_rejected(ack_frame31, [](auto s) { return decode_query_response(s); });
}
TEST(SerfMessagesCorruption, PushPullTruncated) {
    auto raw = push_pull_14_5();
    for (std::size_t n = 0; n < raw.size(); ++n)
        EXPECT_FALSE(decode_push_pull(std::span(raw.data(), n))) << n;
}
TEST(SerfMessagesCorruption, KeyRequestTruncated) {
    expect_all_prefixes_rejected(go_keyreq, [](auto s) { return decode_key_request(s); });
}
TEST(SerfMessagesCorruption, KeyResponseTruncated) {
    expect_all_prefixes_rejected(go_keyresp_list, [](auto s) { return decode_key_response(s); });
}
TEST(SerfMessagesCorruption, ConflictMemberTruncated) {
    expect_all_prefixes_rejected(go_member, [](auto s) { return decode_conflict_response(s); });
}
TEST(SerfMessagesCorruption, RelayHeaderTruncated) {
    auto raw = hex(go_relay);
    // The header is the first 46 bytes: every cut inside it is rejected.
    for (std::size_t n = 0; n < 46; ++n) EXPECT_FALSE(decode_relay(std::span(raw.data(), n))) << n;
}

TEST(SerfMessagesCorruption, BadTypeBytes) {
    auto leave = hex(leave_14_9);
    EXPECT_EQ(decode_join(leave).error(), serf_errc::wrong_type);
    EXPECT_EQ(decode_push_pull(leave).error(), serf_errc::wrong_type);
    EXPECT_EQ(decode_key_request(hex(go_keyresp_err)).error(), serf_errc::wrong_type);
    auto unknown = leave;
    unknown[0] = 0x0a;
    EXPECT_EQ(decode_leave(unknown).error(), serf_errc::unknown_type);
    EXPECT_EQ(peek_serf_type(unknown).error(), serf_errc::unknown_type);
    unknown[0] = 0xff;
    EXPECT_EQ(peek_serf_type(unknown).error(), serf_errc::unknown_type);
    EXPECT_EQ(peek_serf_type({}).error(), serf_errc::empty);
    EXPECT_EQ(decode_leave({}).error(), serf_errc::empty);
}

TEST(SerfMessagesCorruption, WrongFieldTypes) {
    // LTime as a string
    EXPECT_EQ(decode_join(hex("0182a54c54696d65a131a44e6f6465a27332")).error(),
              serf_errc::malformed);
    // Node as an integer
    EXPECT_EQ(decode_join(hex("0182a54c54696d6501a44e6f646501")).error(), serf_errc::malformed);
    // negative LTime
    EXPECT_EQ(decode_join(hex("0182a54c54696d65ff")).error(), serf_errc::malformed);
    // Port > 65535 in a query
    EXPECT_EQ(decode_query(hex("0481a4506f7274ce00010000")).error(), serf_errc::malformed);
    // body is not a map
    EXPECT_EQ(decode_leave(hex("0093010203")).error(), serf_errc::malformed);
    // invalid marker c1
    EXPECT_EQ(decode_leave(hex("00c1")).error(), serf_errc::malformed);
}

TEST(SerfMessagesCorruption, UnknownKeysAndNilsTolerated) {
    // {LTime 5, Extra [1,2], Node nil} -> LTime 5, Node ""
    auto m = decode_join(hex("0183a54c54696d6505a5457874726192010 2a44e6f6465c0"));
    ASSERT_TRUE(m);
    EXPECT_EQ(m->ltime, 5u);
    EXPECT_EQ(m->node, "");
}

TEST(SerfMessagesCorruption, OversizedPushPullLists) {
    // Events: array32 of 65536 entries (> max_event_slots)
    EXPECT_EQ(decode_push_pull(hex("0281a64576656e7473dd00010000")).error(), serf_errc::oversized);
    // StatusLTimes: map32 of 2^20 entries (> max_members)
    EXPECT_EQ(decode_push_pull(hex("0281ac5374617475734c54696d6573df00100000")).error(),
              serf_errc::oversized);
    // LeftMembers: array32 of 2^31 entries
    EXPECT_EQ(decode_push_pull(hex("0281ab4c6566744d656d62657273dd80000000")).error(),
              serf_errc::oversized);
    // A count that is allowed but larger than the bytes left: truncated, nothing allocated.
    EXPECT_EQ(decode_push_pull(hex("0281a64576656e7473dd00001000")).error(), serf_errc::truncated);
    // A slot with too many events
    EXPECT_EQ(decode_push_pull(hex("0281a64576656e74739181a64576656e7473dd00100000")).error(),
              serf_errc::oversized);
}

TEST(SerfMessagesCorruption, OversizedQueryFiltersAndKeys) {
    EXPECT_EQ(decode_query(hex("0481a746696c74657273dd00001000")).error(), serf_errc::oversized);
    EXPECT_EQ(decode_key_response(hex("0881a44b657973dd00010000")).error(), serf_errc::oversized);
    // raw32 claiming 4 GiB
    EXPECT_EQ(decode_user_event(hex("0381a44e616d65dbffffffff41")).error(), serf_errc::truncated);
}

TEST(SerfMessagesCorruption, BadTags) {
    EXPECT_EQ(decode_tags(hex("ff01")).error(), serf_errc::bad_tags);          // not a map
    EXPECT_EQ(decode_tags(hex("ff81a16101")).error(), serf_errc::bad_tags);    // int value
    EXPECT_EQ(decode_tags(hex("ff82a161a162")).error(), serf_errc::bad_tags);  // truncated
    EXPECT_EQ(decode_tags(hex("ffdf00010000")).error(), serf_errc::oversized);
    auto only_magic = decode_tags(hex("ff"));
    EXPECT_FALSE(only_magic);
}

TEST(SerfMessagesCorruption, BadFilters) {
    EXPECT_EQ(decode_filter({}).error(), serf_errc::empty);
    EXPECT_EQ(decode_filter(hex("0292a27331")).error(), serf_errc::unknown_type);
    EXPECT_EQ(decode_filter(hex("0092a27331")).error(), serf_errc::truncated);
    EXPECT_EQ(decode_filter(hex("0101")).error(), serf_errc::malformed);
}

TEST(SerfMessagesCorruption, RandomMutationsNeverCrash) {
    std::mt19937 rng(42);
    std::vector<std::vector<std::uint8_t>> goldens = {
        hex(join_14_3),   hex(leave_14_9),  hex(event_14_9),      hex(query_frame32),
        hex(ack_frame31), push_pull_14_5(), hex(go_keyreq),       hex(go_keyresp_list),
        hex(go_member),   hex(go_relay),    hex(go_query_filters)};
    for (int iter = 0; iter < 20000; ++iter) {
        auto m = goldens[rng() % goldens.size()];
        const int edits = 1 + static_cast<int>(rng() % 4);
        for (int e = 0; e < edits; ++e) {
            const std::size_t at = rng() % m.size();
            switch (rng() % 3) {
                case 0:
                    m[at] = static_cast<std::uint8_t>(rng());
                    break;
                case 1:
                    m.resize(at + 1);
                    break;
                case 2:
                    m.insert(m.begin() + static_cast<std::ptrdiff_t>(at),
                             static_cast<std::uint8_t>(rng()));
                    break;
            }
        }
        (void)decode_leave(m);
        (void)decode_join(m);
        (void)decode_push_pull(m);
        (void)decode_user_event(m);
        (void)decode_query(m);
        (void)decode_query_response(m);
        (void)decode_conflict_response(m);
        (void)decode_key_request(m);
        (void)decode_key_response(m);
        (void)decode_relay(m);
        (void)decode_tags(m);
        (void)decode_filter(m);
    }
}

// ---- regex (expected answers from Go's regexp.MatchString on this machine)
// ---------------------------

TEST(SerfRegex, MatchesGoRegexpTable) {
    const std::vector<std::string> texts = {
        "consul", "dc1",    "dc2", "dc10",    "",      "aaa",    "aaaa",  "a\nc",
        "1.17.0", "CONSUL", "abc", "us-east", "color", "colour", "ab",    "abab",
        "x",      "12-3x",  "c",   "az",      "-z",    "]",      "a{,2}", "{"};
    struct row {
        const char* pattern;
        const char* expect;
    };
    const row table[] = {
        {"^con", "100000000000000000000000"},
        {"consul", "100000000000000000000000"},
        {"^c.*l$", "100000000000000000000000"},
        {"dc[0-9]+", "011100000000000000000000"},
        {"^(dc1|dc2)$", "011000000000000000000000"},
        {"a{2,3}", "000001100000000000000000"},
        {"^a{2,3}$", "000001000000000000000000"},
        {"(?i)CONSUL", "100000000100000000000000"},
        {"[^a-z]", "011100011101000001001111"},
        {"\\d+\\.\\d+", "000000001000000000000000"},
        {"", "111111111111111111111111"},
        {"x*", "111111111111111111111111"},
        {"^$", "000010000000000000000000"},
        {"a|b|c", "111101110011111100110010"},
        {"(a*)*b", "000000000010001100000000"},
        {"[[:alpha:]]+$", "100001110111111111111000"},
        {"colou?r", "000000000000110000000000"},
        {"^[a-c]{2}$", "000000000000001000000000"},
        {"\\w+-\\w+", "000000000001000001000000"},
        {"a.c", "000000000010000000000000"},
        {"(?s)a.c", "000000010010000000000000"},
        {"^\\S+$", "111101101111111111111111"},
        {"^(?:ab)+$", "000000000000001100000000"},
        {"[.]", "000000001000000000000000"},
        {"[\\d-]+x", "000000000000000001000000"},
        {"b{0}c", "111100010010110000100000"},
        {"^a{1,}$", "000001100000000000000000"},
        {"(?i:DC)1", "010100000000000000000000"},
        {"[a-]z", "000000000000000000011000"},
        {"[]a]", "000001110011001100010110"},
        {"a+?b", "000000000010001100000000"},
        {"^.{3}$", "011001000010000000000000"},
        {"{", "000000000000000000000011"},
        {"a{,2}", "000000000000000000000010"},
    };
    for (const auto& r : table) {
        for (std::size_t i = 0; i < texts.size(); ++i) {
            auto m = regex_search(r.pattern, texts[i]);
            ASSERT_TRUE(m) << r.pattern;
            EXPECT_EQ(*m, r.expect[i] == '1')
                << "pattern " << r.pattern << " text '" << texts[i] << "'";
        }
    }
}

TEST(SerfRegex, InvalidPatternsFailClosed) {
    for (const char* p :
         {"(", "a**", "[z-a]", "*a", "a)", "[a", "\\", "a{1001}", "\\b", "(?P<x>a)"})
        EXPECT_FALSE(regex_search(p, "a")) << p;
    EXPECT_FALSE(regex_search(std::string(2000, 'a'), "a"));
}

TEST(SerfRegex, PathologicalPatternIsLinear) {
    // (a|a)*…b on a long run of a's: exponential for backtracking engines.
    std::string text(5000, 'a');
    auto m = regex_search("^(a|aa|a?)*(a|a)*b$", text);
    ASSERT_TRUE(m);
    EXPECT_FALSE(*m);
    auto big = regex_search("((a{100}){10}){5}", "a");  // program too large
    EXPECT_FALSE(big);
    big = regex_search("(((((((((((a)))))))))))", "a");  // nesting is fine
    EXPECT_TRUE(big && *big);
    big = regex_search(std::string(200, '(') + "a" + std::string(200, ')'), "a");  // too deep
    EXPECT_FALSE(big);
}

}  // namespace
}  // namespace meshfed::wan
