#include "wan/wanfed.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>

#include "common/asio_compat.hpp"
#include "common/log.hpp"
#include "tls/alpn.hpp"

namespace meshfed::wan::wanfed {

using clock = std::chrono::steady_clock;
using namespace asio::experimental::awaitable_operators;

std::optional<std::pair<std::string, std::string>> split_member_name(std::string_view name) {
    auto dot = name.find('.');
    if (dot == std::string_view::npos || dot == 0 || dot + 1 >= name.size()) return std::nullopt;
    if (name.find('.', dot + 1) != std::string_view::npos) return std::nullopt;
    return std::pair{std::string(name.substr(0, dot)), std::string(name.substr(dot + 1))};
}

bytes frame_packet(std::span<const std::uint8_t> datagram) {
    bytes out;
    out.reserve(datagram.size() + 4);
    auto n = static_cast<std::uint32_t>(datagram.size());
    out.push_back(static_cast<std::uint8_t>(n >> 24));
    out.push_back(static_cast<std::uint8_t>(n >> 16));
    out.push_back(static_cast<std::uint8_t>(n >> 8));
    out.push_back(static_cast<std::uint8_t>(n));
    out.insert(out.end(), datagram.begin(), datagram.end());
    return out;
}

void frame_decoder::feed(std::span<const std::uint8_t> data) {
    if (failed()) return;
    // Compact before growing so a long-lived connection does not keep consumed bytes.
    if (pos_ > 0 && pos_ == buf_.size()) {
        buf_.clear();
        pos_ = 0;
    } else if (pos_ > 64 * 1024) {
        buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
        pos_ = 0;
    }
    buf_.insert(buf_.end(), data.begin(), data.end());
}

std::optional<bytes> frame_decoder::next() {
    if (failed() || buffered() < 4) return std::nullopt;
    const std::uint8_t* p = buf_.data() + pos_;
    std::uint32_t n = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                      (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
    if (n > max_) {
        error_ = fmt::format("gossip packet size {} exceeds threshold of {}", n, max_);
        return std::nullopt;
    }
    if (buffered() < 4 + std::size_t{n}) return std::nullopt;
    bytes out(p + 4, p + 4 + n);
    pos_ += 4 + n;
    return out;
}

tunnel::tunnel(asio::any_io_executor ex, std::string local_dc, dial_fn dial)
    : ex_(std::move(ex)),
      local_dc_(std::move(local_dc)),
      dial_(std::move(dial)),
      log_(get_logger("agent.wan")) {}

tunnel::~tunnel() {
    stop();
}

std::expected<bool, std::string> tunnel::applies(std::string_view to_node) const {
    auto parts = split_member_name(to_node);
    if (!parts)
        return std::unexpected(fmt::format("node name does not encode a datacenter: {}", to_node));
    return parts->second != local_dc_;
}

void tunnel::send_packet(const std::string& to_node, bytes datagram) {
    if (stopped_) return;
    auto& c = conns_[to_node];
    if (!c) {
        // Only a new connection needs the name taken apart (this runs for every packet).
        auto parts = split_member_name(to_node);
        if (!parts) {
            conns_.erase(to_node);
            ++stats_.bad_names;
            ++stats_.packets_dropped_no_route;
            return;
        }
        c = std::make_shared<packet_conn>();
        c->node = parts->first;
        c->dc = parts->second;
    }
    if (!c->stream && clock::now() < c->retry_after) {
        ++stats_.packets_dropped_backoff;
        return;
    }
    if (c->queue.size() >= max_queued_packets) {
        ++stats_.packets_dropped_queue_full;
        return;
    }
    c->queue.push_back(frame_packet(datagram));
    c->last_used = clock::now();
    if (!c->writing) {
        c->writing = true;
        asio::co_spawn(ex_, writer(shared_from_this(), to_node), asio::detached);
    }
    if (!reaper_running_) {
        reaper_running_ = true;
        asio::co_spawn(ex_, reaper(shared_from_this()), asio::detached);
    }
}

asio::awaitable<void> tunnel::writer(std::shared_ptr<tunnel> self, std::string to_node) {
    auto it = self->conns_.find(to_node);
    if (it == self->conns_.end()) co_return;
    auto c = it->second;  // keeps the entry alive even if the reaper drops it
    while (!c->queue.empty() && !self->stopped_) {
        if (!c->stream) {
            ++self->stats_.packet_dials;
            auto s = co_await self->dial_(c->dc, c->node, std::string(tls::alpn::wan_gossip_packet),
                                          clock::now() + dial_timeout);
            if (self->stopped_) break;
            if (!s) {
                ++self->stats_.packet_dial_failures;
                self->stats_.packets_dropped_no_route += c->queue.size();
                self->log_->warn(
                    "memberlist: Failed to send gossip to {} (datacenter {}, ALPN {}, via mesh "
                    "gateway): {}",
                    to_node, c->dc, tls::alpn::wan_gossip_packet, s.error());
                c->queue.clear();
                c->retry_after = clock::now() + dial_backoff;
                break;
            }
            c->stream = std::move(*s);
        }
        bytes frame = std::move(c->queue.front());
        c->queue.pop_front();
        auto ec = co_await c->stream->write_all(asio::buffer(frame));
        if (ec) {
            ++self->stats_.packet_write_failures;
            self->log_->debug(
                "memberlist: gossip packet to {} (datacenter {}, via mesh gateway) "
                "failed: {}; redialing",
                to_node, c->dc, ec.message());
            c->stream->close();
            c->stream.reset();
            continue;  // the frame is lost, as a UDP datagram would be
        }
        ++self->stats_.packets_out;
        c->last_used = clock::now();
    }
    c->writing = false;
}

asio::awaitable<void> tunnel::reaper(std::shared_ptr<tunnel> self) {
    asio::steady_timer t(self->ex_);
    while (!self->stopped_ && !self->conns_.empty()) {
        t.expires_after(std::chrono::seconds(1));
        co_await t.async_wait(nothrow_awaitable);
        auto now = clock::now();
        for (auto it = self->conns_.begin(); it != self->conns_.end();) {
            auto& c = it->second;
            if (!c->writing && c->queue.empty() && now - c->last_used > packet_max_idle) {
                if (c->stream) c->stream->close();
                ++self->stats_.packet_conns_reaped;
                it = self->conns_.erase(it);
            } else {
                ++it;
            }
        }
    }
    self->reaper_running_ = false;
}

asio::awaitable<std::expected<std::unique_ptr<byte_stream>, std::string>> tunnel::dial_stream(
    std::string to_node, clock::time_point deadline) {
    auto parts = split_member_name(to_node);
    if (!parts) {
        ++stats_.bad_names;
        co_return std::unexpected(
            fmt::format("node name does not encode a datacenter: {}", to_node));
    }
    if (stopped_) co_return std::unexpected(std::string("gossip tunnel is shut down"));
    auto self = shared_from_this();
    auto s = co_await dial_(parts->second, parts->first, std::string(tls::alpn::wan_gossip_stream),
                            deadline);
    if (!s) {
        ++stats_.stream_dial_failures;
        co_return std::unexpected(s.error());
    }
    ++stats_.streams_out;
    co_return std::move(*s);
}

void tunnel::stop() {
    if (stopped_) return;
    stopped_ = true;
    for (auto& [name, c] : conns_)
        if (c->stream) c->stream->close();
    conns_.clear();
}

asio::awaitable<void> serve_packet_conn(
    std::unique_ptr<byte_stream> conn, std::function<void(std::span<const std::uint8_t>)> on_packet,
    std::shared_ptr<tunnel> stats_owner, std::chrono::milliseconds idle) {
    auto ex = conn->get_executor();
    frame_decoder dec;
    std::vector<std::uint8_t> buf(64 * 1024);
    asio::steady_timer t(ex);
    auto log = get_logger("agent.wan");
    for (;;) {
        t.expires_after(idle);
        auto r = co_await (conn->read_some(asio::buffer(buf)) || t.async_wait(nothrow_awaitable));
        if (r.index() == 1) {
            log->debug("memberlist: closing idle gossip packet connection (ALPN {})",
                       tls::alpn::wan_gossip_packet);
            break;
        }
        auto [ec, n] = std::get<0>(r);
        if (ec) break;  // EOF or error: the sender redials when it has more to say
        dec.feed(std::span<const std::uint8_t>(buf.data(), n));
        while (auto frame = dec.next()) {
            if (stats_owner) ++stats_owner->mutable_stats().packets_in;
            on_packet(*frame);
        }
        if (dec.failed()) {
            if (stats_owner) ++stats_owner->mutable_stats().frames_oversized;
            log->warn("memberlist: closing gossip packet connection (ALPN {}): {}",
                      tls::alpn::wan_gossip_packet, dec.error());
            break;
        }
    }
    conn->close();
}

}  // namespace meshfed::wan::wanfed
