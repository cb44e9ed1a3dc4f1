#pragma once
// Consul's catalog-side HTTP endpoints, served through RPC calls (agent/http/query.hpp):
//   GET /v1/status/leader, /v1/status/peers
//   GET /v1/catalog/datacenters, /v1/catalog/services, /v1/catalog/service/<name> (?tag=),
//       /v1/catalog/nodes, /v1/catalog/node/<node>; PUT /v1/catalog/register,
//       /v1/catalog/deregister
//   GET /v1/health/service/<name> (?passing, ?tag=)
//   GET /v1/internal/federation-states, /v1/internal/federation-state/<dc>,
//       /v1/internal/federation-states/mesh-gateways
// Shapes follow Consul's agent/*_endpoint.go: lists are never null, X-Consul-* headers on
// every blocking read, "Request decode failed: ..." (400) for bad bodies.
// Threading: the http_api's (the io thread).
#include "agent/http/http_api.hpp"

namespace meshfed::agent::http {

void register_catalog_endpoints(http_api& api);

}  // namespace meshfed::agent::http
