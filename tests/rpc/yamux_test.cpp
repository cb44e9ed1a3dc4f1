// Sans-IO yamux session: golden frames (from a Go yamux capture), flow control, FIN/RST edge
// cases, refusal of oversize frames, backlog overflow, ping/keepalive, go-away, and two sessions
// talking to each other in memory.
#include "rpc/yamux.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace meshfed::rpc::yamux {
namespace {

using bytes = std::vector<std::uint8_t>;
using clock = session::clock;

bytes frame(frame_type t, std::uint16_t flags, std::uint32_t id, std::uint32_t len) {
    frame_header h;
    h.type = t;
    h.flags = flags;
    h.stream_id = id;
    h.length = len;
    bytes out;
    h.append_to(out);
    return out;
}

bytes data_frame(std::uint16_t flags, std::uint32_t id, const bytes& payload) {
    bytes out = frame(frame_type::data, flags, id, static_cast<std::uint32_t>(payload.size()));
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
}

std::vector<frame_header> parse_frames(const bytes& out) {
    std::vector<frame_header> frames;
    std::size_t i = 0;
    while (i + frame_header::size <= out.size()) {
        auto h = frame_header::decode(std::span(out).subspan(i));
        EXPECT_TRUE(h.has_value());
        if (!h) break;
        frames.push_back(*h);
        i += frame_header::size + (h->type == frame_type::data ? h->length : 0);
    }
    EXPECT_EQ(i, out.size());
    return frames;
}

// Moves output between two sessions until both are quiet.
void pump(session& a, session& b, clock::time_point now) {
    for (int round = 0; round < 100; ++round) {
        auto oa = a.take_output();
        auto ob = b.take_output();
        if (oa.empty() && ob.empty()) return;
        if (!oa.empty()) b.feed(now, oa);
        if (!ob.empty()) a.feed(now, ob);
    }
    FAIL() << "pump did not settle";
}

std::string read_all(session& s, std::uint32_t id) {
    std::string out;
    std::uint8_t buf[4096];
    for (;;) {
        auto n = s.read(id, buf);
        if (!n || *n == 0) break;
        out.append(reinterpret_cast<char*>(buf), *n);
    }
    return out;
}

const auto t0 = clock::time_point{} + std::chrono::hours(1);

TEST(YamuxTest, FrameHeaderGoldenBytes) {
    // Captured from hashicorp/yamux (rpcpeer -dump): client SYN, its data frame, server ACK.
    EXPECT_EQ(frame(frame_type::window_update, flag::syn, 1, 0),
              (bytes{0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00}));
    EXPECT_EQ(frame(frame_type::data, 0, 1, 0x21),
              (bytes{0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x21}));
    EXPECT_EQ(frame(frame_type::window_update, flag::ack, 1, 0),
              (bytes{0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00}));
    EXPECT_EQ(frame(frame_type::go_away, 0, 0, 1),
              (bytes{0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01}));
    auto h = frame_header::decode(
        bytes{0x00, 0x02, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef});
    ASSERT_TRUE(h);
    EXPECT_EQ(h->type, frame_type::ping);
    EXPECT_EQ(h->flags, flag::ack);
    EXPECT_EQ(h->length, 0xdeadbeefu);
    EXPECT_EQ(frame_header::decode(bytes(12, 0x01)).error(), errc::invalid_version);
    bytes bad_type(12, 0);
    bad_type[1] = 4;
    EXPECT_EQ(frame_header::decode(bad_type).error(), errc::invalid_msg_type);
}

TEST(YamuxTest, ClientOpenMatchesGoBytes) {
    session c(role::client, t0);
    auto id = c.open_stream();
    ASSERT_TRUE(id);
    EXPECT_EQ(*id, 1u);
    const bytes payload(0x21, 0x80);
    ASSERT_EQ(*c.write(*id, payload), payload.size());
    bytes expect = frame(frame_type::window_update, flag::syn, 1, 0);
    const bytes d = data_frame(0, 1, payload);
    expect.insert(expect.end(), d.begin(), d.end());
    EXPECT_EQ(c.take_output(), expect);
    EXPECT_EQ(*c.open_stream(), 3u);

    session s(role::server, t0);
    s.feed(t0, expect);
    auto acc = s.accept_stream();
    ASSERT_TRUE(acc);
    EXPECT_EQ(*acc, 1u);
    EXPECT_EQ(s.take_output(), frame(frame_type::window_update, flag::ack, 1, 0));
    EXPECT_EQ(read_all(s, 1), std::string(0x21, '\x80'));
    EXPECT_EQ(*s.open_stream(), 2u);
}

TEST(YamuxTest, TwoSessionsInMemory) {
    session c(role::client, t0);
    session s(role::server, t0);
    auto id = *c.open_stream();
    ASSERT_TRUE(c.write(id, bytes{'h', 'i'}));
    pump(c, s, t0);
    auto acc = s.accept_stream();
    ASSERT_TRUE(acc);
    EXPECT_EQ(read_all(s, *acc), "hi");
    ASSERT_TRUE(s.write(*acc, bytes{'y', 'o'}));
    ASSERT_TRUE(s.close_stream(*acc));
    pump(c, s, t0);
    EXPECT_EQ(c.state(id), stream_state::remote_close);
    EXPECT_EQ(read_all(c, id), "yo");
    EXPECT_EQ(c.read(id, std::span<std::uint8_t>()).error(), errc::end_of_stream);
    // Half-closed: the client can still write after the server's FIN.
    ASSERT_TRUE(c.write(id, bytes{'!'}));
    ASSERT_TRUE(c.close_stream(id));
    pump(c, s, t0);
    EXPECT_EQ(read_all(s, *acc), "!");
    EXPECT_EQ(s.state(*acc), stream_state::closed);
    EXPECT_EQ(c.state(id), stream_state::closed);
    c.release_stream(id);
    s.release_stream(*acc);
    EXPECT_EQ(c.num_streams(), 0u);
    EXPECT_EQ(s.num_streams(), 0u);
    // Server-initiated stream (even id).
    auto sid = *s.open_stream();
    EXPECT_EQ(sid, 2u);
    ASSERT_TRUE(s.write(sid, bytes{'x'}));
    pump(c, s, t0);
    EXPECT_EQ(*c.accept_stream(), 2u);
    EXPECT_EQ(read_all(c, 2), "x");
    EXPECT_EQ(c.stats().protocol_errors + s.stats().protocol_errors, 0u);
}

TEST(YamuxTest, FlowControlWindowExhaustionThenUpdateResumes) {
    session c(role::client, t0);
    session s(role::server, t0);
    auto id = *c.open_stream();
    pump(c, s, t0);
    auto acc = *s.accept_stream();
    pump(c, s, t0);
    const bytes big(300 * 1024, 0x5a);
    auto n = c.write(id, big);
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, initial_stream_window);  // one frame, exactly the window
    EXPECT_EQ(c.send_window(id), 0u);
    EXPECT_EQ(*c.write(id, std::span(big).subspan(*n)), 0u);  // blocked
    pump(c, s, t0);
    EXPECT_EQ(s.readable(acc), initial_stream_window);
    EXPECT_EQ(s.recv_window(acc), 0u);
    // Reading less than half the window sends no update (yamux threshold).
    std::vector<std::uint8_t> buf(64 * 1024);
    ASSERT_EQ(*s.read(acc, buf), buf.size());
    EXPECT_EQ(s.output_size(), 0u);
    // Reading past half triggers a window update of the consumed amount.
    ASSERT_EQ(*s.read(acc, buf), buf.size());
    auto out = s.take_output();
    auto frames = parse_frames(out);
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0].type, frame_type::window_update);
    EXPECT_EQ(frames[0].length, 128u * 1024);
    c.feed(t0, out);
    EXPECT_EQ(c.send_window(id), 128u * 1024);
    auto n2 = c.write(id, std::span(big).subspan(*n));
    ASSERT_TRUE(n2);
    EXPECT_EQ(*n + *n2, big.size());
    pump(c, s, t0);
    std::size_t total = 128 * 1024;
    std::vector<std::uint8_t> rest(big.size());
    for (;;) {
        auto r = s.read(acc, rest);
        ASSERT_TRUE(r);
        if (*r == 0) break;
        total += *r;
        pump(c, s, t0);
    }
    EXPECT_EQ(total, big.size());
}

