#include "mesh/gateway_routes.hpp"

#include <nlohmann/json.hpp>

namespace meshfed::mesh {
namespace {

std::string str_at(const nlohmann::json& j, const char* key) {
    if (!j.is_object()) return {};
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int port_at(const nlohmann::json& j, const char* key) {
    if (!j.is_object()) return 0;
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_integer()) return 0;
    auto p = it->get<long long>();
    return p > 0 && p <= 65535 ? static_cast<int>(p) : 0;
}

const nlohmann::json& field(const nlohmann::json& j, const char* key) {
    static const nlohmann::json null_json;
    if (!j.is_object()) return null_json;
    auto it = j.find(key);
    return it == j.end() ? null_json : *it;
}

bool any_critical(const nlohmann::json& csn) {
    const auto& checks = field(csn, "Checks");
    if (!checks.is_array()) return false;
    for (const auto& c : checks)
        if (str_at(c, "Status") == "critical") return true;
    return false;
}

}  // namespace

std::optional<endpoint> wan_address_of(const nlohmann::json& csn) {
    const auto& svc = field(csn, "Service");
    const auto& node = field(csn, "Node");
    int port = port_at(svc, "Port");
    std::string addr;
    const auto& wan = field(field(svc, "TaggedAddresses"), "wan");
    if (!str_at(wan, "Address").empty()) {
        addr = str_at(wan, "Address");
        if (int p = port_at(wan, "Port"); p != 0) port = p;
    }
    if (addr.empty()) addr = str_at(svc, "Address");
    if (addr.empty()) {
        // Node.TaggedAddresses is a map of plain strings ("wan": "198.18.0.1").
        const auto& ntag = field(field(node, "TaggedAddresses"), "wan");
        if (ntag.is_string()) addr = ntag.get<std::string>();
    }
    if (addr.empty()) addr = str_at(node, "Address");
    if (addr.empty() || port == 0) return std::nullopt;
    return endpoint{addr, static_cast<std::uint16_t>(port)};
}

std::map<std::string, endpoint> local_servers_from_health(const nlohmann::json& entries,
                                                          route_build_report* report) {
    std::map<std::string, endpoint> out;
    if (!entries.is_array()) {
        if (report) ++report->skipped;
        return out;
    }
    for (const auto& csn : entries) {
        const auto& svc = field(csn, "Service");
        const auto& node = field(csn, "Node");
        std::string name = str_at(node, "Node");
        std::string addr = str_at(svc, "Address");
        if (addr.empty()) addr = str_at(node, "Address");
        int port = port_at(svc, "Port");
        if (name.empty() || addr.empty() || port == 0) {
            if (report) ++report->skipped;
            continue;
        }
        out[name] = endpoint{addr, static_cast<std::uint16_t>(port)};
    }
    return out;
}

std::map<std::string, std::vector<endpoint>> dc_gateways_from_federation(
    const nlohmann::json& by_dc, const std::string& local_dc, route_build_report* report) {
    std::map<std::string, std::vector<endpoint>> out;
    if (!by_dc.is_object()) {
        if (report && !by_dc.is_null()) ++report->skipped;
        return out;
    }
    for (const auto& [dc, list] : by_dc.items()) {
        if (dc == local_dc || !list.is_array()) continue;
        for (const auto& csn : list) {
            if (any_critical(csn)) continue;
            auto ep = wan_address_of(csn);
            if (!ep) {
                if (report) ++report->skipped;
                continue;
            }
            out[dc].push_back(*ep);
        }
    }
    return out;
}

}  // namespace meshfed::mesh
