#include "agent/service_definition.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <regex>

#include <fmt/format.h>

#include "agent/config/duration.hpp"

namespace meshfed::agent {

namespace {

using json = nlohmann::json;

// Consul's metadata limits (agent/structs/structs.go).
constexpr std::size_t meta_max_pairs = 64;
constexpr std::size_t meta_key_max = 128;
constexpr std::size_t meta_value_max = 512;
constexpr std::string_view meta_reserved_prefix = "consul-";
constexpr std::string_view meta_wan_federation_key = "consul-wan-federation";

// "TaggedAddresses", "taggedAddresses" and "tagged_addresses" name the same field: Consul's
// decodeBody matches case-insensitively after translating snake_case keys.
std::string norm_key(std::string_view k) {
    std::string out;
    for (char c : k)
        if (c != '_') out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    return out;
}

std::string go_json_type(const json& v) {
    if (v.is_string()) return "string";
    if (v.is_boolean()) return "bool";
    if (v.is_number()) return "number";
    if (v.is_array()) return "array";
    if (v.is_object()) return "object";
    return "null";
}

std::string type_error(const json& v, const std::string& path, std::string_view go_type) {
    std::string what = go_json_type(v);
    if (v.is_number()) what += " " + v.dump();
    return fmt::format(
        "Request decode failed: json: cannot unmarshal {} into Go struct field "
        "ServiceDefinition.{} of type {}",
        what, path, go_type);
}

using error = std::optional<std::string>;

error get(const json& v, const std::string& path, std::string& out) {
    if (!v.is_string()) return type_error(v, path, "string");
    out = v.get<std::string>();
    return std::nullopt;
}

error get(const json& v, const std::string& path, bool& out) {
    if (!v.is_boolean()) return type_error(v, path, "bool");
    out = v.get<bool>();
    return std::nullopt;
}

error get(const json& v, const std::string& path, std::int64_t& out) {
    if (v.is_number_integer()) {
        out = v.get<std::int64_t>();
        return std::nullopt;
    }
    if (v.is_number_float()) {
        double d = v.get<double>();
        if (d == static_cast<double>(static_cast<std::int64_t>(d))) {
            out = static_cast<std::int64_t>(d);
            return std::nullopt;
        }
    }
    return type_error(v, path, "int");
}

error get(const json& v, const std::string& path, std::vector<std::string>& out) {
    if (!v.is_array()) return type_error(v, path, "[]string");
    out.clear();
    for (const auto& e : v) {
        if (e.is_null()) {
            out.emplace_back();
            continue;
        }
        if (!e.is_string()) return type_error(e, path, "string");
        out.push_back(e.get<std::string>());
    }
    return std::nullopt;
}

error get(const json& v, const std::string& path, rpc::string_map& out) {
    if (!v.is_object()) return type_error(v, path, "map[string]string");
    out.clear();
    for (auto it = v.begin(); it != v.end(); ++it) {
        if (it->is_null()) {
            out[it.key()] = "";
            continue;
        }
        if (!it->is_string()) return type_error(*it, path, "string");
        out[it.key()] = it->get<std::string>();
    }
    return std::nullopt;
}

// Consul's FixupCheckType: a Go duration string, or a number of nanoseconds.
error get_duration(const json& v, const std::string& path, std::chrono::nanoseconds& out) {
    if (v.is_string()) {
        auto d = config::parse_go_duration(v.get<std::string>());
        if (!d) return "Request decode failed: " + d.error();
        out = *d;
        return std::nullopt;
    }
    if (v.is_number()) {
        out = std::chrono::nanoseconds(static_cast<std::int64_t>(v.get<double>()));
        return std::nullopt;
    }
    return type_error(v, path, "time.Duration");
}

// The check kinds Consul has and meshfed does not run.
constexpr std::string_view unsupported_check_keys[][2] = {
    {"http", "HTTP"},       {"script", "Script"},       {"scriptargs", "Script"},
    {"args", "Script"},     {"grpc", "GRPC"},           {"udp", "UDP"},
    {"h2ping", "H2PING"},   {"osservice", "OSService"}, {"dockercontainerid", "Docker"},
    {"aliasnode", "Alias"}, {"aliasservice", "Alias"},
};

bool non_empty(const json& v) {
    if (v.is_null()) return false;
    if (v.is_string() || v.is_array() || v.is_object()) return !v.empty();
    return true;
}

error decode_check(const json& j, const std::string& path, check_type& c, bool& empty) {
    empty = true;
    if (!j.is_object()) return type_error(j, path, "structs.CheckType");
    for (auto it = j.begin(); it != j.end(); ++it) {
        const auto& v = *it;
        if (v.is_null()) continue;
        auto k = norm_key(it.key());
        auto p = path + "." + it.key();
        error e;
        for (const auto& [key, kind] : unsupported_check_keys) {
            if (k == key && non_empty(v)) {
                return fmt::format(
                    "Invalid check: meshfed runs TCP and TTL checks only ({} checks are not "
                    "supported)",
                    kind);
            }
        }
        if (k == "checkid" || k == "id") {
            e = get(v, p, c.check_id);
        } else if (k == "name") {
            e = get(v, p, c.name);
        } else if (k == "status") {
            e = get(v, p, c.status);
        } else if (k == "notes") {
            e = get(v, p, c.notes);
        } else if (k == "tcp") {
            e = get(v, p, c.tcp);
        } else if (k == "interval") {
            e = get_duration(v, p, c.interval);
        } else if (k == "timeout") {
            e = get_duration(v, p, c.timeout);
        } else if (k == "ttl") {
            e = get_duration(v, p, c.ttl);
        } else if (k == "deregistercriticalserviceafter") {
            e = get_duration(v, p, c.deregister_critical_after);
        } else if (k == "successbeforepassing") {
            e = get(v, p, c.success_before_passing);
        } else if (k == "failuresbeforewarning") {
            e = get(v, p, c.failures_before_warning);
        } else if (k == "failuresbeforecritical") {
            e = get(v, p, c.failures_before_critical);
        } else {
            continue;  // unknown keys are ignored, as encoding/json does
        }
        if (e) return e;
    }
    empty = c == check_type{};
    return std::nullopt;
}

// structs.CheckType.Validate, for the kinds meshfed runs.
error validate_check(const check_type& c) {
    const bool interval_check = !c.tcp.empty();
    if (c.interval.count() > 0 && c.ttl.count() > 0)
        return "Interval and TTL cannot both be specified";
    if (interval_check && c.interval.count() <= 0)
        return "Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks";
    if (!interval_check && c.ttl.count() <= 0) return "TTL must be > 0 for TTL checks";
    if (c.failures_before_warning > c.failures_before_critical)
        return "FailuresBeforeWarning can't be higher than FailuresBeforeCritical";
    return std::nullopt;
}

bool valid_status(std::string_view s) {
    return s == "passing" || s == "warning" || s == "critical";
}

std::string multierror(const std::vector<std::string>& errs) {
    std::string out = errs.size() == 1 ? std::string("1 error occurred:")
                                       : fmt::format("{} errors occurred:", errs.size());
    for (const auto& e : errs) out += "\n\t* " + e;
    return out + "\n\n";
}

bool is_gateway(std::string_view kind) {
    return kind == "mesh-gateway" || kind == "terminating-gateway" || kind == "ingress-gateway" ||
           kind == "api-gateway";
}

// structs.validateMetaPair over the sorted keys (Go reports a random failing pair).
error validate_meta(const std::string& kind, const rpc::string_map& meta) {
    static const std::regex key_format("^[a-zA-Z0-9_-]+$");
    if (meta.size() > meta_max_pairs)
        return fmt::format("Node metadata cannot contain more than {} key/value pairs",
                           meta_max_pairs);
    for (const auto& [k, v] : meta) {
        std::string why;
        if (k.empty()) {
            why = "Key cannot be blank";
        } else if (!std::regex_match(k, key_format)) {
            why = "Key contains invalid characters";
        } else if (k.size() > meta_key_max) {
            why = fmt::format("Key is too long (limit: {} characters)", meta_key_max);
        } else if (k.starts_with(meta_reserved_prefix) &&
                   !(kind == "mesh-gateway" && k == meta_wan_federation_key)) {
            why = fmt::format("Key prefix '{}' is reserved for internal use", meta_reserved_prefix);
        } else if (v.size() > meta_value_max) {
            why = fmt::format("Value is too long (limit: {} characters)", meta_value_max);
        }
        if (!why.empty())
            return fmt::format("Couldn't load metadata pair ('{}', '{}'): {}", k, v, why);
    }
    return std::nullopt;
}

bool is_any_address(std::string_view a) {
    return a == "0.0.0.0" || a == "::" || a == "[::]" || a == "0:0:0:0:0:0:0:0";
}

}  // namespace

std::expected<service_definition, std::string> decode_service_definition(const json& j) {
    if (!j.is_object()) {
        return std::unexpected(
            fmt::format("Request decode failed: json: cannot unmarshal {} into Go value of type "
                        "structs.ServiceDefinition",
                        go_json_type(j)));
    }
    service_definition def;
    auto& s = def.service;
    std::optional<rpc::weights> weights;
    check_type single;
    bool single_empty = true;
    std::vector<check_type> many;
    json proxy;
    for (auto it = j.begin(); it != j.end(); ++it) {
        const auto& v = *it;
        if (v.is_null()) continue;
        auto k = norm_key(it.key());
        const std::string& p = it.key();
        error e;
        if (k == "kind") {
            e = get(v, p, s.kind);
        } else if (k == "id") {
            e = get(v, p, s.id);
        } else if (k == "name") {
            e = get(v, p, s.service);
        } else if (k == "tags") {
            e = get(v, p, s.tags);
        } else if (k == "address") {
            e = get(v, p, s.address);
        } else if (k == "meta") {
            e = get(v, p, s.meta);
        } else if (k == "port") {
            e = get(v, p, s.port);
        } else if (k == "socketpath") {
            e = get(v, p, s.socket_path);
        } else if (k == "enabletagoverride") {
            e = get(v, p, s.enable_tag_override);
        } else if (k == "taggedaddresses") {
            if (!v.is_object()) {
                e = type_error(v, p, "map[string]structs.ServiceAddress");
            } else {
                for (auto ta = v.begin(); ta != v.end() && !e; ++ta) {
                    rpc::service_address sa;
                    if (!ta->is_object()) {
                        e = type_error(*ta, p, "structs.ServiceAddress");
                        break;
                    }
                    for (auto f = ta->begin(); f != ta->end() && !e; ++f) {
                        if (f->is_null()) continue;
                        auto fk = norm_key(f.key());
                        if (fk == "address") e = get(*f, p + ".Address", sa.address);
                        if (fk == "port") e = get(*f, p + ".Port", sa.port);
                    }
                    s.tagged_addresses[ta.key()] = sa;
                }
            }
        } else if (k == "weights") {
            if (!v.is_object()) {
                e = type_error(v, p, "structs.Weights");
            } else {
                rpc::weights w{0, 0};
                for (auto f = v.begin(); f != v.end() && !e; ++f) {
                    if (f->is_null()) continue;
                    auto fk = norm_key(f.key());
                    if (fk == "passing") e = get(*f, p + ".Passing", w.passing);
                    if (fk == "warning") e = get(*f, p + ".Warning", w.warning);
                }
                weights = w;
            }
        } else if (k == "check") {
            e = decode_check(v, p, single, single_empty);
        } else if (k == "checks") {
            if (!v.is_array()) {
                e = type_error(v, p, "structs.CheckTypes");
            } else {
                for (const auto& c : v) {
                    if (c.is_null()) continue;
                    check_type ct;
                    bool empty = true;
                    if ((e = decode_check(c, p, ct, empty))) break;
                    many.push_back(std::move(ct));
                }
            }
        } else if (k == "proxy") {
            if (!v.is_object()) e = type_error(v, p, "structs.ConnectProxyConfig");
            proxy = v;
        } else if (k == "connect") {
            if (!v.is_object()) {
                e = type_error(v, p, "structs.ServiceConnect");
            } else {
                s.connect.bytes = json::to_msgpack(v);
            }
        } else {
            continue;  // Token, Namespace, Locality, unknown keys: not used here
        }
        if (e) return std::unexpected(*e);
    }

    // AgentRegisterService's checks, in Consul's order.
    if (s.service.empty()) return std::unexpected("Missing service name");
    if (is_any_address(s.address)) return std::unexpected("Invalid service address");
    if (s.id.empty()) s.id = s.service;
    if (weights) {
        if (weights->passing < 1)
            return std::unexpected("Invalid Weights: Passing must be greater than 0");
        if (weights->warning < 0)
            return std::unexpected("Invalid Weights: Warning must be greater or equal than 0");
        if (weights->passing > 65535 || weights->warning > 65535)
            return std::unexpected("Invalid Weights: DNS Weight must be between 0 and 65535");
        s.weights_ = *weights;
    } else {
        // The agent's default, so anti-entropy does not see a nil-vs-default difference.
        s.weights_ = rpc::weights{1, 1};
    }
    if (auto e = validate_meta(s.kind, s.meta))
        return std::unexpected("Invalid Service Meta: " + *e);

    // NodeService.Validate (the proxy and gateway rules meshfed can check).
    std::vector<std::string> errs;
    std::string dest;
    if (proxy.is_object()) {
        for (auto it = proxy.begin(); it != proxy.end(); ++it)
            if (norm_key(it.key()) == "destinationservicename" && it->is_string())
                dest = it->get<std::string>();
    }
    if (s.kind == "connect-proxy") {
        if (dest.empty())
            errs.push_back(
                "Proxy.DestinationServiceName must be non-empty for Connect proxy services");
        if (s.port == 0 && s.socket_path.empty())
            errs.push_back("Port or SocketPath must be set for a Connect proxy");
    } else if (is_gateway(s.kind)) {
        if (s.port == 0 && s.kind != "ingress-gateway")
            errs.push_back(fmt::format("Port must be non-zero for a {}", s.kind));
        if (!dest.empty())
            errs.push_back(fmt::format(
                "The Proxy.DestinationServiceName configuration is invalid for a {}", s.kind));
    }
    if (!errs.empty()) return std::unexpected("Validation failed: " + multierror(errs));
    if (proxy.is_object()) s.proxy.bytes = json::to_msgpack(proxy);

    // ServiceDefinition.CheckTypes: an empty Check block is ignored.
    if (!single_empty) def.checks.push_back(std::move(single));
    for (auto& c : many) def.checks.push_back(std::move(c));
    for (const auto& c : def.checks) {
        if (auto e = validate_check(c)) return std::unexpected("Invalid check: " + *e);
    }
    for (const auto& c : def.checks) {
        if (!c.status.empty() && !valid_status(c.status))
            return std::unexpected("Status for checks must 'passing', 'warning', 'critical'");
    }
    return def;
}

rpc::health_check make_health_check(const check_type& c, const rpc::node_service& svc,
                                    const std::string& node, std::size_t index, std::size_t count) {
    rpc::health_check h;
    h.node = node;
    h.check_id = c.check_id;
    if (h.check_id.empty()) {
        h.check_id = "service:" + svc.id;
        if (count > 1) h.check_id += fmt::format(":{}", index + 1);
    }
    h.name = c.name.empty() ? fmt::format("Service '{}' check", svc.service) : c.name;
    h.status = c.status.empty() ? "critical" : c.status;
    h.notes = c.notes;
    h.service_id = svc.id;
    h.service_name = svc.service;
    h.service_tags = svc.tags;
    h.type = c.type();
    if (c.interval.count() != 0) h.interval = config::format_go_duration(c.interval);
    if (c.timeout.count() != 0) h.timeout = config::format_go_duration(c.timeout);
    // HealthCheckDefinition as Consul's msgpack carries it: durations as nanoseconds.
    json d = json::object();
    if (!c.tcp.empty()) d["TCP"] = c.tcp;
    d["Interval"] = c.interval.count();
    d["Timeout"] = c.timeout.count();
    d["DeregisterCriticalServiceAfter"] = c.deregister_critical_after.count();
    if (c.is_ttl()) d["TTL"] = c.ttl.count();
    h.definition.bytes = json::to_msgpack(d);
    return h;
}

json definition_json(const check_type& c) {
    json d = json::object();
    if (!c.tcp.empty()) d["TCP"] = c.tcp;
    d["Interval"] = config::format_go_duration(c.interval);
    d["Timeout"] = config::format_go_duration(c.timeout);
    d["DeregisterCriticalServiceAfter"] = config::format_go_duration(c.deregister_critical_after);
    if (c.is_ttl()) d["TTL"] = config::format_go_duration(c.ttl);
    return d;
}

}  // namespace meshfed::agent
