#pragma once
// Consul's agent-local service and check endpoints over agent/local_state.hpp:
//   PUT /v1/agent/service/register (?replace-existing-checks), PUT
//   /v1/agent/service/deregister/<id>, GET /v1/agent/services, GET /v1/agent/service/<id> (with
//   ContentHash), GET /v1/agent/checks, PUT /v1/agent/check/pass|warn|fail/<id> (?note=), PUT
//   /v1/agent/check/update/<id> ({"Status", "Output"}).
// Shapes: api.AgentService (Weights, Tags [] and Meta {} never null, Proxy for proxies and
// gateways, Datacenter) and structs.HealthCheck (Definition with duration strings).
// Texts and codes as Consul's agent_endpoint.go: 400 "Missing service name", "Invalid check:
// ...", "Invalid Service Meta: ...", 404 "Unknown service ID \"x\". Ensure that the service ID
// is passed, not the service name.", 400 "Invalid check status: 'x'".
// Threading: the http_api's (the io thread); `state` must outlive the routes.
#include <memory>

#include "agent/http/http_api.hpp"
#include "agent/local_state.hpp"

namespace meshfed::agent::http {

void register_agent_service_endpoints(http_api& api, std::shared_ptr<local_state> state);

// api.AgentService's JSON for `s` in datacenter `dc`.
nlohmann::json agent_service_json(const rpc::node_service& s, const std::string& dc);

}  // namespace meshfed::agent::http
