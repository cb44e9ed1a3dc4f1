#pragma once
// Consul's HTTP request/response conventions, shared by every endpoint file in agent/http/:
// ?dc= / ?index= / ?wait= / ?stale / ?consistent / ?filter parsing (Consul's parse / parseDC /
// parseWait / parseConsistency and their 400 texts), the X-Consul-* meta headers, JSON
// replies, the mapping of RPC error texts to status codes, and a typed RPC call helper.
// Threading: plain functions; call_rpc replies on the io thread like rpc_call_fn.
// Errors: returned as ready-made responses (std::unexpected<response>).
#include <expected>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "agent/http/http_api.hpp"
#include "rpc/structs.hpp"

namespace meshfed::agent::http {

struct read_params {
    std::string dc;  // "" when ?dc= is absent (the local datacenter)
    rpc::query_options options;
};

// ?dc, ?index (MinQueryIndex), ?wait (MaxQueryTime, a Go duration), ?stale (AllowStale),
// ?consistent (RequireConsistent), ?filter (Filter; evaluated by the endpoint). Errors: 400 with
// Consul's texts ("Invalid wait time", "Invalid index", "Cannot specify ?stale with
// ?consistent, conflicting semantics.").
std::expected<read_params, response> parse_read(const request& req);
// ?dc only (writes and non-blocking reads).
std::string parse_dc(const request& req);
// The token from X-Consul-Token, "Authorization: Bearer" or ?token (ACLs are not enforced yet,
// the token is passed through to the RPC as Consul's agent does).
std::string parse_token(const request& req);

response json_response(const nlohmann::json& body, int status = 200);
response text_response(int status, std::string body);
// X-Consul-Index, X-Consul-KnownLeader, X-Consul-LastContact (milliseconds), as setMeta.
void set_meta(response& r, const rpc::query_meta& meta);
// An RPC error text as Consul's HTTP layer maps it: permission denied 403, rate limit 429,
// "... not found" 404, anything else 500 with the text as body.
response rpc_error_response(std::string_view error);
// A Go-duration-formatted nanosecond count ("1.5s"), as Consul's JSON for durations in text.
std::string go_duration_text(std::chrono::nanoseconds d);

// Encodes `req` (rpc/structs.hpp), calls `method` in `dc` and decodes the reply as Reply. On
// an RPC error answers rpc_error_response; on an undecodable reply 500. Otherwise `done` gets
// the reply and builds the response (set_meta is the caller's choice).
template <class Reply, class Req>
void call_rpc(const http_api& api, std::string dc, std::string method, const Req& req,
              respond_fn respond, std::function<response(Reply&)> done);

// The same with the reply body as raw msgpack (Status.Leader's string, ListDatacenters...).
void call_rpc_raw(const http_api& api, std::string dc, std::string method,
                  std::vector<std::uint8_t> body, respond_fn respond,
                  std::function<response(std::span<const std::uint8_t>)> done);

template <class Reply, class Req>
void call_rpc(const http_api& api, std::string dc, std::string method, const Req& req,
              respond_fn respond, std::function<response(Reply&)> done) {
    call_rpc_raw(api, std::move(dc), std::move(method), rpc::encode_to_bytes(req),
                 std::move(respond),
                 [done = std::move(done)](std::span<const std::uint8_t> body) -> response {
                     auto reply = rpc::decode_from_bytes<Reply>(body);
                     if (!reply) {
                         return text_response(
                             500, "rpc error: cannot decode reply: " + reply.error().message());
                     }
                     return done(*reply);
                 });
}

}  // namespace meshfed::agent::http
