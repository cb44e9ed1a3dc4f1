// compound (type 7), CRC32 (type 12) and label header (0xf4) framing.
#include "wan/wire/framing.hpp"

#include <gtest/gtest.h>

#include "tests/wan/wire_test_util.hpp"
#include "wan/wire/messages.hpp"

namespace {

using namespace meshfed::wan::wire;
using meshfed::wan::wire::testing::from_hex;
using meshfed::wan::wire::testing::to_hex;

// §14.3 (189 bytes): CRC + compound of alive s1, alive s2, serf join intent.
constexpr std::string_view gossip_hex =
    "0cfeeade9f0703004f004f00120486a441646472a47f000001ab496e6361726e6174696f6e01a44d657461b5ff"
    "82a4726f6c65a6636f6e73756ca26463a3646339a44e6f6465a27331a4506f7274cd461aa356736ea601050202"
    "05050486a441646472a47f000001ab496e6361726e6174696f6e01a44d657461b5ff82a4726f6c65a6636f6e73"
    "756ca26463a3646339a44e6f6465a27332a4506f7274cd461ba356736ea6010502020505080182a54c54696d65"
    "01a44e6f6465a27332";

TEST(WireFraming, GoldenCrcCompoundParsesAndRebuildsIdentically) {
    const auto wire = from_hex(gossip_hex);
    ASSERT_EQ(wire.size(), 189u);
    auto inner = strip_crc(wire);
    ASSERT_TRUE(inner);
    ASSERT_EQ(inner->size(), 184u);
    ASSERT_EQ((*inner)[0], 7);
    auto parts = parse_compound(inner->subspan(1));
    ASSERT_TRUE(parts);
    ASSERT_EQ(parts->parts.size(), 3u);
    EXPECT_EQ(parts->truncated, 0u);
    EXPECT_EQ(parts->parts[0].size(), 79u);
    EXPECT_EQ(parts->parts[2].size(), 18u);
    EXPECT_EQ(parts->parts[2][0], 8);  // user

    std::vector<bytes> copies;
    for (auto p : parts->parts) copies.emplace_back(p.begin(), p.end());
    auto rebuilt = make_compound(copies);
    ASSERT_TRUE(rebuilt);
    EXPECT_EQ(to_hex(add_crc(*rebuilt)), gossip_hex);
}

TEST(WireFraming, Crc32IeeeKnownValues) {
    const std::string_view check = "123456789";
    EXPECT_EQ(crc32_ieee({reinterpret_cast<const std::uint8_t*>(check.data()), check.size()}),
              0xcbf43926u);
    EXPECT_EQ(crc32_ieee({}), 0u);
}

TEST(WireFraming, CrcMismatchIsBadCrc) {
    auto wire = from_hex(gossip_hex);
    wire[100] ^= 0x01;
    EXPECT_EQ(strip_crc(wire).error(), errc::bad_crc);
    auto wire2 = from_hex(gossip_hex);
    wire2[2] ^= 0x80;  // the checksum itself
    EXPECT_EQ(strip_crc(wire2).error(), errc::bad_crc);
}

TEST(WireFraming, CrcShorterThanFiveBytesIsPassedThrough) {
    const bytes short_crc{0x0c, 0x00, 0x00};
    auto r = strip_crc(short_crc);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->size(), 3u);
    // Exactly 5 bytes: CRC of the empty message (0) matches, leaving nothing.
    const bytes empty_inner{0x0c, 0, 0, 0, 0};
    EXPECT_EQ(strip_crc(empty_inner)->size(), 0u);
}

TEST(WireFraming, CompoundTruncatedKeepsCompleteParts) {
    std::vector<bytes> msgs = {bytes{4, 1, 2}, bytes{5, 3}, bytes{3, 9, 9, 9}};
    auto c = *make_compound(msgs);
    EXPECT_EQ(to_hex(c), "0703000300020004040102050303090909");
    // Cut inside the third part.
    std::span<const std::uint8_t> cut(c.data() + 1, c.size() - 3);
    auto parts = parse_compound(cut);
    ASSERT_TRUE(parts);
    EXPECT_EQ(parts->parts.size(), 2u);
    EXPECT_EQ(parts->truncated, 1u);
    // Cut inside the first part: all three are truncated.
    auto none = parse_compound(std::span<const std::uint8_t>(c.data() + 1, 8));
    ASSERT_TRUE(none);
    EXPECT_EQ(none->parts.size(), 0u);
    EXPECT_EQ(none->truncated, 3u);
}

