#include "rpc/mux_conn.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <atomic>

namespace meshfed::rpc {

namespace {

std::error_code timed_out() {
    return std::make_error_code(std::errc::timed_out);
}

// True when a wait ended because its deadline passed (not because of a notification).
bool deadline_passed(bool notified, std::optional<std::chrono::steady_clock::time_point> deadline) {
    return !notified && deadline && std::chrono::steady_clock::now() >= *deadline;
}

}  // namespace

// ---- mux_stream --------------------------------------------------------------------------------

mux_stream& mux_stream::operator=(mux_stream&& o) noexcept {
    if (this != &o) {
        if (conn_) {
            conn_->session().release_stream(id_);
            conn_->notify_all();
        }
        conn_ = std::move(o.conn_);
        id_ = o.id_;
    }
    return *this;
}

mux_stream::~mux_stream() {
    if (conn_) {
        conn_->session().release_stream(id_);
        conn_->notify_all();
    }
}

asio::awaitable<std::pair<std::error_code, std::size_t>> mux_stream::async_read_some(
    asio::mutable_buffer buf, std::optional<clock::time_point> deadline) {
    using result = std::pair<std::error_code, std::size_t>;
    if (!conn_) co_return result{std::make_error_code(std::errc::bad_file_descriptor), 0};
    std::shared_ptr<mux_conn> conn = conn_;
    const std::span<std::uint8_t> out(static_cast<std::uint8_t*>(buf.data()), buf.size());
    for (;;) {
        auto r = conn->session().read(id_, out);
        if (!r) {
            if (r.error() == yamux::errc::end_of_stream) co_return result{asio::error::eof, 0};
            co_return result{r.error(), 0};
        }
        if (*r > 0) {
            conn->notify_all();  // a window update may be queued
            co_return result{{}, *r};
        }
        if (out.empty()) co_return result{{}, 0};
        const bool notified =
            co_await conn->wait_change(deadline, mux_conn::wait_for::readable, id_);
        if (deadline_passed(notified, deadline)) co_return result{timed_out(), 0};
    }
}

asio::awaitable<std::error_code> mux_stream::async_write(
    asio::const_buffer buf, std::optional<clock::time_point> deadline) {
    if (!conn_) co_return std::make_error_code(std::errc::bad_file_descriptor);
    std::shared_ptr<mux_conn> conn = conn_;
    std::span<const std::uint8_t> left(static_cast<const std::uint8_t*>(buf.data()), buf.size());
    while (!left.empty()) {
        if (conn->session().output_size() < mux_conn::max_outbox) {
            auto r = conn->session().write(id_, left);
            if (!r) co_return r.error();
            if (*r > 0) {
                left = left.subspan(*r);
                conn->notify_all();
                continue;
            }
        }
        const bool notified =
            co_await conn->wait_change(deadline, mux_conn::wait_for::writable, id_);
        if (deadline_passed(notified, deadline)) co_return timed_out();
    }
    co_return std::error_code{};
}

std::error_code mux_stream::close() {
    if (!conn_) return std::make_error_code(std::errc::bad_file_descriptor);
    auto r = conn_->session().close_stream(id_);
    conn_->notify_all();
    return r ? std::error_code{} : r.error();
}

void mux_stream::reset() {
    if (!conn_) return;
    conn_->session().reset_stream(id_);
    conn_->notify_all();
}

// ---- mux_conn ----------------------------------------------------------------------------------

mux_conn::mux_conn(std::unique_ptr<byte_stream> transport, yamux::role role, yamux::config cfg)
    : transport_(std::move(transport)),
      executor_(transport_->get_executor()),
      session_(role, clock::now(), cfg) {}

mux_conn::~mux_conn() {
    if (transport_ && !transport_closed_) transport_->close();
}

std::shared_ptr<mux_conn> mux_conn::create(std::unique_ptr<byte_stream> transport, yamux::role role,
                                           yamux::config cfg) {
    return std::shared_ptr<mux_conn>(new mux_conn(std::move(transport), role, cfg));
}

void mux_conn::start() {
    if (started_) return;
    started_ = true;
    auto self = shared_from_this();
    asio::co_spawn(executor_, read_loop(self), asio::detached);
    asio::co_spawn(executor_, write_loop(self), asio::detached);
    asio::co_spawn(executor_, timer_loop(self), asio::detached);
}

bool mux_conn::ready(const waiter& w) const {
    if (transport_closed_ || session_.is_closed()) return true;
    switch (w.what) {
        case wait_for::anything:
            return true;
        case wait_for::readable: {
            auto st = session_.state(w.id);
            return !st || session_.readable(w.id) > 0 || *st == yamux::stream_state::remote_close ||
                   *st == yamux::stream_state::closed || *st == yamux::stream_state::reset;
        }
        case wait_for::writable: {
            auto st = session_.state(w.id);
            if (!st || *st == yamux::stream_state::local_close ||
                *st == yamux::stream_state::closed || *st == yamux::stream_state::reset)
                return true;
            return session_.output_size() < max_outbox && session_.send_window(w.id) > 0;
        }
        case wait_for::output:
            return session_.output_size() > 0;
        case wait_for::outbox_room:
            return session_.output_size() <= 4 * max_outbox;
        case wait_for::incoming:
            return session_.accept_queue_size() > 0;
        case wait_for::timer:
            return session_.next_timer() != w.deadline;
    }
    return true;
}

void mux_conn::notify_all() {
    // Woken waiters leave the list at once (a cancelled timer needs no second cancel).
    for (std::size_t i = 0; i < waiters_.size();) {
        if (ready(waiters_[i])) {
            waiters_[i].timer->cancel();
            waiters_[i] = waiters_.back();
            waiters_.pop_back();
        } else {
            ++i;
        }
    }
}

asio::awaitable<bool> mux_conn::wait_change(std::optional<clock::time_point> deadline,
                                            wait_for what, std::uint32_t id) {
    asio::steady_timer timer(executor_);
    timer.expires_at(deadline ? *deadline : clock::time_point::max());
    waiters_.push_back({&timer, what, id, deadline});
    // Unregisters on resumption and also when the suspended frame is destroyed (io_context
    // shutdown), so notify_all() never touches a dead timer.
    struct unregister {
        std::vector<waiter>& waiters;
        asio::steady_timer* timer;
        ~unregister() {
            std::erase_if(waiters, [this](const waiter& w) { return w.timer == timer; });
        }
    } guard{waiters_, &timer};
    auto [ec] = co_await timer.async_wait(nothrow_awaitable);
    co_return ec == asio::error::operation_aborted;
}

void mux_conn::transport_failed(std::error_code ec) {
    if (!session_.is_closed()) session_.abort(ec);
    if (!transport_closed_) {
        transport_closed_ = true;
        transport_->close();
    }
    notify_all();
}

void mux_conn::close() {
    session_.shutdown();
    if (!started_ && !transport_closed_) {
        transport_closed_ = true;
        transport_->close();
    }
    notify_all();
}

asio::awaitable<void> mux_conn::read_loop(std::shared_ptr<mux_conn> self) {
    std::vector<std::uint8_t> buf(64 * 1024);
    while (!self->transport_closed_) {
        // Backpressure: a peer that floods pings (or window updates triggering output) but never
        // reads cannot grow the outbox without bound; stop reading until the writer drains it.
        while (self->session_.output_size() > 4 * max_outbox && !self->transport_closed_)
            co_await self->wait_change(std::nullopt, wait_for::outbox_room);
        if (self->transport_closed_) co_return;
        auto [ec, n] = co_await self->transport_->read_some(asio::buffer(buf));
        if (ec) {
            self->transport_failed(ec);
            co_return;
        }
        self->session_.feed(clock::now(), std::span(buf.data(), n));
        self->notify_all();
        if (self->session_.is_closed()) co_return;  // the writer flushes go-away and closes
    }
}

asio::awaitable<void> mux_conn::write_loop(std::shared_ptr<mux_conn> self) {
    for (;;) {
        if (self->transport_closed_) co_return;
        if (self->session_.output_size() > 0) {
            auto out = self->session_.take_output();
            auto ec = co_await self->transport_->write_all(asio::buffer(out));
            if (ec) {
                self->transport_failed(ec);
                co_return;
            }
            self->notify_all();  // writers waiting on the outbox bound
            continue;
        }
        if (self->session_.is_closed()) {
            self->transport_closed_ = true;
            self->transport_->close();
            self->notify_all();
            co_return;
        }
        co_await self->wait_change(std::nullopt, wait_for::output);
    }
}

asio::awaitable<void> mux_conn::timer_loop(std::shared_ptr<mux_conn> self) {
    while (!self->session_.is_closed() && !self->transport_closed_) {
        const auto next = self->session_.next_timer();
        const bool notified = co_await self->wait_change(next, wait_for::timer);
        if (!notified && next && clock::now() >= *next) {
            self->session_.on_timer(clock::now());
            self->notify_all();
        }
    }
}

asio::awaitable<std::expected<mux_stream, std::error_code>> mux_conn::open_stream(
    std::optional<clock::time_point> deadline) {
    for (;;) {
        auto r = session_.open_stream();
        if (r) {
            notify_all();
            co_return mux_stream(shared_from_this(), *r);
        }
        if (r.error() != yamux::errc::open_backlog_full) co_return std::unexpected(r.error());
        const bool notified = co_await wait_change(deadline);
        if (deadline_passed(notified, deadline)) co_return std::unexpected(timed_out());
    }
}

asio::awaitable<std::expected<mux_stream, std::error_code>> mux_conn::accept_stream(
    std::optional<clock::time_point> deadline) {
    for (;;) {
        if (auto id = session_.accept_stream()) {
            notify_all();
            co_return mux_stream(shared_from_this(), *id);
        }
        if (session_.is_closed()) co_return std::unexpected(session_.error());
        const bool notified = co_await wait_change(deadline, wait_for::incoming);
        if (deadline_passed(notified, deadline)) co_return std::unexpected(timed_out());
    }
}

// ---- call --------------------------------------------------------------------------------------

std::uint64_t next_call_seq() {
    static std::atomic<std::uint64_t> seq{0};
    return seq.fetch_add(1, std::memory_order_relaxed) + 1;
}

asio::awaitable<std::expected<rpc_reply, std::error_code>> call(mux_stream& stream,
                                                                std::string method,
                                                                std::vector<std::uint8_t> args,
                                                                std::chrono::milliseconds timeout,
                                                                decoder_limits limits) {
    std::optional<mux_stream::clock::time_point> deadline;
    if (timeout.count() > 0) deadline = mux_stream::clock::now() + timeout;
    const std::uint64_t seq = next_call_seq();
    std::vector<std::uint8_t> request;
    encode_request(request, method, seq, args);
    const auto wec = co_await stream.async_write(asio::buffer(request), deadline);
    if (wec) co_return std::unexpected(wec);

    response_decoder decoder(limits);
    std::vector<std::uint8_t> buf(16 * 1024);
    for (;;) {
        auto m = decoder.next();
        if (!m) co_return std::unexpected(m.error());
        if (*m) {
            if ((*m)->header.seq != seq)
                co_return std::unexpected(std::make_error_code(std::errc::protocol_error));
            rpc_reply reply;
            reply.error = std::move((*m)->header.error);
            reply.body = std::move((*m)->body);
            co_return reply;
        }
        auto [rec, n] = co_await stream.async_read_some(asio::buffer(buf), deadline);
        if (rec) {
            if (rec == asio::error::eof && decoder.buffered() > 0)
                co_return std::unexpected(make_error_code(codec_errc::truncated));
            co_return std::unexpected(rec);
        }
        decoder.feed(std::span(buf.data(), n));
    }
}

}  // namespace meshfed::rpc
