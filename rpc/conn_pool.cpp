#include "rpc/conn_pool.hpp"

#include <fmt/format.h>
#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include "common/asio_compat.hpp"
#include "tls/configurator.hpp"
#include "tls/stream.hpp"

namespace meshfed::rpc {
namespace {
using namespace asio::experimental::awaitable_operators;
using asio::ip::tcp;
}  // namespace

struct conn_pool::impl : std::enable_shared_from_this<conn_pool::impl> {
    struct entry {
        std::shared_ptr<mux_conn> conn;
        bool dialing = false;
        std::string dial_error;
        std::shared_ptr<asio::steady_timer> dial_done;  // cancelled when the dial finishes
        std::chrono::steady_clock::time_point last_used;
        std::vector<mux_stream> idle;  // streams of `conn` between calls, newest last
    };
    // Consul's pool keeps this many idle streams per connection (MaxStreams).
    static constexpr std::size_t max_idle_streams = 64;
    asio::any_io_executor ex;
    dialer_fn dialer;
    std::chrono::milliseconds idle_timeout;
    std::map<std::string, entry> entries;  // key "<name>:<addr>", as Consul's pool
    pool_stats stats;
    asio::steady_timer reaper;
    bool closed = false;

    impl(asio::any_io_executor e, dialer_fn d, std::chrono::milliseconds idle)
        : ex(e), dialer(std::move(d)), idle_timeout(idle), reaper(e) {}

    static std::string key(const server_info& s) { return s.name + ":" + s.addr(); }

    // A live session for `s`, dialing (once, shared by concurrent callers) when needed.
    asio::awaitable<std::expected<std::shared_ptr<mux_conn>, std::string>> session(
        [[maybe_unused]] std::shared_ptr<impl> self, server_info s) {
        auto k = key(s);
        for (int round = 0; round < 2; ++round) {
            auto& e = entries[k];
            if (e.conn && !e.conn->is_closed()) co_return e.conn;
            if (e.dialing) {
                auto done = e.dial_done;
                co_await done->async_wait(nothrow_awaitable);
                auto& again = entries[k];
                if (again.conn && !again.conn->is_closed()) co_return again.conn;
                co_return std::unexpected(
                    again.dial_error.empty()
                        ? std::string("rpc error: lead thread didn't get connection")
                        : again.dial_error);
            }
            e.dialing = true;
            e.dial_error.clear();
            e.dial_done =
                std::make_shared<asio::steady_timer>(ex, asio::steady_timer::time_point::max());
            ++stats.dials;
            auto stream = co_await dialer(s);
            auto& after = entries[k];
            after.dialing = false;
            if (!stream) {
                ++stats.dial_failures;
                after.dial_error = stream.error();
                after.dial_done->cancel();
                co_return std::unexpected(stream.error());
            }
            after.conn = mux_conn::create(std::move(*stream), yamux::role::client);
            after.conn->start();
            after.last_used = std::chrono::steady_clock::now();
            after.dial_done->cancel();
            co_return after.conn;
        }
        co_return std::unexpected(std::string("no session"));
    }

    // An idle stream of `conn` (entry `k`) still open both ways, if there is one.
    std::optional<mux_stream> take_idle_stream(const std::string& k,
                                               const std::shared_ptr<mux_conn>& conn) {
        auto it = entries.find(k);
        if (it == entries.end() || it->second.conn != conn) return std::nullopt;
        auto& idle = it->second.idle;
        while (!idle.empty()) {
            mux_stream st = std::move(idle.back());
            idle.pop_back();
            if (conn->session().state(st.id()) == yamux::stream_state::established) return st;
            st.close();  // the remote closed or reset it meanwhile; releasing it finishes it
        }
        return std::nullopt;
    }

    void return_idle_stream(const std::string& k, const std::shared_ptr<mux_conn>& conn,
                            mux_stream st) {
        auto it = entries.find(k);
        if (closed || it == entries.end() || it->second.conn != conn || conn->is_closed() ||
            it->second.idle.size() >= max_idle_streams) {
            st.close();
            return;
        }
        it->second.idle.push_back(std::move(st));
    }

