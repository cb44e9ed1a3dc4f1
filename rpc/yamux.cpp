#include "rpc/yamux.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

namespace meshfed::rpc::yamux {

namespace {

class category_impl : public std::error_category {
  public:
    const char* name() const noexcept override { return "yamux"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::invalid_version:
                return "yamux: invalid protocol version";
            case errc::invalid_msg_type:
                return "yamux: invalid msg type";
            case errc::recv_window_exceeded:
                return "yamux: recv window exceeded";
            case errc::duplicate_stream:
                return "yamux: duplicate stream initiated";
            case errc::bad_stream_id:
                return "yamux: stream id of the wrong parity";
            case errc::send_window_overflow:
                return "yamux: send window overflow";
            case errc::remote_protocol_error:
                return "yamux protocol error";
            case errc::remote_internal_error:
                return "remote yamux internal error";
            case errc::unexpected_go_away:
                return "unexpected go away received";
            case errc::keepalive_timeout:
                return "yamux: keepalive timeout";
            case errc::session_shutdown:
                return "yamux: session shutdown";
            case errc::remote_go_away:
                return "yamux: remote end is not accepting connections";
            case errc::streams_exhausted:
                return "yamux: streams exhausted";
            case errc::open_backlog_full:
                return "yamux: too many unacknowledged stream opens";
            case errc::unknown_stream:
                return "yamux: unknown stream";
            case errc::stream_closed:
                return "yamux: stream closed";
            case errc::stream_reset:
                return "yamux: connection reset";
            case errc::end_of_stream:
                return "yamux: end of stream";
        }
        return "yamux: unknown error";
    }
};

std::unexpected<std::error_code> fail_with(errc e) {
    return std::unexpected(make_error_code(e));
}

void put_be(std::uint8_t* p, std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) *p++ = static_cast<std::uint8_t>(v >> (8 * i));
}

std::uint32_t get_be32(const std::uint8_t* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
           p[3];
}

}  // namespace

const std::error_category& yamux_category() noexcept {
    static const category_impl instance;
    return instance;
}

std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), yamux_category()};
}

// ---- frame header ------------------------------------------------------------------------------

std::array<std::uint8_t, frame_header::size> frame_header::encode() const {
    std::array<std::uint8_t, size> b{};
    b[0] = version;
    b[1] = static_cast<std::uint8_t>(type);
    put_be(&b[2], flags, 2);
    put_be(&b[4], stream_id, 4);
    put_be(&b[8], length, 4);
    return b;
}

void frame_header::append_to(std::vector<std::uint8_t>& out) const {
    const auto b = encode();
    out.insert(out.end(), b.begin(), b.end());
}

std::expected<frame_header, std::error_code> frame_header::decode(
    std::span<const std::uint8_t> bytes) {
    if (bytes.size() < size) return fail_with(errc::invalid_version);
    if (bytes[0] != protocol_version) return fail_with(errc::invalid_version);
    if (bytes[1] > static_cast<std::uint8_t>(frame_type::go_away))
        return fail_with(errc::invalid_msg_type);
    frame_header h;
    h.version = bytes[0];
    h.type = static_cast<frame_type>(bytes[1]);
    h.flags = static_cast<std::uint16_t>((bytes[2] << 8) | bytes[3]);
    h.stream_id = get_be32(&bytes[4]);
    h.length = get_be32(&bytes[8]);
    return h;
}

// ---- session -----------------------------------------------------------------------------------

session::session(role r, clock::time_point now, config cfg)
    : role_(r), cfg_(cfg), next_stream_id_(r == role::client ? 1 : 2) {
    cfg_.max_stream_window = std::max(cfg_.max_stream_window, initial_stream_window);
    if (cfg_.accept_backlog == 0) cfg_.accept_backlog = 1;
    next_keepalive_ = now + cfg_.keepalive_interval;
}

void session::emit(frame_type t, std::uint16_t flags, std::uint32_t id, std::uint32_t length) {
    frame_header h;
    h.type = t;
    h.flags = flags;
    h.stream_id = id;
    h.length = length;
    h.append_to(out_);
    ++stats_.frames_out;
}

