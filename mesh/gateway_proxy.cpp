#include "mesh/gateway_proxy.hpp"

#include <random>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include "common/asio_compat.hpp"
#include "common/log.hpp"
#include "common/net.hpp"
#include "mesh/client_hello.hpp"
#include "mesh/sni_route.hpp"

namespace meshfed::mesh {
namespace {
using namespace asio::experimental::awaitable_operators;
using asio::ip::tcp;
using clock = std::chrono::steady_clock;
}  // namespace

std::string endpoint::to_string() const {
    if (ip.find(':') != std::string::npos) return fmt::format("[{}]:{}", ip, port);
    return fmt::format("{}:{}", ip, port);
}

struct gateway_proxy::impl : std::enable_shared_from_this<gateway_proxy::impl> {
    asio::any_io_executor ex;
    std::string local_dc, domain;
    proxy_options opts;
    std::vector<std::unique_ptr<tcp::acceptor>> acceptors;  // LAN and WAN sides
    routing_table routes;
    proxy_stats stats;
    std::shared_ptr<net::source_limiter> limiter;
    std::shared_ptr<spdlog::logger> log = get_logger("mesh.gateway");
    std::mt19937 rng{std::random_device{}()};
    bool running = false;

    impl(asio::any_io_executor e, std::string dc, std::string dom, proxy_options o)
        : ex(e),
          local_dc(std::move(dc)),
          domain(std::move(dom)),
          opts(o),
          limiter(std::make_shared<net::source_limiter>(o.max_conns_per_source)) {}

    // The endpoints to try for a route, in order (shuffled where any one will do).
    std::vector<endpoint> candidates(const sni_route& r, std::string& key) {
        std::vector<endpoint> out;
        switch (r.kind) {
            case route_kind::local_server:
                key = "local-server:" + r.node;
                if (auto it = routes.local_servers.find(r.node); it != routes.local_servers.end())
                    out.push_back(it->second);
                break;
            case route_kind::any_local_server:
                key = "any-local-server";
                for (const auto& [n, e] : routes.local_servers) out.push_back(e);
                std::shuffle(out.begin(), out.end(), rng);
                break;
            case route_kind::remote_datacenter:
                key = "dc:" + r.dc;
                if (auto it = routes.dc_gateways.find(r.dc); it != routes.dc_gateways.end())
                    out = it->second;
                std::shuffle(out.begin(), out.end(), rng);
                break;
            case route_kind::refused:
                break;
        }
        return out;
    }

    // One spliced connection; shared by the two pumps and the idle watchdog, so whichever
    // finishes last frees it.
    struct session {
        session(tcp::socket c, tcp::socket u, asio::any_io_executor e)
            : client(std::move(c)), upstream(std::move(u)), idle(e) {}
        tcp::socket client, upstream;
        asio::steady_timer idle;
        clock::time_point last = clock::now();
        std::uint64_t up = 0, down = 0;
        bool done = false;
    };

    // Copies one direction until EOF/error, then half-closes the other side.
    static asio::awaitable<void> pump(std::shared_ptr<session> s, bool upward, std::size_t size) {
        tcp::socket& from = upward ? s->client : s->upstream;
        tcp::socket& to = upward ? s->upstream : s->client;
        std::vector<std::uint8_t> buf(size);
        for (;;) {
            auto [ec, n] = co_await from.async_read_some(asio::buffer(buf), nothrow_awaitable);
            if (ec || n == 0) break;
            (upward ? s->up : s->down) += n;
            s->last = clock::now();
            auto [wec, wn] =
                co_await asio::async_write(to, asio::buffer(buf.data(), n), nothrow_awaitable);
            if (wec) break;
        }
        std::error_code ignore;
        to.shutdown(tcp::socket::shutdown_send, ignore);
    }

    // Closes both sockets once nothing moved for `idle_timeout`.
    static asio::awaitable<void> watchdog(std::shared_ptr<session> s,
                                          std::chrono::milliseconds idle) {
        while (!s->done) {
            s->idle.expires_at(s->last + idle);
            co_await s->idle.async_wait(nothrow_awaitable);
            if (s->done) co_return;
            if (clock::now() - s->last >= idle) {
                std::error_code ig;
                s->client.close(ig);
                s->upstream.close(ig);
                co_return;
            }
        }
    }

