// memberlist message bodies: golden vectors of gossip-protocol.md §14 decoded and re-encoded
// byte-identically; go-msgpack decoding leniency; malformed bodies rejected.
#include "wan/wire/messages.hpp"

#include <gtest/gtest.h>

#include "tests/wan/wire_test_util.hpp"

namespace {

using namespace meshfed::wan::wire;
using meshfed::wan::wire::testing::from_hex;
using meshfed::wan::wire::testing::to_hex;

// §14.1
constexpr std::string_view ping_hex =
    "0085a44e6f6465a27331a55365714e6f01aa536f7572636541646472a47f000001aa536f757263654e6f6465a2"
    "7332aa536f75726365506f7274cd461b";
// §14.2
constexpr std::string_view ack_hex =
    "0282a75061796c6f6164da00820184aa41646a7573746d656e74cb0000000000000000a54572726f72cb3ff800"
    "0000000000a6486569676874cb3ee4f8b588e368f1a356656398cb0000000000000000cb0000000000000000cb"
    "0000000000000000cb0000000000000000cb0000000000000000cb0000000000000000cb0000000000000000cb"
    "0000000000000000a55365714e6f01";
// §14.3 part 0
constexpr std::string_view alive_s1_hex =
    "0486a441646472a47f000001ab496e6361726e6174696f6e01a44d657461b5ff82a4726f6c65a6636f6e73756c"
    "a26463a3646339a44e6f6465a27331a4506f7274cd461aa356736ea6010502020505";
// §14.9
constexpr std::string_view dead_hex =
    "0583a446726f6da27332ab496e6361726e6174696f6e01a44e6f6465a27332";

TEST(WireMessages, GoldenPingDecodesAndReencodesByteIdentical) {
    const auto wire = from_hex(ping_hex);
    ASSERT_EQ(wire.size(), 61u);
    ASSERT_EQ(wire[0], static_cast<std::uint8_t>(message_type::ping));
    auto p = decode_body<ping>(std::span(wire).subspan(1));
    ASSERT_TRUE(p);
    EXPECT_EQ(p->seq_no, 1u);
    EXPECT_EQ(p->node, "s1");
    EXPECT_EQ(p->source_addr, (bytes{127, 0, 0, 1}));
    EXPECT_EQ(p->source_port, 17947);
    EXPECT_EQ(p->source_node, "s2");
    EXPECT_EQ(to_hex(encode_message(*p)), ping_hex);
}

TEST(WireMessages, PingOmitsEmptySourceFields) {
    ping p;
    p.seq_no = 7;
    p.node = "x";
    EXPECT_EQ(to_hex(encode_message(p)), "0082a44e6f6465a178a55365714e6f07");
}

TEST(WireMessages, GoldenAckWithCoordinatePayload) {
    const auto wire = from_hex(ack_hex);
    ASSERT_EQ(wire.size(), 150u);
    auto a = decode_body<ack_resp>(std::span(wire).subspan(1));
    ASSERT_TRUE(a);
    EXPECT_EQ(a->seq_no, 1u);
    ASSERT_EQ(a->payload.size(), 130u);
    EXPECT_EQ(a->payload[0], 0x01);
    EXPECT_EQ(to_hex(encode_message(*a)), ack_hex);
}

TEST(WireMessages, AckWithNilPayloadMatchesLabelCapture) {
    // §14.8 plain labelled ack without the label header.
    ack_resp a;
    a.seq_no = 1;
    EXPECT_EQ(to_hex(encode_message(a)), "0282a75061796c6f6164c0a55365714e6f01");
}

TEST(WireMessages, GoldenAliveReencodesWithSortedKeys) {
    const auto wire = from_hex(alive_s1_hex);
    ASSERT_EQ(wire.size(), 79u);
    auto a = decode_body<alive>(std::span(wire).subspan(1));
    ASSERT_TRUE(a);
    EXPECT_EQ(a->node, "s1");
    EXPECT_EQ(a->incarnation, 1u);
    EXPECT_EQ(a->port, 17946);
    EXPECT_EQ(a->addr, (bytes{127, 0, 0, 1}));
    EXPECT_EQ(a->meta.size(), 21u);
    EXPECT_EQ(a->vsn, (bytes{1, 5, 2, 2, 5, 5}));
    EXPECT_EQ(to_hex(encode_message(*a)), alive_s1_hex);
}

TEST(WireMessages, GoldenDeadAndSuspect) {
    const auto wire = from_hex(dead_hex);
    auto d = decode_body<dead>(std::span(wire).subspan(1));
    ASSERT_TRUE(d);
    EXPECT_EQ(d->node, "s2");
    EXPECT_EQ(d->from, "s2");
    EXPECT_EQ(to_hex(encode_message(*d)), dead_hex);
    suspect s{5, "n1", "n2"};
    const auto enc = encode_message(s);
    EXPECT_EQ(to_hex(enc), "0383a446726f6da26e32ab496e6361726e6174696f6e05a44e6f6465a26e31");
    EXPECT_EQ(*decode_body<suspect>(std::span(enc).subspan(1)), s);
}

TEST(WireMessages, IndirectPingNackErrRoundTrip) {
    indirect_ping_req r;
    r.seq_no = 300;
    r.target = {10, 0, 0, 9};
    r.port = 8302;
    r.node = "srv9";
    r.nack = true;
    r.source_addr = {10, 0, 0, 1};
    r.source_port = 8302;
    r.source_node = "srv1";
    const auto enc = encode_message(r);
    EXPECT_EQ(enc[0], 1);
    EXPECT_EQ(enc[1], 0x88);  // 8 keys
    // Sorted: Nack, Node, Port, SeqNo, SourceAddr, SourceNode, SourcePort, Target.
    EXPECT_EQ(to_hex(std::span(enc).subspan(2, 5)), "a44e61636b");
    EXPECT_EQ(*decode_body<indirect_ping_req>(std::span(enc).subspan(1)), r);

    nack_resp n{77};
    EXPECT_EQ(to_hex(encode_message(n)), "0b81a55365714e6f4d");
    err_resp e{"boom"};
    const auto ee = encode_message(e);
    EXPECT_EQ(to_hex(ee), "0d81a54572726f72a4626f6f6d");
    EXPECT_EQ(decode_body<err_resp>(std::span(ee).subspan(1))->error, "boom");
}

TEST(WireMessages, PushPullHeaderAndNodeStateMatchCapture) {
    // §14.5 header + node state.
    const auto hdr = from_hex("83a44a6f696ec3a54e6f64657301ac5573657253746174654c656ecd024a");
    auto h = decode_body<push_pull_header>(hdr);
    ASSERT_TRUE(h);
    EXPECT_TRUE(h->join);
    EXPECT_EQ(h->nodes, 1);
    EXPECT_EQ(h->user_state_len, 586);
    bytes out;
    meshfed::msgpack::writer w(out);
    encode_body(w, *h);
    EXPECT_EQ(out, hdr);

    const auto node = from_hex(
        "87a441646472a47f000001ab496e6361726e6174696f6e01a44d657461b5ff82a4726f6c65a6636f6e7375"
        "6ca26463a3646339a44e616d65a27332a4506f7274cd461ba55374617465 00a356736ea6010502020505");
    auto n = decode_body<push_node_state>(node);
    ASSERT_TRUE(n);
    EXPECT_EQ(n->name, "s2");
    EXPECT_EQ(n->state, 0);
    out.clear();
    encode_body(w, *n);
    EXPECT_EQ(out, node);
}

TEST(WireMessages, DecoderAcceptsGoMsgpackVariants) {
    // Keys in any order, unknown keys skipped, SeqNo as int32 (d2), Node as str8 (d9),
    // SourceAddr as bin8 (c4), a nil value, and trailing bytes after the body.
    bytes buf;
    meshfed::msgpack::writer w(buf);
    w.write_map_header(5);
    w.write_str("Extra");
    w.write_array_header(2);
    w.write_nil();
    w.write_str("z");
    w.write_str("SeqNo");
    buf.insert(buf.end(), {0xd2, 0x00, 0x01, 0x00, 0x00});
    w.write_str("Node");
    buf.insert(buf.end(), {0xd9, 0x02, 'a', 'b'});
    w.write_str("SourceAddr");
    buf.insert(buf.end(), {0xc4, 0x04, 1, 2, 3, 4});
    w.write_str("SourceNode");
    w.write_nil();
    buf.push_back(0xff);  // trailing junk
    auto p = decode_body<ping>(buf);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->seq_no, 65536u);
    EXPECT_EQ(p->node, "ab");
    EXPECT_EQ(p->source_addr, (bytes{1, 2, 3, 4}));
    EXPECT_EQ(p->source_node, "");
}

