#pragma once
// The data path of a mesh gateway, owned by mesh/: a pure L4 proxy that reads the TLS
// ClientHello just far enough to get the SNI (client_hello.hpp), picks a destination the way
// Consul's mesh gateway does (sni_route.hpp), connects, replays the bytes it read and splices
// both directions. It never terminates TLS and holds no certificate.
//   <node>.server.<localdc>.<domain>   -> that local server (its RPC address)
//   server.<localdc>.<domain>          -> any local server
//   [<node>.]server.<otherdc>.<domain> -> a gateway of that datacenter (its WAN address)
//   anything else                      -> refused and counted
// An upstream that cannot be reached is skipped for the next endpoint of the same route; with
// none left the connection is closed and the log says which datacenter/node had no endpoint.
// Bounded: ClientHello size and deadline, per-source connection cap, fixed-size splice buffers,
// idle timeout. Stats per route.
// Threading: the executor must be single-threaded (or a strand). Errors: listen() reports bind
// errors; everything else is logged (source, SNI, route, upstream) and counted.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <asio/any_io_executor.hpp>

namespace meshfed::mesh {

struct endpoint {
    std::string ip;
    std::uint16_t port = 0;
    std::string to_string() const;
    bool operator==(const endpoint&) const = default;
};

// Where each route leads; replaced wholesale by the owner when the catalog changes.
struct routing_table {
    std::map<std::string, endpoint> local_servers;             // node -> RPC address
    std::map<std::string, std::vector<endpoint>> dc_gateways;  // dc -> WAN addresses
};

struct proxy_options {
    std::chrono::milliseconds hello_timeout{10'000};
    std::chrono::milliseconds connect_timeout{5'000};
    std::chrono::milliseconds idle_timeout{std::chrono::minutes(30)};
    int max_conns_per_source = 512;  // 0 = unlimited
    std::size_t buffer_size = 64 * 1024;
};

struct route_stats {
    std::uint64_t connections = 0, upstream_failures = 0, no_endpoint = 0;
    std::uint64_t bytes_up = 0, bytes_down = 0;
};

struct proxy_stats {
    std::uint64_t accepted = 0, refused_source_cap = 0, hello_timeouts = 0, bad_hello = 0,
                  unknown_sni = 0, active = 0;
    std::map<std::string, route_stats>
        routes;  // "local-server:<node>", "any-local-server", "dc:<dc>"
};

class gateway_proxy {
  public:
    gateway_proxy(asio::any_io_executor ex, std::string local_dc, std::string domain,
                  proxy_options opts = {});
    ~gateway_proxy();
    // May be called more than once (a gateway's LAN and WAN sides); before start().
    std::error_code listen(const std::string& ip, std::uint16_t port);
    std::uint16_t port() const;  // of the first listener
    void set_routes(routing_table t);
    void start();
    void stop();
    const proxy_stats& stats() const;

  private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace meshfed::mesh