std::uint16_t session::take_send_flags(stream& s) {
    switch (s.state) {
        case stream_state::init:
            s.state = stream_state::syn_sent;
            return flag::syn;
        case stream_state::syn_received:
            s.state = stream_state::established;
            return flag::ack;
        default:
            return 0;
    }
}

// Mirrors yamux Stream.sendWindowUpdate: top the receive window up to max minus what is still
// buffered, but only when that is at least half the max (or flags must go out anyway).
void session::send_window_update(std::uint32_t id, stream& s) {
    const std::uint32_t max = cfg_.max_stream_window;
    const auto buffered = static_cast<std::uint32_t>(std::min<std::size_t>(s.buffered(), max));
    const std::uint32_t target = max - buffered;
    const std::uint32_t delta = target > s.recv_window ? target - s.recv_window : 0;
    const std::uint16_t flags = take_send_flags(s);
    if (delta < max / 2 && flags == 0) return;
    s.recv_window += delta;
    emit(frame_type::window_update, flags, id, delta);
}

void session::fail(std::error_code ec, bool protocol_violation, bool send_go_away) {
    if (closed_) return;
    if (protocol_violation) ++stats_.protocol_errors;
    if (send_go_away) {
        local_go_away_ = true;
        emit(frame_type::go_away, 0, 0, static_cast<std::uint32_t>(go_away_code::protocol_error));
    }
    error_ = ec;
    closed_ = true;
    accept_queue_.clear();
    for (auto it = streams_.begin(); it != streams_.end();) {
        if (it->second.released) {
            it = streams_.erase(it);
        } else {
            ++it;
        }
    }
}

void session::detach(std::uint32_t id, stream& s) {
    (void)id;
    s.detached = true;
    if (s.inflight_syn) {
        s.inflight_syn = false;
        if (inflight_syns_ > 0) --inflight_syns_;
    }
}

void session::erase_if_done(std::uint32_t id) {
    auto it = streams_.find(id);
    if (it != streams_.end() && it->second.detached && it->second.released) streams_.erase(it);
}

session::stream* session::live_stream(std::uint32_t id) {
    auto it = streams_.find(id);
    if (it == streams_.end() || it->second.detached) return nullptr;
    return &it->second;
}

std::error_code session::feed(clock::time_point now, std::span<const std::uint8_t> in) {
    std::size_t i = 0;
    while (i < in.size() && !closed_) {
        if (payload_left_ > 0) {
            const auto n =
                static_cast<std::uint32_t>(std::min<std::size_t>(payload_left_, in.size() - i));
            auto it = payload_discard_ ? streams_.end() : streams_.find(payload_stream_);
            stream* s = it == streams_.end() ? nullptr : &it->second;
            if (s != nullptr && s->state != stream_state::reset) {
                s->recv_buf.insert(s->recv_buf.end(), in.begin() + static_cast<std::ptrdiff_t>(i),
                                   in.begin() + static_cast<std::ptrdiff_t>(i + n));
                stats_.data_bytes_in += n;
            } else {
                stats_.dropped_bytes += n;
            }
            payload_left_ -= n;
            i += n;
            continue;
        }
        const std::size_t take = std::min(frame_header::size - hdr_len_, in.size() - i);
        std::memcpy(hdr_buf_.data() + hdr_len_, in.data() + i, take);
        hdr_len_ += take;
        i += take;
        if (hdr_len_ < frame_header::size) break;
        hdr_len_ = 0;
        auto h = frame_header::decode(hdr_buf_);
        if (!h) {
            fail(h.error(), true, true);
            break;
        }
        ++stats_.frames_in;
        handle_header(now, *h);
    }
    return error_;
}

