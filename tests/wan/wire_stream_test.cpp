// TCP stream side: push/pull, user, ping/ack/err messages through compression, encryption and
// the label header; golden captures (plain, compressed, encrypted, labelled) decoded and
// re-encoded byte-identically; incremental buffering; named corruption tests.
#include "wan/wire/stream.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "tests/wan/wire_test_util.hpp"
#include "wan/wire/framing.hpp"

namespace {

using namespace meshfed::wan::wire;
using meshfed::wan::wire::testing::from_hex;
using meshfed::wan::wire::testing::to_hex;
namespace fs = std::filesystem;

constexpr std::string_view doc_key_b64 = "rGIPt7bScsbddgm1QvL24tsgJygmi9DQG2xKkVWiAnA=";

keyring doc_keyring() {
    return *keyring::create(*decode_base64_key(doc_key_b64));
}

// Concatenates the TCP payloads of each (stream, source port) direction, in capture order.
std::vector<std::pair<std::string, bytes>> directions(const fs::path& tsv) {
    std::vector<std::pair<std::string, bytes>> out;
    for (const auto& row : meshfed::wan::wire::testing::read_tsv(tsv)) {
        if (row.columns.size() < 5) continue;
        const std::string key = row.columns[1] + ":" + row.columns[2] + ">" + row.columns[3];
        auto it = std::ranges::find_if(out, [&](auto& p) { return p.first == key; });
        if (it == out.end()) {
            out.emplace_back(key, bytes{});
            it = out.end() - 1;
        }
        it->second.insert(it->second.end(), row.payload.begin(), row.payload.end());
    }
    return out;
}

fs::path capture(std::string_view name) {
    return meshfed::wan::wire::testing::captures_dir() / name / "tcp.tsv";
}

#define REQUIRE_CAPTURE(p) \
    if (!fs::exists(p)) GTEST_SKIP() << "captures not found: " << (p)

struct WireStream : ::testing::Test {
    wire_stats stats;
    stream_decode_options opts;