    asio::awaitable<void> handle(std::shared_ptr<impl> self, tcp::socket client, std::string src_ip,
                                 [[maybe_unused]] net::source_limiter::lease slot) {
        struct active_count {
            proxy_stats& st;
            ~active_count() { --st.active; }
        } active{stats};
        std::error_code ec;
        auto rep = client.remote_endpoint(ec);
        std::string peer = ec ? src_ip : fmt::format("{}:{}", src_ip, rep.port());
        // Read until the ClientHello parses (bounded in size and time).
        std::vector<std::uint8_t> hello;
        hello.reserve(1024);
        asio::steady_timer deadline(ex, clock::now() + opts.hello_timeout);
        client_hello_info info;
        for (;;) {
            std::uint8_t chunk[2048];
            auto r = co_await (client.async_read_some(asio::buffer(chunk), nothrow_awaitable) ||
                               deadline.async_wait(nothrow_awaitable));
            if (r.index() == 1) {
                ++stats.hello_timeouts;
                log->debug("gateway: no complete ClientHello from {} within {}ms", peer,
                           opts.hello_timeout.count());
                co_return;
            }
            auto [rec, n] = std::get<0>(r);
            if (rec || n == 0) co_return;
            hello.insert(hello.end(), chunk, chunk + n);
            auto parsed = parse_client_hello(hello);
            if (parsed) {
                info = std::move(*parsed);
                break;
            }
            if (parsed.error() != hello_error::need_more) {
                ++stats.bad_hello;
                log->warn("gateway: refusing connection from {}: {}", peer,
                          to_string(parsed.error()));
                co_return;
            }
            if (hello.size() > max_client_hello + 5 * 8) {
                ++stats.bad_hello;
                co_return;
            }
        }
        auto route = route_for_sni(info.sni, local_dc, domain);
        if (route.kind == route_kind::refused) {
            ++stats.unknown_sni;
            log->warn(
                "gateway: refusing connection from {}: SNI \"{}\" is not a server name of "
                "domain {}",
                peer, info.sni, domain);
            co_return;
        }
        std::string key;
        auto targets = candidates(route, key);
        auto& rs = stats.routes[key];
        ++rs.connections;
        if (targets.empty()) {
            ++rs.no_endpoint;
            if (route.kind == route_kind::remote_datacenter) {
                log->warn("gateway: no mesh gateway known for datacenter {} (SNI {} from {})",
                          route.dc, info.sni, peer);
            } else {
                log->warn("gateway: no local server {} in datacenter {} (SNI {} from {})",
                          route.node.empty() ? "at all" : route.node, local_dc, info.sni, peer);
            }
            co_return;
        }
        tcp::socket upstream(ex);
        endpoint chosen;
        bool connected = false;
        for (const auto& t : targets) {
            std::error_code aec;
            auto addr = asio::ip::make_address(t.ip, aec);
            if (aec) continue;
            upstream = tcp::socket(ex);
            asio::steady_timer ct(ex, opts.connect_timeout);
            auto c = co_await (upstream.async_connect({addr, t.port}, nothrow_awaitable) ||
                               ct.async_wait(nothrow_awaitable));
            if (c.index() == 0 && !std::get<0>(std::get<0>(c))) {
                chosen = t;
                connected = true;
                break;
            }
            ++rs.upstream_failures;
            log->warn("gateway: upstream {} for {} (SNI {}) unreachable, trying the next one",
                      t.to_string(), key, info.sni);
        }
        if (!connected) {
            log->error("gateway: no reachable upstream for {} (SNI {} from {})", key, info.sni,
                       peer);
            co_return;
        }
        upstream.set_option(tcp::no_delay(true), ec);
        client.set_option(tcp::no_delay(true), ec);
        log->debug("gateway: {} -> {} via {} (SNI {}, ALPN {})", peer, chosen.to_string(), key,
                   info.sni, info.alpn.empty() ? "none" : info.alpn.front());
        auto [wec, wn] =
            co_await asio::async_write(upstream, asio::buffer(hello), nothrow_awaitable);
        if (wec) co_return;
        rs.bytes_up += hello.size();
        auto sess = std::make_shared<session>(std::move(client), std::move(upstream), ex);
        asio::co_spawn(ex, watchdog(sess, opts.idle_timeout), asio::detached);
        co_await (pump(sess, true, opts.buffer_size) && pump(sess, false, opts.buffer_size));
        sess->done = true;
        sess->idle.cancel();
        rs.bytes_up += sess->up;
        rs.bytes_down += sess->down;
        (void)self;
    }

    asio::awaitable<void> accept_loop(std::shared_ptr<impl> self, tcp::acceptor* acceptor) {
        while (running) {
            auto [ec, sock] = co_await acceptor->async_accept(nothrow_awaitable);
            if (!running) co_return;
            if (ec) {
                if (ec == asio::error::operation_aborted) co_return;
                continue;
            }
            std::string ip = net::remote_ip(sock);
            auto slot = limiter->acquire(ip);
            if (!slot) {
                // The first and every 100th: a flood from one address must not flood the log.
                if (stats.refused_source_cap++ % 100 == 0)
                    log->warn(
                        "mesh-gateway: refusing connection from {}: {} connections from "
                        "that address already open ({} refused so far)",
                        ip, opts.max_conns_per_source, stats.refused_source_cap);
                continue;
            }
            ++stats.accepted;
            ++stats.active;
            asio::co_spawn(ex, handle(self, std::move(sock), ip, std::move(*slot)), asio::detached);
        }
    }
};

gateway_proxy::gateway_proxy(asio::any_io_executor ex, std::string local_dc, std::string domain,
                             proxy_options opts)
    : impl_(std::make_shared<impl>(ex, std::move(local_dc), std::move(domain), opts)) {}

gateway_proxy::~gateway_proxy() {
    stop();
}

std::error_code gateway_proxy::listen(const std::string& ip, std::uint16_t port) {
    auto a = std::make_unique<tcp::acceptor>(impl_->ex);
    if (auto ec = net::listen_tcp(*a, ip, port)) return ec;
    impl_->acceptors.push_back(std::move(a));
    return {};
}

std::uint16_t gateway_proxy::port() const {
    return impl_->acceptors.empty() ? 0 : net::bound_port(*impl_->acceptors.front());
}

void gateway_proxy::set_routes(routing_table t) {
    impl_->routes = std::move(t);
}

void gateway_proxy::start() {
    impl_->running = true;
    for (auto& a : impl_->acceptors)
        asio::co_spawn(impl_->ex, impl_->accept_loop(impl_, a.get()), asio::detached);
}

void gateway_proxy::stop() {
    if (!impl_->running) return;
    impl_->running = false;
    std::error_code ec;
    for (auto& a : impl_->acceptors) a->close(ec);
}

const proxy_stats& gateway_proxy::stats() const {
    return impl_->stats;
}

}  // namespace meshfed::mesh
