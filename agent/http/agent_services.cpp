#include "agent/http/agent_services.hpp"

#include <fmt/format.h>

#include "agent/http/filter.hpp"
#include "agent/http/json_codec.hpp"
#include "agent/http/query.hpp"

namespace meshfed::agent::http {

namespace {

using json = nlohmann::json;

// Consul's CheckBufSize / the TTL check's default OutputMaxSize.
constexpr std::size_t check_output_max = 4096;

// Go's %q for the printable ASCII IDs clients use (quotes and backslashes escaped, other
// bytes as \xNN).
std::string go_quote(std::string_view s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(c));
        } else if (c < 0x20 || c == 0x7f) {
            out += fmt::format("\\x{:02x}", c);
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    return out + "\"";
}

response empty_ok() {
    return {200, "", "text/plain; charset=utf-8", {}};
}

json opaque_json(const std::vector<std::uint8_t>& bytes) {
    if (bytes.empty()) return nullptr;
    auto j = json::from_msgpack(bytes, true, false);
    return j.is_discarded() ? json(nullptr) : j;
}

bool is_proxy_or_gateway(std::string_view kind) {
    return kind == "connect-proxy" || kind == "mesh-gateway" || kind == "terminating-gateway" ||
           kind == "ingress-gateway" || kind == "api-gateway";
}

// Consul's hashstructure-based ContentHash: 16 hex digits that change with the content.
std::string content_hash(const json& j) {
    std::uint64_t h = 1469598103934665603ull;  // FNV-1a 64
    for (unsigned char c : j.dump()) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return fmt::format("{:016x}", h);
}

json check_json(const local_check& c) {
    json j = to_json(c.check);
    j["Definition"] = definition_json(c.type);
    if (!j.contains("ServiceTags") || j["ServiceTags"].is_null()) j["ServiceTags"] = json::array();
    return j;
}

std::string truncate_output(std::string out) {
    const auto total = out.size();
    if (total <= check_output_max) return out;
    out.resize(check_output_max);
    return fmt::format("{} ... (captured {} of {} bytes)", out, check_output_max, total);
}

void ttl_update(local_state& st, const std::string& id, std::string status, std::string output,
                respond_fn respond) {
    switch (st.update_ttl(id, std::move(status), truncate_output(std::move(output)))) {
        case local_state::ttl_result::ok:
            return respond(empty_ok());
        case local_state::ttl_result::unknown_check:
            return respond(text_response(
                404, fmt::format("Unknown check ID {}. Ensure that the check ID is passed, not "
                                 "the check name.",
                                 go_quote(id))));
        case local_state::ttl_result::not_ttl:
            return respond(text_response(
                500, fmt::format("CheckID {} does not have associated TTL", go_quote(id))));
    }
}

void register_service(local_state& st, const request& req, respond_fn respond) {
    auto body = parse_json_body(req.body);
    if (!body) return respond(text_response(400, "Request decode failed: " + body.error()));
    auto def = decode_service_definition(*body);
    if (!def) return respond(text_response(400, def.error()));
    auto replace = req.query_value("replace-existing-checks");
    const bool replace_checks = replace && (replace->empty() || *replace == "true");
    st.add_service(std::move(*def), replace_checks, *body);
    respond(empty_ok());
}

}  // namespace

json agent_service_json(const rpc::node_service& s, const std::string& dc) {
    json j = json::object();
    if (!s.kind.empty()) j["Kind"] = s.kind;
    j["ID"] = s.id;
    j["Service"] = s.service;
    j["Tags"] = s.tags;
    j["Meta"] = json::object();
    for (const auto& [k, v] : s.meta) j["Meta"][k] = v;
    j["Port"] = s.port;
    j["Address"] = s.address;
    if (!s.socket_path.empty()) j["SocketPath"] = s.socket_path;
    if (!s.tagged_addresses.empty()) {
        json ta = json::object();
        for (const auto& [k, v] : s.tagged_addresses)
            ta[k] = {{"Address", v.address}, {"Port", v.port}};
        j["TaggedAddresses"] = std::move(ta);
    }
    auto w = s.weights_.value_or(rpc::weights{1, 1});
    j["Weights"] = {{"Passing", w.passing > 0 ? w.passing : 1}, {"Warning", w.warning}};
    j["EnableTagOverride"] = s.enable_tag_override;
    if (is_proxy_or_gateway(s.kind)) {
        auto p = opaque_json(s.proxy.bytes);
        if (!p.is_object()) p = json::object();
        // ConnectProxyConfig.ToAPI always carries these two blocks.
        if (!p.contains("MeshGateway")) p["MeshGateway"] = json::object();
        if (!p.contains("Expose")) p["Expose"] = json::object();
        j["Proxy"] = std::move(p);
    }
    if (auto c = opaque_json(s.connect.bytes); c.is_object() && c.value("Native", false))
        j["Connect"] = {{"Native", true}};
    j["Datacenter"] = dc;
    return j;
}

