#include "agent/http/catalog_endpoints.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "agent/http/filter.hpp"
#include "agent/http/json_codec.hpp"
#include "agent/http/query.hpp"
#include "common/msgpack.hpp"

namespace meshfed::agent::http {

namespace {

using json = nlohmann::json;

// The datacenter an RPC request names: ?dc= or the agent's own.
std::string request_dc(const http_api& api, const read_params& p) {
    return p.dc.empty() ? api.config().datacenter : p.dc;
}

// ?node-meta=key:value (repeatable), Consul's parseMetaFilter.
rpc::string_map parse_meta_filter(const request& req) {
    rpc::string_map out;
    for (const auto& [k, v] : req.query) {
        if (k != "node-meta") continue;
        auto colon = v.find(':');
        out[v.substr(0, colon)] = colon == std::string::npos ? "" : v.substr(colon + 1);
    }
    return out;
}

std::vector<std::string> query_values(const request& req, std::string_view key) {
    std::vector<std::string> out;
    for (const auto& [k, v] : req.query)
        if (k == key) out.push_back(v);
    return out;
}

// Go's strconv.ParseBool.
std::optional<bool> parse_bool(std::string_view s) {
    if (s == "1" || s == "t" || s == "T" || s == "true" || s == "TRUE" || s == "True") return true;
    if (s == "0" || s == "f" || s == "F" || s == "false" || s == "FALSE" || s == "False")
        return false;
    return std::nullopt;
}

// A JSON reply with the QueryMeta headers.
response with_meta(const json& body, const rpc::query_meta& meta) {
    auto r = json_response(body);
    set_meta(r, meta);
    return r;
}

// `body` filtered by ?filter= (Consul evaluates it on each result element); a bad expression
// is a 400 with bexpr's text.
response filtered_with_meta(json body, const std::string& filter, const json& schema,
                            const rpc::query_meta& meta) {
    if (auto f = apply_filter(filter, schema, body); !f) return text_response(400, f.error());
    return with_meta(body, meta);
}

// A bad ?filter= answered before the RPC, so a blocking query with one does not wait first.
std::optional<response> bad_filter(const std::string& filter, const json& schema) {
    if (filter.empty()) return std::nullopt;
    auto f = filter_expression::parse(filter, &schema);
    if (!f) return text_response(400, f.error());
    return std::nullopt;
}

// Runs `fn(params)` for a parsed read request, or answers the parse error.
template <class Fn>
handler_fn read_handler(http_api& api, Fn fn) {
    return [&api, fn](const request& req, respond_fn respond) {
        auto p = parse_read(req);
        if (!p) return respond(std::move(p.error()));
        fn(api, req, std::move(*p), std::move(respond));
    };
}

std::vector<std::uint8_t> dc_only_body(const std::string& dc) {
    rpc::dc_specific_request args;
    args.datacenter = dc;
    return rpc::encode_to_bytes(args);
}

// ---- /v1/status ----
void status_leader(http_api& api, const request&, read_params p, respond_fn respond) {
    auto dc = request_dc(api, p);
    call_rpc_raw(api, dc, "Status.Leader", dc_only_body(dc), std::move(respond),
                 [](std::span<const std::uint8_t> body) {
                     msgpack::reader r(body);
                     auto s = r.read_str();
                     if (!s) return text_response(500, "rpc error: cannot decode reply");
                     return json_response(json(std::string(*s)));
                 });
}

// A msgpack []string reply as a JSON array.
response string_list_response(std::span<const std::uint8_t> body) {
    msgpack::reader r(body);
    json out = json::array();
    auto n = r.read_array_header();
    if (!n) return text_response(500, "rpc error: cannot decode reply");
    for (std::uint32_t i = 0; i < *n; ++i) {
        auto s = r.read_str();
        if (!s) return text_response(500, "rpc error: cannot decode reply");
        out.push_back(std::string(*s));
    }
    return json_response(out);
}

void status_peers(http_api& api, const request&, read_params p, respond_fn respond) {
    auto dc = request_dc(api, p);
    call_rpc_raw(api, dc, "Status.Peers", dc_only_body(dc), std::move(respond),
                 string_list_response);
}

// ---- /v1/catalog ----
void catalog_datacenters(http_api& api, const request&, read_params p, respond_fn respond) {
    rpc::datacenters_request args;
    args.options = p.options;
    // Always answered by the local servers (Consul: no ?dc for this endpoint).
    call_rpc_raw(api, "", "Catalog.ListDatacenters", rpc::encode_to_bytes(args), std::move(respond),
                 string_list_response);
}

void catalog_services(http_api& api, const request& req, read_params p, respond_fn respond) {
    rpc::dc_specific_request args;
    args.datacenter = request_dc(api, p);
    args.node_meta_filters = parse_meta_filter(req);
    args.options = p.options;
    if (p.options.filter.empty()) {
        call_rpc<rpc::indexed_services>(api, args.datacenter, "Catalog.ListServices", args,
                                        std::move(respond), [](rpc::indexed_services& out) {
                                            json body = json::object();
                                            for (const auto& [name, tags] : out.services)
                                                body[name] = tags;
                                            return with_meta(body, out.meta);
                                        });
        return;
    }
    // Consul evaluates the filter on every ServiceNode and lists the names (and tags) of the
    // instances that pass; the instances come from a service dump here.
    if (auto bad = bad_filter(p.options.filter, service_node_filter_schema()))
        return respond(std::move(*bad));
    rpc::service_dump_request dump;
    dump.datacenter = args.datacenter;
    dump.options = p.options;
    call_rpc<rpc::indexed_check_service_nodes>(
        api, dump.datacenter, "Internal.ServiceDump", dump, std::move(respond),
        [filter = p.options.filter,
         meta = args.node_meta_filters](rpc::indexed_check_service_nodes& out) -> response {
            auto expr = filter_expression::parse(filter, &service_node_filter_schema());
            if (!expr) return text_response(400, expr.error());
            json body = json::object();
            for (const auto& csn : out.nodes) {
                if (!csn.node_ || !csn.service || !rpc::satisfies_meta(csn.node_->meta, meta))
                    continue;
                if (!expr->matches(to_json(rpc::to_service_node(*csn.node_, *csn.service))))
                    continue;
                auto& tags = body[csn.service->service];
                if (!tags.is_array()) tags = json::array();
                for (const auto& t : csn.service->tags)
                    if (std::find(tags.begin(), tags.end(), t) == tags.end()) tags.push_back(t);
            }
            return with_meta(body, out.meta);
        });
}

// The request of /v1/catalog/service/<name> and /v1/health/service/<name>: the name, ?tag=,
// ?node-meta= and the query options; a 400 for a missing name or a bad ?filter=.
std::expected<rpc::service_specific_request, response> service_request(http_api& api,
                                                                       const request& req,
                                                                       const read_params& p,
                                                                       const json& schema) {
    rpc::service_specific_request args;
    args.datacenter = request_dc(api, p);
    args.service_name = req.suffix;
    if (args.service_name.empty())
        return std::unexpected(text_response(400, "Missing service name"));
    args.service_tags = query_values(req, "tag");
    args.tag_filter = !args.service_tags.empty();
    args.node_meta_filters = parse_meta_filter(req);
    if (auto bad = bad_filter(p.options.filter, schema)) return std::unexpected(std::move(*bad));
    args.options = p.options;
    return args;
}

void catalog_service_nodes(http_api& api, const request& req, read_params p, respond_fn respond) {
    auto made = service_request(api, req, p, service_node_filter_schema());
    if (!made) return respond(std::move(made.error()));
    auto& args = *made;
    call_rpc<rpc::indexed_service_nodes>(
        api, args.datacenter, "Catalog.ServiceNodes", args, std::move(respond),
        [filter = p.options.filter](rpc::indexed_service_nodes& out) {
            json body = json::array();
            for (const auto& s : out.service_nodes) body.push_back(to_json(s));
            return filtered_with_meta(std::move(body), filter, service_node_filter_schema(),
                                      out.meta);
        });
}

void catalog_nodes(http_api& api, const request& req, read_params p, respond_fn respond) {
    rpc::dc_specific_request args;
    args.datacenter = request_dc(api, p);
    args.node_meta_filters = parse_meta_filter(req);
    if (auto bad = bad_filter(p.options.filter, node_filter_schema()))
        return respond(std::move(*bad));
    args.options = p.options;
    call_rpc<rpc::indexed_nodes>(
        api, args.datacenter, "Catalog.ListNodes", args, std::move(respond),
        [filter = p.options.filter](rpc::indexed_nodes& out) {
            json body = json::array();
            for (const auto& n : out.nodes) body.push_back(to_json(n));
            return filtered_with_meta(std::move(body), filter, node_filter_schema(), out.meta);
        });
}

void catalog_node_services(http_api& api, const request& req, read_params p, respond_fn respond) {
    rpc::node_specific_request args;
    args.datacenter = request_dc(api, p);
    args.node = req.suffix;
    if (args.node.empty()) return respond(text_response(400, "Missing node name"));
    if (auto bad = bad_filter(p.options.filter, agent_service_filter_schema()))
        return respond(std::move(*bad));
    args.options = p.options;
    call_rpc<rpc::indexed_node_services>(
        api, args.datacenter, "Catalog.NodeServices", args, std::move(respond),
        [filter = p.options.filter](rpc::indexed_node_services& out) -> response {
            // An unknown node is `null` with 200, as Consul answers.
            json body = out.node_services_ ? to_json(*out.node_services_) : json(nullptr);
            // Consul filters the node's services (NodeService fields, as the agent's).
            if (!filter.empty() && body.is_object() && body.contains("Services")) {
                auto f = apply_filter(filter, agent_service_filter_schema(), body["Services"]);
                if (!f) return text_response(400, f.error());
            }
            return with_meta(body, out.meta);
        });
}

// PUT bodies: JSON decoded the way encoding/json does; errors are Consul's 400 texts.
template <class Decode>
auto decode_body(const request& req, Decode decode)
    -> std::expected<typename decltype(decode(std::declval<const json&>()))::value_type, response> {
    auto j = parse_json_body(req.body);
    if (!j) return std::unexpected(text_response(400, "Request decode failed: " + j.error()));
    auto v = decode(*j);
    if (!v) return std::unexpected(text_response(400, "Request decode failed: " + v.error()));
    return std::move(*v);
}

void catalog_register(http_api& api, const request& req, respond_fn respond) {
    auto args = decode_body(req, register_request_from_json);
    if (!args) return respond(std::move(args.error()));
    if (args->datacenter.empty()) args->datacenter = api.config().datacenter;
    if (auto dc = parse_dc(req); !dc.empty()) args->datacenter = dc;
    args->token = parse_token(req);
    // Consul's agent fills in default weights for a service registered without them.
    if (args->service && !args->service->weights_) args->service->weights_ = rpc::weights{1, 1};
    auto dc = args->datacenter;
    call_rpc_raw(api, dc, "Catalog.Register", rpc::encode_to_bytes(*args), std::move(respond),
                 [](std::span<const std::uint8_t>) { return json_response(json(true)); });
}

void catalog_deregister(http_api& api, const request& req, respond_fn respond) {
    auto args = decode_body(req, deregister_request_from_json);
    if (!args) return respond(std::move(args.error()));
    if (args->datacenter.empty()) args->datacenter = api.config().datacenter;
    if (auto dc = parse_dc(req); !dc.empty()) args->datacenter = dc;
    args->token = parse_token(req);
    auto dc = args->datacenter;
    call_rpc_raw(api, dc, "Catalog.Deregister", rpc::encode_to_bytes(*args), std::move(respond),
                 [](std::span<const std::uint8_t>) { return json_response(json(true)); });
}

// ---- /v1/health ----
bool all_passing(const rpc::check_service_node& csn) {
    for (const auto& c : csn.checks)
        if (c.status != rpc::health_passing) return false;
    return true;
}

void health_service_nodes(http_api& api, const request& req, read_params p, respond_fn respond) {
    auto made = service_request(api, req, p, check_service_node_filter_schema());
    if (!made) return respond(std::move(made.error()));
    auto& args = *made;
    bool passing = false;
    if (auto v = req.query_value("passing")) {
        if (v->empty()) {
            passing = true;
        } else if (auto b = parse_bool(*v)) {
            passing = *b;
        } else {
            return respond(text_response(400, "Invalid value for ?passing"));
        }
    }
    call_rpc<rpc::indexed_check_service_nodes>(
        api, args.datacenter, "Health.ServiceNodes", args, std::move(respond),
        [passing, filter = p.options.filter](rpc::indexed_check_service_nodes& out) {
            json body = json::array();
            for (const auto& csn : out.nodes) {
                if (passing && !all_passing(csn)) continue;
                body.push_back(to_json(csn));
            }
            return filtered_with_meta(std::move(body), filter, check_service_node_filter_schema(),
                                      out.meta);
        });
}

// ---- /v1/internal/federation-state(s) ----
void federation_state_get(http_api& api, const request& req, read_params p, respond_fn respond) {
    rpc::federation_state_query args;
    args.datacenter = req.suffix;
    if (args.datacenter.empty()) return respond(text_response(400, "Missing datacenter name"));
    args.target_datacenter = request_dc(api, p);
    args.options = p.options;
    call_rpc<rpc::federation_state_response>(api, args.target_datacenter, "FederationState.Get",
                                             args, std::move(respond),
                                             [](rpc::federation_state_response& out) {
                                                 if (!out.state) {
                                                     auto r = text_response(404, "");
                                                     set_meta(r, out.meta);
                                                     return r;
                                                 }
                                                 json body = json::object();
                                                 body["State"] = to_json(*out.state);
                                                 add_query_meta(body, out.meta);
                                                 return with_meta(body, out.meta);
                                             });
}

void federation_state_list(http_api& api, const request&, read_params p, respond_fn respond) {
    rpc::dc_specific_request args;
    args.datacenter = request_dc(api, p);
    args.options = p.options;
    call_rpc<rpc::indexed_federation_states>(api, args.datacenter, "FederationState.List", args,
                                             std::move(respond),
                                             [](rpc::indexed_federation_states& out) {
                                                 json body = json::array();
                                                 for (const auto& s : out.states)
                                                     body.push_back(to_json(s));
                                                 return with_meta(body, out.meta);
                                             });
}

void federation_state_mesh_gateways(http_api& api, const request&, read_params p,
                                    respond_fn respond) {
    rpc::dc_specific_request args;
    args.datacenter = request_dc(api, p);
    args.options = p.options;
    call_rpc<rpc::datacenter_indexed_check_service_nodes>(
        api, args.datacenter, "FederationState.ListMeshGateways", args, std::move(respond),
        [](rpc::datacenter_indexed_check_service_nodes& out) {
            json body = json::object();
            for (const auto& [dc, nodes] : out.datacenter_nodes) {
                json list = json::array();
                for (const auto& csn : nodes) list.push_back(to_json(csn));
                body[dc] = std::move(list);
            }
            return with_meta(body, out.meta);
        });
}

}  // namespace

void register_catalog_endpoints(http_api& api) {
    const std::vector<verb> get = {verb::get};
    const std::vector<verb> put = {verb::put};
    api.add_route("/v1/status/leader", get, read_handler(api, status_leader));
    api.add_route("/v1/status/peers", get, read_handler(api, status_peers));
    api.add_route("/v1/catalog/datacenters", get, read_handler(api, catalog_datacenters));
    api.add_route("/v1/catalog/services", get, read_handler(api, catalog_services));
    api.add_route("/v1/catalog/service/", get, read_handler(api, catalog_service_nodes));
    api.add_route("/v1/catalog/nodes", get, read_handler(api, catalog_nodes));
    api.add_route("/v1/catalog/node/", get, read_handler(api, catalog_node_services));
    api.add_route("/v1/catalog/register", put, [&api](const request& req, respond_fn respond) {
        catalog_register(api, req, std::move(respond));
    });
    api.add_route("/v1/catalog/deregister", put, [&api](const request& req, respond_fn respond) {
        catalog_deregister(api, req, std::move(respond));
    });
    api.add_route("/v1/health/service/", get, read_handler(api, health_service_nodes));
    api.add_route("/v1/internal/federation-states", get, read_handler(api, federation_state_list));
    api.add_route("/v1/internal/federation-state/", get, read_handler(api, federation_state_get));
    api.add_route("/v1/internal/federation-states/mesh-gateways", get,
                  read_handler(api, federation_state_mesh_gateways));
}

}  // namespace meshfed::agent::http
