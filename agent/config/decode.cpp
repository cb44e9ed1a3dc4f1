#include "agent/config/decode.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <limits>
#include <set>

#include <fmt/format.h>

#include "agent/config/duration.hpp"

namespace meshfed::config {
namespace {

// One option of the schema. A block has children; a leaf has `apply`.
struct field {
    std::string name;
    std::function<void(runtime_config&, const value&, const std::string& path, diagnostics&)> apply;
    std::vector<field> children;
    bool block() const { return !apply; }
};

// "string \"many\"", "number 3", "list": what a type-mismatch message says was found.
std::string describe(const value& v) {
    if (v.is_string()) return fmt::format("string \"{}\"", v.as_string());
    if (v.is_int()) return fmt::format("number {}", std::get<std::int64_t>(v.data));
    if (v.is_float()) return fmt::format("number {}", std::get<double>(v.data));
    if (v.is_bool()) return std::get<bool>(v.data) ? "bool true" : "bool false";
    return v.type_name();
}

// Scalar conversions follow mapstructure's WeaklyTypedInput, which Consul decodes with:
// "8300" is a fine port, "true" a fine bool; a list or an object where a scalar belongs is not.
std::optional<std::string> to_string_value(const value& v, const std::string& path,
                                           diagnostics& d) {
    if (v.is_string()) return v.as_string();
    if (v.is_int()) return std::to_string(std::get<std::int64_t>(v.data));
    if (v.is_float()) return fmt::format("{}", std::get<double>(v.data));
    if (v.is_bool()) return std::get<bool>(v.data) ? "1" : "0";
    d.error(v.pos, fmt::format("'{}' expected a string, got {}", path, v.type_name()));
    return std::nullopt;
}

std::optional<bool> to_bool_value(const value& v, const std::string& path, diagnostics& d) {
    if (v.is_bool()) return std::get<bool>(v.data);
    if (v.is_int()) return std::get<std::int64_t>(v.data) != 0;
    if (v.is_string()) {
        const auto& s = v.as_string();
        if (s == "true" || s == "1" || s == "t" || s == "T" || s == "TRUE" || s == "True")
            return true;
        if (s == "false" || s == "0" || s == "f" || s == "F" || s == "FALSE" || s == "False" ||
            s.empty())
            return false;
    }
    d.error(v.pos, fmt::format("'{}' expected a bool, got {}", path, describe(v)));
    return std::nullopt;
}

std::optional<std::int64_t> to_int_value(const value& v, const std::string& path, diagnostics& d) {
    if (v.is_int()) return std::get<std::int64_t>(v.data);
    if (v.is_float()) {
        double f = std::get<double>(v.data);
        if (std::trunc(f) == f && std::fabs(f) < 9.0e15) return static_cast<std::int64_t>(f);
    }
    if (v.is_bool()) return std::get<bool>(v.data) ? 1 : 0;
    if (v.is_string()) {
        const auto& s = v.as_string();
        std::int64_t out = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
        if (ec == std::errc() && p == s.data() + s.size() && !s.empty()) return out;
    }
    d.error(v.pos, fmt::format("'{}' expected an integer, got {}", path, describe(v)));
    return std::nullopt;
}

std::optional<std::chrono::nanoseconds> to_duration_value(const value& v, const std::string& path,
                                                          diagnostics& d) {
    if (v.is_string()) {
        auto r = parse_go_duration(v.as_string());
        if (!r) {
            d.error(v.pos, fmt::format("'{}': {}", path, r.error()));
            return std::nullopt;
        }
        return *r;
    }
    d.error(v.pos, fmt::format("'{}' expected a duration string such as \"30s\", got {}", path,
                               describe(v)));
    return std::nullopt;
}

template <class Get>
field string_opt(std::string name, Get get) {
    return {std::move(name),
            [get](runtime_config& c, const value& v, const std::string& p, diagnostics& d) {
                if (auto s = to_string_value(v, p, d)) get(c) = *s;
            },
            {}};
}

template <class Get>
field bool_opt(std::string name, Get get) {
    return {std::move(name),
            [get](runtime_config& c, const value& v, const std::string& p, diagnostics& d) {
                if (auto b = to_bool_value(v, p, d)) get(c) = *b;
            },
            {}};
}

template <class Get>
field int_opt(std::string name, Get get) {
    return {std::move(name),
            [get](runtime_config& c, const value& v, const std::string& p, diagnostics& d) {
                auto i = to_int_value(v, p, d);
                if (!i) return;
                if (*i < std::numeric_limits<int>::min() || *i > std::numeric_limits<int>::max()) {
                    d.error(v.pos, fmt::format("'{}' value {} is out of range", p, *i));
                    return;
                }
                get(c) = static_cast<int>(*i);
            },
            {}};
}

template <class Get>
field duration_opt(std::string name, Get get) {
    return {std::move(name),
            [get](runtime_config& c, const value& v, const std::string& p, diagnostics& d) {
                // Truncated to the field's resolution (ms for most, us for rpc_busy_poll, h for
                // reconnect_timeout_wan).
                using field_type = std::remove_cvref_t<decltype(get(c))>;
                if (auto ns = to_duration_value(v, p, d))
                    get(c) = std::chrono::duration_cast<field_type>(*ns);
            },
            {}};
}

// A list of strings; a single string is accepted as a one-element list (mapstructure does).
template <class Get>
field string_list_opt(std::string name, Get get) {
    return {
        std::move(name),
        [get](runtime_config& c, const value& v, const std::string& p, diagnostics& d) {
            std::vector<std::string> out;
            if (v.is_array()) {
                for (std::size_t i = 0; i < v.as_array().size(); ++i) {
                    if (auto s = to_string_value(v.as_array()[i], fmt::format("{}[{}]", p, i), d))
                        out.push_back(*s);
                }
            } else if (auto s = to_string_value(v, p, d)) {
                out.push_back(*s);
            }
            auto& dst = get(c);
            dst.insert(dst.end(), out.begin(), out.end());
        },
        {}};
}

field block(std::string name, std::vector<field> children) {
    return {std::move(name), nullptr, std::move(children)};
}

#define CFG(expr)                     \
    [](runtime_config & c) -> auto& { \
        return c.expr;                \
    }

const std::vector<field>& schema() {
    static const std::vector<field> s = [] {
        std::vector<field> tls_defaults = {
            string_opt("ca_file", CFG(tls.ca_file)),
            string_opt("cert_file", CFG(tls.cert_file)),
            string_opt("key_file", CFG(tls.key_file)),
            bool_opt("verify_incoming", CFG(tls.verify_incoming)),
            bool_opt("verify_outgoing", CFG(tls.verify_outgoing)),
            string_opt("tls_min_version", CFG(tls.min_version)),
        };
        return std::vector<field>{
            string_opt("node_name", CFG(node_name)),
            string_opt("datacenter", CFG(datacenter)),
            string_opt("primary_datacenter", CFG(primary_datacenter)),
            string_list_opt("primary_gateways", CFG(primary_gateways)),
            duration_opt("primary_gateways_interval", CFG(primary_gateways_interval)),
            bool_opt("server", CFG(server)),
            bool_opt("bootstrap", CFG(bootstrap)),
            bool_opt("leave_on_terminate", CFG(leave_on_terminate)),
            bool_opt("skip_leave_on_interrupt", CFG(skip_leave_on_interrupt)),
            int_opt("bootstrap_expect", CFG(bootstrap_expect)),
            string_opt("data_dir", CFG(data_dir)),
            string_opt("bind_addr", CFG(bind_addr)),
            string_opt("advertise_addr", CFG(advertise_addr)),
            string_opt("advertise_addr_wan", CFG(advertise_addr_wan)),
            string_opt("client_addr", CFG(client_addr)),
            string_opt("domain", CFG(domain)),
            block("ports",
                  {
                      int_opt("http", CFG(ports.http)),
                      int_opt("https", CFG(ports.https)),
                      int_opt("server", CFG(ports.server)),
                      int_opt("serf_lan", CFG(ports.serf_lan)),
                      int_opt("serf_wan", CFG(ports.serf_wan)),
                  }),
            string_opt("encrypt", CFG(encrypt)),
            bool_opt("encrypt_verify_incoming", CFG(encrypt_verify_incoming)),
            bool_opt("encrypt_verify_outgoing", CFG(encrypt_verify_outgoing)),
            block("connect",
                  {
                      bool_opt("enabled", CFG(connect_enabled)),
                      bool_opt("enable_mesh_gateway_wan_federation",
                               CFG(enable_mesh_gateway_wan_federation)),
                  }),
            block("tls",
                  {
                      block("defaults", tls_defaults),
                      block("internal_rpc",
                            {bool_opt("verify_server_hostname", CFG(tls.verify_server_hostname))}),
                  }),
            // Legacy (pre-1.12) top-level TLS keys; the loader maps them with a warning.
            string_opt("ca_file", CFG(tls.ca_file)),
            string_opt("cert_file", CFG(tls.cert_file)),
            string_opt("key_file", CFG(tls.key_file)),
            bool_opt("verify_incoming", CFG(tls.verify_incoming)),
            bool_opt("verify_outgoing", CFG(tls.verify_outgoing)),
            bool_opt("verify_server_hostname", CFG(tls.verify_server_hostname)),
            string_list_opt("retry_join_wan", CFG(retry_join_wan)),
            duration_opt("retry_interval_wan", CFG(retry_interval_wan)),
            block("gossip_wan",
                  {
                      int_opt("gossip_nodes", CFG(gossip_wan.gossip_nodes)),
                      duration_opt("gossip_interval", CFG(gossip_wan.gossip_interval)),
                      duration_opt("probe_interval", CFG(gossip_wan.probe_interval)),
                      duration_opt("probe_timeout", CFG(gossip_wan.probe_timeout)),
                      int_opt("suspicion_mult", CFG(gossip_wan.suspicion_mult)),
                      int_opt("retransmit_mult", CFG(gossip_wan.retransmit_mult)),
                      // meshfed extensions (memberlist/serf knobs Consul does not expose)
                      duration_opt("push_pull_interval", CFG(gossip_wan.push_pull_interval)),
                      duration_opt("reconnect_interval", CFG(gossip_wan.reconnect_interval)),
                      duration_opt("tcp_timeout", CFG(gossip_wan.tcp_timeout)),
                      string_opt("label", CFG(gossip_wan.label)),
                  }),
            duration_opt("reconnect_timeout_wan", CFG(gossip_wan.reconnect_timeout)),
            block("limits",
                  {
                      duration_opt("rpc_handshake_timeout", CFG(limits.handshake_timeout)),
                      int_opt("rpc_max_conns_per_client", CFG(limits.max_conns_per_client)),
                      duration_opt("rpc_client_timeout", CFG(limits.client_timeout)),
                  }),
            block("performance",
                  {
                      // meshfed extension
                      duration_opt("rpc_busy_poll", CFG(rpc_busy_poll)),
                  }),
            string_opt("log_level", CFG(log_level)),
            bool_opt("log_json", CFG(log_json)),
        };
    }();
    return s;
}

#undef CFG

void collect_paths(const std::vector<field>& fields, const std::string& prefix,
                   std::vector<std::string>& out) {
    for (const auto& f : fields) {
        std::string p = prefix.empty() ? f.name : prefix + "." + f.name;
        if (f.block()) {
            collect_paths(f.children, p, out);
        } else {
            out.push_back(p);
        }
    }
}

std::string suggestion(const std::string& key, const std::vector<field>& siblings) {
    std::string best;
    std::size_t best_d = std::numeric_limits<std::size_t>::max();
    for (const auto& f : siblings) {
        std::size_t d = edit_distance(key, f.name);
        if (d < best_d) {
            best_d = d;
            best = f.name;
        }
    }
    std::size_t limit = std::max<std::size_t>(2, key.size() / 3);
    if (!best.empty() && best_d <= limit) return best;
    // The key exists elsewhere in the schema (e.g. at the wrong nesting level).
    for (const auto& p : known_option_paths()) {
        auto dot = p.rfind('.');
        if (dot != std::string::npos && p.substr(dot + 1) == key) return p;
    }
    return {};
}

void decode_object(const value& obj, const std::vector<field>& fields, const std::string& prefix,
                   runtime_config& cfg, set_paths& set, diagnostics& d) {
    for (const auto& m : obj.as_object()) {
        std::string path = prefix.empty() ? m.key : prefix + "." + m.key;
        auto it = std::find_if(fields.begin(), fields.end(),
                               [&](const field& f) { return f.name == m.key; });
        if (it == fields.end()) {
            std::string msg = fmt::format("unknown configuration key '{}'", path);
            if (auto s = suggestion(m.key, fields); !s.empty()) {
                // A sibling name is shown with its block path; a path found elsewhere as is.
                bool sibling = s.find('.') == std::string::npos;
                msg += fmt::format(" (did you mean '{}'?)",
                                   sibling && !prefix.empty() ? prefix + "." + s : s);
            }
            d.error(m.pos, msg);
            continue;
        }
        if (it->block()) {
            const value* body = &m.val;
            // A JSON list holding one object is what hcl makes of a block; accept it.
            if (body->is_array() && body->as_array().size() == 1 && body->as_array()[0].is_object())
                body = &body->as_array()[0];
            if (!body->is_object()) {
                d.error(m.val.pos, fmt::format("'{}' must be a block (an object), got {}", path,
                                               m.val.type_name()));
                continue;
            }
            decode_object(*body, it->children, path, cfg, set, d);
            continue;
        }
        std::size_t before = d.errors.size();
        it->apply(cfg, m.val, path, d);
        if (d.errors.size() == before) set[path] = m.pos;
    }
}

}  // namespace

void diagnostics::error(const position& pos, const std::string& msg) {
    std::string where = pos.to_string();
    errors.push_back(where.empty() ? msg : where + ": " + msg);
}

void diagnostics::warn(const position& pos, const std::string& msg) {
    std::string where = pos.to_string();
    warnings.push_back(where.empty() ? msg : where + ": " + msg);
}

void decode_config(const value& root, runtime_config& cfg, set_paths& set, diagnostics& d) {
    if (!root.is_object()) {
        d.error(root.pos, "configuration must be an object");
        return;
    }
    // Legacy top-level TLS keys are applied first so that the `tls { defaults {...} }` form
    // wins when both are given, as in Consul.
    static const std::set<std::string> legacy = {"ca_file",         "cert_file",
                                                 "key_file",        "verify_incoming",
                                                 "verify_outgoing", "verify_server_hostname"};
    value ordered = root;
    auto& members = std::get<object>(ordered.data);
    std::stable_partition(members.begin(), members.end(),
                          [](const member& m) { return legacy.contains(m.key); });
    decode_object(ordered, schema(), "", cfg, set, d);
}

std::vector<std::string> known_option_paths() {
    static const std::vector<std::string> paths = [] {
        std::vector<std::string> out;
        collect_paths(schema(), "", out);
        return out;
    }();
    return paths;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
        }
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

}  // namespace meshfed::config
