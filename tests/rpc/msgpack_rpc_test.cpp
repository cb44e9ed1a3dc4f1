// msgpack-rpc codec: golden bytes (captured from the Go codec with `rpcpeer -dump`), incremental
// decoding, named corruption cases, and the Consul shape helpers.
#include "rpc/msgpack_rpc.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace meshfed::rpc {
namespace {

using bytes = std::vector<std::uint8_t>;

bytes cat(std::initializer_list<bytes> parts) {
    bytes out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

bytes str(std::string_view s) {
    return bytes(s.begin(), s.end());
}

// Status.Ping request, Seq 1, exactly as the Go client (consul-net-rpc codec, go-msgpack 0.5.5)
// writes it: struct keys sorted by name.
const bytes ping_request = cat({{0x82, 0xa3},
                                str("Seq"),
                                {0x01, 0xad},
                                str("ServiceMethod"),
                                {0xab},
                                str("Status.Ping"),
                                {0x80}});
// Its reply: Error "" first (sorted), then Seq, ServiceMethod; body struct{}.
const bytes ping_response = cat({{0x83, 0xa5},
                                 str("Error"),
                                 {0xa0, 0xa3},
                                 str("Seq"),
                                 {0x01, 0xad},
                                 str("ServiceMethod"),
                                 {0xab},
                                 str("Status.Ping"),
                                 {0x80}});

TEST(MsgpackRpcTest, StatusPingRequestGoldenBytes) {
    bytes out;
    const std::uint8_t body[] = {empty_struct_body};
    encode_request(out, "Status.Ping", 1, body);
    EXPECT_EQ(out, ping_request);
    EXPECT_EQ(out.size(), 33u);  // the Go client's yamux data frame length (0x21)
}

TEST(MsgpackRpcTest, StatusPingResponseGoldenBytes) {
    bytes out;
    const std::uint8_t body[] = {empty_struct_body};
    encode_response(out, "Status.Ping", 1, "", body);
    EXPECT_EQ(out, ping_response);
    bytes err;
    encode_error_response(err, "Status.Ping", 1, "");
    EXPECT_EQ(err, ping_response);
}

TEST(MsgpackRpcTest, DecodesDocumentOrderAndUnknownKeys) {
    // consul-wanfed.md §1.5 writes ServiceMethod first; decoders must accept any order.
    const bytes doc_order = cat({{0x83, 0xad},
                                 str("ServiceMethod"),
                                 {0xab},
                                 str("Status.Ping"),
                                 {0xa3},
                                 str("Seq"),
                                 {0x07, 0xa5},
                                 str("Extra"),
                                 {0x92, 0x01, 0x02},
                                 {0x80}});
    request_decoder d;
    d.feed(doc_order);
    auto m = d.next();
    ASSERT_TRUE(m.has_value());
    ASSERT_TRUE(m->has_value());
    EXPECT_EQ((*m)->header.service_method, "Status.Ping");
    EXPECT_EQ((*m)->header.seq, 7u);
    EXPECT_EQ((*m)->body, bytes{0x80});
}

TEST(MsgpackRpcTest, LongStringsUseRaw16NotStr8) {
    // WriteExt=false: a 36-byte string is da 00 24, never d9 24.
    const std::string method(36, 'm');
    bytes out;
    encode_request_header(out, method, 2);
    const bytes expect_prefix =
        cat({{0x82, 0xa3}, str("Seq"), {0x02, 0xad}, str("ServiceMethod"), {0xda, 0x00, 0x24}});
    ASSERT_GE(out.size(), expect_prefix.size());
    EXPECT_TRUE(std::equal(expect_prefix.begin(), expect_prefix.end(), out.begin()));
}

TEST(MsgpackRpcTest, DecodesStr8AndBinForms) {
    // A WriteExt=true peer (go-msgpack v2 style) writes str8 for 32..255 bytes.
    const std::string method(40, 'x');
    bytes msg = cat({{0x83, 0xa5},
                     str("Error"),
                     {0xd9, 0x03},
                     str("bad"),
                     {0xa3},
                     str("Seq"),
                     {0xcf, 0, 0, 0, 0, 0, 0, 0, 0x09},
                     {0xad},
                     str("ServiceMethod"),
                     {0xd9, 40},
                     str(method),
                     {0xc4, 0x02, 0xaa, 0xbb}});
    response_decoder d;
    d.feed(msg);
    auto m = d.next();
    ASSERT_TRUE(m.has_value());
    ASSERT_TRUE(m->has_value());
    EXPECT_EQ((*m)->header.error, "bad");
    EXPECT_EQ((*m)->header.seq, 9u);
    EXPECT_EQ((*m)->header.service_method, method);
    EXPECT_EQ((*m)->body, (bytes{0xc4, 0x02, 0xaa, 0xbb}));
}

TEST(MsgpackRpcTest, IncrementalDecodingByteByByte) {
    // Two pipelined requests with a nested body fed one byte at a time.
    bytes stream;
    const bytes body1 = cat({{0x82, 0xaa},
                             str("Datacenter"),
                             {0xa3},
                             str("dc1"),
                             {0xa4},
                             str("Tags"),
                             {0x92, 0xa1, 'a', 0xc0}});
    encode_request(stream, "Status.Leader", 5, body1);
    const bytes body2{0x80};
    encode_request(stream, "Status.Ping", 6, body2);
    request_decoder d;
    std::vector<rpc_request> got;
    for (std::uint8_t b : stream) {
        d.feed(std::span(&b, 1));
        for (;;) {
            auto m = d.next();
            ASSERT_TRUE(m.has_value()) << m.error().message();
            if (!*m) break;
            got.push_back(std::move(**m));
        }
    }
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].header.service_method, "Status.Leader");
    EXPECT_EQ(got[0].header.seq, 5u);
    EXPECT_EQ(got[0].body, body1);
    EXPECT_EQ(got[1].header.service_method, "Status.Ping");
    EXPECT_EQ(got[1].body, body2);
    EXPECT_FALSE(d.finish());
    EXPECT_EQ(d.stats().messages, 2u);
}