TEST(YamuxTest, OversizeDataFrameRefusedWithGoAway) {
    session s(role::server, t0);
    s.feed(t0, frame(frame_type::window_update, flag::syn, 1, 0));
    ASSERT_TRUE(s.accept_stream());
    s.take_output();
    // A data frame declaring more than the 256 KiB window: refused from the header alone.
    auto ec = s.feed(t0, frame(frame_type::data, 0, 1, initial_stream_window + 1));
    EXPECT_EQ(ec, errc::recv_window_exceeded);
    EXPECT_TRUE(s.is_closed());
    EXPECT_EQ(s.stats().protocol_errors, 1u);
    EXPECT_EQ(s.take_output(), frame(frame_type::go_away, 0, 0, 1));
    // Dead: further input ignored, no more output.
    EXPECT_EQ(s.feed(t0, frame(frame_type::ping, flag::syn, 0, 1)), errc::recv_window_exceeded);
    EXPECT_EQ(s.output_size(), 0u);
}

TEST(YamuxTest, InvalidVersionAndTypeAreProtocolErrors) {
    session s(role::server, t0);
    bytes bad = frame(frame_type::ping, flag::syn, 0, 1);
    bad[0] = 1;
    EXPECT_EQ(s.feed(t0, bad), errc::invalid_version);
    EXPECT_EQ(s.take_output(), frame(frame_type::go_away, 0, 0, 1));
    session s2(role::server, t0);
    bytes bad2 = frame(frame_type::ping, flag::syn, 0, 1);
    bad2[1] = 9;
    EXPECT_EQ(s2.feed(t0, bad2), errc::invalid_msg_type);
    EXPECT_EQ(s2.stats().protocol_errors, 1u);
}