void register_agent_service_endpoints(http_api& api, std::shared_ptr<local_state> state) {
    const std::vector<verb> get = {verb::get};
    const std::vector<verb> put = {verb::put};
    auto dc = api.config().datacenter;

    api.add_route("/v1/agent/service/register", put,
                  [state](const request& req, respond_fn respond) {
                      register_service(*state, req, std::move(respond));
                  });
    api.add_route("/v1/agent/service/deregister/", put,
                  [state](const request& req, respond_fn respond) {
                      if (!state->remove_service(req.suffix)) {
                          return respond(text_response(
                              404, fmt::format("Unknown service ID {}. Ensure that the service ID "
                                               "is passed, not the service name.",
                                               go_quote(req.suffix))));
                      }
                      respond(empty_ok());
                  });
    api.add_route("/v1/agent/services", get, [state, dc](const request& req, respond_fn respond) {
        json out = json::object();
        for (const auto& [id, s] : state->services()) out[id] = agent_service_json(s, dc);
        auto f = apply_filter(req.query_value("filter").value_or(""), agent_service_filter_schema(),
                              out);
        if (!f) return respond(text_response(400, f.error()));
        respond(json_response(out));
    });
    api.add_route("/v1/agent/service/", get, [state, dc](const request& req, respond_fn respond) {
        auto it = state->services().find(req.suffix);
        if (it == state->services().end())
            return respond(text_response(404, "unknown service ID: " + req.suffix));
        auto j = agent_service_json(it->second, dc);
        auto hash = content_hash(j);
        j["ContentHash"] = hash;
        auto r = json_response(j);
        r.headers.emplace_back("X-Consul-ContentHash", hash);
        respond(std::move(r));
    });
    api.add_route("/v1/agent/checks", get, [state](const request& req, respond_fn respond) {
        json out = json::object();
        for (const auto& [id, c] : state->checks()) out[id] = check_json(c);
        auto f =
            apply_filter(req.query_value("filter").value_or(""), health_check_filter_schema(), out);
        if (!f) return respond(text_response(400, f.error()));
        respond(json_response(out));
    });
    struct ttl_route {
        const char* path;
        const char* status;
    };
    for (auto r : {ttl_route{"/v1/agent/check/pass/", "passing"},
                   ttl_route{"/v1/agent/check/warn/", "warning"},
                   ttl_route{"/v1/agent/check/fail/", "critical"}}) {
        std::string status = r.status;
        api.add_route(r.path, put, [state, status](const request& req, respond_fn respond) {
            ttl_update(*state, req.suffix, status, req.query_value("note").value_or(""),
                       std::move(respond));
        });
    }
    api.add_route("/v1/agent/check/update/", put, [state](const request& req, respond_fn respond) {
        auto body = parse_json_body(req.body);
        if (!body) return respond(text_response(400, "Request decode failed: " + body.error()));
        std::string status, output;
        if (body->is_object()) {
            for (auto it = body->begin(); it != body->end(); ++it) {
                std::string k = it.key();
                for (auto& ch : k)
                    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
                if (it->is_null()) continue;
                if ((k == "status" || k == "output") && !it->is_string()) {
                    return respond(text_response(
                        400, fmt::format("Request decode failed: json: cannot unmarshal {} into "
                                         "Go struct field checkUpdate.{} of type string",
                                         it->type_name(), k == "status" ? "Status" : "Output")));
                }
                if (k == "status") status = it->get<std::string>();
                if (k == "output") output = it->get<std::string>();
            }
        }
        if (status != "passing" && status != "warning" && status != "critical")
            return respond(text_response(400, fmt::format("Invalid check status: '{}'", status)));
        ttl_update(*state, req.suffix, std::move(status), std::move(output), std::move(respond));
    });
}

}  // namespace meshfed::agent::http
