#pragma once
// JSON forms of Consul's catalog / health / federation-state structs (rpc/structs.hpp) as the
// HTTP API writes and reads them (encoding/json over agent/structs): Go field names, RaftIndex
// and QueryMeta flattened, `json:",omitempty"` fields left out when empty, `json:"-"` fields
// never written, time.Time as RFC 3339 with nanoseconds, opaque msgpack objects (Proxy,
// Connect, Definition, Locality) converted to JSON objects. Empty lists are [] and empty maps
// {} (Consul's endpoints replace nil lists by [] where clients iterate them).
// Decoding follows encoding/json: keys match field names case-insensitively, unknown keys and
// nulls are ignored, a wrong type is an error naming the field, as Go words it
// ("json: cannot unmarshal string into Go struct field RegisterRequest.Service.Port of type
// int"). Bounded by the body limit of the HTTP layer and nlohmann's parser (depth limit below).
// Threading: pure functions. Errors: std::expected with the message text; no exceptions escape.
#include <expected>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "rpc/structs.hpp"

namespace meshfed::agent::http {

nlohmann::json to_json(const rpc::node& v);
nlohmann::json to_json(const rpc::service_node& v);
nlohmann::json to_json(const rpc::node_service& v);
nlohmann::json to_json(const rpc::health_check& v);
nlohmann::json to_json(const rpc::check_service_node& v);
nlohmann::json to_json(const rpc::node_services& v);
nlohmann::json to_json(const rpc::federation_state& v);
// QueryMeta's JSON fields (Index, LastContact, KnownLeader, ...) added to `obj`.
void add_query_meta(nlohmann::json& obj, const rpc::query_meta& m);
// time.Time's JSON form ("2006-01-02T15:04:05.999999999Z").
std::string rfc3339(const rpc::go_time& t);

// Parses a request body as JSON: an object nested at most 64 deep. Error: Go-like text
// ("invalid character 'x' looking for beginning of value", "unexpected EOF").
std::expected<nlohmann::json, std::string> parse_json_body(std::string_view body);

std::expected<rpc::register_request, std::string> register_request_from_json(
    const nlohmann::json& j);
std::expected<rpc::deregister_request, std::string> deregister_request_from_json(
    const nlohmann::json& j);

}  // namespace meshfed::agent::http
