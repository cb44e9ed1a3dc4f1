#pragma once
// `meshfed mesh-gateway`: the counterpart of `consul connect envoy -gateway=mesh -register
// -expose-servers`, with meshfed's own L4 SNI proxy (mesh/gateway_proxy) in place of Envoy.
// It registers itself with its local agent over the HTTP API (Kind mesh-gateway, tagged
// addresses lan/wan, meta consul-wan-federation=1 with -expose-servers, a TCP check),
// keeps its routing table current with blocking queries (local servers: health of service
// "consul"; other datacenters: /v1/internal/federation-states/mesh-gateways), and deregisters
// on SIGINT/SIGTERM.
// Threading: the proxy runs on one io_context (main thread); each blocking watch runs on its own
// thread with its own HTTP client and posts results to the io_context.
// Errors: flag problems and registration failures print Consul's texts and exit 1.
#include <iosfwd>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "agent/cli_http.hpp"
#include "mesh/gateway_proxy.hpp"

namespace meshfed::agent {

struct mesh_gateway_options {
    std::string gateway;        // -gateway (only "mesh")
    bool mesh_gateway = false;  // -mesh-gateway (deprecated spelling of -gateway=mesh)
    bool register_service = false;
    bool expose_servers = false;
    std::string address;      // -address LAN ip:port
    std::string wan_address;  // -wan-address WAN ip:port
    std::string service;      // -service (default: mesh-gateway)
    std::string proxy_id;     // -proxy-id (default: the service name)
    std::string deregister_after_critical = "6h";
    std::vector<std::string> bind_addresses;  // -bind-address name=ip:port (repeatable)
    // -admin-bind ip:port: Envoy's admin listener, reduced to what meshfed's proxy has:
    // GET /stats (counters, "name: value" lines; ?format=json), GET /ready. Envoy binds
    // localhost:19000 by default; ours is off unless set, so several gateways share a host.
    std::string admin_bind;
    cli::http_flags http;
};

// Consul's flag checks, in Consul's order; the text it prints, or nullopt.
std::optional<std::string> check_mesh_gateway_flags(mesh_gateway_options& o);

// The body of PUT /v1/agent/service/register (Consul's AgentServiceRegistration).
nlohmann::json mesh_gateway_registration(const mesh_gateway_options& o);

// The counters GET /stats reports, in order: accepted, refused_source_cap, hello_timeouts,
// bad_hello, unknown_sni, active, then per route "route.<route>.<counter>".
std::vector<std::pair<std::string, std::uint64_t>> mesh_gateway_counters(
    const mesh::proxy_stats& s);

// Where the proxy listens: every -bind-address, else the -address and (if different) the
// -wan-address. Each entry "ip:port".
std::vector<std::string> mesh_gateway_listen_addresses(const mesh_gateway_options& o);

int run_mesh_gateway(mesh_gateway_options o, std::ostream& out, std::ostream& err);

}  // namespace meshfed::agent