void session::handle_header(clock::time_point now, const frame_header& h) {
    switch (h.type) {
        case frame_type::ping: {
            if (h.flags & flag::syn) {
                emit(frame_type::ping, flag::ack, 0, h.length);
                ++stats_.pings_answered;
            } else if (h.flags & flag::ack) {
                auto it = pings_.find(h.length);
                if (it != pings_.end()) {
                    last_rtt_ = now - it->second;
                    pings_.erase(it);
                    ++stats_.pongs_received;
                    if (keepalive_ping_ == h.length) {
                        keepalive_ping_.reset();
                        next_keepalive_ = now + cfg_.keepalive_interval;
                    }
                } else {
                    ++stats_.dropped_frames;  // late or unsolicited pong
                }
            } else {
                ++stats_.dropped_frames;
            }
            return;
        }
        case frame_type::go_away: {
            switch (static_cast<go_away_code>(h.length)) {
                case go_away_code::normal:
                    remote_go_away_ = true;
                    return;
                case go_away_code::protocol_error:
                    fail(errc::remote_protocol_error, false, false);
                    return;
                case go_away_code::internal_error:
                    fail(errc::remote_internal_error, false, false);
                    return;
            }
            fail(errc::unexpected_go_away, true, false);
            return;
        }
        case frame_type::data:
        case frame_type::window_update:
            break;
    }

    const std::uint32_t id = h.stream_id;
    if (h.flags & flag::syn) {
        if (!incoming_stream(id)) return;
    }
    stream* s = live_stream(id);
    if (s == nullptr) {
        ++stats_.dropped_frames;
        if (h.type == frame_type::data && h.length > 0) {
            payload_left_ = h.length;
            payload_discard_ = true;
        }
        return;
    }
    const bool fin_seen_before = s->state == stream_state::remote_close;
    if (!process_flags(id, *s, h.flags)) return;

    if (h.type == frame_type::window_update) {
        s = live_stream(id);
        if (s == nullptr) return;  // reset / fully closed by these flags
        if (std::uint64_t{s->send_window} + h.length > std::numeric_limits<std::uint32_t>::max()) {
            fail(errc::send_window_overflow, true, true);
            return;
        }
        s->send_window += h.length;
        return;
    }

    // Data frame.
    if (h.length == 0) return;
    auto it = streams_.find(id);
    if (it == streams_.end() || it->second.state == stream_state::reset || fin_seen_before) {
        // Data for a stream reset by this frame, or in a frame after the peer's FIN: drop it.
        ++stats_.dropped_frames;
        payload_left_ = h.length;
        payload_discard_ = true;
        return;
    }
    stream& st = it->second;  // may be detached by a FIN in this frame: data still counts
    if (h.length > st.recv_window) {
        fail(errc::recv_window_exceeded, true, true);
        return;
    }
    st.recv_window -= h.length;
    st.recv_buf.reserve(st.recv_buf.size() + h.length);
    payload_left_ = h.length;
    payload_stream_ = id;
    payload_discard_ = false;
}

bool session::incoming_stream(std::uint32_t id) {
    const bool ours = role_ == role::client ? (id % 2 == 1) : (id % 2 == 0);
    if (id == 0 || ours) {
        fail(errc::bad_stream_id, true, true);
        return false;
    }
    if (local_go_away_) {
        emit(frame_type::window_update, flag::rst, id, 0);
        ++stats_.refused_streams;
        return true;
    }
    if (streams_.contains(id)) {
        fail(errc::duplicate_stream, true, true);
        return false;
    }
    if (streams_.size() >= cfg_.max_streams) {
        emit(frame_type::window_update, flag::rst, id, 0);
        ++stats_.refused_streams;
        return true;
    }
    if (accept_queue_.size() >= cfg_.accept_backlog) {
        emit(frame_type::window_update, flag::rst, id, 0);
        ++stats_.backlog_resets;
        return true;
    }
    stream s;
    s.state = stream_state::syn_received;
    s.recv_window = initial_stream_window;
    s.send_window = initial_stream_window;
    streams_.emplace(id, std::move(s));
    accept_queue_.push_back(id);
    return true;
}

bool session::process_flags(std::uint32_t id, stream& s, std::uint16_t flags) {
    if (flags & flag::ack) {
        if (s.state == stream_state::syn_sent) s.state = stream_state::established;
        if (s.inflight_syn) {
            s.inflight_syn = false;
            if (inflight_syns_ > 0) --inflight_syns_;
        }
    }
    if (flags & flag::fin) {
        switch (s.state) {
            case stream_state::syn_sent:
            case stream_state::syn_received:
            case stream_state::established:
                s.state = stream_state::remote_close;
                break;
            case stream_state::local_close:
                s.state = stream_state::closed;
                detach(id, s);
                break;
            default:
                ++stats_.dropped_frames;  // duplicate FIN: ignored (yamux would fail)
                break;
        }
    }
    if (flags & flag::rst) {
        s.state = stream_state::reset;
        s.recv_buf.clear();
        s.recv_off = 0;
        detach(id, s);
    }
    erase_if_done(id);
    return true;
}

