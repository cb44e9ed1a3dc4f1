#include "rpc/server.hpp"

#include <map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>

#include "common/asio_compat.hpp"
#include "common/log.hpp"
#include "common/msgpack.hpp"
#include "common/net.hpp"
#include "common/run_loop.hpp"
#include "rpc/msgpack_rpc.hpp"
#include "tls/alpn.hpp"
#include "tls/configurator.hpp"
#include "tls/stream.hpp"

namespace meshfed::rpc {
namespace {

using namespace asio::experimental::awaitable_operators;
using asio::ip::tcp;
using clock = std::chrono::steady_clock;

constexpr std::uint8_t type_consul = 0x00, type_tls = 0x03, type_multiplex_v2 = 0x04,
                       type_tls_insecure = 0x07, type_max = 0x09;

const char* type_name(std::uint8_t b) {
    static const char* names[] = {
        "RPCConsul",   "RPCRaft",   "RPCMultiplex",   "RPCTLS",  "RPCMultiplexV2",
        "RPCSnapshot", "RPCGossip", "RPCTLSInsecure", "RPCGRPC", "RPCRaftForwarding"};
    return b <= type_max ? names[b] : "unknown";
}

// Completion of one call: the handler's reply, awaited by the connection's coroutine.
struct pending_reply {
    explicit pending_reply(asio::any_io_executor ex)
        : timer(ex, asio::steady_timer::time_point::max()) {}
    asio::steady_timer timer;
    bool done = false;
    std::string error;
    std::vector<std::uint8_t> body;
};

}  // namespace

server::request_peek server::peek_request(std::span<const std::uint8_t> body) {
    request_peek out;
    std::string dc, target;
    msgpack::reader r(body);
    auto n = r.read_map_header();
    if (!n) return out;
    for (std::uint32_t i = 0; i < *n; ++i) {
        auto key = r.read_str();
        if (!key) return out;
        if (*key == "Datacenter" || *key == "TargetDatacenter") {
            auto v = r.read_str();
            if (!v) return out;
            (*key == "Datacenter" ? dc : target) = std::string(*v);
            // FederationStateQuery routes by TargetDatacenter (its RequestDatacenter()).
            out.datacenter = target.empty() ? dc : target;
        } else if (*key == "MinQueryIndex") {
            auto v = r.read_uint();
            if (!v) return out;
            out.min_query_index = *v;
        } else if (*key == "MaxQueryTime") {
            auto v = r.read_int();
            if (!v) return out;
            out.max_query_time_ns = *v;
        } else if (!r.skip()) {
            return out;
        }
    }
    return out;
}

std::chrono::milliseconds server::call_timeout(const request_peek& p,
                                               std::chrono::milliseconds client_timeout) {
    using namespace std::chrono;
    if (p.min_query_index == 0) return client_timeout;
    milliseconds wait = p.max_query_time_ns > 0
                            ? duration_cast<milliseconds>(nanoseconds(p.max_query_time_ns))
                            : milliseconds(300'000);
    wait = std::min(wait, milliseconds(600'000));
    return wait + wait / 16 + milliseconds(7'000);
}

struct server::impl : std::enable_shared_from_this<server::impl> {
    asio::any_io_executor ex;
    const handler_registry& handlers;
    std::string local_dc;
    limits lim;
    std::shared_ptr<tls::configurator> tls;
    tcp::acceptor acceptor;
    server_stats stats;
    std::shared_ptr<net::source_limiter> limiter;
    forward_fn forward;
    gossip_conn_fn gossip_packet, gossip_stream;
    std::shared_ptr<spdlog::logger> log = get_logger("agent.rpc");
    bool running = false;

    impl(asio::any_io_executor e, const handler_registry& h, std::string dc, limits l,
         std::shared_ptr<tls::configurator> t)
        : ex(e),
          handlers(h),
          local_dc(std::move(dc)),
          lim(l),
          tls(std::move(t)),
          acceptor(e),
          limiter(std::make_shared<net::source_limiter>(l.max_conns_per_client)) {}

    // One call: forwarded when it names another datacenter, dispatched locally otherwise.
    asio::awaitable<std::pair<std::string, std::vector<std::uint8_t>>> handle_call(
        std::string method, std::vector<std::uint8_t> body) {
        ++stats.calls;
        auto p = std::make_shared<pending_reply>(ex);
        reply_fn reply = [p](std::string err, std::vector<std::uint8_t> b) {
            if (p->done) return;
            p->done = true;
            p->error = std::move(err);
            p->body = std::move(b);
            p->timer.cancel();
        };
        std::string dc = server::request_datacenter(body);
        if (!dc.empty() && dc != local_dc && forward) {
            ++stats.forwarded;
            forward(dc, method, std::move(body), std::move(reply));
        } else {
            handlers.dispatch(method, body, std::move(reply));
        }
        if (!p->done) co_await p->timer.async_wait(nothrow_awaitable);
        if (!p->error.empty()) ++stats.call_errors;
        co_return std::pair{std::move(p->error), std::move(p->body)};
    }

    // Sequential msgpack-rpc calls over any stream (a raw 0x00 connection or a yamux stream).
    template <class ReadFn, class WriteFn>
    asio::awaitable<void> serve_calls(ReadFn read_some, WriteFn write_all, std::string peer) {
        request_decoder dec;
        std::vector<std::uint8_t> buf(16384);
        for (;;) {
            auto [ec, n] = co_await read_some(asio::buffer(buf));
            if (ec) co_return;
            note_activity();
            dec.feed(std::span<const std::uint8_t>(buf.data(), n));
            for (;;) {
                auto msg = dec.next();
                if (!msg) {
                    ++stats.decode_errors;
                    log->warn("rpc: malformed msgpack-rpc request from {}: {}", peer,
                              msg.error().message());
                    co_return;
                }
                if (!*msg) break;
                auto& req = **msg;
                auto [err, body] =
                    co_await handle_call(req.header.service_method, std::move(req.body));
                std::vector<std::uint8_t> out;
                if (err.empty()) {
                    encode_response(out, req.header.service_method, req.header.seq, "", body);
                } else {
                    encode_error_response(out, req.header.service_method, req.header.seq, err);
                }
                if (co_await write_all(asio::buffer(out))) co_return;
            }
        }
    }

    asio::awaitable<void> serve_single(std::unique_ptr<byte_stream> s, std::string peer) {
        co_await serve_calls([&](asio::mutable_buffer b) { return s->read_some(b); },
                             [&](asio::const_buffer b) { return s->write_all(b); }, peer);
        s->close();
    }

    asio::awaitable<void> serve_stream(std::shared_ptr<impl> self, mux_stream st,
                                       std::string peer) {
        co_await serve_calls([&](asio::mutable_buffer b) { return st.async_read_some(b); },
                             [&](asio::const_buffer b) -> asio::awaitable<std::error_code> {
                                 co_return co_await st.async_write(b);
                             },
                             peer);
        st.close();
        (void)self;
    }

    asio::awaitable<void> serve_mux(std::shared_ptr<impl> self, std::unique_ptr<byte_stream> s,
                                    std::string peer) {
        auto conn = mux_conn::create(std::move(s), yamux::role::server);
        conn->start();
        for (;;) {
            auto st = co_await conn->accept_stream();
            if (!st) break;
            asio::co_spawn(ex, serve_stream(self, std::move(*st), peer), asio::detached);
        }
        conn->close();
    }

    // Reads one byte (the protocol byte) before the deadline.
    template <class Stream>
    static asio::awaitable<std::expected<std::uint8_t, std::string>> read_byte(
        Stream& s, clock::time_point deadline) {
        std::uint8_t b = 0;
        asio::steady_timer t(s.get_executor(), deadline);
        auto r = co_await (asio::async_read(s, asio::buffer(&b, 1), nothrow_awaitable) ||
                           t.async_wait(nothrow_awaitable));
        if (r.index() == 1) co_return std::unexpected(std::string("timeout"));
        auto [ec, n] = std::get<0>(r);
        if (ec) co_return std::unexpected(ec.message());
        co_return b;
    }

    // `slot` holds this source's connection slot while the connection is served.
    asio::awaitable<void> handle_conn(std::shared_ptr<impl> self, tcp::socket sock, std::string ip,
                                      [[maybe_unused]] net::source_limiter::lease slot) {
        std::error_code ec;
        auto remote = sock.remote_endpoint(ec);
        std::string peer = ec ? ip : fmt::format("{}:{}", ip, remote.port());
        sock.set_option(tcp::no_delay(true), ec);
        auto deadline = lim.handshake_timeout.count() > 0 ? clock::now() + lim.handshake_timeout
                                                          : clock::time_point::max();
        // Peek: a TLS ClientHello (first byte > 0x09) is native TLS and must stay in the socket.
        std::uint8_t first = 0;
        {
            asio::steady_timer t(ex, deadline);
            auto r = co_await (sock.async_receive(asio::buffer(&first, 1),
                                                  tcp::socket::message_peek, nothrow_awaitable) ||
                               t.async_wait(nothrow_awaitable));
            if (r.index() == 1) {
                ++stats.handshake_timeouts;
                log->debug("rpc: connection from {} sent no protocol byte within {}ms", peer,
                           lim.handshake_timeout.count());
                co_return;
            }
            auto [rec, n] = std::get<0>(r);
            if (rec || n == 0) co_return;
        }
        bool mtls_capable = tls && tls->enabled();
        if (first > type_max && mtls_capable) {
            ++stats.native_tls;
            auto remaining =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
            auto s = co_await tls::server_handshake(
                std::move(sock), tls->incoming_alpn(),
                lim.handshake_timeout.count() > 0 ? remaining : std::chrono::milliseconds(0));
            if (!s) {
                ++stats.tls_failures;
                log->warn("rpc: native TLS handshake failed: {}", s.error());
                co_return;
            }
            auto alpn = tls::negotiated_alpn(**s);
            auto hello = tls::configurator::hello_of((*s)->native_handle());
            log->trace("rpc: native TLS connection from {} sni={} alpn={}", peer, hello.sni, alpn);
            if (alpn == tls::alpn::rpc_multi) {
                co_await serve_mux(self, tls::make_byte_stream(std::move(**s)), peer);
            } else if (alpn == tls::alpn::rpc_single) {
                co_await serve_single(tls::make_byte_stream(std::move(**s)), peer);
            } else if (alpn == tls::alpn::wan_gossip_packet ||
                       alpn == tls::alpn::wan_gossip_stream) {
                // Server-only protocol: the peer must be a server (CVE-2021-37219).
                if (auto ok = tls->authorize_server_peer((*s)->native_handle()); !ok) {
                    ++stats.role_refused;
                    log->warn("rpc: refusing {} from {} (sni={}): {}", alpn, peer, hello.sni,
                              ok.error());
                    co_return;
                }
                auto& hook = alpn == tls::alpn::wan_gossip_packet ? gossip_packet : gossip_stream;
                if (hook) {
                    hook(tls::make_byte_stream(std::move(**s)));
                } else {
                    log->warn(
                        "rpc: discarding {} connection from {}: WAN federation via mesh "
                        "gateways is not enabled",
                        alpn, peer);
                }
            } else {
                ++stats.alpn_unknown;
                log->warn(
                    "rpc: discarding RPC for unknown negotiated protocol \"{}\" from {} "
                    "(sni={})",
                    alpn, peer, hello.sni);
            }
            co_return;
        }
        auto b = co_await read_byte(sock, deadline);
        if (!b) {
            if (b.error() == "timeout") ++stats.handshake_timeouts;
            co_return;
        }
        ++stats.by_type[*b <= type_max ? *b : 0];
        if (tls && tls->verify_incoming() && *b != type_tls && *b != type_tls_insecure) {
            ++stats.plaintext_refused;
            log->warn(
                "rpc: Non-TLS connection attempted with VerifyIncoming set: from={} "
                "type={}",
                peer, type_name(*b));
            co_return;
        }
        switch (*b) {
            case type_consul:
                co_await serve_single(make_byte_stream(std::move(sock)), peer);
                co_return;
            case type_multiplex_v2:
                co_await serve_mux(self, make_byte_stream(std::move(sock)), peer);
                co_return;
            case type_tls_insecure:
                ++stats.insecure_refused;
                log->warn(
                    "rpc: refusing RPCTLSInsecure connection from {}: auto-encrypt is not "
                    "supported",
                    peer);
                co_return;
            case type_tls: {
                if (!tls || !tls->incoming_rpc()) {
                    ++stats.tls_failures;
                    log->warn("rpc: TLS upgrade from {} refused: TLS is not configured", peer);
                    co_return;
                }
                auto remaining =
                    std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
                auto s = co_await tls::server_handshake(
                    std::move(sock), tls->incoming_rpc(),
                    lim.handshake_timeout.count() > 0 ? remaining : std::chrono::milliseconds(0));
                if (!s) {
                    ++stats.tls_failures;
                    log->warn("rpc: TLS upgrade handshake failed: {}", s.error());
                    co_return;
                }
                auto inner = co_await read_byte(**s, deadline);
                if (!inner) co_return;
                if (*inner == type_tls) {
                    ++stats.tls_in_tls;
                    log->warn("rpc: TLS connection attempting nested TLS from {}", peer);
                    co_return;
                }
                if (*inner == type_multiplex_v2) {
                    co_await serve_mux(self, tls::make_byte_stream(std::move(**s)), peer);
                } else if (*inner == type_consul) {
                    co_await serve_single(tls::make_byte_stream(std::move(**s)), peer);
                } else {
                    ++stats.unrecognized_byte;
                    log->error("rpc: unrecognized RPC byte inside TLS: byte={} from={}", *inner,
                               peer);
                }
                co_return;
            }
            default:
                ++stats.unrecognized_byte;
                log->error("rpc: unrecognized RPC byte: byte={} ({}) from={}", *b, type_name(*b),
                           peer);
                co_return;
        }
    }

    asio::awaitable<void> accept_loop(std::shared_ptr<impl> self) {
        while (running) {
            auto [ec, sock] = co_await acceptor.async_accept(nothrow_awaitable);
            if (!running) co_return;
            if (ec) {
                if (ec == asio::error::operation_aborted) co_return;
                continue;
            }
            std::string ip = net::remote_ip(sock);
            auto slot = limiter->acquire(ip);
            if (!slot) {
                // The first and every 100th: a flood from one address must not flood the log.
                if (stats.rejected_conn_limit++ % 100 == 0)
                    log->warn(
                        "rpc: rejecting connection from {}: rpc_max_conns_per_client ({}) "
                        "reached ({} rejected so far)",
                        ip, lim.max_conns_per_client, stats.rejected_conn_limit);
                continue;
            }
            ++stats.accepted;
            asio::co_spawn(ex, handle_conn(self, std::move(sock), ip, std::move(*slot)),
                           asio::detached);
        }
    }
};

server::server(asio::any_io_executor ex, const handler_registry& handlers, std::string local_dc,
               limits lim, std::shared_ptr<tls::configurator> tls)
    : impl_(std::make_shared<impl>(ex, handlers, std::move(local_dc), lim, std::move(tls))) {}

server::~server() {
    stop();
}

std::error_code server::listen(const std::string& ip, std::uint16_t port) {
    return net::listen_tcp(impl_->acceptor, ip, port);
}

std::uint16_t server::port() const {
    return net::bound_port(impl_->acceptor);
}

void server::start() {
    impl_->running = true;
    asio::co_spawn(impl_->ex, impl_->accept_loop(impl_), asio::detached);
}

void server::stop() {
    if (!impl_->running) return;
    impl_->running = false;
    std::error_code ec;
    impl_->acceptor.close(ec);
}

void server::set_forwarder(forward_fn f) {
    impl_->forward = std::move(f);
}
void server::set_gossip_hooks(gossip_conn_fn packet, gossip_conn_fn stream) {
    impl_->gossip_packet = std::move(packet);
    impl_->gossip_stream = std::move(stream);
}
const server_stats& server::stats() const {
    return impl_->stats;
}

}  // namespace meshfed::rpc
