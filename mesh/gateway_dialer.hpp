#pragma once
// How a server reaches another datacenter with WAN federation via mesh gateways, owned by mesh/
// (Consul's DialRPCViaMeshGateway and the wanfed dialer): TCP to a mesh gateway chosen by the
// injected `pick` (the gateway locator: a local gateway, or the primary's for first contact),
// then a TLS handshake straight away (no type byte) with SNI <node>.server.<dc>.<domain> (or
// server.<dc>.<domain> for any server), exactly one ALPN protocol, our certificate presented and
// the server's identity verified whatever verify_outgoing says. The gateway never terminates TLS.
// Threading: the executor given (the agent's io_context). Errors: the expected's error names the
// datacenter, node, gateway address, ALPN and the stage that failed; "Remote DC has no server
// currently reachable" when no gateway is known.
#include <chrono>
#include <expected>
#include <functional>
#include <memory>
#include <string>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "common/byte_stream.hpp"
#include "rpc/conn_pool.hpp"
#include "wan/wanfed.hpp"

namespace meshfed::tls {
class configurator;
}

namespace meshfed::mesh {

struct dialer_stats {
    std::uint64_t dials = 0, no_gateway = 0, connect_failures = 0, tls_failures = 0;
};

class gateway_dialer : public std::enable_shared_from_this<gateway_dialer> {
  public:
    // "ip:port" of the gateway to use for `dc`, "" when none is known.
    using pick_fn = std::function<std::string(const std::string& dc)>;

    gateway_dialer(asio::any_io_executor ex, std::shared_ptr<tls::configurator> tls, pick_fn pick);

    // `node` "" or "*" = any server of `dc`.
    asio::awaitable<std::expected<std::unique_ptr<byte_stream>, std::string>> dial(
        std::string dc, std::string node, std::string alpn,
        std::chrono::steady_clock::time_point deadline);

    // For rpc::conn_pool: consul/rpc-multi to the target server, yamux starts right away.
    rpc::dialer_fn rpc_dialer();
    // For wan::wanfed::tunnel.
    wan::wanfed::dial_fn gossip_dialer();

    const dialer_stats& stats() const { return stats_; }

  private:
    asio::any_io_executor ex_;
    std::shared_ptr<tls::configurator> tls_;
    pick_fn pick_;
    dialer_stats stats_;
};

}  // namespace meshfed::mesh