void session::on_timer(clock::time_point now) {
    if (closed_) return;
    if (keepalive_ping_) {
        auto it = pings_.find(*keepalive_ping_);
        if (it != pings_.end() && now - it->second >= cfg_.connection_write_timeout) {
            fail(errc::keepalive_timeout, false, false);
            return;
        }
    }
    // Expire user pings that were never answered.
    for (auto it = pings_.begin(); it != pings_.end();) {
        if (now - it->second >= cfg_.connection_write_timeout &&
            (!keepalive_ping_ || *keepalive_ping_ != it->first)) {
            it = pings_.erase(it);
        } else {
            ++it;
        }
    }
    if (cfg_.enable_keepalive && !keepalive_ping_ && now >= next_keepalive_) {
        keepalive_ping_ = ping(now);
        next_keepalive_ = now + cfg_.keepalive_interval;
    }
}

std::optional<session::clock::time_point> session::next_timer() const {
    if (closed_) return std::nullopt;
    std::optional<clock::time_point> t;
    if (cfg_.enable_keepalive && !keepalive_ping_) t = next_keepalive_;
    for (const auto& [id, sent] : pings_) {
        const auto due = sent + cfg_.connection_write_timeout;
        if (!t || due < *t) t = due;
    }
    return t;
}

std::vector<std::uint8_t> session::take_output() {
    std::vector<std::uint8_t> out;
    out.swap(out_);
    return out;
}

std::expected<std::uint32_t, std::error_code> session::open_stream() {
    if (closed_) return std::unexpected(error_);
    if (remote_go_away_) return fail_with(errc::remote_go_away);
    if (inflight_syns_ >= cfg_.accept_backlog) return fail_with(errc::open_backlog_full);
    const std::uint32_t id = next_stream_id_;
    if (id >= std::numeric_limits<std::uint32_t>::max() - 1)
        return fail_with(errc::streams_exhausted);
    next_stream_id_ += 2;
    stream s;
    s.inflight_syn = true;
    auto [it, inserted] = streams_.emplace(id, std::move(s));
    (void)inserted;
    ++inflight_syns_;
    ++stats_.streams_opened;
    send_window_update(id, it->second);  // WindowUpdate SYN, delta 0
    return id;
}

std::optional<std::uint32_t> session::accept_stream() {
    while (!accept_queue_.empty()) {
        const std::uint32_t id = accept_queue_.front();
        accept_queue_.pop_front();
        auto it = streams_.find(id);
        if (it == streams_.end()) continue;
        ++stats_.streams_accepted;
        if (!it->second.detached && !closed_) send_window_update(id, it->second);  // ACK
        return id;
    }
    return std::nullopt;
}

std::expected<std::size_t, std::error_code> session::read(std::uint32_t id,
                                                          std::span<std::uint8_t> buf) {
    auto it = streams_.find(id);
    if (it == streams_.end()) return fail_with(errc::unknown_stream);
    stream& s = it->second;
    if (s.state == stream_state::reset) return fail_with(errc::stream_reset);
    if (s.buffered() > 0 && !buf.empty()) {
        const std::size_t n = std::min(buf.size(), s.buffered());
        std::memcpy(buf.data(), s.recv_buf.data() + s.recv_off, n);
        s.recv_off += n;
        if (s.recv_off == s.recv_buf.size()) {
            s.recv_buf.clear();
            s.recv_off = 0;
        } else if (s.recv_off >= 64 * 1024 && s.recv_off * 2 >= s.recv_buf.size()) {
            s.recv_buf.erase(s.recv_buf.begin(),
                             s.recv_buf.begin() + static_cast<std::ptrdiff_t>(s.recv_off));
            s.recv_off = 0;
        }
        if (!s.detached && !closed_) send_window_update(id, s);
        return n;
    }
    if (s.buffered() > 0) return 0;
    if (s.state == stream_state::remote_close || s.state == stream_state::closed)
        return fail_with(errc::end_of_stream);
    if (closed_) return std::unexpected(error_);
    return 0;
}