TEST(WireMessages, ByteFieldAcceptsArrayOfSmallInts) {
    bytes buf;
    meshfed::msgpack::writer w(buf);
    w.write_map_header(1);
    w.write_str("Vsn");
    w.write_array_header(6);
    for (int v : {1, 5, 2, 2, 5, 4}) w.write_uint(v);
    auto a = decode_body<alive>(buf);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->vsn, (bytes{1, 5, 2, 2, 5, 4}));
}

TEST(WireMessages, MalformedBodiesAreRejected) {
    const std::vector<bytes> bad = {
        {},                                            // empty
        {0x91, 0x01},                                  // array, not map
        from_hex("81a55365714e6fa178"),                // SeqNo is a string
        from_hex("81a55365714e6fcf0000000100000000"),  // SeqNo > uint32
        from_hex("81a55365714e6fff"),                  // SeqNo negative
        from_hex("82a55365714e6f01"),                  // map(2) with one entry
        from_hex("81a44e6f6465a5"),                    // Node string cut short
        from_hex("8101"),                              // key is not a string
    };
    for (const auto& b : bad) {
        auto p = decode_body<ping>(b);
        ASSERT_FALSE(p) << to_hex(b);
        EXPECT_EQ(p.error(), errc::malformed_msgpack);
    }
    // Port > uint16
    EXPECT_FALSE(decode_body<alive>(from_hex("81a4506f7274ce00010000")));
}

TEST(WireMessages, DecodePacketBodyDispatchesByType) {
    const auto wire = from_hex(ping_hex);
    auto b = decode_packet_body(message_type::ping, std::span(wire).subspan(1));
    ASSERT_TRUE(b);
    EXPECT_TRUE(std::holds_alternative<ping>(*b));
    auto u = decode_packet_body(message_type::user, wire);
    ASSERT_TRUE(u);
    EXPECT_EQ(std::get<user_packet>(*u).payload, wire);
    EXPECT_EQ(decode_packet_body(message_type::push_pull, wire).error(), errc::unknown_type);
    EXPECT_EQ(decode_packet_body(message_type::ping, {}).error(), errc::malformed_msgpack);
}

TEST(WireMessages, ErrcHasCategoryAndNames) {
    std::error_code ec = errc::bad_crc;
    EXPECT_STREQ(ec.category().name(), "meshfed.wan.wire");
    EXPECT_EQ(ec.message(), "invalid checksum");
    EXPECT_EQ(to_string(message_type::push_pull), "pushPull");
}

}  // namespace
