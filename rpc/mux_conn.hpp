#pragma once
// Asio coroutine adapter running a yamux::session over an async byte stream (tcp::socket,
// asio::ssl::stream<tcp::socket>, or anything wrapped as byte_stream), plus a per-call
// msgpack-rpc helper.
//
// Owns: the transport (byte_stream), the yamux session, and three coroutines per connection —
//   reader (transport -> session), writer (session outbox -> transport) and keepalive timer.
//   The type byte (0x04) and any TLS handshake happen before: the caller hands over a stream
//   positioned at the first yamux frame.
// Lifetime: mux_conn is shared (the coroutines and every mux_stream hold a reference). Call
//   close() to end it; the transport is closed once the go-away has been flushed. A mux_stream
//   that is destroyed before both sides finished resets (RST) its stream.
// Threading: everything runs on the byte stream's executor; call all member functions from that
//   executor (single-threaded io_context or a strand). Not thread-safe.
// Errors: std::error_code (yamux::errc, transport errors, asio::error::eof for a finished
//   stream, std::errc::timed_out for deadlines). No exceptions on these paths.
#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "common/asio_compat.hpp"
#include "common/byte_stream.hpp"
#include "rpc/msgpack_rpc.hpp"
#include "rpc/yamux.hpp"

namespace meshfed::rpc {

// The stream abstraction lives in common/ (wan/ and mesh/ use it too).
using meshfed::asio_byte_stream;
using meshfed::byte_stream;
using meshfed::make_byte_stream;

class mux_conn;

// One yamux stream. Movable; destruction releases the stream (RST if still open).
class mux_stream {
  public:
    using clock = std::chrono::steady_clock;

    mux_stream() = default;
    mux_stream(std::shared_ptr<mux_conn> conn, std::uint32_t id)
        : conn_(std::move(conn)), id_(id) {}
    mux_stream(mux_stream&& o) noexcept : conn_(std::move(o.conn_)), id_(o.id_) {}
    mux_stream& operator=(mux_stream&& o) noexcept;
    mux_stream(const mux_stream&) = delete;
    mux_stream& operator=(const mux_stream&) = delete;
    ~mux_stream();

    std::uint32_t id() const { return id_; }
    bool valid() const { return conn_ != nullptr; }

    // Waits for data (asio::error::eof once the peer's FIN is reached and all data read;
    // std::errc::timed_out at the deadline).
    asio::awaitable<std::pair<std::error_code, std::size_t>> async_read_some(
        asio::mutable_buffer buf, std::optional<clock::time_point> deadline = std::nullopt);
    // Writes everything, waiting for window updates as needed.
    asio::awaitable<std::error_code> async_write(
        asio::const_buffer buf, std::optional<clock::time_point> deadline = std::nullopt);
    // Half-close (FIN).
    std::error_code close();
    // Abort (RST).
    void reset();

  private:
    std::shared_ptr<mux_conn> conn_;
    std::uint32_t id_ = 0;
};

class mux_conn : public std::enable_shared_from_this<mux_conn> {
  public:
    using clock = std::chrono::steady_clock;

    static std::shared_ptr<mux_conn> create(std::unique_ptr<byte_stream> transport,
                                            yamux::role role, yamux::config cfg = {});
    ~mux_conn();

    // Starts the reader, writer and keepalive coroutines. Call once.
    void start();
    asio::awaitable<std::expected<mux_stream, std::error_code>> open_stream(
        std::optional<clock::time_point> deadline = std::nullopt);
    asio::awaitable<std::expected<mux_stream, std::error_code>> accept_stream(
        std::optional<clock::time_point> deadline = std::nullopt);
    // Go-away + flush + close the transport. Pending operations fail.
    void close();

    bool is_closed() const { return session_.is_closed(); }
    std::error_code error() const { return session_.error(); }
    const yamux::session& session() const { return session_; }
    yamux::session& session() { return session_; }
    asio::any_io_executor get_executor() const { return executor_; }

    // ---- for mux_stream ----
    // What a waiting operation waits for; notify_all() wakes only the waiters whose condition
    // now holds (every one once the session or transport is closed), so a frame for one stream
    // does not wake the other streams' readers and writers.
    enum class wait_for : std::uint8_t {
        anything,     // any notification
        readable,     // stream `id` has data, or cannot be read any more
        writable,     // stream `id` has send window and the outbox has room, or cannot be written
        output,       // the outbox has bytes (the writer coroutine)
        outbox_room,  // the outbox shrank below the reader's backpressure bound
        incoming,     // an incoming stream is waiting to be accepted
        timer,        // the keepalive schedule changed from `deadline`
    };
    // Wakes the waiting operations whose condition holds (call after changing the session).
    void notify_all();
    // Waits until notify_all() finds `what` ready, or the deadline; false when the deadline
    // passed.
    asio::awaitable<bool> wait_change(std::optional<clock::time_point> deadline,
                                      wait_for what = wait_for::anything, std::uint32_t id = 0);
    // Outbox size above which writers wait for the writer coroutine.
    static constexpr std::size_t max_outbox = 1024 * 1024;

  private:
    mux_conn(std::unique_ptr<byte_stream> transport, yamux::role role, yamux::config cfg);
    static asio::awaitable<void> read_loop(std::shared_ptr<mux_conn> self);
    static asio::awaitable<void> write_loop(std::shared_ptr<mux_conn> self);
    static asio::awaitable<void> timer_loop(std::shared_ptr<mux_conn> self);
    void transport_failed(std::error_code ec);

    std::unique_ptr<byte_stream> transport_;
    asio::any_io_executor executor_;
    yamux::session session_;
    struct waiter {
        asio::steady_timer* timer;
        wait_for what;
        std::uint32_t id;
        std::optional<clock::time_point> deadline;
    };
    bool ready(const waiter& w) const;
    std::vector<waiter> waiters_;
    bool started_ = false;
    bool transport_closed_ = false;
};

// The result of one msgpack-rpc call: error == "" is success, body is the reply object.
struct rpc_reply {
    std::string error;
    std::vector<std::uint8_t> body;
};

// Process-wide call sequence (atomic, starts at 1) like msgpackrpc.CallWithCodec.
std::uint64_t next_call_seq();

// One call on `stream` (no other concurrent use of the stream): writes the request header +
// `args` (one encoded msgpack object) and reads the response. Transport/codec failures and the
// timeout (std::errc::timed_out) are errors; a server-side error is rpc_reply::error.
// Parameters are taken by value (g++ 12 coroutine temporaries).
asio::awaitable<std::expected<rpc_reply, std::error_code>> call(mux_stream& stream,
                                                                std::string method,
                                                                std::vector<std::uint8_t> args,
                                                                std::chrono::milliseconds timeout,
                                                                decoder_limits limits = {});

}  // namespace meshfed::rpc