    std::expected<stream_message, errc> decode(std::span<const std::uint8_t> in, bool eof = true) {
        return decode_stream(in, opts, eof, stats);
    }
    void expect_drop(std::span<const std::uint8_t> in, errc reason, bool eof = true) {
        const wire_stats before = stats;
        auto r = decode(in, eof);
        ASSERT_FALSE(r) << "expected " << to_string(reason);
        EXPECT_EQ(r.error(), reason) << to_string(r.error());
        EXPECT_EQ(stats.count(reason), before.count(reason) + 1);
        EXPECT_EQ(stats.total_dropped(), before.total_dropped() + 1);
    }
};

void check_serf_push_pull(const stream_message& m, std::string_view node) {
    ASSERT_EQ(m.type, message_type::push_pull);
    const auto& pp = std::get<push_pull>(m.body);
    EXPECT_TRUE(pp.join);
    ASSERT_EQ(pp.nodes.size(), 1u);
    EXPECT_EQ(pp.nodes[0].name, node);
    EXPECT_EQ(pp.nodes[0].state, 0);
    EXPECT_EQ(pp.nodes[0].vsn.size(), 6u);
    EXPECT_EQ(pp.user_state.size(), 586u);
    EXPECT_EQ(pp.user_state[0], 0x02);  // serf pushPull
}

TEST_F(WireStream, GoldenPlainPushPullBothDirectionsReencodeIdentically) {
    const auto p = capture("serf-plain-nocompression");
    REQUIRE_CAPTURE(p);
    auto dirs = directions(p);
    ASSERT_EQ(dirs.size(), 2u);
    const char* names[] = {"s2", "s1"};
    for (std::size_t i = 0; i < 2; ++i) {
        const auto& raw = dirs[i].second;
        ASSERT_EQ(raw.size(), 702u);
        auto m = decode(raw);
        ASSERT_TRUE(m) << to_string(m.error());
        EXPECT_EQ(m->consumed, 702u);
        EXPECT_FALSE(m->compressed || m->encrypted);
        check_serf_push_pull(*m, names[i]);
        const auto msg = encode_push_pull(std::get<push_pull>(m->body));
        EXPECT_EQ(to_hex(msg), to_hex(raw));
        auto framed = encode_stream(msg, {.compress = false});
        EXPECT_EQ(*framed, raw);
    }
}

TEST_F(WireStream, GoldenCompressedPushPullReencodesIdentically) {
    const auto p = capture("serf-plain-compressed");
    REQUIRE_CAPTURE(p);
    for (const auto& [key, raw] : directions(p)) {
        ASSERT_EQ(raw.size(), 234u);
        auto m = decode(raw);
        ASSERT_TRUE(m) << to_string(m.error());
        EXPECT_TRUE(m->compressed);
        EXPECT_EQ(m->consumed, 234u);
        ASSERT_EQ(m->type, message_type::push_pull);
        auto framed = encode_stream(encode_push_pull(std::get<push_pull>(m->body)), {});
        EXPECT_EQ(to_hex(*framed), to_hex(raw)) << key;
    }
}

TEST_F(WireStream, GoldenEncryptedPushPull) {
    const auto p = capture("serf-encrypted");
    REQUIRE_CAPTURE(p);
    const auto kr = doc_keyring();
    opts.keys = &kr;
    auto dirs = directions(p);
    ASSERT_EQ(dirs.size(), 2u);
    ASSERT_EQ(dirs[0].second.size(), 268u);
    EXPECT_EQ(to_hex(std::span(dirs[0].second).first(18)), "0a0000010701deed6b05f2fd7b6ce3062ee0");
    for (const auto& [key, raw] : dirs) {
        auto m = decode(raw);
        ASSERT_TRUE(m) << key << " " << to_string(m.error());
        EXPECT_TRUE(m->encrypted);
        EXPECT_TRUE(m->compressed);
        EXPECT_EQ(m->consumed, raw.size());
        EXPECT_EQ(m->type, message_type::push_pull);
    }
    // Without keys / with the wrong key.
    opts.keys = nullptr;
    expect_drop(dirs[0].second, errc::encryption_not_configured);
    auto wrong = *keyring::create(bytes(32, 9));
    opts.keys = &wrong;
    expect_drop(dirs[0].second, errc::decrypt_failed);
}

TEST_F(WireStream, GoldenLabelledStreams) {
    const auto p = capture("memberlist-v0.5.1-label");
    REQUIRE_CAPTURE(p);
    const auto kr = doc_keyring();
    auto dirs = directions(p);
    ASSERT_EQ(dirs.size(), 5u);
    std::map<std::string, bytes> by_key(dirs.begin(), dirs.end());
    opts.label = "wan-test";
    // Stream 0: plain, labelled request; unlabelled reply.
    auto req = decode(by_key.at("0:45802>19611"));
    ASSERT_TRUE(req) << to_string(req.error());
    EXPECT_TRUE(req->had_label_header);
    EXPECT_EQ(req->type, message_type::push_pull);
    opts.accept_label_header = false;
    auto reply = decode(by_key.at("0:19611>45802"));
    ASSERT_TRUE(reply) << to_string(reply.error());
    EXPECT_FALSE(reply->had_label_header);
    // Stream 1: label "other" -> rejected by a "wan-test" listener.
    opts.accept_label_header = true;
    expect_drop(by_key.at("1:45812>19611"), errc::bad_label);
    // Stream 2: label + encryption; AD = header || label on both directions.
    opts.keys = &kr;
    auto ereq = decode(by_key.at("2:45966>19601"));
    ASSERT_TRUE(ereq) << to_string(ereq.error());
    EXPECT_TRUE(ereq->encrypted && ereq->had_label_header);
    EXPECT_EQ(std::get<push_pull>(ereq->body).nodes[0].name, "lb");
    opts.accept_label_header = false;
    auto ereply = decode(by_key.at("2:19601>45966"));
    ASSERT_TRUE(ereply) << to_string(ereply.error());
    ASSERT_FALSE(std::get<push_pull>(ereply->body).nodes.empty());
    EXPECT_EQ(std::get<push_pull>(ereply->body).nodes[0].name, "la");
    // Reading the reply with the wrong label fails authentication.
    opts.label = "wan-tesT";
    expect_drop(by_key.at("2:19601>45966"), errc::decrypt_failed);
}

TEST_F(WireStream, RoundTripEveryMessageKindThroughEveryFraming) {
    const auto kr = doc_keyring();
    push_pull pp;
    pp.join = false;
    for (int i = 0; i < 50; ++i) {
        push_node_state n;
        n.name = "srv" + std::to_string(i) + ".dc1";
        n.addr = {10, 0, 0, static_cast<std::uint8_t>(i)};
        n.port = 8302;
        n.meta = bytes(40, 0x20);
        n.incarnation = static_cast<std::uint32_t>(i * 3);
        n.state = i % 4;
        n.vsn = {1, 5, 2, 2, 5, 4};
        pp.nodes.push_back(n);
    }
    pp.user_state = bytes(3000, 0xc0);
    const std::vector<std::pair<message_type, bytes>> msgs = {
        {message_type::push_pull, encode_push_pull(pp)},
        {message_type::user, encode_user_stream(bytes{1, 2, 3})},
        {message_type::ping, encode_message(ping{9, "x", {}, 0, {}})},
        {message_type::ack_resp, encode_message(ack_resp{9, {}})},
        {message_type::err, encode_message(err_resp{"nope"})},
    };
    for (bool compress : {false, true}) {
        for (bool encrypt : {false, true}) {
            for (bool label : {false, true}) {
                stream_encode_options eo{.compress = compress,
                                         .keys = encrypt ? &kr : nullptr,
                                         .label = label ? "L1" : "",
                                         .write_label_header = label};
                opts.keys = encrypt ? &kr : nullptr;
                opts.label = label ? "L1" : "";
                for (const auto& [type, msg] : msgs) {
                    auto wire = encode_stream(msg, eo);
                    ASSERT_TRUE(wire);
                    auto m = decode(*wire);
                    ASSERT_TRUE(m)
                        << int(type) << compress << encrypt << label << " " << to_string(m.error());
                    EXPECT_EQ(m->type, type);
                    EXPECT_EQ(m->consumed, wire->size());
                    EXPECT_EQ(m->compressed, compress);
                    EXPECT_EQ(m->encrypted, encrypt);
                    if (type == message_type::push_pull) {
                        EXPECT_EQ(std::get<push_pull>(m->body), pp);
                    } else if (type == message_type::user) {
                        EXPECT_EQ(std::get<user_stream>(m->body).payload, (bytes{1, 2, 3}));
                    } else if (type == message_type::err) {
                        EXPECT_EQ(std::get<err_resp>(m->body).error, "nope");
                    }
                }
            }
        }
    }
}

TEST_F(WireStream, IncrementalBufferReportsIncompleteUntilWhole) {
    push_pull pp;
    pp.nodes.resize(3, push_node_state{"n", {1, 2, 3, 4}, 1, {}, 1, 0, {1, 5, 2, 2, 5, 4}});
    pp.user_state = bytes(100, 7);
    const auto kr = doc_keyring();
    for (const keyring* k : {static_cast<const keyring*>(nullptr), &kr}) {
        for (bool compress : {false, true}) {
            auto wire = *encode_stream(
                encode_push_pull(pp),
                {.compress = compress, .keys = k, .label = "lbl", .write_label_header = true});
            opts.keys = k;
            opts.label = "lbl";
            for (std::size_t n = 0; n < wire.size(); ++n) {
                auto r = decode(std::span(wire).first(n), false);
                ASSERT_FALSE(r) << n;
                ASSERT_EQ(r.error(), errc::incomplete) << n << " " << to_string(r.error());
            }
            EXPECT_EQ(stats.total_dropped(), 0u);
            // Extra bytes after the message are left for the caller.
            auto more = wire;
            more.push_back(0xee);
            auto r = decode(more, false);
            ASSERT_TRUE(r);
            EXPECT_EQ(r->consumed, wire.size());
        }
    }
}

// ---- named corruption tests --------------------------------------------------------------------

TEST_F(WireStream, DropTruncatedAtEof) {
    auto wire = encode_push_pull(push_pull{true, {}, bytes(10, 1)});
    wire.pop_back();
    expect_drop(wire, errc::truncated);
    expect_drop(bytes{}, errc::truncated);
}

TEST_F(WireStream, DropPlaintextWhenEncryptionRequired) {
    const auto kr = doc_keyring();
    opts.keys = &kr;
    expect_drop(encode_message(ping{1, "", {}, 0, {}}), errc::not_encrypted);
    opts.verify_incoming = false;
    EXPECT_TRUE(decode(encode_message(ping{1, "", {}, 0, {}})));
}

TEST_F(WireStream, DropOversizedEncryptedLength) {
    const auto kr = doc_keyring();
    opts.keys = &kr;
    // L = 20 MiB + 1: rejected before waiting for (or allocating) the body.
    expect_drop(bytes{0x0a, 0x01, 0x40, 0x00, 0x01, 0x01}, errc::oversized, false);
}

TEST_F(WireStream, DropEncryptedFrameTooShortOrBadVersion) {
    const auto kr = doc_keyring();
    opts.keys = &kr;
    expect_drop(bytes{0x0a, 0, 0, 0, 0}, errc::truncated);
    bytes v9{0x0a, 0, 0, 0, 30, 9};
    v9.resize(35, 0);
    expect_drop(v9, errc::unsupported_encryption_version);
}

TEST_F(WireStream, DropTamperedEncryptedLengthPrefix) {
    const auto kr = doc_keyring();
    opts.keys = &kr;
    auto wire =
        *encode_stream(encode_message(ping{1, "a", {}, 0, {}}), {.compress = false, .keys = &kr});
    // Append a byte and grow L by one: the length is authenticated, so this fails.
    wire.push_back(0);
    wire[4] += 1;
    expect_drop(wire, errc::decrypt_failed);
}

TEST_F(WireStream, DropOversizedPushPullCounts) {
    bytes nodes{0x06};
    meshfed::msgpack::writer w(nodes);
    encode_body(w, push_pull_header{max_push_pull_nodes + 1, 0, false});
    expect_drop(nodes, errc::oversized, false);
    bytes user{0x06};
    meshfed::msgpack::writer w2(user);
    encode_body(w2, push_pull_header{0, max_user_state_bytes + 1, false});
    expect_drop(user, errc::oversized, false);
    bytes umsg{0x08};
    meshfed::msgpack::writer w3(umsg);
    encode_body(w3, user_msg_header{std::int64_t{1} << 40});
    expect_drop(umsg, errc::oversized, false);
}

TEST_F(WireStream, DropNegativeCounts) {
    bytes neg{0x06};
    meshfed::msgpack::writer w(neg);
    encode_body(w, push_pull_header{-1, 0, false});
    expect_drop(neg, errc::malformed_msgpack);
}

TEST_F(WireStream, HugeNodeCountWithLittleDataIsIncompleteNotAllocation) {
    bytes hdr{0x06};
    meshfed::msgpack::writer w(hdr);
    encode_body(w, push_pull_header{max_push_pull_nodes, 0, true});
    auto r = decode(hdr, false);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), errc::incomplete);
    expect_drop(hdr, errc::truncated, true);
}