TEST(MsgpackRpcTest, IncrementalDecodingOddChunksManyMessages) {
    // 50 pipelined requests of growing size fed in 7-byte chunks: exercises buffer compaction
    // while a header has been scanned and its body is still incomplete.
    bytes stream;
    std::vector<bytes> bodies;
    for (int i = 0; i < 50; ++i) {
        bytes body;
        msgpack::writer w(body);
        w.write_str(std::string(static_cast<std::size_t>(i * 13), 'b'));
        bodies.push_back(body);
        encode_request(stream, "Test.Echo", static_cast<std::uint64_t>(i + 1), body);
    }
    request_decoder d;
    std::vector<rpc_request> got;
    for (std::size_t off = 0; off < stream.size(); off += 7) {
        d.feed(std::span(stream).subspan(off, std::min<std::size_t>(7, stream.size() - off)));
        for (;;) {
            auto m = d.next();
            ASSERT_TRUE(m.has_value()) << m.error().message();
            if (!*m) break;
            got.push_back(std::move(**m));
        }
    }
    ASSERT_EQ(got.size(), 50u);
    for (std::size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].header.seq, i + 1);
        EXPECT_EQ(got[i].body, bodies[i]);
    }
    EXPECT_FALSE(d.finish());
}

TEST(MsgpackRpcTest, CorruptTruncated) {
    request_decoder d;
    d.feed(std::span(ping_request).first(ping_request.size() - 3));
    auto m = d.next();
    ASSERT_TRUE(m.has_value());
    EXPECT_FALSE(m->has_value());
    EXPECT_EQ(d.finish(), codec_errc::truncated);
    // Header complete, body missing, is truncated too.
    response_decoder r;
    r.feed(std::span(ping_response).first(ping_response.size() - 1));
    ASSERT_TRUE(r.next().has_value());
    EXPECT_EQ(r.finish(), codec_errc::truncated);
}

TEST(MsgpackRpcTest, CorruptOversizedDeclaredLength) {
    decoder_limits lim;
    lim.max_body_size = 1024;
    request_decoder d(lim);
    bytes msg;
    encode_request_header(msg, "Test.Echo", 1);
    // bin32 declaring 4 GiB - 1: refused from the 5-byte head, before any payload arrives.
    const bytes huge{0xc6, 0xff, 0xff, 0xff, 0xff};
    msg.insert(msg.end(), huge.begin(), huge.end());
    d.feed(msg);
    auto m = d.next();
    ASSERT_FALSE(m.has_value());
    EXPECT_EQ(m.error(), codec_errc::message_too_large);
    // Sticky: more input does not revive it.
    d.feed(ping_request);
    EXPECT_EQ(d.next().error(), codec_errc::message_too_large);
    EXPECT_EQ(d.stats().errors, 1u);
}

