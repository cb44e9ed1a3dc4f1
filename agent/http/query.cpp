#include "agent/http/query.hpp"

#include <charconv>

#include <fmt/format.h>

#include "agent/config/duration.hpp"

namespace meshfed::agent::http {

namespace {

bool contains(std::string_view hay, std::string_view needle) {
    return hay.find(needle) != std::string_view::npos;
}

}  // namespace

std::string parse_dc(const request& req) {
    auto dc = req.query_value("dc");
    return dc ? *dc : std::string();
}

std::string parse_token(const request& req) {
    if (auto t = req.header("X-Consul-Token"); !t.empty()) return t;
    if (auto a = req.header("Authorization"); a.starts_with("Bearer ")) return a.substr(7);
    auto t = req.query_value("token");
    return t ? *t : std::string();
}

std::expected<read_params, response> parse_read(const request& req) {
    read_params p;
    p.dc = parse_dc(req);
    p.options.token = parse_token(req);
    if (auto wait = req.query_value("wait"); wait && !wait->empty()) {
        auto d = config::parse_go_duration(*wait);
        if (!d) return std::unexpected(text_response(400, "Invalid wait time"));
        p.options.max_query_time = *d;
    }
    if (auto idx = req.query_value("index"); idx && !idx->empty()) {
        std::uint64_t v = 0;
        auto [ptr, ec] = std::from_chars(idx->data(), idx->data() + idx->size(), v);
        if (ec != std::errc() || ptr != idx->data() + idx->size())
            return std::unexpected(text_response(400, "Invalid index"));
        p.options.min_query_index = v;
    }
    p.options.allow_stale = req.has_query("stale");
    p.options.require_consistent = req.has_query("consistent");
    if (p.options.allow_stale && p.options.require_consistent) {
        return std::unexpected(
            text_response(400, "Cannot specify ?stale with ?consistent, conflicting semantics."));
    }
    if (auto f = req.query_value("filter")) p.options.filter = *f;
    return p;
}

response json_response(const nlohmann::json& body, int status) {
    response r;
    r.status = status;
    // Invalid UTF-8 from a peer must not throw: replace it.
    r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return r;
}

response text_response(int status, std::string body) {
    response r;
    r.status = status;
    r.body = std::move(body);
    r.content_type = "text/plain; charset=utf-8";
    return r;
}

void set_meta(response& r, const rpc::query_meta& meta) {
    using namespace std::chrono;
    r.headers.emplace_back("X-Consul-Index", std::to_string(meta.index));
    r.headers.emplace_back("X-Consul-KnownLeader", meta.known_leader ? "true" : "false");
    r.headers.emplace_back("X-Consul-LastContact",
                           std::to_string(duration_cast<milliseconds>(meta.last_contact).count()));
}

response rpc_error_response(std::string_view error) {
    // Consul's HTTPHandlers.wrap: acl.IsErrPermissionDenied / IsErrNotFound -> 403,
    // rate limiting -> 429, structs.IsErrNotFound-like texts -> 404, the rest 500.
    if (contains(error, "Permission denied") || contains(error, "ACL not found"))
        return text_response(403, std::string(error));
    if (contains(error, "rate limit exceeded")) return text_response(429, std::string(error));
    return text_response(500, std::string(error));
}

std::string go_duration_text(std::chrono::nanoseconds d) {
    return config::format_go_duration(d);
}

void call_rpc_raw(const http_api& api, std::string dc, std::string method,
                  std::vector<std::uint8_t> body, respond_fn respond,
                  std::function<response(std::span<const std::uint8_t>)> done) {
    const auto& rpc = api.rpc();
    if (!rpc) {
        respond(text_response(500, "No cluster leader"));
        return;
    }
    rpc(std::move(dc), std::move(method), std::move(body),
        [respond = std::move(respond), done = std::move(done)](std::string error,
                                                               std::vector<std::uint8_t> reply) {
            if (!error.empty()) {
                respond(rpc_error_response(error));
                return;
            }
            respond(done(reply));
        });
}

}  // namespace meshfed::agent::http
