// UDP pipeline: encode_packet/decode_packet on the §14 golden datagrams (decoded, and re-encoded
// byte-identically where the pipeline is deterministic) plus one named corruption test per drop
// reason, each asserting its wire_stats counter.
#include "wan/wire/packet.hpp"

#include <gtest/gtest.h>

#include "tests/wan/wire_test_util.hpp"
#include "wan/wire/framing.hpp"
#include "wan/wire/lzw.hpp"

namespace {

using namespace meshfed::wan::wire;
using meshfed::wan::wire::testing::from_hex;
using meshfed::wan::wire::testing::to_hex;

constexpr std::string_view doc_key_b64 = "rGIPt7bScsbddgm1QvL24tsgJygmi9DQG2xKkVWiAnA=";
constexpr std::string_view ping_hex =
    "0085a44e6f6465a27331a55365714e6f01aa536f7572636541646472a47f000001aa536f757263654e6f6465a2"
    "7332aa536f75726365506f7274cd461b";
constexpr std::string_view gossip_crc_hex =
    "0cfeeade9f0703004f004f00120486a441646472a47f000001ab496e6361726e6174696f6e01a44d657461b5ff"
    "82a4726f6c65a6636f6e73756ca26463a3646339a44e6f6465a27331a4506f7274cd461aa356736ea601050202"
    "05050486a441646472a47f000001ab496e6361726e6174696f6e01a44d657461b5ff82a4726f6c65a6636f6e73"
    "756ca26463a3646339a44e6f6465a27332a4506f7274cd461ba356736ea6010502020505080182a54c54696d65"
    "01a44e6f6465a27332";
constexpr std::string_view compressed_gossip_hex =
    "0cc15703f50982a4416c676f00a3427566da008d000f0800f084200143a48290212387d41f000002ac4ae2664c"
    "18396ec2d049f3c64d00524dcad00953eb9f205272deb029636a4cc73975d88822336614cd1ca49cbc215346d4"
    "1c19a4a0bc9143a799910da3accc71632a400101020a1438987061c387112756bc987163c78f2147963c997265"
    "cb973167d6bc997367cf3931820e2d6a4443d2a54d9f462d1010";
constexpr std::string_view enc_ping_hex =
    "0103281b1fa6c1c562d86b76c59debaa31c3f5e35676d086f06e264acb1aa3b3e32d507607f4f44a4e043ea767"
    "51bb4079971fcd990180767768413e6641a9610068058ef5126e9729d6cecb18b757aad532efd057ce1c7c19d3";
constexpr std::string_view label_enc_ping_hex =
    "f40877616e2d7465737401f8ab8359e0bf43ef3814c4b9d204d14a072600679ec40057fe42b73a845cac887b1f"
    "5f549ba79870c524845499b54bdb65a3a84b922f46d72a8cb647ed53d8e1b8df6526264386536c911484515"
    "9d1e3d8a15560307dc73a92";
constexpr std::string_view label_ack_hex =
    "f40877616e2d746573740282a75061796c6f6164c0a55365714e6f01";
constexpr std::string_view ping_user_compound_hex =
    "0702003d00260085a44e6f6465a27331a55365714e6f02aa536f7572636541646472a47f000001aa536f757263"
    "654e6f6465a27332aa536f75726365506f7274cd461b080384a24343c3a54c54696d6501a44e616d65a6646570"
    "6c6f79a75061796c6f6164a3763432";
constexpr std::string_view leave_intent_hex =
    "0c62575b82080083a54c54696d6502a44e6f6465a27332a55072756e65c2";

keyring doc_keyring() {
    return *keyring::create(*decode_base64_key(doc_key_b64));
}

struct fixture : ::testing::Test {
    wire_stats stats;
    packet_decode_options opts;