    asio::awaitable<void> reap_loop(std::shared_ptr<impl> self) {
        while (!closed) {
            reaper.expires_after(std::chrono::seconds(1));
            co_await reaper.async_wait(nothrow_awaitable);
            if (closed) co_return;
            auto now = std::chrono::steady_clock::now();
            for (auto it = entries.begin(); it != entries.end();) {
                auto& e = it->second;
                // Idle streams hold the session too; nothing else may.
                bool idle = e.conn && !e.dialing && now - e.last_used >= idle_timeout &&
                            static_cast<std::size_t>(e.conn.use_count()) == 1 + e.idle.size();
                if (idle || (e.conn && e.conn->is_closed() && !e.dialing)) {
                    if (idle) ++stats.idle_closed;
                    e.conn->close();
                    it = entries.erase(it);
                } else {
                    ++it;
                }
            }
        }
        (void)self;
    }
};

conn_pool::conn_pool(asio::any_io_executor ex, dialer_fn dialer,
                     std::chrono::milliseconds idle_timeout)
    : impl_(std::make_shared<impl>(ex, std::move(dialer), idle_timeout)) {
    asio::co_spawn(ex, impl_->reap_loop(impl_), asio::detached);
}

conn_pool::~conn_pool() {
    close_all();
}

void conn_pool::close_all() {
    impl_->closed = true;
    impl_->reaper.cancel();
    for (auto& [k, e] : impl_->entries)
        if (e.conn) e.conn->close();
    impl_->entries.clear();
}

std::size_t conn_pool::sessions() const {
    return impl_->entries.size();
}
const pool_stats& conn_pool::stats() const {
    return impl_->stats;
}

asio::awaitable<std::expected<rpc_reply, std::string>> conn_pool::call(
    server_info target, std::string method, std::vector<std::uint8_t> body,
    std::chrono::milliseconds timeout) {
    auto self = impl_;
    ++self->stats.calls;
    const std::string k = impl::key(target);
    std::string last_error;
    // A broken session (the remote restarted, an idle connection died) gets one redial.
    for (int attempt = 0; attempt < 2; ++attempt) {
        auto conn = co_await self->session(self, target);
        if (!conn) {
            ++self->stats.call_failures;
            co_return std::unexpected(
                fmt::format("rpc to {} ({}): {}", target.name, target.addr(), conn.error()));
        }
        std::expected<mux_stream, std::error_code> stream;
        if (auto idle = self->take_idle_stream(k, *conn)) {
            stream = std::move(*idle);
            ++self->stats.streams_reused;
        } else {
            auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
            stream = co_await (*conn)->open_stream(deadline);
            if (stream) ++self->stats.streams_opened;
        }
        if (!stream) {
            last_error = stream.error().message();
            (*conn)->close();
            self->entries.erase(k);
            ++self->stats.redials;
            continue;
        }
        self->entries[k].last_used = std::chrono::steady_clock::now();
        auto reply = co_await rpc::call(*stream, method, body, timeout);
        if (!reply) {
            // A failed call may still get its answer later: its stream is never reused.
            stream->close();
            ++self->stats.call_failures;
            auto ec = reply.error();
            // The session is suspect after a transport error: drop it.
            if (ec != std::errc::timed_out) {
                (*conn)->close();
                self->entries.erase(k);
            }
            co_return std::unexpected(fmt::format("rpc {} to {} ({}): {}", method, target.name,
                                                  target.addr(), ec.message()));
        }
        // A reply (an RPC error included) leaves the stream in step: keep it for the next call.
        self->return_idle_stream(k, *conn, std::move(*stream));
        co_return std::move(*reply);
    }
    ++self->stats.call_failures;
    co_return std::unexpected(fmt::format("rpc {} to {} ({}): cannot open a stream: {}", method,
                                          target.name, target.addr(), last_error));
}

dialer_fn classic_dialer(asio::any_io_executor ex, std::shared_ptr<tls::configurator> tls) {
    return [ex, tls](server_info target)
               -> asio::awaitable<std::expected<std::unique_ptr<byte_stream>, std::string>> {
        std::error_code ec;
        auto addr = asio::ip::make_address(target.ip, ec);
        if (ec) co_return std::unexpected(fmt::format("invalid server address {}", target.ip));
        tcp::socket sock(ex);
        asio::steady_timer t(ex);
        t.expires_after(std::chrono::seconds(10));
        auto r = co_await (sock.async_connect({addr, target.port}, nothrow_awaitable) ||
                           t.async_wait(nothrow_awaitable));
        if (r.index() == 1) co_return std::unexpected(std::string("dial: i/o timeout"));
        if (auto [cec] = std::get<0>(r); cec)
            co_return std::unexpected(fmt::format("dial: {}", cec.message()));
        sock.set_option(tcp::no_delay(true), ec);
        sock.set_option(asio::socket_base::keep_alive(true), ec);
        if (tls && tls->enabled() && tls->verify_outgoing()) {
            std::uint8_t upgrade = 0x03;
            auto [wec, n] =
                co_await asio::async_write(sock, asio::buffer(&upgrade, 1), nothrow_awaitable);
            if (wec) co_return std::unexpected(fmt::format("write: {}", wec.message()));
            tls::client_target ct{target.dc, "", "", false};
            auto s =
                co_await tls::client_handshake(std::move(sock), *tls, ct, std::chrono::seconds(10));
            if (!s) co_return std::unexpected(s.error());
            std::uint8_t multiplex = 0x04;
            auto [tec, tn] =
                co_await asio::async_write(**s, asio::buffer(&multiplex, 1), nothrow_awaitable);
            if (tec) co_return std::unexpected(fmt::format("write: {}", tec.message()));
            co_return tls::make_byte_stream(std::move(**s));
        }
        std::uint8_t multiplex = 0x04;
        auto [wec, n] =
            co_await asio::async_write(sock, asio::buffer(&multiplex, 1), nothrow_awaitable);
        if (wec) co_return std::unexpected(fmt::format("write: {}", wec.message()));
        co_return make_byte_stream(std::move(sock));
    };
}

}  // namespace meshfed::rpc
