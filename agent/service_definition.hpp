#pragma once
// Consul's service registration body (structs.ServiceDefinition / api.AgentServiceRegistration)
// and its checks (structs.CheckType), decoded from JSON and validated with Consul's texts, as
// PUT /v1/agent/service/register takes them and the agent persists them.
// Decoding follows Consul's decodeBody: keys match case-insensitively and in snake_case
// ("tagged_addresses"), unknown keys and nulls are ignored, durations are Go duration strings
// or nanosecond numbers, a wrong type is "json: cannot unmarshal <type> into Go struct field
// ServiceDefinition.<Field> of type <go type>".
// Checks: meshfed runs TCP and TTL checks; a definition of another kind (HTTP, script, gRPC,
// ...) is refused with 400 rather than registered and never run.
// Threading: pure functions. Errors: the full 400 body text, as Consul writes it.
#include <chrono>
#include <cstdint>
#include <expected>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rpc/structs.hpp"

namespace meshfed::agent {

// The runnable part of a check (structs.CheckType).
struct check_type {
    std::string check_id;  // "" = service:<id>[:n]
    std::string name;      // "" = "Service '<name>' check"
    std::string status;    // initial status; "" = critical
    std::string notes;
    std::string tcp;  // host:port
    std::chrono::nanoseconds interval{0};
    std::chrono::nanoseconds timeout{0};  // 0 = Consul's 10 s
    std::chrono::nanoseconds ttl{0};
    std::chrono::nanoseconds deregister_critical_after{0};
    std::int64_t success_before_passing = 0;
    std::int64_t failures_before_warning = 0;
    std::int64_t failures_before_critical = 0;

    bool is_ttl() const { return ttl.count() > 0; }
    std::string type() const { return is_ttl() ? "ttl" : "tcp"; }  // CheckType.Type()
    bool operator==(const check_type&) const = default;
};

struct service_definition {
    rpc::node_service service;  // ID defaulted to the name, Weights defaulted to {1, 1}
    std::vector<check_type> checks;
};

std::expected<service_definition, std::string> decode_service_definition(const nlohmann::json& j);

// The health check a check_type becomes for service `svc` on `node` (agent.addServiceInternal:
// ID service:<id>[:n] when unset, name "Service '<name>' check", status critical unless given,
// Definition filled in for the catalog). `index`/`count`: position among the service's checks.
rpc::health_check make_health_check(const check_type& c, const rpc::node_service& svc,
                                    const std::string& node, std::size_t index, std::size_t count);

// HealthCheckDefinition as Consul's JSON shows it (durations as Go duration strings).
nlohmann::json definition_json(const check_type& c);

}  // namespace meshfed::agent
