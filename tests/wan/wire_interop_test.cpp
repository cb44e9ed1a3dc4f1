// Interop: every datagram and stream of the real-traffic captures decodes with no drops and every
// msgpack body re-encodes byte-identically; our encoder's output is decoded by the Go reference
// annotator (gossipdecode, built from memberlist/serf sources) as the oracle.
#include <gtest/gtest.h>

#include "tests/wan/wire_test_util.hpp"
#include "wan/wire/framing.hpp"
#include "wan/wire/packet.hpp"
#include "wan/wire/stream.hpp"

namespace {

using namespace meshfed::wan::wire;
namespace t = meshfed::wan::wire::testing;
namespace fs = std::filesystem;

constexpr std::string_view doc_key_b64 = "rGIPt7bScsbddgm1QvL24tsgJygmi9DQG2xKkVWiAnA=";

bytes reencode(const packet_body& b) {
    return std::visit(
        [](const auto& m) -> bytes {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, user_packet>) {
                return encode_user_packet(m.payload);
            } else {
                return encode_message(m);
            }
        },
        b);
}

TEST(WireInterop, EveryCapturedDatagramDecodesAndReencodesByteIdentically) {
    const auto root = t::captures_dir();
    if (!fs::exists(root)) GTEST_SKIP() << "captures not found: " << root;
    const auto key = *decode_base64_key(doc_key_b64);
    const auto kr = *keyring::create(key);
    std::size_t datagrams = 0, messages = 0;
    for (const auto& dir : fs::directory_iterator(root)) {
        const auto tsv = dir.path() / "udp.tsv";
        if (!fs::exists(tsv)) continue;
        const bool has_key = fs::exists(dir.path() / "KEY.txt");
        if (has_key) {
            ASSERT_EQ(t::read_text(dir.path() / "KEY.txt"), doc_key_b64);
        }
        const bool labelled = dir.path().filename().string().find("label") != std::string::npos;
        for (const auto& row : t::read_tsv(tsv)) {
            SCOPED_TRACE(dir.path().filename().string() + " frame " + row.columns[0]);
            ASSERT_GE(row.columns.size(), 4u);
            const std::string& src = row.columns[1];
            packet_decode_options opts;
            // The label capture mixes encrypted (1960x) and plaintext (1961x) peer pairs.
            const bool encrypted = has_key && (!labelled || src.starts_with("1960"));
            opts.keys = encrypted ? &kr : nullptr;
            opts.label = labelled ? "wan-test" : "";
            wire_stats stats;
            auto r = decode_packet(row.payload, opts, stats);
            ASSERT_TRUE(r) << to_string(r.error()) << " " << t::to_hex(row.payload);
            EXPECT_EQ(stats.total_dropped(), 0u);
            EXPECT_EQ(r->encrypted, encrypted);
            ++datagrams;
            for (const auto& m : r->messages) {
                bytes original{static_cast<std::uint8_t>(m.type)};
                original.insert(original.end(), m.body.begin(), m.body.end());
                EXPECT_EQ(t::to_hex(reencode(m.decoded)), t::to_hex(original));
                ++messages;
            }
        }
    }
    EXPECT_GT(datagrams, 100u);
    EXPECT_GT(messages, datagrams);
}

TEST(WireInterop, EveryCapturedStreamDecodes) {
    const auto root = t::captures_dir();
    if (!fs::exists(root)) GTEST_SKIP() << "captures not found: " << root;
    const auto kr = *keyring::create(*decode_base64_key(doc_key_b64));
    std::size_t streams = 0;
    for (const auto& dir : fs::directory_iterator(root)) {
        const auto tsv = dir.path() / "tcp.tsv";
        if (!fs::exists(tsv)) continue;
        const bool labelled = dir.path().filename().string().find("label") != std::string::npos;
        std::map<std::string, bytes> dirs;
        std::map<std::string, std::string> src_of;
        for (const auto& row : t::read_tsv(tsv)) {
            const std::string k = row.columns[1] + ":" + row.columns[2] + ">" + row.columns[3];
            dirs[k].insert(dirs[k].end(), row.payload.begin(), row.payload.end());
            src_of[k] = row.columns[2];
        }
        for (const auto& [k, raw] : dirs) {
            SCOPED_TRACE(dir.path().filename().string() + " " + k);
            stream_decode_options opts;
            const bool enc =
                !raw.empty() && (raw[0] == 0x0a || (raw.size() > 10 && raw[10] == 0x0a));
            opts.keys = enc ? &kr : nullptr;
            opts.label = labelled ? "wan-test" : "";
            // Listener ports are the agents' (179xx/196xx); dialers use ephemeral ports.
            const int src = std::stoi(src_of[k]);
            opts.accept_label_header = src > 30000;
            wire_stats stats;
            auto m = decode_stream(raw, opts, true, stats);
            if (labelled && k.starts_with("1:")) {  // the "other"-labelled dialer
                ASSERT_FALSE(m);
                EXPECT_EQ(m.error(), errc::bad_label);
                continue;
            }
            ASSERT_TRUE(m) << to_string(m.error());
            EXPECT_EQ(m->consumed, raw.size());
            EXPECT_EQ(m->type, message_type::push_pull);
            ++streams;
        }
    }
    EXPECT_GE(streams, 9u);
}