    std::expected<decoded_packet, errc> decode(std::span<const std::uint8_t> d) {
        return decode_packet(d, opts, stats);
    }
    // Asserts the datagram is dropped with `reason` and that exactly that counter moved.
    void expect_drop(std::span<const std::uint8_t> d, errc reason) {
        wire_stats before = stats;
        auto r = decode(d);
        ASSERT_FALSE(r) << "expected drop " << to_string(reason);
        EXPECT_EQ(r.error(), reason) << to_string(r.error());
        EXPECT_EQ(stats.count(reason), before.count(reason) + 1);
        EXPECT_EQ(stats.total_dropped(), before.total_dropped() + 1);
    }
};

using WirePacket = fixture;

TEST_F(WirePacket, GoldenPlainPing) {
    const auto d = from_hex(ping_hex);
    auto r = decode(d);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->messages.size(), 1u);
    EXPECT_EQ(r->messages[0].type, message_type::ping);
    EXPECT_EQ(std::get<ping>(r->messages[0].decoded).source_node, "s2");
    EXPECT_FALSE(r->had_crc || r->compressed || r->encrypted);
    EXPECT_EQ(stats.packets_accepted, 1u);
    // Re-encode: no CRC for pings, compression on but a ping does not get smaller.
    auto again = encode_packet(encode_message(std::get<ping>(r->messages[0].decoded)),
                               packet_encode_options{.compress = true});
    ASSERT_TRUE(again);
    EXPECT_EQ(to_hex(*again), ping_hex);
}

TEST_F(WirePacket, GoldenCrcCompoundGossip) {
    const auto d = from_hex(gossip_crc_hex);
    auto r = decode(d);
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->had_crc);
    ASSERT_EQ(r->messages.size(), 3u);
    EXPECT_EQ(std::get<alive>(r->messages[0].decoded).node, "s1");
    EXPECT_EQ(std::get<alive>(r->messages[1].decoded).node, "s2");
    EXPECT_EQ(r->messages[2].type, message_type::user);
    EXPECT_EQ(to_hex(std::get<user_packet>(r->messages[2].decoded).payload),
              "0182a54c54696d6501a44e6f6465a27332");
    std::vector<bytes> msgs;
    for (const auto& m : r->messages) {
        bytes b{static_cast<std::uint8_t>(m.type)};
        b.insert(b.end(), m.body.begin(), m.body.end());
        msgs.push_back(std::move(b));
    }
    auto again = encode_packet(msgs, packet_encode_options{.crc = true});
    ASSERT_TRUE(again);
    EXPECT_EQ(to_hex(*again), gossip_crc_hex);
}

TEST_F(WirePacket, GoldenCompressedGossipAndByteIdenticalReencode) {
    const auto d = from_hex(compressed_gossip_hex);
    auto r = decode(d);
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->had_crc);
    EXPECT_TRUE(r->compressed);
    ASSERT_EQ(r->messages.size(), 2u);
    EXPECT_EQ(std::get<alive>(r->messages[0].decoded).node, "s2");
    EXPECT_EQ(std::get<alive>(r->messages[1].decoded).node, "s1");
    std::vector<bytes> msgs;
    for (const auto& m : r->messages) msgs.push_back(encode_message(std::get<alive>(m.decoded)));
    auto again = encode_packet(msgs, packet_encode_options{.compress = true, .crc = true});
    ASSERT_TRUE(again);
    EXPECT_EQ(to_hex(*again), compressed_gossip_hex);
}

TEST_F(WirePacket, GoldenPingWithPiggybackedUserEventAndLeaveIntent) {
    auto r = decode(from_hex(ping_user_compound_hex));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->messages.size(), 2u);
    EXPECT_EQ(std::get<ping>(r->messages[0].decoded).seq_no, 2u);
    EXPECT_EQ(r->messages[1].type, message_type::user);
    auto l = decode(from_hex(leave_intent_hex));
    ASSERT_TRUE(l);
    EXPECT_EQ(l->messages.size(), 1u);
    EXPECT_EQ(l->messages[0].body[0], 0x00);  // serf leave intent
}

