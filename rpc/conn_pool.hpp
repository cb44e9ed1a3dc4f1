#pragma once
// The RPC client side, owned by rpc/: one yamux session per remote server, reused for every
// call, and its streams reused too: a stream whose call ended cleanly waits for the next call
// (at most `max_idle_streams` per session, newest first, as Consul's pool keeps them); a stream
// whose call failed is closed. At most one dial in flight per server (concurrent callers
// wait for it), one redial when a session turns out broken, idle sessions closed after
// `idle_timeout` (Consul: 2 minutes), a timeout per call.
// How a server is reached is the injected dialer: plain TCP + 0x04, the 0x03 TLS upgrade, or
// (mesh/, later) native TLS with ALPN through a mesh gateway. The dialer returns a stream on
// which yamux can start (any type byte already written).
// Threading: the executor must be single-threaded (the agent's io_context). Errors: call()
// returns the RPC's own error text in rpc_reply::error, and transport problems as an error
// string naming the server, its address and the stage.
#include <chrono>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "rpc/mux_conn.hpp"
#include "rpc/router.hpp"

namespace meshfed::tls {
class configurator;
}

namespace meshfed::rpc {

using dialer_fn =
    std::function<asio::awaitable<std::expected<std::unique_ptr<byte_stream>, std::string>>(
        server_info target)>;

struct pool_stats {
    std::uint64_t dials = 0, dial_failures = 0, calls = 0, call_failures = 0, redials = 0,
                  idle_closed = 0, streams_opened = 0, streams_reused = 0;
};

class conn_pool {
  public:
    conn_pool(asio::any_io_executor ex, dialer_fn dialer,
              std::chrono::milliseconds idle_timeout = std::chrono::minutes(2));
    ~conn_pool();

    asio::awaitable<std::expected<rpc_reply, std::string>> call(server_info target,
                                                                std::string method,
                                                                std::vector<std::uint8_t> body,
                                                                std::chrono::milliseconds timeout);
    void close_all();
    std::size_t sessions() const;
    const pool_stats& stats() const;

  private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

// The classic dialer: TCP (10 s connect timeout, TCP_NODELAY), then either the type byte 0x04,
// or with outgoing TLS (`tls` non-null and verify_outgoing) 0x03 + TLS handshake (SNI
// server.<dc>.<domain> with verify_server_hostname) + 0x04 inside TLS.
dialer_fn classic_dialer(asio::any_io_executor ex, std::shared_ptr<tls::configurator> tls);

}  // namespace meshfed::rpc
