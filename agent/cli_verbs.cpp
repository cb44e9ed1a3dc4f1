#include "agent/cli_verbs.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <ostream>
#include <regex>
#include <sstream>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

namespace meshfed::agent::cli {
namespace {

using json = nlohmann::json;

constexpr char field_sep = '\x1f';

// ---- lenient JSON access: a wrong type reads as empty, never throws --------------------------

std::string str_field(const json& obj, const char* key) {
    if (!obj.is_object()) return {};
    auto it = obj.find(key);
    if (it == obj.end() || !it->is_string()) return {};
    return it->get<std::string>();
}

std::int64_t int_field(const json& obj, const char* key) {
    if (!obj.is_object()) return 0;
    auto it = obj.find(key);
    if (it == obj.end()) return 0;
    if (it->is_number_integer()) return it->get<std::int64_t>();
    if (it->is_number_unsigned()) return static_cast<std::int64_t>(it->get<std::uint64_t>());
    return 0;
}

bool bool_field(const json& obj, const char* key) {
    if (!obj.is_object()) return false;
    auto it = obj.find(key);
    return it != obj.end() && it->is_boolean() && it->get<bool>();
}

std::map<std::string, std::string> string_map(const json& obj, const char* key) {
    std::map<std::string, std::string> out;
    if (!obj.is_object()) return out;
    auto it = obj.find(key);
    if (it == obj.end() || !it->is_object()) return out;
    for (const auto& [k, v] : it->items())
        if (v.is_string()) out[k] = v.get<std::string>();
    return out;
}

std::vector<std::string> string_list(const json& v) {
    std::vector<std::string> out;
    if (!v.is_array()) return out;
    for (const auto& e : v)
        if (e.is_string()) out.push_back(e.get<std::string>());
    return out;
}

// Go's json decoder refuses a value of the wrong kind; say so in the same spirit.
std::string kind_error(const json& got, const char* want) {
    return fmt::format("json: cannot unmarshal {} into {}", got.type_name(), want);
}

// Go's decoder takes null for a slice or map; a value of another kind fails the command.
std::optional<verb_output> wrong_kind(const json& got, json::value_t want, std::string_view prefix,
                                      const char* go_type) {
    if (got.is_null() || got.type() == want) return std::nullopt;
    return verb_output{1, "", fmt::format("{}{}\n", prefix, kind_error(got, go_type))};
}

std::expected<json, std::string> parse_body(const std::string& body) {
    json j = json::parse(body, nullptr, false);
    if (j.is_discarded()) return std::unexpected("invalid JSON in the agent's response");
    return j;
}

size_t display_width(std::string_view s) {
    size_t n = 0;
    for (unsigned char c : s)
        if ((c & 0xC0) != 0x80) ++n;  // count UTF-8 code points
    return n;
}

std::string trim(std::string_view s) {
    auto b = s.find_first_not_of(" \t\r\n\v\f");
    if (b == std::string_view::npos) return {};
    auto e = s.find_last_not_of(" \t\r\n\v\f");
    return std::string(s.substr(b, e - b + 1));
}

std::vector<std::string> split(std::string_view s, char delim) {
    std::vector<std::string> out;
    size_t start = 0;
    while (true) {
        auto pos = s.find(delim, start);
        out.emplace_back(s.substr(start, pos == std::string_view::npos ? pos : pos - start));
        if (pos == std::string_view::npos) break;
        start = pos + 1;
    }
    return out;
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i) {
        if (i != 0) out += sep;
        out += parts[i];
    }
    return out;
}

// net.TCPAddr{IP: net.ParseIP(addr), Port: port}.String()
std::string tcp_addr_text(const std::string& addr, std::int64_t port) {
    in_addr v4{};
    in6_addr v6{};
    char buf[INET6_ADDRSTRLEN] = {};
    if (inet_pton(AF_INET, addr.c_str(), &v4) == 1) {
        inet_ntop(AF_INET, &v4, buf, sizeof buf);
        return fmt::format("{}:{}", buf, port);
    }
    if (inet_pton(AF_INET6, addr.c_str(), &v6) == 1) {
        if (IN6_IS_ADDR_V4MAPPED(&v6)) {
            inet_ntop(AF_INET, &v6.s6_addr[12], buf, sizeof buf);
            return fmt::format("{}:{}", buf, port);
        }
        inet_ntop(AF_INET6, &v6, buf, sizeof buf);
        return fmt::format("[{}]:{}", buf, port);
    }
    return fmt::format(":{}", port);  // Go prints an unparsable IP as empty
}

// "k1=v1<joiner>k2=v2", keys sorted (Consul's mapToKV).
std::string map_to_kv(const std::map<std::string, std::string>& m, std::string_view joiner) {
    std::vector<std::string> parts;
    for (const auto& [k, v] : m) parts.push_back(k + "=" + v);
    return join(parts, joiner);
}

// A map lookup that never inserts (Go's map read).
std::string tag_of(const std::map<std::string, std::string>& tags, const char* key) {
    auto it = tags.find(key);
    return it == tags.end() ? std::string() : it->second;
}

bool is_default_partition(const std::string& p) {
    return p.empty() || p == "default";
}

struct member_row {
    std::string name, addr, status;
    std::map<std::string, std::string> tags;
};

std::string error_line(std::string_view prefix, std::string_view cause) {
    return fmt::format("{}{}\n", prefix, cause);
}

// Writes a verb_output and returns its code.
// GET/PUT... expecting a 200 with a JSON body.
std::expected<json, std::string> fetch_json(api_client& client, std::string_view method,
                                            std::string_view path, query_params params) {
    auto body = client.request_ok(method, path, std::move(params));
    if (!body) return std::unexpected(std::move(body.error()));
    return parse_body(*body);
}

// A GET whose failure is printed as "<prefix><cause>" (Consul's "Error listing ...: ...").
std::optional<json> get_or_report(api_client& client, std::string_view path, query_params params,
                                  std::string_view prefix, std::ostream& err) {
    auto j = fetch_json(client, "GET", path, std::move(params));
    if (!j) {
        err << prefix << j.error() << "\n";
        return std::nullopt;
    }
    return std::move(*j);
}

int emit(const verb_output& v, std::ostream& out, std::ostream& err) {
    out << v.out;
    err << v.err;
    return v.code;
}

int connect_error(const config_result& config, std::ostream& err) {
    err << "Error connecting to Consul agent: " << config.error() << "\n";
    return 1;
}

query_params node_meta_params(const std::vector<std::string>& node_meta) {
    query_params params;
    for (const auto& kv : node_meta) {
        auto eq = kv.find('=');
        // Consul's FlagMapValue splits on the first '='; a bare key has an empty value.
        std::string key = kv.substr(0, eq);
        std::string value = eq == std::string::npos ? std::string() : kv.substr(eq + 1);
        params.push_back({"node-meta", key + ":" + value});
    }
    return params;
}

}  // namespace