std::expected<std::size_t, std::error_code> session::write(std::uint32_t id,
                                                           std::span<const std::uint8_t> data) {
    auto it = streams_.find(id);
    if (it == streams_.end()) return fail_with(errc::unknown_stream);
    if (closed_) return std::unexpected(error_);
    stream& s = it->second;
    switch (s.state) {
        case stream_state::local_close:
        case stream_state::closed:
            return fail_with(errc::stream_closed);
        case stream_state::reset:
            return fail_with(errc::stream_reset);
        default:
            break;
    }
    if (data.empty() || s.send_window == 0) return 0;
    const auto n = static_cast<std::uint32_t>(std::min<std::size_t>(s.send_window, data.size()));
    const std::uint16_t flags = take_send_flags(s);
    emit(frame_type::data, flags, id, n);
    out_.insert(out_.end(), data.begin(), data.begin() + n);
    s.send_window -= n;
    stats_.data_bytes_out += n;
    return n;
}

std::expected<void, std::error_code> session::close_stream(std::uint32_t id) {
    auto it = streams_.find(id);
    if (it == streams_.end()) return fail_with(errc::unknown_stream);
    stream& s = it->second;
    if (closed_) return {};
    switch (s.state) {
        case stream_state::syn_sent:
        case stream_state::syn_received:
        case stream_state::established: {
            const std::uint16_t flags = take_send_flags(s);
            s.state = stream_state::local_close;
            emit(frame_type::window_update, flags | flag::fin, id, 0);
            break;
        }
        case stream_state::remote_close: {
            const std::uint16_t flags = take_send_flags(s);
            s.state = stream_state::closed;
            emit(frame_type::window_update, flags | flag::fin, id, 0);
            detach(id, s);
            break;
        }
        default:
            break;
    }
    return {};
}

void session::reset_stream(std::uint32_t id) {
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    stream& s = it->second;
    if (!s.detached && !closed_) emit(frame_type::window_update, flag::rst, id, 0);
    s.state = stream_state::reset;
    s.recv_buf.clear();
    s.recv_off = 0;
    detach(id, s);
    s.released = true;
    std::erase(accept_queue_, id);
    erase_if_done(id);
}

void session::release_stream(std::uint32_t id) {
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    if (!it->second.detached && !closed_) {
        reset_stream(id);
        return;
    }
    streams_.erase(it);
    std::erase(accept_queue_, id);
}

std::optional<stream_state> session::state(std::uint32_t id) const {
    auto it = streams_.find(id);
    if (it == streams_.end()) return std::nullopt;
    return it->second.state;
}

std::size_t session::readable(std::uint32_t id) const {
    auto it = streams_.find(id);
    return it == streams_.end() ? 0 : it->second.buffered();
}

std::uint32_t session::send_window(std::uint32_t id) const {
    auto it = streams_.find(id);
    return it == streams_.end() ? 0 : it->second.send_window;
}

std::uint32_t session::recv_window(std::uint32_t id) const {
    auto it = streams_.find(id);
    return it == streams_.end() ? 0 : it->second.recv_window;
}

std::uint32_t session::ping(clock::time_point now) {
    const std::uint32_t id = next_ping_id_++;
    if (closed_) return id;
    pings_[id] = now;
    emit(frame_type::ping, flag::syn, 0, id);
    ++stats_.pings_sent;
    return id;
}

void session::go_away(go_away_code code) {
    if (closed_) return;
    local_go_away_ = true;
    emit(frame_type::go_away, 0, 0, static_cast<std::uint32_t>(code));
}

void session::shutdown() {
    if (closed_) return;
    if (!local_go_away_) go_away(go_away_code::normal);
    error_ = errc::session_shutdown;
    closed_ = true;
    accept_queue_.clear();
    for (auto& [id, s] : streams_) {
        if (!s.detached && s.state != stream_state::reset) s.state = stream_state::closed;
    }
    std::erase_if(streams_, [](const auto& kv) { return kv.second.released; });
}

void session::abort(std::error_code ec) {
    fail(ec ? ec : make_error_code(errc::session_shutdown), false, false);
}

}  // namespace meshfed::rpc::yamux
