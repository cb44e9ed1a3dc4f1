#pragma once
// Sans-IO yamux session (hashicorp/yamux wire protocol, as Consul's RPC port uses it after type
// byte 0x04): framing, stream open/accept, flow control, half-close, reset, ping/keepalive and
// go-away. No I/O inside: the caller feeds received bytes with feed(), sends what
// take_output() returns, drives time through on_timer()/next_timer(), and reads/writes stream
// data through the session by stream id.
//
// Owns: all protocol state of one connection (streams, windows, receive buffers, outbox).
// Behaviour matches yamux.DefaultConfig (AcceptBacklog 256, 256 KiB windows, keepalive 30 s,
//   ping timeout = ConnectionWriteTimeout 10 s). Deliberate differences, all towards a hostile
//   peer: SYN on id 0 or on an id of our own parity is a protocol error; a second FIN, data
//   after a FIN, and frames for unknown streams are dropped and counted instead of killing the
//   session; a window update overflowing 2^32-1 is a protocol error; at most
//   config::max_streams live streams (further SYNs are answered with RST).
// Threading: none; one session is used from one thread (or strand) at a time.
// Errors: std::error_code in yamux::errc (category "yamux"). Fatal errors (protocol violations,
//   go-away with an error code, keepalive timeout) are sticky: the session is closed, error()
//   returns the cause and the outbox may still hold a go-away to flush. No exceptions.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <expected>
#include <map>
#include <optional>
#include <span>
#include <system_error>
#include <unordered_map>
#include <vector>

namespace meshfed::rpc::yamux {

enum class errc {
    invalid_version = 1,    // frame version != 0
    invalid_msg_type,       // frame type > 3
    recv_window_exceeded,   // a data frame larger than the stream's receive window
    duplicate_stream,       // SYN for a stream id already in use
    bad_stream_id,          // SYN on id 0 or on an id of our own parity
    send_window_overflow,   // window update beyond 2^32-1
    remote_protocol_error,  // peer sent go-away(protocol error)
    remote_internal_error,  // peer sent go-away(internal error)
    unexpected_go_away,     // go-away with an unknown code
    keepalive_timeout,      // no ping answer within connection_write_timeout
    session_shutdown,       // the session was shut down locally
    remote_go_away,         // peer sent go-away(normal): no new streams
    streams_exhausted,      // stream ids used up
    open_backlog_full,      // accept_backlog of our SYNs not yet acknowledged; retry later
    unknown_stream,         // no such stream id (never opened, or released)
    stream_closed,          // write after local close
    stream_reset,           // stream was reset (RST)
    end_of_stream,          // peer closed its side (FIN) and all data has been read
};

const std::error_category& yamux_category() noexcept;
std::error_code make_error_code(errc e) noexcept;

}  // namespace meshfed::rpc::yamux

template <>
struct std::is_error_code_enum<meshfed::rpc::yamux::errc> : std::true_type {};

namespace meshfed::rpc::yamux {

enum class frame_type : std::uint8_t { data = 0, window_update = 1, ping = 2, go_away = 3 };

namespace flag {
inline constexpr std::uint16_t syn = 1;
inline constexpr std::uint16_t ack = 2;
inline constexpr std::uint16_t fin = 4;
inline constexpr std::uint16_t rst = 8;
}  // namespace flag

enum class go_away_code : std::uint32_t { normal = 0, protocol_error = 1, internal_error = 2 };

inline constexpr std::uint8_t protocol_version = 0;
inline constexpr std::uint32_t initial_stream_window = 256 * 1024;

// Frame header, 12 bytes big endian:
//   version(1) = 0 | type(1) | flags(2) | stream id(4) | length(4)
// length = payload size (data), window delta (window update), opaque value (ping), reason code
// (go-away). Only data frames carry a payload.
struct frame_header {
    static constexpr std::size_t size = 12;

