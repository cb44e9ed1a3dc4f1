#include "wan/transport.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/ssl/error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include "common/asio_compat.hpp"
#include "common/log.hpp"
#include "common/net.hpp"
#include "wan/wanfed.hpp"

namespace meshfed::wan {
namespace {

using asio::ip::tcp;
using asio::ip::udp;
using namespace asio::experimental::awaitable_operators;

node_addr to_node_addr(const asio::ip::address& a, std::uint16_t port) {
    node_addr n;
    n.port = port;
    if (a.is_v4()) {
        auto b = a.to_v4().to_bytes();
        n.ip.assign(b.begin(), b.end());
    } else {
        auto v6 = a.to_v6();
        if (v6.is_v4_mapped()) {
            auto b = asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_bytes();
            n.ip.assign(b.begin(), b.end());
        } else {
            auto b = v6.to_bytes();
            n.ip.assign(b.begin(), b.end());
        }
    }
    return n;
}

asio::ip::address to_address(const node_addr& n) {
    if (n.ip.size() == 4) {
        asio::ip::address_v4::bytes_type b;
        std::copy(n.ip.begin(), n.ip.end(), b.begin());
        return asio::ip::address_v4(b);
    }
    asio::ip::address_v6::bytes_type b{};
    std::copy_n(n.ip.begin(), std::min<std::size_t>(16, n.ip.size()), b.begin());
    return asio::ip::address_v6(b);
}

}  // namespace

struct transport::impl : std::enable_shared_from_this<transport::impl> {
    asio::any_io_executor ex;
    memberlist* mlp = nullptr;
    hooks h;
    udp::socket udp_sock;
    tcp::acceptor acceptor;
    asio::steady_timer timer;
    transport_stats stats;
    std::shared_ptr<spdlog::logger> log = get_logger("agent.wan");
    int inbound = 0;
    std::shared_ptr<net::source_limiter> per_ip =
        std::make_shared<net::source_limiter>(max_inbound_streams_per_ip);
    bool running = false;
    std::vector<std::uint8_t> udp_buf = std::vector<std::uint8_t>(65536);
    std::shared_ptr<wanfed::tunnel> tunnel;

    // Through the tunnel? (only with wanfed, and only for members of other datacenters).
    // With wanfed a name that does not encode a datacenter has no route at all (Consul: "node
    // name does not encode a datacenter"); it is not sent directly either.
    enum class route { direct, tunnel, none };
    route route_of(const std::string& to_node) {
        if (!tunnel || to_node.empty()) return route::direct;
        auto a = tunnel->applies(to_node);
        if (!a) {
            ++stats.tunnel_route_errors;
            log->debug("memberlist: {}", a.error());
            return route::none;
        }
        return *a ? route::tunnel : route::direct;
    }

    explicit impl(asio::any_io_executor e) : ex(e), udp_sock(e), acceptor(e), timer(e) {}

    time_point wakeup() const {
        time_point t = mlp->next_wakeup();
        if (h.next_wakeup) t = std::min(t, h.next_wakeup());
        return t;
    }

    // Sends whatever the state machine produced and re-arms the timer.
    void flush() {
        auto out = mlp->take_outbox();
        for (auto& p : out.packets) {
            if (auto r = route_of(p.to_node); r != route::direct) {
                if (r == route::tunnel) tunnel->send_packet(p.to_node, std::move(p.data));
                continue;
            }
            auto data = std::make_shared<bytes>(std::move(p.data));
            udp::endpoint ep(to_address(p.to), p.to.port);
            udp_sock.async_send_to(
                asio::buffer(*data), ep,
                [self = shared_from_this(), data, to = p.to, name = p.to_node](std::error_code ec,
                                                                               std::size_t) {
                    if (ec) {
                        ++self->stats.udp_send_errors;
                        self->log->debug("memberlist: UDP send to {} ({}) failed: {}",
                                         name.empty() ? "?" : name, to.to_string(), ec.message());
                    } else {
                        ++self->stats.udp_out;
                    }
                });
        }
        for (auto& s : out.streams) {
            asio::co_spawn(ex, outbound_stream(shared_from_this(), std::move(s)), asio::detached);
        }
        rearm();
    }