#define REQUIRE_ORACLE()                                                             \
    if (!t::have_gossipdecode())                                                     \
    GTEST_SKIP() << "Go oracle gossipdecode not found at " << t::gossipdecode_path() \
                 << " (build ../shared/interop with scripts/setup)"

std::vector<bytes> sample_messages() {
    std::vector<bytes> msgs;
    msgs.push_back(encode_message(ping{42, "srv2.dc1", {10, 1, 2, 3}, 8302, "srv1.dc1"}));
    msgs.push_back(encode_message(alive{7,
                                        "srv1.dc1",
                                        {10, 1, 2, 3},
                                        8302,
                                        bytes{0xff, 0x81, 0xa2, 'd', 'c', 0xa3, 'd', 'c', '1'},
                                        {1, 5, 2, 2, 5, 4}}));
    msgs.push_back(encode_message(suspect{3, "srv3.dc2", "srv1.dc1"}));
    msgs.push_back(encode_message(dead{4, "srv4.dc2", "srv4.dc2"}));
    msgs.push_back(encode_message(
        indirect_ping_req{5, {10, 9, 9, 9}, 8302, "srv9", true, {10, 1, 2, 3}, 8302, "srv1.dc1"}));
    msgs.push_back(encode_message(nack_resp{5}));
    msgs.push_back(encode_message(ack_resp{42, bytes(64, 0)}));
    msgs.push_back(encode_user_packet(bytes{0x01, 0x82, 0xa5, 'L', 'T', 'i', 'm', 'e', 0x01, 0xa4,
                                            'N', 'o', 'd', 'e', 0xa2, 's', '2'}));
    return msgs;
}

TEST(WireInterop, GoOracleDecodesOurPacketsInEveryPipelineVariant) {
    REQUIRE_ORACLE();
    const auto kr = *keyring::create(*decode_base64_key(doc_key_b64));
    const auto msgs = sample_messages();
    for (bool compress : {false, true}) {
        for (bool encrypt : {false, true}) {
            for (std::string_view label : {"", "wan-test"}) {
                for (std::uint8_t vsn : {0, 1}) {
                    if (!encrypt && vsn == 0) continue;
                    packet_encode_options eo{.compress = compress,
                                             .crc = true,
                                             .keys = encrypt ? &kr : nullptr,
                                             .encryption_version = vsn,
                                             .label = label};
                    auto d = encode_packet(msgs, eo);
                    ASSERT_TRUE(d);
                    std::string args;
                    if (encrypt) args += "-key " + std::string(doc_key_b64) + " ";
                    if (!label.empty()) args += "-label " + std::string(label) + " ";
                    auto out = t::run_gossipdecode(args + t::to_hex(*d));
                    ASSERT_TRUE(out);
                    SCOPED_TRACE(*out);
                    if (encrypt) {
                        EXPECT_NE(out->find("decrypted with key #0"), std::string::npos);
                    }
                    if (compress) {
                        EXPECT_NE(out->find("(err=<nil>)"), std::string::npos);
                    }
                    EXPECT_NE(out->find(": true"), std::string::npos);  // CRC verified
                    EXPECT_NE(out->find("compound: 8 parts"), std::string::npos);
                    for (const char* name : {"= ping", "= alive", "= suspect", "= dead",
                                             "= indirectPing", "= nackResp", "= ackResp"}) {
                        EXPECT_NE(out->find(name), std::string::npos) << name;
                    }
                    EXPECT_EQ(out->find(": false"), std::string::npos);
                    EXPECT_EQ(out->find("panic"), std::string::npos);
                }
            }
        }
    }
}

TEST(WireInterop, GoOracleDecodesOurStreams) {
    REQUIRE_ORACLE();
    const auto kr = *keyring::create(*decode_base64_key(doc_key_b64));
    push_pull pp;
    pp.join = true;
    for (int i = 0; i < 3; ++i) {
        pp.nodes.push_back(push_node_state{"srv" + std::to_string(i),
                                           {10, 0, 0, 1},
                                           static_cast<std::uint16_t>(8302 + i),
                                           {},
                                           1,
                                           i,
                                           {1, 5, 2, 2, 5, 4}});
    }
    pp.user_state = bytes{0x02, 0x80};
    for (bool compress : {false, true}) {
        for (bool encrypt : {false, true}) {
            for (std::string_view label : {"", "wan-test"}) {
                auto wire = encode_stream(encode_push_pull(pp), {.compress = compress,
                                                                 .keys = encrypt ? &kr : nullptr,
                                                                 .label = label,
                                                                 .write_label_header = true});
                ASSERT_TRUE(wire);
                std::string args = "-stream ";
                if (encrypt) args += "-key " + std::string(doc_key_b64) + " ";
                if (!label.empty()) args += "-label " + std::string(label) + " ";
                auto out = t::run_gossipdecode(args + t::to_hex(*wire));
                ASSERT_TRUE(out);
                SCOPED_TRACE(*out);
                EXPECT_NE(out->find("pushPullHeader"), std::string::npos);
                EXPECT_NE(out->find("pushNodeState[2]"), std::string::npos);
                EXPECT_NE(out->find("user state (2 bytes"), std::string::npos);
                if (encrypt) {
                    EXPECT_NE(out->find("decrypted with key #0"), std::string::npos);
                }
                EXPECT_EQ(out->find("panic"), std::string::npos);
            }
        }
    }
}

}  // namespace