TEST(WireFraming, CompoundTruncatedHeaderIsError) {
    EXPECT_EQ(parse_compound({}).error(), errc::truncated);
    const bytes two_parts_one_len{2, 0, 1, 0};
    EXPECT_EQ(parse_compound(two_parts_one_len).error(), errc::truncated);
    const bytes zero_parts{0};
    EXPECT_TRUE(parse_compound(zero_parts)->parts.empty());
}

TEST(WireFraming, CompoundLimits) {
    std::vector<bytes> many(256, bytes{4});
    EXPECT_EQ(make_compound(many).error(), errc::too_many_parts);
    auto split = make_compounds(many);
    ASSERT_TRUE(split);
    ASSERT_EQ(split->size(), 2u);
    EXPECT_EQ((*split)[0][1], 255);
    EXPECT_EQ((*split)[1][1], 1);
    std::vector<bytes> big = {bytes(65536, 8)};
    EXPECT_EQ(make_compound(big).error(), errc::oversized);
    std::vector<bytes> max = {bytes(65535, 8)};
    EXPECT_TRUE(make_compound(max));
    std::vector<bytes> empty = {bytes{}};
    EXPECT_EQ(make_compound(empty).error(), errc::empty_message);
}

TEST(WireFraming, LabelHeaderAddAndRead) {
    const bytes msg{0x02, 0x80};
    auto l = add_label_header(msg, "wan-test");
    ASSERT_TRUE(l);
    EXPECT_EQ(to_hex(*l), "f40877616e2d746573740280");
    auto split = read_label_header(*l);
    ASSERT_TRUE(split);
    EXPECT_TRUE(split->had_header);
    EXPECT_EQ(split->label, "wan-test");
    EXPECT_EQ(to_hex(split->rest), "0280");
    EXPECT_EQ(*add_label_header(msg, ""), msg);
    EXPECT_EQ(label_overhead("wan-test"), 10u);
    EXPECT_EQ(label_overhead(""), 0u);
    EXPECT_EQ(add_label_header(msg, std::string(256, 'x')).error(), errc::oversized);
    EXPECT_TRUE(add_label_header(msg, std::string(255, 'x')));
}

TEST(WireFraming, MalformedLabelHeaders) {
    EXPECT_EQ(read_label_header(bytes{0xf4}).error(), errc::malformed_label);
    EXPECT_EQ(read_label_header(bytes{0xf4, 0x00, 0x02}).error(), errc::malformed_label);
    EXPECT_EQ(read_label_header(bytes{0xf4, 0x05, 'a', 'b'}).error(), errc::malformed_label);
    auto plain = read_label_header(bytes{0x00, 0x80});
    ASSERT_TRUE(plain);
    EXPECT_FALSE(plain->had_header);
}

TEST(WireFraming, LabelAcceptanceRules) {
    split_label none;
    split_label ours{"wan-test", {}, true};
    split_label other{"other", {}, true};
    // We have a label: unlabelled and differently labelled input are rejected.
    EXPECT_EQ(*check_label(ours, "wan-test", false), "wan-test");
    EXPECT_EQ(check_label(none, "wan-test", false).error(), errc::bad_label);
    EXPECT_EQ(check_label(other, "wan-test", false).error(), errc::bad_label);
    // We have none: labelled input is rejected, unlabelled accepted.
    EXPECT_EQ(check_label(ours, "", false).error(), errc::bad_label);
    EXPECT_EQ(*check_label(none, "", false), "");
    // SkipInboundLabelCheck: unlabelled input gets our label; labelled input is rejected.
    EXPECT_EQ(*check_label(none, "wan-test", true), "wan-test");
    EXPECT_EQ(check_label(ours, "wan-test", true).error(), errc::bad_label);
}

}  // namespace