TEST(MsgpackRpcTest, CorruptOversizedByContainerCountAndStreaming) {
    decoder_limits lim;
    lim.max_header_size = 64;
    request_decoder d(lim);
    // map32 with 2^31 entries: every entry needs >= 1 byte, so it cannot fit in 64 bytes.
    d.feed(bytes{0xdf, 0x80, 0x00, 0x00, 0x00});
    EXPECT_EQ(d.next().error(), codec_errc::message_too_large);

    // An array of 100 small ints streamed past the bound.
    request_decoder d2(lim);
    bytes big{0xdc, 0x00, 0x64};
    big.resize(big.size() + 100, 0x01);
    d2.feed(big);
    EXPECT_EQ(d2.next().error(), codec_errc::message_too_large);
}

TEST(MsgpackRpcTest, CorruptBadType) {
    // Header is an array, not a map.
    request_decoder d;
    d.feed(bytes{0x92, 0xa1, 'x', 0x01, 0x80});
    EXPECT_EQ(d.next().error(), codec_errc::bad_type);
    // Seq is a string.
    request_decoder d2;
    d2.feed(cat(
        {{0x82, 0xa3}, str("Seq"), {0xa1, '1', 0xad}, str("ServiceMethod"), {0xa1, 'x'}, {0x80}}));
    EXPECT_EQ(d2.next().error(), codec_errc::bad_type);
    // Negative Seq.
    request_decoder d3;
    d3.feed(cat({{0x81, 0xa3}, str("Seq"), {0xff}, {0x80}}));
    EXPECT_EQ(d3.next().error(), codec_errc::bad_type);
}

TEST(MsgpackRpcTest, CorruptBadTag) {
    request_decoder d;
    d.feed(bytes{0x81, 0xa3, 'S', 'e', 'q', 0xc1});
    EXPECT_EQ(d.next().error(), codec_errc::bad_tag);
    response_decoder r;
    r.feed(std::span(ping_response).first(ping_response.size() - 1));
    r.feed(bytes{0xc1});
    EXPECT_EQ(r.next().error(), codec_errc::bad_tag);
}

TEST(MsgpackRpcTest, CorruptDepthExceeded) {
    decoder_limits lim;
    lim.max_depth = 8;
    request_decoder d(lim);
    bytes msg = ping_request;
    msg.pop_back();
    msg.insert(msg.end(), 20, 0x91);  // 20 nested one-element arrays
    msg.push_back(0x01);
    d.feed(msg);
    EXPECT_EQ(d.next().error(), codec_errc::depth_exceeded);
}

TEST(MsgpackRpcTest, ErrorCategoryNames) {
    EXPECT_STREQ(codec_category().name(), "msgpack-rpc");
    EXPECT_EQ(std::error_code(codec_errc::message_too_large).message(),
              "msgpack-rpc: message too large");
}

TEST(MsgpackRpcTest, NetRpcErrorTexts) {
    EXPECT_EQ(error_cant_find_service("Foo.Bar"), "rpc: can't find service Foo.Bar");
    EXPECT_EQ(error_cant_find_method("Status.Nope"), "rpc: can't find method Status.Nope");
    EXPECT_EQ(error_ill_formed("nodot"), "rpc: service/method request ill-formed: nodot");
    auto sm = split_service_method("A.B.C");
    ASSERT_TRUE(sm);
    EXPECT_EQ(sm->first, "A.B");
    EXPECT_EQ(sm->second, "C");
    EXPECT_FALSE(split_service_method("nodot"));
}