TEST_F(WirePacket, GoldenEncryptedPing) {
    const auto kr = doc_keyring();
    opts.keys = &kr;
    auto r = decode(from_hex(enc_ping_hex));
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->encrypted);
    ASSERT_EQ(r->messages.size(), 1u);
    EXPECT_EQ(std::get<ping>(r->messages[0].decoded).source_port, 17956);
}

TEST_F(WirePacket, GoldenLabelAndEncryption) {
    const auto kr = doc_keyring();
    opts.keys = &kr;
    opts.label = "wan-test";
    auto r = decode(from_hex(label_enc_ping_hex));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->label, "wan-test");
    EXPECT_TRUE(r->encrypted);
    EXPECT_EQ(std::get<ping>(r->messages[0].decoded).node, "lb");
}

TEST_F(WirePacket, GoldenLabelledPlainAckReencodes) {
    opts.label = "wan-test";
    auto r = decode(from_hex(label_ack_hex));
    ASSERT_TRUE(r);
    EXPECT_EQ(std::get<ack_resp>(r->messages[0].decoded).seq_no, 1u);
    auto again = encode_packet(encode_message(std::get<ack_resp>(r->messages[0].decoded)),
                               packet_encode_options{.label = "wan-test"});
    EXPECT_EQ(to_hex(*again), label_ack_hex);
}

TEST_F(WirePacket, EncryptedRoundTripWithLabelCrcAndCompression) {
    const auto kr = doc_keyring();
    std::vector<bytes> msgs;
    for (int i = 0; i < 20; ++i) {
        alive a{static_cast<std::uint32_t>(i),
                "node" + std::to_string(i),
                {10, 0, 0, 1},
                8302,
                {},
                {1, 5, 2, 2, 5, 4}};
        msgs.push_back(encode_message(a));
    }
    packet_encode_options eo{.compress = true, .crc = true, .keys = &kr, .label = "dc-wan"};
    auto d = encode_packet(msgs, eo);
    ASSERT_TRUE(d);
    EXPECT_EQ((*d)[0], 0xf4);
    opts.keys = &kr;
    opts.label = "dc-wan";
    auto r = decode(*d);
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->encrypted && r->had_crc && r->compressed);
    ASSERT_EQ(r->messages.size(), 20u);
    EXPECT_EQ(std::get<alive>(r->messages[19].decoded).node, "node19");
    EXPECT_EQ(packet_overhead(eo), 8u + 5u + 29u);
}

TEST_F(WirePacket, VerifyIncomingFalseAcceptsPlaintext) {
    const auto kr = doc_keyring();
    opts.keys = &kr;
    opts.verify_incoming = false;
    auto r = decode(from_hex(ping_hex));
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->encrypted);
    EXPECT_EQ(r->messages.size(), 1u);
}

TEST_F(WirePacket, EncodeErrors) {
    EXPECT_EQ(encode_packet(std::span<const bytes>{}, {}).error(), errc::invalid_argument);
    EXPECT_EQ(encode_packet(bytes{}, {}).error(), errc::empty_message);
    std::vector<bytes> many(256, bytes{0x08, 0x01});
    EXPECT_EQ(encode_packet(many, {}).error(), errc::too_many_parts);
    EXPECT_EQ(encode_packet(bytes(70000, 8), {}).error(), errc::oversized);
    EXPECT_EQ(encode_packet(bytes{8, 1}, {.label = std::string(256, 'l')}).error(),
              errc::oversized);
}

// ---- named corruption tests --------------------------------------------------------------------

TEST_F(WirePacket, DropEmptyDatagram) {
    expect_drop(bytes{}, errc::empty_message);
}

TEST_F(WirePacket, DropOversizedDatagram) {
    expect_drop(bytes(udp_receive_buffer_size + 1, 0x08), errc::oversized);
}

TEST_F(WirePacket, DropLabelledPacketWhenWeHaveNoLabel) {
    expect_drop(from_hex(label_ack_hex), errc::bad_label);
}

TEST_F(WirePacket, DropUnlabelledPacketWhenWeHaveALabel) {
    opts.label = "wan-test";
    expect_drop(from_hex(ping_hex), errc::bad_label);
}