TEST(YamuxTest, HostileStreamIds) {
    session s(role::server, t0);
    EXPECT_EQ(s.feed(t0, frame(frame_type::window_update, flag::syn, 2, 0)), errc::bad_stream_id);
    session s2(role::server, t0);
    s2.feed(t0, frame(frame_type::window_update, flag::syn, 1, 0));
    EXPECT_EQ(s2.feed(t0, frame(frame_type::window_update, flag::syn, 1, 0)),
              errc::duplicate_stream);
    session s3(role::server, t0);
    s3.feed(t0, frame(frame_type::window_update, flag::syn, 1, 0));
    EXPECT_EQ(s3.feed(t0, frame(frame_type::window_update, 0, 1, 0xffffffffu)),
              errc::send_window_overflow);
}

TEST(YamuxTest, OutOfOrderFinAndRst) {
    session s(role::server, t0);
    // FIN and RST for streams never opened: dropped, counted, session lives.
    bytes in = frame(frame_type::window_update, flag::fin, 7, 0);
    bytes rst = frame(frame_type::window_update, flag::rst, 9, 0);
    bytes data = data_frame(0, 11, bytes{1, 2, 3});
    in.insert(in.end(), rst.begin(), rst.end());
    in.insert(in.end(), data.begin(), data.end());
    EXPECT_FALSE(s.feed(t0, in));
    EXPECT_EQ(s.stats().dropped_frames, 3u);
    EXPECT_EQ(s.stats().dropped_bytes, 3u);

    // SYN + data + FIN in one frame, then a second FIN and data after FIN.
    EXPECT_FALSE(s.feed(t0, data_frame(flag::syn | flag::fin, 1, bytes{'a'})));
    auto id = s.accept_stream();
    ASSERT_TRUE(id);
    EXPECT_EQ(s.state(*id), stream_state::remote_close);
    EXPECT_FALSE(s.feed(t0, frame(frame_type::window_update, flag::fin, 1, 0)));
    EXPECT_FALSE(s.feed(t0, data_frame(0, 1, bytes{'b'})));
    EXPECT_EQ(s.stats().dropped_frames, 5u);
    EXPECT_EQ(read_all(s, *id), "a");
    EXPECT_EQ(s.read(*id, std::span<std::uint8_t>()).error(), errc::end_of_stream);

    // RST on a stream with buffered data: data discarded, reads report the reset.
    EXPECT_FALSE(s.feed(t0, data_frame(flag::syn, 3, bytes{'z', 'z'})));
    auto id3 = s.accept_stream();
    ASSERT_TRUE(id3);
    EXPECT_FALSE(s.feed(t0, frame(frame_type::window_update, flag::rst, 3, 0)));
    std::uint8_t buf[4];
    EXPECT_EQ(s.read(*id3, buf).error(), errc::stream_reset);
    EXPECT_EQ(s.write(*id3, bytes{1}).error(), errc::stream_reset);
    // Frames after the RST are for a gone stream.
    EXPECT_FALSE(s.feed(t0, data_frame(0, 3, bytes{'q'})));
    EXPECT_EQ(s.stats().protocol_errors, 0u);
    // A RST before the stream is accepted: accept still yields it, reads report the reset.
    EXPECT_FALSE(s.feed(t0, frame(frame_type::window_update, flag::syn, 5, 0)));
    EXPECT_FALSE(s.feed(t0, frame(frame_type::window_update, flag::rst, 5, 0)));
    auto id5 = s.accept_stream();
    ASSERT_TRUE(id5);
    EXPECT_EQ(s.read(*id5, buf).error(), errc::stream_reset);
    s.release_stream(*id5);
    EXPECT_FALSE(s.state(*id5));
}

