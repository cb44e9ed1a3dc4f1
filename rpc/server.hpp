#pragma once
// The server's RPC port (ports.server, 8300), owned by rpc/. One TCP listener; the first byte
// picks the protocol, as in Consul (consul-wanfed.md §1.1-§1.2):
//   0x00 one msgpack-rpc connection          0x04 yamux, msgpack-rpc on every stream
//   0x03 TLS upgrade, then the inner byte     > 0x09 native TLS; the negotiated ALPN decides:
//        (TLS-in-TLS refused)                       consul/rpc-multi, consul/rpc-single, and the
//   0x07 insecure TLS: refused                       WAN gossip protocols (handed to hooks)
//   anything else: "unrecognized RPC byte", closed.
// With verify_incoming a plaintext protocol byte is refused ("Non-TLS connection attempted
// with VerifyIncoming set"). A deadline (limits.rpc_handshake_timeout) covers the first byte
// and the TLS handshake; at most limits.rpc_max_conns_per_client connections per source IP;
// connections idle longer than `idle_timeout` are closed.
// Calls whose request names another datacenter (`Datacenter`, or `TargetDatacenter` when set,
// as FederationStateQuery) go to `forward`; the
// rest are dispatched to the handler registry.
// Threading: the executor must be single-threaded (the agent's io_context). Errors: listen()
// reports bind errors; per-connection problems are logged (source, protocol, ALPN) and counted.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include <asio/any_io_executor.hpp>

#include "rpc/handler.hpp"
#include "rpc/limits.hpp"
#include "rpc/mux_conn.hpp"

namespace meshfed::tls {
class configurator;
}

namespace meshfed::rpc {

struct server_stats {
    std::uint64_t accepted = 0, rejected_conn_limit = 0, handshake_timeouts = 0, tls_failures = 0,
                  unrecognized_byte = 0, plaintext_refused = 0, tls_in_tls = 0,
                  insecure_refused = 0, alpn_unknown = 0, role_refused = 0;
    std::uint64_t by_type[10] = {};  // connections per protocol byte 0..9
    std::uint64_t native_tls = 0, calls = 0, forwarded = 0, call_errors = 0, decode_errors = 0;
};

class server {
  public:
    // `forward(dc, method, body, reply)`: answer a call for another datacenter.
    using forward_fn = std::function<void(std::string dc, std::string method,
                                          std::vector<std::uint8_t> body, reply_fn reply)>;
    // A native-TLS connection for a WAN gossip ALPN; the hook owns it from then on.
    using gossip_conn_fn = std::function<void(std::unique_ptr<byte_stream>)>;

    server(asio::any_io_executor ex, const handler_registry& handlers, std::string local_dc,
           limits lim, std::shared_ptr<tls::configurator> tls);
    ~server();

    std::error_code listen(const std::string& ip, std::uint16_t port);
    std::uint16_t port() const;
    void start();
    void stop();

    void set_forwarder(forward_fn f);
    void set_gossip_hooks(gossip_conn_fn packet, gossip_conn_fn stream);
    const server_stats& stats() const;

    // The routing-relevant fields of a request body (a msgpack map with QueryOptions
    // flattened); absent or unreadable fields stay empty/zero.
    struct request_peek {
        std::string datacenter;
        std::uint64_t min_query_index = 0;
        std::int64_t max_query_time_ns = 0;
    };
    static request_peek peek_request(std::span<const std::uint8_t> body);
    static std::string request_datacenter(std::span<const std::uint8_t> body) {
        return peek_request(body).datacenter;
    }
    // How long a forwarded call may take: rpc_client_timeout, or for a blocking query
    // min(MaxQueryTime or 300 s, 600 s) + 1/16 jitter + the 7 s RPC hold timeout (Consul).
    static std::chrono::milliseconds call_timeout(const request_peek& p,
                                                  std::chrono::milliseconds client_timeout);

  private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace meshfed::rpc
