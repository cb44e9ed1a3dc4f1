#include "mesh/gateway_dialer.hpp"

#include <fmt/format.h>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "common/asio_compat.hpp"
#include "common/net.hpp"
#include "rpc/router.hpp"
#include "tls/alpn.hpp"
#include "tls/stream.hpp"

namespace meshfed::mesh {

using asio::ip::tcp;
using clock = std::chrono::steady_clock;
using namespace asio::experimental::awaitable_operators;

gateway_dialer::gateway_dialer(asio::any_io_executor ex, std::shared_ptr<tls::configurator> tls,
                               pick_fn pick)
    : ex_(std::move(ex)), tls_(std::move(tls)), pick_(std::move(pick)) {}

asio::awaitable<std::expected<std::unique_ptr<byte_stream>, std::string>> gateway_dialer::dial(
    std::string dc, std::string node, std::string alpn, clock::time_point deadline) {
    auto self = shared_from_this();  // the coroutine outlives a caller that drops us
    ++stats_.dials;
    if (node == "*") node.clear();
    const std::string who = node.empty() ? fmt::format("any server of datacenter {}", dc)
                                         : fmt::format("server {} of datacenter {}", node, dc);
    if (!tls_ || !tls_->enabled()) {
        co_return std::unexpected(
            std::string("cannot dial via a mesh gateway when outgoing TLS is disabled"));
    }
    std::string gw = pick_ ? pick_(dc) : std::string();
    if (gw.empty()) {
        ++stats_.no_gateway;
        co_return std::unexpected(
            fmt::format("{} (no mesh gateway known to reach {})", rpc::err_dc_not_available, who));
    }
    auto ep = net::parse_ip_port(gw);
    if (!ep) {
        ++stats_.connect_failures;
        co_return std::unexpected(
            fmt::format("mesh gateway address \"{}\" for {} is not ip:port", gw, who));
    }
    std::error_code ec;
    tcp::socket sock(ex_);
    asio::steady_timer t(ex_);
    t.expires_at(deadline);
    auto c =
        co_await (sock.async_connect(*ep, nothrow_awaitable) || t.async_wait(nothrow_awaitable));
    if (c.index() == 1) {
        ++stats_.connect_failures;
        co_return std::unexpected(
            fmt::format("dial mesh gateway {} to reach {} (ALPN {}): i/o timeout", gw, who, alpn));
    }
    if (auto [cec] = std::get<0>(c); cec) {
        ++stats_.connect_failures;
        co_return std::unexpected(fmt::format("dial mesh gateway {} to reach {} (ALPN {}): {}", gw,
                                              who, alpn, cec.message()));
    }
    sock.set_option(tcp::no_delay(true), ec);
    sock.set_option(asio::socket_base::keep_alive(true), ec);
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    if (left.count() <= 0) left = std::chrono::milliseconds(1);
    tls::client_target target{dc, node, alpn, true};
    auto s = co_await tls::client_handshake(std::move(sock), *tls_, target, left);
    if (!s) {
        ++stats_.tls_failures;
        co_return std::unexpected(fmt::format("TLS to {} via mesh gateway {} (SNI {}, ALPN {}): {}",
                                              who, gw, tls_->server_sni(target), alpn, s.error()));
    }
    co_return tls::make_byte_stream(std::move(**s));
}

rpc::dialer_fn gateway_dialer::rpc_dialer() {
    return [self = shared_from_this()](rpc::server_info target)
               -> asio::awaitable<std::expected<std::unique_ptr<byte_stream>, std::string>> {
        co_return co_await self->dial(target.dc, target.name, std::string(tls::alpn::rpc_multi),
                                      clock::now() + std::chrono::seconds(10));
    };
}

wan::wanfed::dial_fn gateway_dialer::gossip_dialer() {
    return [self = shared_from_this()](std::string dc, std::string node, std::string alpn,
                                       clock::time_point deadline)
               -> asio::awaitable<std::expected<std::unique_ptr<byte_stream>, std::string>> {
        co_return co_await self->dial(std::move(dc), std::move(node), std::move(alpn), deadline);
    };
}

}  // namespace meshfed::mesh