TEST(YamuxTest, LocalResetSendsRst) {
    session c(role::client, t0);
    session s(role::server, t0);
    auto id = *c.open_stream();
    pump(c, s, t0);
    auto acc = *s.accept_stream();
    pump(c, s, t0);
    c.reset_stream(id);
    auto out = c.take_output();
    EXPECT_EQ(out, frame(frame_type::window_update, flag::rst, id, 0));
    s.feed(t0, out);
    EXPECT_EQ(s.state(acc), stream_state::reset);
    EXPECT_FALSE(c.state(id));
}

TEST(YamuxTest, BacklogOverflowIsReset) {
    config cfg;
    cfg.accept_backlog = 256;
    session s(role::server, t0, cfg);
    bytes in;
    for (std::uint32_t i = 0; i < 257; ++i) {
        auto f = frame(frame_type::window_update, flag::syn, 2 * i + 1, 0);
        in.insert(in.end(), f.begin(), f.end());
    }
    EXPECT_FALSE(s.feed(t0, in));
    EXPECT_EQ(s.accept_queue_size(), 256u);
    EXPECT_EQ(s.stats().backlog_resets, 1u);
    EXPECT_EQ(s.take_output(), frame(frame_type::window_update, flag::rst, 513, 0));
    // Accepting frees a slot.
    ASSERT_TRUE(s.accept_stream());
    s.take_output();
    EXPECT_FALSE(s.feed(t0, frame(frame_type::window_update, flag::syn, 515, 0)));
    EXPECT_EQ(s.accept_queue_size(), 256u);
    EXPECT_EQ(s.output_size(), 0u);
}

TEST(YamuxTest, OpenBacklogLimitsUnackedSyns) {
    config cfg;
    cfg.accept_backlog = 2;
    session c(role::client, t0, cfg);
    ASSERT_TRUE(c.open_stream());
    ASSERT_TRUE(c.open_stream());
    EXPECT_EQ(c.open_stream().error(), errc::open_backlog_full);
    c.feed(t0, frame(frame_type::window_update, flag::ack, 1, 0));
    EXPECT_TRUE(c.open_stream());
}

TEST(YamuxTest, PingAndKeepalive) {
    session c(role::client, t0);
    session s(role::server, t0);
    // Answer to a ping SYN is an ACK with the same opaque value.
    s.feed(t0, frame(frame_type::ping, flag::syn, 0, 42));
    EXPECT_EQ(s.take_output(), frame(frame_type::ping, flag::ack, 0, 42));
    EXPECT_EQ(s.stats().pings_answered, 1u);

    // Keepalive: first ping after 30 s; the answer records the RTT.
    ASSERT_TRUE(c.next_timer());
    EXPECT_EQ(*c.next_timer(), t0 + std::chrono::seconds(30));
    const auto t1 = t0 + std::chrono::seconds(30);
    c.on_timer(t1);
    auto out = c.take_output();
    EXPECT_EQ(out, frame(frame_type::ping, flag::syn, 0, 0));
    s.feed(t1, out);
    c.feed(t1 + std::chrono::milliseconds(5), s.take_output());
    ASSERT_TRUE(c.last_rtt());
    EXPECT_EQ(*c.last_rtt(), std::chrono::milliseconds(5));
    EXPECT_EQ(c.stats().pongs_received, 1u);

    // No answer within the 10 s write timeout: session fails with keepalive_timeout.
    const auto t2 = *c.next_timer();
    c.on_timer(t2);
    EXPECT_EQ(parse_frames(c.take_output()).size(), 1u);
    EXPECT_EQ(*c.next_timer(), t2 + std::chrono::seconds(10));
    c.on_timer(t2 + std::chrono::seconds(9));
    EXPECT_FALSE(c.is_closed());
    c.on_timer(t2 + std::chrono::seconds(10));
    EXPECT_TRUE(c.is_closed());
    EXPECT_EQ(c.error(), errc::keepalive_timeout);
    EXPECT_FALSE(c.next_timer());
}