    std::uint8_t version = protocol_version;
    frame_type type = frame_type::data;
    std::uint16_t flags = 0;
    std::uint32_t stream_id = 0;
    std::uint32_t length = 0;

    std::array<std::uint8_t, size> encode() const;
    void append_to(std::vector<std::uint8_t>& out) const;
    // `bytes` must hold at least 12 bytes. Errors: invalid_version, invalid_msg_type.
    static std::expected<frame_header, std::error_code> decode(std::span<const std::uint8_t> bytes);
    bool operator==(const frame_header&) const = default;
};

enum class role { client, server };  // client streams are odd (from 1), server even (from 2)

enum class stream_state {
    init,
    syn_sent,
    syn_received,
    established,
    local_close,   // we sent FIN; can still read
    remote_close,  // peer sent FIN; can still write
    closed,        // both sides closed
    reset,
};

struct config {
    std::uint32_t accept_backlog = 256;  // unaccepted incoming streams / our unacked SYNs
    bool enable_keepalive = true;
    std::chrono::milliseconds keepalive_interval{30'000};
    std::chrono::milliseconds connection_write_timeout{10'000};  // ping answer deadline
    std::uint32_t max_stream_window = initial_stream_window;     // >= 256 KiB
    std::size_t max_streams = 1024;                              // live streams, both directions
};

struct session_stats {
    std::uint64_t frames_in = 0;
    std::uint64_t frames_out = 0;
    std::uint64_t data_bytes_in = 0;  // accepted stream payload
    std::uint64_t data_bytes_out = 0;
    std::uint64_t protocol_errors = 0;  // peer violations that killed the session
    std::uint64_t dropped_frames = 0;   // frames ignored: unknown stream, dup FIN, data after FIN
    std::uint64_t dropped_bytes = 0;    // payload bytes discarded with them
    std::uint64_t backlog_resets = 0;   // incoming streams refused: accept backlog full
    std::uint64_t refused_streams = 0;  // incoming streams refused: go-away sent / max_streams
    std::uint64_t pings_sent = 0;
    std::uint64_t pongs_received = 0;
    std::uint64_t pings_answered = 0;
    std::uint64_t streams_opened = 0;
    std::uint64_t streams_accepted = 0;
};

class session {
  public:
    using clock = std::chrono::steady_clock;

    session(role r, clock::time_point now, config cfg = {});

    // ---- transport side ----
    // Consumes bytes read from the connection. Returns the session's error if it is (or just
    // became) dead; input after death is ignored.
    std::error_code feed(clock::time_point now, std::span<const std::uint8_t> in);
    // Runs keepalive: sends a ping when due, fails the session on a missed answer.
    void on_timer(clock::time_point now);
    // When on_timer() next has work; nullopt when nothing is scheduled.
    std::optional<clock::time_point> next_timer() const;
    // Bytes to write to the connection, in order (moves the outbox out).
    std::vector<std::uint8_t> take_output();
    std::size_t output_size() const { return out_.size(); }

    // ---- streams ----
    // Opens a stream (sends WindowUpdate SYN). open_backlog_full when accept_backlog SYNs are
    // unacknowledged; remote_go_away / session error otherwise.
    std::expected<std::uint32_t, std::error_code> open_stream();
    // Next incoming stream, acknowledged (WindowUpdate ACK) on the way out.
    std::optional<std::uint32_t> accept_stream();
    std::size_t accept_queue_size() const { return accept_queue_.size(); }

    // Copies buffered data out (returns > 0), or 0 when nothing is buffered yet. Errors:
    // end_of_stream, stream_reset, unknown_stream, or the session error once it died.
    std::expected<std::size_t, std::error_code> read(std::uint32_t id, std::span<std::uint8_t> buf);
    // Queues as much as the send window allows as one data frame; 0 = window exhausted (wait
    // for a window update). Errors: stream_closed, stream_reset, unknown_stream, session error.
    std::expected<std::size_t, std::error_code> write(std::uint32_t id,
                                                      std::span<const std::uint8_t> data);
    // Half-close (FIN). Reading stays possible until the peer's FIN.
    std::expected<void, std::error_code> close_stream(std::uint32_t id);
    // Abort (RST) and forget the stream.
    void reset_stream(std::uint32_t id);
    // The caller no longer uses `id`: forgotten now if finished, else reset.
    void release_stream(std::uint32_t id);

    std::optional<stream_state> state(std::uint32_t id) const;
    std::size_t readable(std::uint32_t id) const;
    std::uint32_t send_window(std::uint32_t id) const;
    std::uint32_t recv_window(std::uint32_t id) const;
    std::size_t num_streams() const { return streams_.size(); }

    // ---- session ----
    // Sends a ping; returns its opaque id. The answer's round trip lands in last_rtt().
    std::uint32_t ping(clock::time_point now);
    std::optional<std::chrono::nanoseconds> last_rtt() const { return last_rtt_; }
    // Refuse new incoming streams from now on (existing ones continue).
    void go_away(go_away_code code = go_away_code::normal);
    // Sends go-away(normal) if not yet sent and closes the session (error() = session_shutdown).
    void shutdown();
    // The transport failed or ended (e.g. EOF): closes the session with `ec`, sends nothing.
    void abort(std::error_code ec);
    bool is_closed() const { return closed_; }
    std::error_code error() const { return error_; }
    bool remote_went_away() const { return remote_go_away_; }
    bool local_went_away() const { return local_go_away_; }
    role session_role() const { return role_; }
    const session_stats& stats() const { return stats_; }
    const config& cfg() const { return cfg_; }

  private:
    struct stream {
        stream_state state = stream_state::init;
        std::uint32_t recv_window = initial_stream_window;
        std::uint32_t send_window = initial_stream_window;
        std::vector<std::uint8_t> recv_buf;
        std::size_t recv_off = 0;  // read position in recv_buf
        bool detached = false;     // no longer part of the protocol (closed both ways / reset)
        bool inflight_syn = false;
        bool released = false;  // the caller dropped it
        std::size_t buffered() const { return recv_buf.size() - recv_off; }
    };

    void emit(frame_type t, std::uint16_t flags, std::uint32_t id, std::uint32_t length);
    std::uint16_t take_send_flags(stream& s);
    void send_window_update(std::uint32_t id, stream& s);
    void fail(std::error_code ec, bool protocol_violation, bool send_go_away);
    void detach(std::uint32_t id, stream& s);
    void erase_if_done(std::uint32_t id);
    stream* live_stream(std::uint32_t id);  // nullptr when unknown or detached
    void handle_header(clock::time_point now, const frame_header& h);
    bool incoming_stream(std::uint32_t id);  // false: session died
    bool process_flags(std::uint32_t id, stream& s, std::uint16_t flags);

    role role_;
    config cfg_;
    std::unordered_map<std::uint32_t, stream> streams_;
    std::deque<std::uint32_t> accept_queue_;
    std::uint32_t next_stream_id_;
    std::size_t inflight_syns_ = 0;
    std::vector<std::uint8_t> out_;

    // receive parser
    std::array<std::uint8_t, frame_header::size> hdr_buf_{};
    std::size_t hdr_len_ = 0;
    std::uint32_t payload_left_ = 0;    // of the current data frame
    std::uint32_t payload_stream_ = 0;  // 0 = discard
    bool payload_discard_ = false;

    // keepalive / pings
    std::map<std::uint32_t, clock::time_point> pings_;  // outstanding: id -> sent at
    std::uint32_t next_ping_id_ = 0;
    std::optional<std::uint32_t> keepalive_ping_;
    clock::time_point next_keepalive_;
    std::optional<std::chrono::nanoseconds> last_rtt_;

    bool local_go_away_ = false;
    bool remote_go_away_ = false;
    bool closed_ = false;
    std::error_code error_;
    session_stats stats_;
};

}  // namespace meshfed::rpc::yamux
