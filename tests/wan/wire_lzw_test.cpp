// LZW (Go compress/lzw, LSB, 8-bit literals) and the compress message (type 9): round trips,
// byte-identity with Go's writer on captured data, Go's reader as oracle, bounded decoding.
#include "wan/wire/lzw.hpp"

#include <gtest/gtest.h>

#include <random>

#include "tests/wan/wire_test_util.hpp"
#include "wan/wire/messages.hpp"

namespace {

using namespace meshfed::wan::wire;
using meshfed::wan::wire::testing::from_hex;
using meshfed::wan::wire::testing::to_hex;

// §14.4: CRC + compress{Algo 0, Buf(141)} of a 164-byte compound of two alive messages.
constexpr std::string_view compressed_gossip_hex =
    "0cc15703f50982a4416c676f00a3427566da008d000f0800f084200143a48290212387d41f000002ac4ae2664c"
    "18396ec2d049f3c64d00524dcad00953eb9f205272deb029636a4cc73975d88822336614cd1ca49cbc215346d4"
    "1c19a4a0bc9143a799910da3accc71632a400101020a1438987061c387112756bc987163c78f2147963c997265"
    "cb973167d6bc997367cf3931820e2d6a4443d2a54d9f462d1010";

bytes random_bytes(std::size_t n, std::uint32_t seed, int alphabet = 256) {
    std::mt19937 rng(seed);
    bytes out(n);
    for (auto& b : out) b = static_cast<std::uint8_t>(rng() % alphabet);
    return out;
}

TEST(WireLzw, EmptyInputIsClearThenEof) {
    // clear (256) then eof (257) in 9-bit LSB codes: 0x100 | 0x101 << 9 -> 00 03 02
    EXPECT_EQ(to_hex(lzw_compress({})), "000302");
    auto back = lzw_decompress(lzw_compress({}), 100);
    ASSERT_TRUE(back);
    EXPECT_TRUE(back->empty());
}

TEST(WireLzw, RoundTripsAcrossTableResetsAndWidths) {
    const std::vector<bytes> inputs = {
        bytes{0x41},
        bytes(1, 0),
        bytes(5000, 0x61),  // long runs: KwKwK codes, width growth
        random_bytes(100, 1),
        random_bytes(20000, 2),     // many table resets
        random_bytes(70000, 3, 4),  // small alphabet: long strings
        random_bytes(200000, 4, 16),
    };
    for (const auto& in : inputs) {
        const auto c = lzw_compress(in);
        auto back = lzw_decompress(c, in.size());
        ASSERT_TRUE(back) << in.size();
        EXPECT_EQ(*back, in);
        // One byte less than needed -> limit error.
        if (!in.empty()) {
            EXPECT_EQ(lzw_decompress(c, in.size() - 1).error(), errc::decompression_limit);
        }
    }
}

TEST(WireLzw, DecompressesGoMadeGossipFromCapture) {
    const auto wire = from_hex(compressed_gossip_hex);
    ASSERT_EQ(wire.size(), 161u);
    ASSERT_EQ(wire[5], 0x09);
    auto inner = decompress_message(std::span(wire).subspan(6), 1 << 20);
    ASSERT_TRUE(inner);
    EXPECT_EQ(inner->size(), 164u);
    EXPECT_EQ((*inner)[0], 0x07);  // compound
    // Our compressor reproduces Go's output byte for byte.
    EXPECT_EQ(to_hex(compress_message(*inner)), to_hex(std::span(wire).subspan(5)));
}

TEST(WireLzw, GoCompressedPushPullFromCaptureIsByteIdentical) {
    const auto dir = meshfed::wan::wire::testing::captures_dir() / "serf-plain-compressed";
    if (!std::filesystem::exists(dir / "tcp.tsv")) GTEST_SKIP() << "captures not found: " << dir;
    const auto rows = meshfed::wan::wire::testing::read_tsv(dir / "tcp.tsv");
    ASSERT_FALSE(rows.empty());
    for (const auto& row : rows) {
        if (row.payload.empty() || row.payload[0] != 0x09) continue;
        auto plain = decompress_message(std::span(row.payload).subspan(1), 40u << 20);
        ASSERT_TRUE(plain);
        EXPECT_EQ(plain->size(), 702u);
        EXPECT_EQ((*plain)[0], 0x06);
        EXPECT_EQ(to_hex(compress_message(*plain)), to_hex(row.payload));
    }
}

TEST(WireLzw, GoReaderDecodesOurOutput) {
    if (!meshfed::wan::wire::testing::have_gossipdecode())
        GTEST_SKIP() << "gossipdecode not built ("
                     << meshfed::wan::wire::testing::gossipdecode_path() << "); run scripts/setup";
    // A big compound-free user message exercises resets: 12 KiB random -> several resets.
    for (std::uint32_t seed : {11u, 12u}) {
        bytes msg{0x08};
        const auto body = random_bytes(12000, seed, seed == 11 ? 256 : 8);
        msg.insert(msg.end(), body.begin(), body.end());
        const auto c = compress_message(msg);
        auto out = meshfed::wan::wire::testing::run_gossipdecode(to_hex(c));
        ASSERT_TRUE(out);
        const std::string want = "-> " + std::to_string(msg.size()) + " bytes (err=<nil>)";
        EXPECT_NE(out->find(want), std::string::npos) << out->substr(0, 600);
    }
}

TEST(WireLzw, GarbageNeverCrashesAndIsBadCompression) {
    std::mt19937 rng(99);
    int ok = 0;
    for (int i = 0; i < 3000; ++i) {
        auto junk = random_bytes(1 + rng() % 300, rng());
        auto r = lzw_decompress(junk, 1 << 16);
        if (r) {
            ++ok;
        } else {
            EXPECT_TRUE(r.error() == errc::bad_compression ||
                        r.error() == errc::decompression_limit);
        }
    }
    SUCCEED() << ok << " random inputs happened to decode";
}

TEST(WireLzw, TruncatedStreamWithoutEofIsBadCompression) {
    const auto c = lzw_compress(random_bytes(500, 5));
    for (std::size_t cut : {std::size_t{0}, std::size_t{1}, c.size() / 2, c.size() - 1}) {
        auto r = lzw_decompress(std::span(c).first(cut), 1 << 20);
        ASSERT_FALSE(r) << cut;
        EXPECT_EQ(r.error(), errc::bad_compression);
    }
}

TEST(WireLzw, CodeBeyondTableIsBadCompression) {
    // clear, then code 300 (> next free code 258) at 9 bits.
    const std::uint32_t codes = 256u | (300u << 9);
    const bytes b{static_cast<std::uint8_t>(codes), static_cast<std::uint8_t>(codes >> 8),
                  static_cast<std::uint8_t>(codes >> 16)};
    EXPECT_EQ(lzw_decompress(b, 100).error(), errc::bad_compression);
}

TEST(WireLzw, CompressionBombStopsAtLimit) {
    // 4 MiB of zeros compresses to a few KiB; decoding with a 1 MiB cap must stop early.
    const bytes zeros(4u << 20, 0);
    const auto c = lzw_compress(zeros);
    EXPECT_LT(c.size(), 64u * 1024);
    EXPECT_EQ(lzw_decompress(c, 1u << 20).error(), errc::decompression_limit);
    EXPECT_EQ(lzw_decompress(c, 4u << 20)->size(), zeros.size());
}

TEST(WireLzw, CompressMessageErrors) {
    // Unknown algorithm.
    compress_msg m{1, lzw_compress(bytes{1, 2, 3})};
    auto enc = encode_message(m);
    EXPECT_EQ(decompress_message(std::span(enc).subspan(1), 100).error(), errc::bad_compression);
    // Empty result is rejected (upstream memberlist).
    compress_msg e{0, lzw_compress({})};
    auto enc2 = encode_message(e);
    EXPECT_EQ(decompress_message(std::span(enc2).subspan(1), 100).error(), errc::bad_compression);
    // Not a map / cut short.
    EXPECT_EQ(decompress_message(bytes{0x91, 0x00}, 100).error(), errc::bad_compression);
    EXPECT_EQ(decompress_message(bytes{0x82, 0xa4}, 100).error(), errc::bad_compression);
    std::size_t used = 0;
    EXPECT_EQ(decompress_message_prefix(bytes{0x82, 0xa4}, 100, used).error(), errc::incomplete);
}

}  // namespace