TEST(YamuxTest, GoAwayOnShutdownAndRemoteGoAway) {
    session c(role::client, t0);
    session s(role::server, t0);
    auto id = *c.open_stream();
    pump(c, s, t0);
    auto acc = *s.accept_stream();
    ASSERT_TRUE(c.write(id, bytes{'k'}));
    pump(c, s, t0);
    s.shutdown();
    auto out = s.take_output();
    EXPECT_EQ(out, frame(frame_type::go_away, 0, 0, 0));
    EXPECT_EQ(s.error(), errc::session_shutdown);
    EXPECT_EQ(read_all(s, acc), "k");  // buffered data stays readable
    EXPECT_EQ(s.read(acc, std::span<std::uint8_t>()).error(), errc::end_of_stream);
    EXPECT_EQ(s.write(acc, bytes{1}).error(), errc::session_shutdown);
    c.feed(t0, out);
    EXPECT_TRUE(c.remote_went_away());
    EXPECT_FALSE(c.is_closed());
    EXPECT_EQ(c.open_stream().error(), errc::remote_go_away);
    // Existing streams keep working on the side that received go-away(normal).
    EXPECT_TRUE(c.write(id, bytes{'m'}));

    // After our go-away, incoming SYNs get RST.
    session s2(role::server, t0);
    s2.go_away();
    EXPECT_EQ(s2.take_output(), frame(frame_type::go_away, 0, 0, 0));
    s2.feed(t0, data_frame(flag::syn, 1, bytes{'x'}));
    EXPECT_EQ(s2.take_output(), frame(frame_type::window_update, flag::rst, 1, 0));
    EXPECT_EQ(s2.stats().refused_streams, 1u);
    EXPECT_FALSE(s2.accept_stream());

    // go-away(protocol error / internal error) kills the receiving session.
    session c2(role::client, t0);
    EXPECT_EQ(c2.feed(t0, frame(frame_type::go_away, 0, 0, 1)), errc::remote_protocol_error);
    session c3(role::client, t0);
    EXPECT_EQ(c3.feed(t0, frame(frame_type::go_away, 0, 0, 2)), errc::remote_internal_error);
    session c4(role::client, t0);
    EXPECT_EQ(c4.feed(t0, frame(frame_type::go_away, 0, 0, 77)), errc::unexpected_go_away);
}

TEST(YamuxTest, ByteByByteFeedingAndRandomSplits) {
    session c(role::client, t0);
    session s(role::server, t0);
    auto id = *c.open_stream();
    std::string msg;
    for (int i = 0; i < 5000; ++i) msg.push_back(static_cast<char>('a' + i % 26));
    ASSERT_TRUE(
        c.write(id, std::span(reinterpret_cast<const std::uint8_t*>(msg.data()), msg.size())));
    c.ping(t0);
    ASSERT_TRUE(c.close_stream(id));
    auto out = c.take_output();
    for (std::uint8_t b : out) ASSERT_FALSE(s.feed(t0, std::span(&b, 1)));
    auto acc = s.accept_stream();
    ASSERT_TRUE(acc);
    EXPECT_EQ(read_all(s, *acc), msg);
    EXPECT_EQ(s.state(*acc), stream_state::remote_close);
    EXPECT_EQ(s.stats().pings_answered, 1u);
}

TEST(YamuxTest, MaxStreamsRefusesWithRst) {
    config cfg;
    cfg.max_streams = 2;
    session s(role::server, t0, cfg);
    for (std::uint32_t id : {1u, 3u, 5u})
        s.feed(t0, frame(frame_type::window_update, flag::syn, id, 0));
    EXPECT_EQ(s.accept_queue_size(), 2u);
    EXPECT_EQ(s.stats().refused_streams, 1u);
    EXPECT_EQ(s.take_output(), frame(frame_type::window_update, flag::rst, 5, 0));
}

}  // namespace
}  // namespace meshfed::rpc::yamux