// ---- formatting --------------------------------------------------------------------------------

std::string columnize(const std::vector<std::string>& lines, char delim) {
    std::vector<std::vector<std::string>> rows;
    std::vector<size_t> widths;
    for (const auto& line : lines) {
        auto fields = split(line, delim);
        for (auto& f : fields) f = trim(f);
        for (size_t i = 0; i < fields.size(); ++i) {
            size_t w = display_width(fields[i]);
            if (widths.size() <= i)
                widths.push_back(w);
            else
                widths[i] = std::max(widths[i], w);
        }
        rows.push_back(std::move(fields));
    }
    std::string out;
    for (const auto& fields : rows) {
        for (size_t i = 0; i < fields.size(); ++i) {
            out += fields[i];
            if (i + 1 == fields.size()) {
                out += '\n';
            } else {
                out.append(widths[i] - display_width(fields[i]), ' ');
                out += "  ";
            }
        }
    }
    if (!out.empty()) out.pop_back();
    return out;
}

std::string member_status_name(std::int64_t status) {
    switch (status) {
        case 0:
            return "none";
        case 1:
            return "alive";
        case 2:
            return "leaving";
        case 3:
            return "left";
        case 4:
            return "failed";
        default:
            return "unknown";
    }
}

verb_output format_members(const json& members, const members_options& opts) {
    if (auto bad = wrong_kind(members, json::value_t::array,
                              "Error retrieving members: ", "[]*api.AgentMember"))
        return *bad;
    verb_output v;
    std::regex status_re;
    try {
        status_re = std::regex(opts.status, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
        v.code = 1;
        v.err = error_line("Failed to compile status regexp: ", e.what());
        return v;
    }
    std::vector<member_row> rows;
    if (members.is_array()) {
        for (const auto& m : members) {
            member_row r;
            r.name = str_field(m, "Name");
            r.addr = tcp_addr_text(str_field(m, "Addr"), int_field(m, "Port"));
            r.status = member_status_name(int_field(m, "Status"));
            r.tags = string_map(m, "Tags");
            // Consul fills the partition and segment columns before filtering and printing:
            // servers belong to every segment of the default partition.
            if (tag_of(r.tags, "ap").empty()) r.tags["ap"] = "default";
            if (is_default_partition(r.tags["ap"])) {
                if (tag_of(r.tags, "role") == "consul")
                    r.tags["segment"] = "<all>";
                else if (tag_of(r.tags, "segment").empty())
                    r.tags["segment"] = "<default>";
            } else {
                r.tags["segment"] = "";
            }
            if (!std::regex_search(r.status, status_re)) continue;
            rows.push_back(std::move(r));
        }
    }
    if (rows.empty()) {
        v.code = 2;
        return v;
    }
    // Servers first, then the default partition, then by segment, partition and name.
    std::stable_sort(rows.begin(), rows.end(), [](const member_row& a, const member_row& b) {
        bool server_a = tag_of(a.tags, "role") == "consul";
        bool server_b = tag_of(b.tags, "role") == "consul";
        if (server_a != server_b) return server_a;
        std::string ap_a = tag_of(a.tags, "ap"), ap_b = tag_of(b.tags, "ap");
        if (is_default_partition(ap_a) != is_default_partition(ap_b))
            return is_default_partition(ap_a);
        std::string seg_a = tag_of(a.tags, "segment"), seg_b = tag_of(b.tags, "segment");
        if (seg_a != seg_b) return seg_a < seg_b;
        if (ap_a != ap_b) return ap_a < ap_b;
        return a.name < b.name;
    });

    std::vector<std::string> lines;
    const std::string s(1, field_sep);
    if (opts.detailed) {
        lines.push_back(join({"Node", "Address", "Status", "Tags"}, s));
        for (const auto& r : rows)
            lines.push_back(join({r.name, r.addr, r.status, map_to_kv(r.tags, ",")}, s));
    } else {
        lines.push_back(join({"Node", "Address", "Status", "Type", "Build", "Protocol", "DC",
                              "Partition", "Segment"},
                             s));
        for (const auto& r : rows) {
            auto tag = [&](const char* k) { return tag_of(r.tags, k); };
            std::string build = tag("build");
            if (build.empty())
                build = "< 0.3";
            else if (auto colon = build.find(':'); colon != std::string::npos)
                build.resize(colon);
            std::string role = tag("role");
            std::string type = role == "node" ? "client" : role == "consul" ? "server" : "";
            if (type.empty()) {
                lines.push_back(join({r.name, r.addr, r.status, "unknown", "", "", "", "", ""}, s));
            } else {
                lines.push_back(join({r.name, r.addr, r.status, type, build, tag("vsn"), tag("dc"),
                                      tag("ap"), tag("segment")},
                                     s));
            }
        }
    }
    v.out = columnize(lines) + "\n";
    return v;
}

verb_output format_datacenters(const json& datacenters) {
    if (auto bad = wrong_kind(datacenters, json::value_t::array,
                              "Error listing datacenters: ", "[]string"))
        return *bad;
    verb_output v;
    for (const auto& dc : string_list(datacenters)) v.out += dc + "\n";
    return v;
}

verb_output format_services(const json& services, bool tags) {
    if (auto bad = wrong_kind(services, json::value_t::object,
                              "Error listing services: ", "map[string][]string"))
        return *bad;
    verb_output v;
    if (services.is_null() || services.empty()) {
        v.err = "No services match the given query - try expanding your search.\n";
        return v;
    }
    std::map<std::string, std::vector<std::string>> sorted;  // names in byte order, as sort.Strings
    for (const auto& [name, list] : services.items()) sorted[name] = string_list(list);
    if (!tags) {
        for (const auto& [name, _] : sorted) v.out += name + "\n";
        return v;
    }
    // text/tabwriter (minwidth 0, padding 6, ' '): the name column is the widest name plus 6.
    size_t width = 0;
    for (const auto& [name, _] : sorted) width = std::max(width, display_width(name) + 6);
    std::string text;
    for (auto& [name, list] : sorted) {
        std::sort(list.begin(), list.end());
        text += name;
        text.append(width - display_width(name), ' ');
        text += join(list, ",");
        text += "\n";
    }
    v.out = trim(text) + "\n";
    return v;
}

json services_of_node(const json& catalog_node) {
    if (!catalog_node.is_object()) return nullptr;
    json out = json::object();
    auto it = catalog_node.find("Services");
    if (it == catalog_node.end() || !it->is_object()) return out;
    for (const auto& [id, svc] : it->items()) {
        std::string name = str_field(svc, "Service");
        json& tags = out[name];
        if (!tags.is_array()) tags = json::array();
        if (svc.is_object() && svc.contains("Tags"))
            for (const auto& t : string_list(svc["Tags"])) tags.push_back(t);
    }
    return out;
}

verb_output format_nodes(const json& nodes, bool detailed) {
    if (auto bad = wrong_kind(nodes, json::value_t::array, "Error listing nodes: ", "[]*api.Node"))
        return *bad;
    verb_output v;
    if (nodes.is_null() || nodes.empty()) {
        v.err = "No nodes match the given query - try expanding your search.\n";
        return v;
    }
    const std::string s(1, field_sep);
    std::vector<std::string> lines;
    if (detailed)
        lines.push_back(join({"Node", "ID", "Address", "DC", "TaggedAddresses", "Meta"}, s));
    else
        lines.push_back(join({"Node", "ID", "Address", "DC"}, s));
    for (const auto& n : nodes) {
        std::string id = str_field(n, "ID");
        if (detailed) {
            lines.push_back(
                join({str_field(n, "Node"), id, str_field(n, "Address"), str_field(n, "Datacenter"),
                      map_to_kv(string_map(n, "TaggedAddresses"), ", "),
                      map_to_kv(string_map(n, "Meta"), ", ")},
                     s));
        } else {
            // Only the first group of the UUID, as Consul shortens it.
            if (auto dash = id.find('-'); dash != std::string::npos && dash > 0) id.resize(dash);
            lines.push_back(join(
                {str_field(n, "Node"), id, str_field(n, "Address"), str_field(n, "Datacenter")},
                s));
        }
    }
    v.out = columnize(lines) + "\n";
    return v;
}

json nodes_of_service(const json& service_nodes) {
    json out = json::array();
    if (!service_nodes.is_array()) return out;
    for (const auto& s : service_nodes) {
        if (!s.is_object()) continue;
        json n = json::object();
        for (const char* k : {"ID", "Node", "Address", "Datacenter", "TaggedAddresses",
                              "CreateIndex", "ModifyIndex"})
            if (s.contains(k)) n[k] = s[k];
        if (s.contains("NodeMeta")) n["Meta"] = s["NodeMeta"];
        out.push_back(std::move(n));
    }
    return out;
}

verb_output format_keyring(const json& responses, bool primary) {
    if (auto bad = wrong_kind(responses, json::value_t::array, "error: ", "[]*api.KeyringResponse"))
        return *bad;
    verb_output v;
    if (!responses.is_array()) return v;
    for (const auto& r : responses) {
        std::string block = "\n";
        std::string pool = bool_field(r, "WAN")
                               ? std::string("WAN")
                               : fmt::format("{} (LAN)", str_field(r, "Datacenter"));
        std::string segment = str_field(r, "Segment"), partition = str_field(r, "Partition");
        std::string suffix;
        if (!segment.empty())
            suffix = fmt::format(" [{}]", segment);
        else if (!is_default_partition(partition))
            suffix = fmt::format(" [partition: {}]", partition);
        block += pool + suffix + ":\n";
        for (const auto& [from, msg] : string_map(r, "Messages"))
            block += fmt::format("  ===> {}: {}\n", from, msg);
        auto keys_it = r.is_object() ? r.find(primary ? "PrimaryKeys" : "Keys") : r.end();
        if (r.is_object() && keys_it != r.end() && keys_it->is_object()) {
            std::map<std::string, std::int64_t> keys;
            for (const auto& [key, num] : keys_it->items())
                keys[key] = num.is_number_integer() ? num.get<std::int64_t>() : 0;
            for (const auto& [key, num] : keys)
                block += fmt::format("  {} [{}/{}]\n", key, num, int_field(r, "NumNodes"));
        }
        while (!block.empty() && block.back() == '\n') block.pop_back();
        v.out += block + "\n";
    }
    return v;
}

verb_output format_info(const json& self) {
    verb_output v;
    auto stats = self.is_object() ? self.find("Stats") : self.end();
    if (!self.is_object() || stats == self.end()) {
        v.code = 1;
        v.err = error_line("Agent response did not contain 'Stats' key: ", self.dump());
        return v;
    }
    if (!stats->is_object()) {
        v.code = 1;
        v.err = error_line("Error querying agent: ",
                           kind_error(*stats, "map[string]map[string]interface {}"));
        return v;
    }
    // json objects iterate in key order, which is sort.Strings' order.
    for (const auto& [section, values] : stats->items()) {
        v.out += section + ":\n";
        if (!values.is_object()) {
            // Consul prints the (failed) type assertion's zero value.
            v.code = 1;
            v.err = "Got invalid subkey in stats: map[]\n";
            return v;
        }
        for (const auto& [key, val] : values.items())
            v.out += fmt::format("\t{} = {}\n", key,
                                 val.is_string() ? val.get<std::string>() : val.dump());
    }
    return v;
}

// ---- runners
// -------------------------------------------------------------------------------------

int run_members(const config_result& config, const members_options& opts, std::ostream& out,
                std::ostream& err) {
    try {
        std::regex probe(opts.status, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
        err << "Failed to compile status regexp: " << e.what() << "\n";
        return 1;
    }
    if (!config) return connect_error(config, err);
    api_client client(*config);
    query_params params{{"segment", "_all"}};
    if (opts.wan) params.push_back({"wan", "1"});
    if (!opts.filter.empty()) params.push_back({"filter", opts.filter});
    auto j = get_or_report(client, "/v1/agent/members", params, "Error retrieving members: ", err);
    if (!j) return 1;
    return emit(format_members(*j, opts), out, err);
}

int run_catalog_datacenters(const config_result& config, std::ostream& out, std::ostream& err) {
    if (!config) return connect_error(config, err);
    api_client client(*config);
    auto j =
        get_or_report(client, "/v1/catalog/datacenters", {}, "Error listing datacenters: ", err);
    if (!j) return 1;
    return emit(format_datacenters(*j), out, err);
}

int run_catalog_services(const config_result& config, const services_options& opts,
                         std::ostream& out, std::ostream& err) {
    if (!config) return connect_error(config, err);
    api_client client(*config);
    query_params params = node_meta_params(opts.node_meta);
    json services;
    if (!opts.node.empty()) {
        auto j = get_or_report(client, "/v1/catalog/node/" + opts.node, params,
                               "Error listing services for node: ", err);
        if (!j) return 1;
        services = services_of_node(*j);
    } else {
        auto j =
            get_or_report(client, "/v1/catalog/services", params, "Error listing services: ", err);
        if (!j) return 1;
        services = std::move(*j);
    }
    return emit(format_services(services, opts.tags), out, err);
}

int run_catalog_nodes(const config_result& config, const nodes_options& opts, std::ostream& out,
                      std::ostream& err) {
    if (!config) return connect_error(config, err);
    std::string filter = opts.filter;
    if (filter.size() > 1 && filter[0] == '@') {  // Consul's "@file" data source
        std::ifstream f(filter.substr(1));
        if (!f) {
            std::string why = std::strerror(errno);
            if (!why.empty()) why[0] = static_cast<char>(std::tolower(why[0]));
            err << "Could not process filter argument: Failed to read file: open "
                << filter.substr(1) << ": " << why << "\n";
            return 1;
        }
        std::ostringstream ss;
        ss << f.rdbuf();
        filter = ss.str();
    }
    api_client client(*config);
    query_params params = node_meta_params(opts.node_meta);
    if (!opts.near.empty()) params.push_back({"near", opts.near});
    if (!filter.empty()) params.push_back({"filter", filter});
    json nodes;
    if (!opts.service.empty()) {
        auto j = get_or_report(client, "/v1/catalog/service/" + opts.service, params,
                               "Error listing nodes for service: ", err);
        if (!j) return 1;
        if (!j->is_null() && !j->is_array()) {
            err << "Error listing nodes for service: " << kind_error(*j, "[]*api.CatalogService")
                << "\n";
            return 1;
        }
        nodes = nodes_of_service(*j);
    } else {
        auto j = get_or_report(client, "/v1/catalog/nodes", params, "Error listing nodes: ", err);
        if (!j) return 1;
        nodes = std::move(*j);
    }
    return emit(format_nodes(nodes, opts.detailed), out, err);
}

int run_join(const config_result& config, const std::vector<std::string>& addresses, bool wan,
             const std::string& help, std::ostream& out, std::ostream& err) {
    if (addresses.empty()) {
        err << "At least one address to join must be specified.\n\n" << help << "\n";
        return 1;
    }
    if (!config) return connect_error(config, err);
    api_client client(*config);
    int joins = 0;
    for (const auto& addr : addresses) {
        query_params params;
        if (wan) params.push_back({"wan", "1"});
        auto r = client.request_ok("PUT", "/v1/agent/join/" + addr, params);
        if (!r)
            err << "Error joining address '" << addr << "': " << r.error() << "\n";
        else
            ++joins;
    }
    if (joins == 0) {
        err << "Failed to join any nodes.\n";
        return 1;
    }
    out << "Successfully joined cluster by contacting " << joins << " nodes.\n";
    return 0;
}

int run_force_leave(const config_result& config, const std::vector<std::string>& nodes, bool prune,
                    bool wan, const std::string& help, std::ostream&, std::ostream& err) {
    if (nodes.size() != 1) {
        err << "A single node name must be specified to force leave.\n\n" << help << "\n";
        return 1;
    }
    if (!config) return connect_error(config, err);
    api_client client(*config);
    query_params params;
    if (prune) params.push_back({"prune", "1"});
    if (wan) params.push_back({"wan", "1"});
    auto r = client.request_ok("PUT", "/v1/agent/force-leave/" + nodes[0], params);
    if (!r) {
        err << "Error force leaving: " << r.error() << "\n";
        return 1;
    }
    return 0;  // Consul prints nothing on success
}

int run_leave(const config_result& config, const std::vector<std::string>& extra_args,
              const std::string& help, std::ostream& out, std::ostream& err) {
    if (!extra_args.empty()) {
        err << "Error found unexpected args: [" << join(extra_args, " ") << "]\n";
        out << help << "\n";
        return 1;
    }
    if (!config) return connect_error(config, err);
    api_client client(*config);
    auto r = client.request_ok("PUT", "/v1/agent/leave", {});
    if (!r) {
        err << "Error leaving: " << r.error() << "\n";
        return 1;
    }
    out << "Graceful leave complete\n";
    return 0;
}

int run_keyring(const config_result& config, const keyring_options& opts, const std::string& help,
                std::ostream& out, std::ostream& err) {
    int actions = (opts.list ? 1 : 0) + (opts.list_primary ? 1 : 0) +
                  (opts.install.empty() ? 0 : 1) + (opts.use.empty() ? 0 : 1) +
                  (opts.remove.empty() ? 0 : 1);
    if (actions == 0) {
        err << help << "\n";
        return 1;
    }
    if (actions > 1) {
        err << "Only a single action is allowed\n";
        return 1;
    }
    if (opts.relay_factor < 0 || opts.relay_factor > 5) {
        err << "Error parsing relay factor: Relay factor must be in range: [0, 5]\n";
        return 1;
    }
    if (opts.local_only && !opts.list) {
        err << "Error validating local-only: local-only can only be set for list requests\n";
        return 1;
    }
    if (!config) return connect_error(config, err);
    api_client client(*config);
    query_params params;
    if (opts.relay_factor != 0)
        params.push_back({"relay-factor", std::to_string(opts.relay_factor)});

    if (opts.list || opts.list_primary) {
        out << (opts.list ? "==> Gathering installed encryption keys...\n"
                          : "==> Gathering installed primary encryption keys...\n");
        if (opts.local_only) params.push_back({"local-only", "true"});
        auto j = get_or_report(client, "/v1/operator/keyring", params, "error: ", err);
        if (!j) return 1;
        return emit(format_keyring(*j, opts.list_primary), out, err);
    }
    std::string method, key;
    if (!opts.install.empty()) {
        out << "==> Installing new gossip encryption key...\n";
        method = "POST", key = opts.install;
    } else if (!opts.use.empty()) {
        out << "==> Changing primary gossip encryption key...\n";
        method = "PUT", key = opts.use;
    } else {
        out << "==> Removing gossip encryption key...\n";
        method = "DELETE", key = opts.remove;
    }
    auto r = client.request_ok(method, "/v1/operator/keyring", params, json{{"Key", key}}.dump());
    if (!r) {
        err << "error: " << r.error() << "\n";
        return 1;
    }
    return 0;
}

int run_info(const config_result& config, std::ostream& out, std::ostream& err) {
    if (!config) return connect_error(config, err);
    api_client client(*config);
    auto j = get_or_report(client, "/v1/agent/self", {}, "Error querying agent: ", err);
    if (!j) return 1;
    return emit(format_info(*j), out, err);
}

// ---- registration on the meshfed CLI
// -------------------------------------------------------------

struct http_verbs::state {
    http_flags flags;
    members_options members;
    services_options services;
    nodes_options nodes;
    keyring_options keyring;
    std::vector<std::string> join_addrs, force_leave_nodes;
    bool join_wan = false, force_leave_prune = false, force_leave_wan = false;

    CLI::App *members_cmd = nullptr, *dcs_cmd = nullptr, *services_cmd = nullptr,
             *nodes_cmd = nullptr, *join_cmd = nullptr, *force_leave_cmd = nullptr,
             *leave_cmd = nullptr, *keyring_cmd = nullptr, *info_cmd = nullptr;

    void client_flags(CLI::App* cmd) {
        cmd->add_option("--http-addr", flags.http_addr,
                        "Address and port of the agent's HTTP API (also CONSUL_HTTP_ADDR, "
                        "MESHFED_HTTP_ADDR; default http://127.0.0.1:8500; https:// for TLS)");
        cmd->add_option("--token", flags.token,
                        "ACL token for the request (also CONSUL_HTTP_TOKEN)");
        cmd->add_option("--token-file", flags.token_file,
                        "File containing the ACL token (also CONSUL_HTTP_TOKEN_FILE)");
        cmd->add_option("--ca-file", flags.ca_file, "CA file for HTTPS (also CONSUL_CACERT)");
        cmd->add_option("--ca-path", flags.ca_path,
                        "Directory of CA certificates for HTTPS (also CONSUL_CAPATH)");
        cmd->add_option("--client-cert", flags.client_cert,
                        "Client certificate for HTTPS (also CONSUL_CLIENT_CERT)");
        cmd->add_option("--client-key", flags.client_key,
                        "Client key for HTTPS (also CONSUL_CLIENT_KEY)");
        // Go's flag package stops at unknown flags with its own message; keep them to say so.
        cmd->allow_extras();
    }
    void server_flags(CLI::App* cmd) {
        cmd->add_option("--datacenter", flags.datacenter,
                        "Datacenter to query (default: the agent's datacenter)");
        cmd->add_flag("--stale", flags.stale, "Permit any server to answer (stale reads)");
    }
};

http_verbs::http_verbs() : state_(std::make_unique<state>()) {}
http_verbs::~http_verbs() = default;

void http_verbs::add_to(CLI::App& app) {
    auto& s = *state_;
    s.members_cmd = app.add_subcommand("members", "Lists the members of a Consul cluster");
    s.members_cmd->add_flag("--detailed", s.members.detailed,
                            "Provides detailed information about nodes");
    s.members_cmd->add_flag("--wan", s.members.wan,
                            "List the other servers in the WAN pool (server agents)");
    s.members_cmd
        ->add_option("--status", s.members.status,
                     "Only members whose status matches this regular expression")
        ->capture_default_str();
    s.members_cmd->add_option("--filter", s.members.filter, "Filter to use with the request");
    s.client_flags(s.members_cmd);

    auto* catalog = app.add_subcommand("catalog", "Interact with the catalog");
    catalog->require_subcommand(1);
    s.dcs_cmd = catalog->add_subcommand("datacenters", "Lists all known datacenters");
    s.client_flags(s.dcs_cmd);
    s.server_flags(s.dcs_cmd);

    s.services_cmd =
        catalog->add_subcommand("services", "Lists all registered services in a datacenter");
    s.services_cmd->add_option("--node", s.services.node,
                               "Node id or name for which to list services");
    s.services_cmd->add_option("--node-meta", s.services.node_meta,
                               "Only services on nodes with this key=value metadata (repeatable)");
    s.services_cmd->add_flag("--tags", s.services.tags,
                             "Display each service's tags as a comma-separated list");
    s.client_flags(s.services_cmd);
    s.server_flags(s.services_cmd);

    s.nodes_cmd = catalog->add_subcommand("nodes", "Lists all nodes in the given datacenter");
    s.nodes_cmd->add_flag("--detailed", s.nodes.detailed,
                          "Output node IDs, tagged addresses and metadata");
    s.nodes_cmd->add_option("--near", s.nodes.near,
                            "Sort by estimated round-trip time from this node (\"_agent\": "
                            "this agent)");
    s.nodes_cmd->add_option("--node-meta", s.nodes.node_meta,
                            "Only nodes with this key=value metadata (repeatable)");
    s.nodes_cmd->add_option("--service", s.nodes.service,
                            "Only nodes providing this service (id or name)");
    s.nodes_cmd->add_option("--filter", s.nodes.filter,
                            "Filter to use with the request (@FILE reads it from a file)");
    s.client_flags(s.nodes_cmd);
    s.server_flags(s.nodes_cmd);

    s.join_cmd = app.add_subcommand("join", "Tell the agent to join a cluster");
    s.join_cmd->add_flag("--wan", s.join_wan, "Joins a server to another server in the WAN pool");
    s.join_cmd->add_option("address", s.join_addrs, "Address(es) of existing members");
    s.client_flags(s.join_cmd);

    s.force_leave_cmd = app.add_subcommand(
        "force-leave", "Forces a member of the cluster to enter the \"left\" state");
    s.force_leave_cmd->add_flag("--prune", s.force_leave_prune,
                                "Remove the member completely from the list of members");
    s.force_leave_cmd->add_flag("--wan", s.force_leave_wan,
                                "Exclusively leave the member from the WAN serf pool");
    s.force_leave_cmd->add_option("name", s.force_leave_nodes, "Member name");
    s.client_flags(s.force_leave_cmd);

    s.leave_cmd =
        app.add_subcommand("leave", "Gracefully leaves the Consul cluster and shuts down");
    s.client_flags(s.leave_cmd);

    s.keyring_cmd = app.add_subcommand("keyring", "Manages gossip layer encryption keys");
    s.keyring_cmd->add_option("--install", s.keyring.install,
                              "Install a new encryption key in every member of the pool");
    s.keyring_cmd->add_option("--use", s.keyring.use,
                              "Make an installed key the primary encryption key");
    s.keyring_cmd->add_option("--remove", s.keyring.remove,
                              "Remove a key that is not the primary key");
    s.keyring_cmd->add_flag("--list", s.keyring.list, "List the keys in use in the cluster");
    s.keyring_cmd->add_flag("--list-primary", s.keyring.list_primary,
                            "List the primary keys in use in the cluster");
    s.keyring_cmd
        ->add_option("--relay-factor", s.keyring.relay_factor,
                     "Relay responses through this many other members (0-5)")
        ->capture_default_str();
    s.keyring_cmd->add_flag("--local-only", s.keyring.local_only,
                            "Only ask the local datacenter's servers (list only)");
    s.client_flags(s.keyring_cmd);

    s.info_cmd = app.add_subcommand("info", "Provides debugging information for operators");
    s.client_flags(s.info_cmd);
}

std::optional<int> http_verbs::run(std::ostream& out, std::ostream& err, const env_lookup& env) {
    auto& s = *state_;
    CLI::App* parsed = nullptr;
    for (auto* cmd : {s.members_cmd, s.dcs_cmd, s.services_cmd, s.nodes_cmd, s.join_cmd,
                      s.force_leave_cmd, s.leave_cmd, s.keyring_cmd, s.info_cmd})
        if (cmd != nullptr && cmd->parsed()) parsed = cmd;
    if (parsed == nullptr) return std::nullopt;

    std::vector<std::string> extras = parsed->remaining();
    for (const auto& e : extras) {
        if (e.size() > 1 && e[0] == '-') {
            // Go's flag package: "flag provided but not defined: -name".
            std::string name = e.substr(e.find_first_not_of('-'));
            name = name.substr(0, name.find('='));
            err << "flag provided but not defined: -" << name << "\n" << parsed->help();
            return 1;
        }
    }
    auto too_many = [&]() -> bool {
        if (extras.empty()) return false;
        err << "Too many arguments (expected 0, got " << extras.size() << ")\n";
        return true;
    };

    config_result config = resolve_http_config(s.flags, env);
    if (parsed == s.members_cmd) return run_members(config, s.members, out, err);
    if (parsed == s.dcs_cmd) return too_many() ? 1 : run_catalog_datacenters(config, out, err);
    if (parsed == s.services_cmd)
        return too_many() ? 1 : run_catalog_services(config, s.services, out, err);
    if (parsed == s.nodes_cmd) return too_many() ? 1 : run_catalog_nodes(config, s.nodes, out, err);
    if (parsed == s.join_cmd) {
        auto addrs = s.join_addrs;
        addrs.insert(addrs.end(), extras.begin(), extras.end());
        return run_join(config, addrs, s.join_wan, parsed->help(), out, err);
    }
    if (parsed == s.force_leave_cmd) {
        auto nodes = s.force_leave_nodes;
        nodes.insert(nodes.end(), extras.begin(), extras.end());
        return run_force_leave(config, nodes, s.force_leave_prune, s.force_leave_wan,
                               parsed->help(), out, err);
    }
    if (parsed == s.leave_cmd) return run_leave(config, extras, parsed->help(), out, err);
    if (parsed == s.keyring_cmd) return run_keyring(config, s.keyring, parsed->help(), out, err);
    return run_info(config, out, err);  // `consul info` ignores extra arguments
}

}  // namespace meshfed::agent::cli