    void rearm() {
        if (!running) return;
        timer.expires_at(wakeup());
        timer.async_wait([self = shared_from_this()](std::error_code ec) {
            if (ec || !self->running) return;
            auto now = clock::now();
            self->mlp->tick(now);
            if (self->h.tick) self->h.tick(now);
            self->flush();
        });
    }

    // `self` keeps the transport alive while the loop runs.
    asio::awaitable<void> udp_loop([[maybe_unused]] std::shared_ptr<impl> self) {
        while (running) {
            udp::endpoint from;
            auto [ec, n] = co_await udp_sock.async_receive_from(asio::buffer(udp_buf), from,
                                                                nothrow_awaitable);
            if (!running) co_return;
            if (ec) {
                if (ec == asio::error::operation_aborted) co_return;
                log->debug("memberlist: UDP receive error: {}", ec.message());
                continue;
            }
            ++stats.udp_in;
            mlp->on_packet(clock::now(), to_node_addr(from.address(), from.port()),
                           std::span<const std::uint8_t>(udp_buf.data(), n));
            flush();
        }
    }

    // Reads until one whole stream message decodes, the peer closes, or the deadline passes.
    static asio::awaitable<std::expected<wire::stream_message, std::string>> read_message(
        byte_stream& sock, wire::stream_decode_options opts, time_point deadline,
        wire::wire_stats& stats) {
        bytes buf;
        std::array<std::uint8_t, 16384> chunk;
        asio::steady_timer t(sock.get_executor());
        t.expires_at(deadline);
        for (;;) {
            auto r =
                co_await (sock.read_some(asio::buffer(chunk)) || t.async_wait(nothrow_awaitable));
            if (r.index() == 1) {
                sock.close();
                co_return std::unexpected(std::string("i/o timeout"));
            }
            auto [ec, n] = std::get<0>(r);
            bool eof = false;
            if (ec) {
                if (ec != asio::error::eof && ec != asio::ssl::error::stream_truncated)
                    co_return std::unexpected(ec.message());
                eof = true;
            }
            buf.insert(buf.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
            if (buf.size() > max_stream_read)
                co_return std::unexpected(std::string("stream larger than the read limit"));
            auto msg = wire::decode_stream(buf, opts, eof, stats);
            if (msg) co_return std::move(*msg);
            if (msg.error() != wire::errc::incomplete || eof)
                co_return std::unexpected(wire::make_error_code(msg.error()).message());
        }
    }

    // A TCP connection to `s.to`, as a byte stream.
    static asio::awaitable<std::expected<std::unique_ptr<byte_stream>, std::string>> dial_tcp(
        std::shared_ptr<impl> self, const out_stream& s, const char* kind) {
        tcp::socket sock(self->ex);
        tcp::endpoint ep(to_address(s.to), s.to.port);
        asio::steady_timer t(self->ex);
        t.expires_at(s.deadline);
        auto c =
            co_await (sock.async_connect(ep, nothrow_awaitable) || t.async_wait(nothrow_awaitable));
        if (c.index() == 1)
            co_return std::unexpected(fmt::format("dial {} ({}) over TCP for {}: i/o timeout",
                                                  s.to_node, s.to.to_string(), kind));
        if (auto [ec] = std::get<0>(c); ec)
            co_return std::unexpected(fmt::format("dial {} ({}) over TCP for {}: {}", s.to_node,
                                                  s.to.to_string(), kind, ec.message()));
        co_return make_byte_stream(std::move(sock));
    }

    static asio::awaitable<void> outbound_stream(std::shared_ptr<impl> self, out_stream s) {
        const char* kind = s.kind == stream_kind::ping ? "TCP ping" : "push/pull";
        const auto r = self->route_of(s.to_node);
        const bool via_gateway = r != impl::route::direct;
        const char* path = via_gateway ? "TLS via mesh gateway" : "TCP";
        std::expected<wire::stream_message, std::string> reply =
            std::unexpected(std::string("not run"));
        std::expected<std::unique_ptr<byte_stream>, std::string> conn =
            std::unexpected(std::string("not dialed"));
        if (r == impl::route::none) {
            conn = std::unexpected(
                fmt::format("node name does not encode a datacenter: {}", s.to_node));
        } else if (via_gateway) {
            conn = co_await self->tunnel->dial_stream(s.to_node, s.deadline);
            if (!conn)
                conn = std::unexpected(
                    fmt::format("dial {} over {} for {}: {}", s.to_node, path, kind, conn.error()));
        } else {
            conn = co_await dial_tcp(self, s, kind);
        }
        if (!conn) {
            reply = std::unexpected(conn.error());
        } else {
            ++self->stats.tcp_out;
            auto& sock = **conn;
            auto wec = co_await sock.write_all(asio::buffer(s.data));
            if (wec) {
                reply =
                    std::unexpected(fmt::format("write to {} ({}) over {} for {}: {}", s.to_node,
                                                s.to.to_string(), path, kind, wec.message()));
            } else {
                auto opts = self->mlp->stream_decode_options();
                opts.accept_label_header = false;
                reply = co_await read_message(sock, opts, s.deadline, self->stream_stats);
                if (!reply)
                    reply = std::unexpected(fmt::format("read from {} ({}) over {} for {}: {}",
                                                        s.to_node, s.to.to_string(), path, kind,
                                                        reply.error()));
            }
            sock.close();
        }
        if (!reply) ++self->stats.tcp_errors;
        if (!self->running) co_return;
        self->mlp->on_stream_reply(clock::now(), s.id, std::move(reply));
        self->flush();
    }

    wire::wire_stats stream_stats;  // drops while reading TCP streams

    asio::awaitable<void> inbound_stream(
        std::shared_ptr<impl> self, std::unique_ptr<byte_stream> sock, node_addr from,
        const char* path, [[maybe_unused]] std::optional<net::source_limiter::lease> slot = {}) {
        ++inbound;
        ++stats.tcp_in;
        auto deadline = clock::now() + mlp->config().timing.tcp_timeout;
        auto msg =
            co_await read_message(*sock, mlp->stream_decode_options(), deadline, stream_stats);
        if (!msg) {
            ++stats.tcp_errors;
            if (msg.error() == "i/o timeout") ++stats.tcp_in_timeouts;
            // A tunnelled stream has no peer address of its own: its source is a gateway.
            log->warn(
                "memberlist: failed to read stream from {} ({}): {}",
                from.ip.empty() ? std::string("a peer in another datacenter") : from.to_string(),
                path, msg.error());
            // memberlist answers a stream it cannot read with an error message.
            auto reply = mlp->encode_stream_message(
                wire::encode_message(wire::err_resp{msg.error()}), false);
            if (reply) co_await sock->write_all(asio::buffer(*reply));
        } else if (running) {
            auto reply = mlp->on_stream(clock::now(), from, *msg);
            flush();
            if (!reply.empty()) co_await sock->write_all(asio::buffer(reply));
        }
        sock->close();
        --inbound;
        (void)self;
    }

    asio::awaitable<void> accept_loop(std::shared_ptr<impl> self) {
        while (running) {
            auto [ec, sock] = co_await acceptor.async_accept(nothrow_awaitable);
            if (!running) co_return;
            if (ec) {
                if (ec == asio::error::operation_aborted) co_return;
                continue;
            }
            if (inbound >= max_inbound_streams) {
                ++stats.tcp_in_refused_busy;
                continue;  // socket closes on scope exit
            }
            std::error_code rec;
            auto remote = sock.remote_endpoint(rec);
            if (rec) continue;  // already gone
            node_addr from = to_node_addr(remote.address(), remote.port());
            auto slot = per_ip->acquire(remote.address().to_string());
            if (!slot) {
                // Logged once per 100 so a flood does not flood the log as well.
                if (stats.tcp_in_refused_source_cap++ % 100 == 0)
                    log->warn(
                        "memberlist: refusing TCP stream from {}: {} streams from that "
                        "address already open ({} refused so far)",
                        remote.address().to_string(), max_inbound_streams_per_ip,
                        stats.tcp_in_refused_source_cap);
                continue;
            }
            asio::co_spawn(ex,
                           inbound_stream(self, make_byte_stream(std::move(sock)), from, "TCP",
                                          std::move(slot)),
                           asio::detached);
        }
    }
};

transport::transport(asio::any_io_executor ex) : impl_(std::make_shared<impl>(ex)) {}

transport::~transport() {
    stop();
}

std::error_code transport::bind(const std::string& ip, std::uint16_t port) {
    std::error_code ec;
    auto addr = asio::ip::make_address(ip, ec);
    if (ec) return ec;
    // Port 0: let TCP pick, then take the same number for UDP (retry a few times on a clash).
    for (int attempt = 0; attempt < 10; ++attempt) {
        impl_->acceptor = tcp::acceptor(impl_->ex);
        impl_->udp_sock = udp::socket(impl_->ex);
        if ((ec = net::listen_tcp(impl_->acceptor, ip, port))) return ec;
        std::uint16_t chosen = net::bound_port(impl_->acceptor);
        udp::endpoint uep(addr, chosen);
        impl_->udp_sock.open(uep.protocol(), ec);
        if (ec) return ec;
        impl_->udp_sock.bind(uep, ec);
        if (!ec) {
            // Large receive buffer so bursts (and floods) do not drop probes.
            impl_->udp_sock.set_option(asio::socket_base::receive_buffer_size(2 * 1024 * 1024), ec);
            return {};
        }
        if (port != 0) return ec;
    }
    return ec;
}

std::uint16_t transport::port() const {
    return net::bound_port(impl_->acceptor);
}

void transport::start(memberlist& ml, hooks h) {
    impl_->mlp = &ml;
    impl_->h = std::move(h);
    impl_->running = true;
    asio::co_spawn(impl_->ex, impl_->udp_loop(impl_), asio::detached);
    asio::co_spawn(impl_->ex, impl_->accept_loop(impl_), asio::detached);
    impl_->flush();
}

void transport::stop() {
    if (!impl_->running) return;
    impl_->running = false;
    std::error_code ec;
    impl_->timer.cancel();
    impl_->udp_sock.close(ec);
    impl_->acceptor.close(ec);
}

void transport::set_tunnel(std::shared_ptr<wanfed::tunnel> t) {
    impl_->tunnel = std::move(t);
}

void transport::ingest_packet(const node_addr& from, std::span<const std::uint8_t> datagram) {
    if (!impl_->running) return;
    ++impl_->stats.udp_in;
    impl_->mlp->on_packet(clock::now(), from, datagram);
    impl_->flush();
}

void transport::ingest_stream(std::unique_ptr<byte_stream> s, const node_addr& from) {
    if (!impl_->running) return;
    if (impl_->inbound >= max_inbound_streams) {
        ++impl_->stats.tcp_in_refused_busy;
        s->close();
        return;
    }
    asio::co_spawn(impl_->ex,
                   impl_->inbound_stream(impl_, std::move(s), from, "TLS via mesh gateway"),
                   asio::detached);
}

void transport::kick() {
    if (impl_->running) impl_->flush();
}

const transport_stats& transport::stats() const {
    return impl_->stats;
}

}  // namespace meshfed::wan
