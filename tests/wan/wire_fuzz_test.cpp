// Deterministic fuzz-style robustness test: a few thousand random and mutated buffers (fixed
// seed) through decode_packet, decode_stream, lzw_decompress and the msgpack body decoders.
// Asserts no crash (run under ASan/UBSan) and that every rejected datagram/stream was counted.
#include <gtest/gtest.h>

#include <random>

#include "tests/wan/wire_test_util.hpp"
#include "wan/wire/framing.hpp"
#include "wan/wire/lzw.hpp"
#include "wan/wire/packet.hpp"
#include "wan/wire/stream.hpp"

namespace {

using namespace meshfed::wan::wire;
namespace t = meshfed::wan::wire::testing;

constexpr std::string_view doc_key_b64 = "rGIPt7bScsbddgm1QvL24tsgJygmi9DQG2xKkVWiAnA=";

std::vector<bytes> seeds(const keyring& kr) {
    std::vector<bytes> s;
    s.push_back(t::from_hex(
        "0cfeeade9f0703004f004f00120486a441646472a47f000001ab496e6361726e6174696f6e01a44d657461"
        "b5ff82a4726f6c65a6636f6e73756ca26463a3646339a44e6f6465a27331a4506f7274cd461aa356736ea6"
        "0105020205050486a441646472a47f000001ab496e6361726e6174696f6e01a44d657461b5ff82a4726f6c"
        "65a6636f6e73756ca26463a3646339a44e6f6465a27332a4506f7274cd461ba356736ea601050202050508"
        "0182a54c54696d6501a44e6f6465a27332"));
    std::vector<bytes> msgs = {
        encode_message(ping{1, "a", {1, 2, 3, 4}, 7, "b"}),
        encode_message(alive{1, "n", {1, 2, 3, 4}, 9, {1}, {1, 5, 2, 2, 5, 4}}),
        encode_message(ack_resp{3, bytes(20, 0)}), encode_user_packet(bytes{1, 2, 3})};
    s.push_back(*encode_packet(msgs, {.compress = true, .crc = true}));
    s.push_back(*encode_packet(msgs, {.compress = true, .crc = true, .keys = &kr}));
    s.push_back(*encode_packet(msgs, {.crc = true, .label = "wan-test"}));
    push_pull pp{true,
                 {push_node_state{"n", {1, 2, 3, 4}, 5, {}, 1, 0, {1, 5, 2, 2, 5, 4}}},
                 bytes{2, 0x80}};
    s.push_back(encode_push_pull(pp));
    s.push_back(*encode_stream(encode_push_pull(pp), {}));
    s.push_back(*encode_stream(encode_push_pull(pp), {.keys = &kr}));
    s.push_back(
        *encode_stream(encode_user_stream(bytes{9, 9}),
                       {.compress = false, .label = "wan-test", .write_label_header = true}));
    return s;
}

void mutate(bytes& b, std::mt19937& rng) {
    const int ops = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < ops; ++i) {
        switch (rng() % 6) {
            case 0:
                if (!b.empty()) b[rng() % b.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
                break;
            case 1:
                if (!b.empty()) b[rng() % b.size()] = static_cast<std::uint8_t>(rng());
                break;
            case 2:
                if (!b.empty()) b.resize(rng() % b.size());
                break;
            case 3:
                b.insert(b.begin() + static_cast<std::ptrdiff_t>(b.empty() ? 0 : rng() % b.size()),
                         static_cast<std::uint8_t>(rng()));
                break;
            case 4: {  // interesting values
                static const std::uint8_t vals[] = {0x00, 0x07, 0x09, 0x0a, 0x0c, 0xf4, 0xff,
                                                    0xc0, 0xdb, 0xdd, 0xdf, 0xcf, 0x7f, 0x80};
                if (!b.empty()) b[rng() % b.size()] = vals[rng() % std::size(vals)];
                break;
            }
            default:
                if (b.size() > 2) {  // duplicate a slice
                    const std::size_t a = rng() % b.size();
                    const std::size_t n = std::min<std::size_t>(rng() % 64, b.size() - a);
                    bytes slice(b.begin() + static_cast<std::ptrdiff_t>(a),
                                b.begin() + static_cast<std::ptrdiff_t>(a + n));
                    b.insert(b.end(), slice.begin(), slice.end());
                }
        }
    }
}

TEST(WireFuzz, RandomAndMutatedInputsNeverCrashAndAreCounted) {
    const auto kr = *keyring::create(*decode_base64_key(doc_key_b64));
    const auto corpus = seeds(kr);
    std::mt19937 rng(0x5eed);
    wire_stats stats;
    std::uint64_t packet_calls = 0, packet_ok = 0, stream_calls = 0, stream_ok = 0;

    for (int iter = 0; iter < 4000; ++iter) {
        bytes b;
        if (iter % 4 == 0) {
            b.resize(rng() % 200);
            for (auto& x : b) x = static_cast<std::uint8_t>(rng());
        } else {
            b = corpus[rng() % corpus.size()];
            mutate(b, rng);
        }
        // UDP with a few option sets.
        for (int variant = 0; variant < 3; ++variant) {
            packet_decode_options po;
            if (variant == 1) po.keys = &kr;
            if (variant == 2) {
                po.keys = &kr;
                po.verify_incoming = false;
                po.label = "wan-test";
                po.skip_inbound_label_check = (iter % 2) == 0;
            }
            auto r = decode_packet(b, po, stats);
            ++packet_calls;
            if (r) {
                ++packet_ok;
                for (const auto& m : r->messages) ASSERT_LE(m.body.size(), 1u << 20);
            }
        }
        // Streams: partial and at EOF.
        for (int variant = 0; variant < 2; ++variant) {
            stream_decode_options so;
            so.keys = variant ? &kr : nullptr;
            so.verify_incoming = variant == 0;
            so.label = (iter % 3 == 0) ? "wan-test" : "";
            so.max_decompressed_size = 1u << 20;
            auto r = decode_stream(b, so, (iter % 2) == 0, stats);
            ++stream_calls;
            if (r) {
                ++stream_ok;
                ASSERT_LE(r->consumed, b.size());
            }
        }
        // Raw codecs.
        (void)lzw_decompress(b, 1u << 16);
        (void)parse_compound(b);
        (void)decode_body<push_node_state>(b);
        (void)decode_body<indirect_ping_req>(b);
    }
    // Every failed decode_packet call was counted exactly once (plus nested part drops).
    EXPECT_GE(stats.total_dropped(), packet_calls - packet_ok);
    EXPECT_EQ(stats.packets_accepted, packet_ok);
    EXPECT_EQ(stats.streams_accepted, stream_ok);
    EXPECT_GT(packet_ok, 0u);
    EXPECT_GT(stream_ok, 0u);
}

}  // namespace