TEST_F(WireStream, DropUnknownStreamTypes) {
    expect_drop(encode_message(alive{}), errc::unknown_type);
    expect_drop(bytes{0x07, 0x00}, errc::unknown_type);  // compound is UDP only
    expect_drop(bytes{0xf5, 0x00}, errc::unknown_type);
    // A label header where none is expected (reply side) is just an unknown type.
    opts.accept_label_header = false;
    expect_drop(bytes{0xf4, 0x01, 'a', 0x00, 0x80}, errc::unknown_type);
    // Compress inside compress is not unwrapped by memberlist.
    auto twice = compress_message(compress_message(encode_message(ping{})));
    expect_drop(twice, errc::unknown_type);
}

TEST_F(WireStream, DropBadLabelHeaders) {
    expect_drop(bytes{0xf4, 0x00, 0x00}, errc::malformed_label);
    expect_drop(bytes{0xf4, 0x02, 'a', 'b', 0x00, 0x80}, errc::bad_label);
    opts.label = "ab";
    expect_drop(encode_message(ping{}), errc::bad_label);  // we need a label, none sent
    auto r = decode(bytes{0xf4, 0x02, 'a', 'b', 0x00, 0x80});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->consumed, 6u);
}

TEST_F(WireStream, DropBadCompressionAndBombs) {
    compress_msg garbage{0, bytes{0xff, 0xfe, 0xfd}};
    expect_drop(encode_message(garbage), errc::bad_compression);
    opts.max_decompressed_size = 1u << 20;
    bytes big = encode_user_stream(bytes(2u << 20, 0));
    expect_drop(compress_message(big), errc::decompression_limit);
    // Compressed message whose inner message is cut short.
    auto inner = encode_push_pull(push_pull{true, {}, bytes(10, 1)});
    inner.resize(inner.size() - 3);
    expect_drop(compress_message(inner), errc::truncated);
}

TEST_F(WireStream, DropMalformedBodies) {
    expect_drop(bytes{0x00, 0x91, 0x00}, errc::malformed_msgpack);
    // Join is an integer, not a bool.
    expect_drop(bytes{0x06, 0x81, 0xa4, 'J', 'o', 'i', 'n', 0x01}, errc::malformed_msgpack);
    // Structurally incomplete object at EOF is truncation, not malformation.
    expect_drop(bytes{0x06, 0x83, 0xa4, 'J', 'o', 'i', 'n', 0xc3}, errc::truncated);
}

TEST_F(WireStream, DropOversizedPlainStream) {
    opts.max_plain_size = 64;
    bytes partial = encode_user_stream(bytes(100, 1));
    partial.resize(80);
    expect_drop(partial, errc::oversized, false);
}

}  // namespace