TEST_F(WirePacket, DropDifferentLabel) {
    opts.label = "wan-tesT";
    expect_drop(from_hex(label_ack_hex), errc::bad_label);
}

TEST_F(WirePacket, SkipInboundLabelCheckAssumesOurLabel) {
    const auto kr = doc_keyring();
    opts.keys = &kr;
    opts.label = "wan-test";
    opts.skip_inbound_label_check = true;
    // Strip the header: decryption still uses "wan-test" as AD.
    auto d = from_hex(label_enc_ping_hex);
    auto r = decode(std::span(d).subspan(10));
    ASSERT_TRUE(r);
    expect_drop(d, errc::bad_label);  // labelled input is rejected in this mode
}

TEST_F(WirePacket, DropMalformedLabelHeader) {
    expect_drop(bytes{0xf4, 0x00, 0x00, 0x80}, errc::malformed_label);
    expect_drop(bytes{0xf4}, errc::malformed_label);
    expect_drop(bytes{0xf4, 0x09, 'w'}, errc::malformed_label);
}

TEST_F(WirePacket, DropWrongKey) {
    auto kr = *keyring::create(bytes(32, 0x11));
    opts.keys = &kr;
    expect_drop(from_hex(enc_ping_hex), errc::decrypt_failed);
}

TEST_F(WirePacket, DropBadTag) {
    const auto kr = doc_keyring();
    opts.keys = &kr;
    auto d = from_hex(enc_ping_hex);
    d.back() ^= 0xff;
    expect_drop(d, errc::decrypt_failed);
}

TEST_F(WirePacket, DropLabelUsedAsWrongAdditionalData) {
    // Encrypted with label AD "wan-test" but delivered with the header rewritten to "wan-tesx".
    const auto kr = doc_keyring();
    opts.keys = &kr;
    opts.label = "wan-tesx";
    auto d = from_hex(label_enc_ping_hex);
    d[9] = 'x';
    expect_drop(d, errc::decrypt_failed);
}

TEST_F(WirePacket, DropPlaintextWhenEncryptionRequired) {
    const auto kr = doc_keyring();
    opts.keys = &kr;
    // A 61-byte plaintext ping starts with 0x00 = "version 0" and fails authentication.
    expect_drop(from_hex(ping_hex), errc::decrypt_failed);
    // A plaintext ack starts with 0x02: unsupported encryption version.
    expect_drop(from_hex(std::string_view(label_ack_hex).substr(20)),
                errc::unsupported_encryption_version);
}

TEST_F(WirePacket, DropEncryptedTooShort) {
    const auto kr = doc_keyring();
    opts.keys = &kr;
    expect_drop(bytes(28, 0x01), errc::truncated);
}

TEST_F(WirePacket, DropBadCrc) {
    auto d = from_hex(gossip_crc_hex);
    d[50] ^= 0x40;
    expect_drop(d, errc::bad_crc);
}

TEST_F(WirePacket, DropCrcOfNothing) {
    expect_drop(bytes{0x0c, 0, 0, 0, 0}, errc::empty_message);
}

TEST_F(WirePacket, DropUnknownTypes) {
    for (std::uint8_t t : {6, 10, 13, 14, 200, 255}) {
        SCOPED_TRACE(int(t));
        expect_drop(bytes{t, 0x80}, errc::unknown_type);
    }
}

TEST_F(WirePacket, DropMalformedMsgpackBody) {
    expect_drop(bytes{0x00, 0x81, 0xa5, 'S', 'e', 'q', 'N', 'o', 0xa1, 'x'},
                errc::malformed_msgpack);
    expect_drop(bytes{0x04, 0x86}, errc::malformed_msgpack);
}

TEST_F(WirePacket, DecodeBodiesOffDeliversRawSpans) {
    opts.decode_bodies = false;
    auto r = decode(bytes{0x00, 0x81, 0xa5, 'S', 'e', 'q', 'N', 'o', 0xa1, 'x'});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->messages[0].body.size(), 9u);
}

