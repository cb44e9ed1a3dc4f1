#pragma once
// The mesh gateway's routing table from its local agent's HTTP API, owned by mesh/: pure
// functions from Consul's JSON shapes to mesh::routing_table, so the watch loops that fetch the
// JSON stay thin.
//   /v1/health/service/consul?passing        -> local servers (node -> RPC address)
//   /v1/internal/federation-states/mesh-gateways -> every other datacenter's gateways (WAN addr)
// Address choice follows Consul's BestAddress: for a WAN peer the service's tagged address
// "wan" (its Address and, if non-zero, Port), else the service address, else the node's tagged
// "wan" address, else the node address;
// for a local server the service address, else the node address, and the service port.
// Threading: none (pure). Errors: malformed entries are skipped and counted in `skipped`.
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "mesh/gateway_proxy.hpp"

namespace meshfed::mesh {

struct route_build_report {
    std::size_t skipped = 0;  // entries without a usable address/port, or of the wrong shape
};

// Health entries (CheckServiceNode JSON list) of service "consul" in the local DC.
std::map<std::string, endpoint> local_servers_from_health(const nlohmann::json& entries,
                                                          route_build_report* report = nullptr);
// {"dc2": [CheckServiceNode...], ...}; our own DC is left out; gateways with a critical check
// are left out (Consul's gateway routes only to healthy peers).
std::map<std::string, std::vector<endpoint>> dc_gateways_from_federation(
    const nlohmann::json& by_dc, const std::string& local_dc, route_build_report* report = nullptr);

// The WAN address of a CheckServiceNode (BestAddress(true)); nullopt when none.
std::optional<endpoint> wan_address_of(const nlohmann::json& check_service_node);

}  // namespace meshfed::mesh