TEST(MsgpackRpcTest, TimeMarshalBinaryForm) {
    // 2009-11-10 23:00:00 UTC (Go playground time): unix 1257894000.
    go_time t;
    t.unix_seconds = 1257894000;
    t.nanoseconds = 5;
    bytes out;
    msgpack::writer w(out);
    write_time(w, t);
    const std::uint64_t internal = 1257894000ull + 62135596800ull;
    bytes expect{0xaf, 0x01};
    for (int i = 7; i >= 0; --i) expect.push_back(static_cast<std::uint8_t>(internal >> (8 * i)));
    expect.insert(expect.end(), {0, 0, 0, 5, 0xff, 0xff});
    EXPECT_EQ(out, expect);
    msgpack::reader r(out);
    auto back = read_time(r);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, t);
    // Go's zero time: 15 bytes, seconds 0.
    const auto zero = marshal_time(go_time{});
    EXPECT_EQ(zero, (bytes{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}));
    EXPECT_TRUE(unmarshal_time(zero)->is_zero());
    // Version 2 (offset with seconds) is 16 bytes; bad lengths/versions are named errors.
    go_time v2 = t;
    v2.offset_minutes = 5;
    v2.offset_seconds = 30;
    EXPECT_EQ(marshal_time(v2).size(), 16u);
    EXPECT_EQ(*unmarshal_time(marshal_time(v2)), v2);
    EXPECT_EQ(unmarshal_time(bytes{1, 2, 3}).error(), codec_errc::bad_time);
    auto bad = zero;
    bad[0] = 3;
    EXPECT_EQ(unmarshal_time(bad).error(), codec_errc::bad_time);
    // time_point round trip.
    const auto tp = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
    EXPECT_EQ(go_time::from(tp).to_time_point(), tp);
}

TEST(MsgpackRpcTest, DurationsAreInt64Nanoseconds) {
    bytes out;
    msgpack::writer w(out);
    write_duration(w, std::chrono::seconds(10));  // 10e9 > 2^32: uint64 form (0.5.5 style)
    write_duration(w, std::chrono::nanoseconds(-1));
    EXPECT_EQ(out, (bytes{0xcf, 0, 0, 0, 0x02, 0x54, 0x0b, 0xe4, 0x00, 0xff}));
    msgpack::reader r(out);
    EXPECT_EQ(*read_duration(r), std::chrono::seconds(10));
    EXPECT_EQ(*read_duration(r), std::chrono::nanoseconds(-1));
}

TEST(MsgpackRpcTest, QueryOptionsFlattenedSorted) {
    // DCSpecificRequest-like: Datacenter + flattened QueryOptions, all keys sorted.
    struct_writer s;
    s.field("Datacenter").write_str("dc2");
    query_options q;
    q.allow_stale = true;
    q.max_query_time = std::chrono::seconds(1);
    q.write_fields(s);
    bytes out;
    msgpack::writer w(out);
    s.finish(w);
    msgpack::reader r(out);
    auto n = r.read_map_header();
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 13u);
    std::vector<std::string> keys;
    query_options back;
    std::string dc;
    for (std::uint32_t i = 0; i < *n; ++i) {
        auto k = r.read_str();
        ASSERT_TRUE(k);
        keys.emplace_back(*k);
        auto used = back.read_field(*k, r);
        ASSERT_TRUE(used);
        if (!*used) {
            ASSERT_EQ(*k, "Datacenter");
            dc = std::string(*r.read_str());
        }
    }
    EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
    EXPECT_EQ(keys.front(), "AllowNotModifiedResponse");
    EXPECT_EQ(dc, "dc2");
    EXPECT_TRUE(back.allow_stale);
    EXPECT_EQ(back.max_query_time, std::chrono::seconds(1));
}

TEST(MsgpackRpcTest, QueryMetaRoundTrip) {
    query_meta m;
    m.index = 42;
    m.known_leader = true;
    m.last_contact = std::chrono::milliseconds(3);
    m.consistency_level = "leader";
    struct_writer s;
    m.write_fields(s);
    bytes out;
    msgpack::writer w(out);
    s.finish(w);
    msgpack::reader r(out);
    auto n = r.read_map_header();
    ASSERT_TRUE(n);
    query_meta back;
    for (std::uint32_t i = 0; i < *n; ++i) {
        auto k = r.read_str();
        ASSERT_TRUE(k);
        auto used = back.read_field(*k, r);
        ASSERT_TRUE(used && *used);
    }
    EXPECT_EQ(back.index, 42u);
    EXPECT_TRUE(back.known_leader);
    EXPECT_EQ(back.last_contact, std::chrono::milliseconds(3));
    EXPECT_EQ(back.consistency_level, "leader");
}

}  // namespace
}  // namespace meshfed::rpc