TEST_F(WirePacket, TruncatedCompoundDeliversCompletePartsAndCounts) {
    auto d = from_hex(gossip_crc_hex);
    d.resize(d.size() - 5);  // cut the last (user) part; recompute the CRC
    auto inner = std::span(d).subspan(5);
    auto with_crc = add_crc(inner);
    auto r = decode(with_crc);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->messages.size(), 2u);
    EXPECT_EQ(r->truncated_parts, 1u);
    EXPECT_EQ(stats.truncated_parts, 1u);
    EXPECT_EQ(stats.count(errc::truncated), 1u);
}

TEST_F(WirePacket, DropTruncatedCompoundHeader) {
    expect_drop(bytes{0x07}, errc::truncated);
    expect_drop(bytes{0x07, 0x03, 0x00, 0x01}, errc::truncated);
}

TEST_F(WirePacket, CompoundWithBadPartsDeliversTheGoodOnes) {
    std::vector<bytes> parts = {encode_message(nack_resp{1}), bytes{0x0c, 1, 2, 3, 4, 5},
                                bytes{0x00, 0x91}, encode_message(nack_resp{2})};
    auto c = *make_compound(parts);
    auto r = decode(c);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->messages.size(), 2u);
    EXPECT_EQ(r->dropped_parts, 2u);
    EXPECT_EQ(stats.count(errc::unknown_type), 1u);  // nested hasCrc is not allowed
    EXPECT_EQ(stats.count(errc::malformed_msgpack), 1u);
    // Empty part (memberlist would index out of range here).
    bytes with_empty{0x07, 0x02, 0x00, 0x00, 0x00, 0x02, 0x0b, 0x80};
    auto r2 = decode(with_empty);
    ASSERT_TRUE(r2);
    EXPECT_EQ(r2->messages.size(), 1u);
    EXPECT_EQ(stats.count(errc::empty_message), 1u);
}

TEST_F(WirePacket, DropBadCompression) {
    compress_msg garbage{0, bytes{0xff, 0xff, 0xff, 0xff}};
    expect_drop(encode_message(garbage), errc::bad_compression);
    compress_msg algo{7, lzw_compress(encode_message(nack_resp{1}))};
    expect_drop(encode_message(algo), errc::bad_compression);
    expect_drop(bytes{0x09, 0x80}, errc::bad_compression);  // no Buf: empty result
}

TEST_F(WirePacket, DropNestedCompressBomb) {
    bytes msg = encode_message(nack_resp{1});
    for (int i = 0; i < 6; ++i) msg = compress_message(msg);
    expect_drop(msg, errc::too_deep);
    // Nesting through compounds counts too: the too-deep part is dropped (and counted).
    bytes c = encode_message(nack_resp{1});
    for (int i = 0; i < 6; ++i) c = *make_compound(std::vector<bytes>{c});
    auto nested = decode(c);
    ASSERT_TRUE(nested);
    EXPECT_TRUE(nested->messages.empty());
    EXPECT_EQ(nested->dropped_parts, 1u);
    EXPECT_EQ(stats.count(errc::too_deep), 2u);
    // Within the limit it is fine.
    bytes ok = encode_message(nack_resp{1});
    for (int i = 0; i < 3; ++i) ok = compress_message(ok);
    EXPECT_TRUE(decode(ok));
}

TEST_F(WirePacket, DropDecompressionBomb) {
    bytes big{0x08};
    big.resize(2u << 20, 0);  // 2 MiB user message of zeros
    const auto bomb = compress_message(big);
    ASSERT_LT(bomb.size(), 65536u);
    expect_drop(bomb, errc::decompression_limit);
    // Several compressed parts share one budget per datagram.
    bytes medium{0x08};
    medium.resize(600u << 10, 0);
    const auto part = compress_message(medium);
    auto c = *make_compound(std::vector<bytes>{part, part});
    auto r = decode(c);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->messages.size(), 1u);
    EXPECT_EQ(stats.count(errc::decompression_limit), 2u);
}

}  // namespace
