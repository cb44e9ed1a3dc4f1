#include "agent/http/json_codec.hpp"

#include <algorithm>
#include <cctype>
#include <concepts>
#include <ctime>
#include <span>

#include <fmt/format.h>

namespace meshfed::agent::http {

namespace {

using json = nlohmann::json;
using namespace std::string_view_literals;

// ---- per-struct JSON tags (agent/structs, CE) ---------------------------------------------------
struct json_tags {
    std::span<const std::string_view> omitempty;
    std::span<const std::string_view> hidden;  // json:"-"
};

constexpr std::string_view node_omit[] = {"Partition"sv, "PeerName"sv, "Locality"sv};
constexpr std::string_view service_node_omit[] = {"ServiceTaggedAddresses"sv, "ServiceLocality"sv,
                                                  "PeerName"sv};
constexpr std::string_view node_service_omit[] = {
    "Kind"sv, "TaggedAddresses"sv, "Port"sv, "SocketPath"sv, "Locality"sv, "PeerName"sv};
constexpr std::string_view node_service_hidden[] = {"LocallyRegisteredAsSidecar"sv};
constexpr std::string_view health_check_omit[] = {"PeerName"sv};
constexpr std::string_view register_omit[] = {"PeerName"sv, "Locality"sv};

template <class T>
json_tags tags_of() {
    if constexpr (std::same_as<T, rpc::node>) return {node_omit, {}};
    if constexpr (std::same_as<T, rpc::service_node>) return {service_node_omit, {}};
    if constexpr (std::same_as<T, rpc::node_service>)
        return {node_service_omit, node_service_hidden};
    if constexpr (std::same_as<T, rpc::health_check>) return {health_check_omit, {}};
    if constexpr (std::same_as<T, rpc::register_request>) return {register_omit, {}};
    return {};
}

bool listed(std::span<const std::string_view> names, std::string_view n) {
    return std::find(names.begin(), names.end(), n) != names.end();
}

// ---- encoding ----------------------------------------------------------------------------------
struct enc_visitor;
template <class T>
concept go_struct = requires(const T& t, enc_visitor& v) {
    T::fields(t, v);
};

json to_j(const std::string& v) {
    return v;
}
json to_j(std::uint64_t v) {
    return v;
}
json to_j(std::int64_t v) {
    return v;
}
json to_j(bool v) {
    return v;
}
json to_j(const rpc::go_time& v) {
    return rfc3339(v);
}
json opaque_to_j(const std::vector<std::uint8_t>& bytes, json absent) {
    if (bytes.empty()) return absent;
    auto j = json::from_msgpack(bytes, true, false);
    return j.is_discarded() ? absent : j;
}
json to_j(const rpc::opaque_struct& v) {
    return opaque_to_j(v.bytes, json::object());
}
json to_j(const rpc::opaque_ptr& v) {
    return opaque_to_j(v.bytes, nullptr);
}
template <go_struct T>
json to_j(const T& v);
template <class T>
json to_j(const std::vector<T>& v) {
    json a = json::array();
    for (const auto& e : v) a.push_back(to_j(e));
    return a;
}
template <class T>
json to_j(const std::map<std::string, T>& v) {
    json o = json::object();
    for (const auto& [k, e] : v) o[k] = to_j(e);
    return o;
}
template <class T>
json to_j(const std::optional<T>& v) {
    return v ? to_j(*v) : json(nullptr);
}

template <class T>
bool is_empty(const T& v) {
    if constexpr (requires { v.empty(); }) {
        return v.empty();
    } else if constexpr (requires { v.bytes.empty(); }) {
        return v.bytes.empty();
    } else if constexpr (requires { v.has_value(); }) {
        return !v.has_value();
    } else if constexpr (std::integral<T>) {
        return v == 0;
    } else {
        return false;
    }
}

struct enc_visitor {
    json& out;
    json_tags tags;
    template <class T>
    void operator()(std::string_view name, const T& v) {
        if (listed(tags.hidden, name)) return;
        if (listed(tags.omitempty, name) && is_empty(v)) return;
        out[std::string(name)] = to_j(v);
    }
    void flat(const rpc::query_options&) {}
    void flat(const rpc::query_meta& m) { add_query_meta(out, m); }
};

template <go_struct T>
json to_j(const T& v) {
    json o = json::object();
    enc_visitor vis{o, tags_of<T>()};
    T::fields(v, vis);
    return o;
}

// ---- decoding ----------------------------------------------------------------------------------
struct dec_visitor;
template <class T>
concept go_struct_dec = requires(T& t, dec_visitor& v) {
    T::fields(t, v);
};

std::string json_kind(const json& j) {
    if (j.is_string()) return "string";
    if (j.is_boolean()) return "bool";
    if (j.is_number()) return "number " + j.dump();
    if (j.is_array()) return "array";
    if (j.is_object()) return "object";
    return "null";
}

std::string mismatch(const json& j, const std::string& path, std::string_view go_type) {
    return fmt::format("json: cannot unmarshal {} into Go struct field {} of type {}", json_kind(j),
                       path, go_type);
}

std::string from_j(const json& j, std::string& out, const std::string& path) {
    if (!j.is_string()) return mismatch(j, path, "string");
    out = j.get<std::string>();
    return {};
}
std::string from_j(const json& j, bool& out, const std::string& path) {
    if (!j.is_boolean()) return mismatch(j, path, "bool");
    out = j.get<bool>();
    return {};
}
std::string from_j(const json& j, std::int64_t& out, const std::string& path) {
    if (j.is_number_integer()) {
        if (j.is_number_unsigned() &&
            j.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
            return mismatch(j, path, "int");
        out = j.get<std::int64_t>();
        return {};
    }
    return mismatch(j, path, "int");
}
std::string from_j(const json& j, std::uint64_t& out, const std::string& path) {
    if (j.is_number_unsigned()) {
        out = j.get<std::uint64_t>();
        return {};
    }
    return mismatch(j, path, "uint64");
}
std::string opaque_from_j(const json& j, std::vector<std::uint8_t>& out, const std::string& path,
                          std::string_view go_type) {
    if (!j.is_object()) return mismatch(j, path, go_type);
    out = json::to_msgpack(j);
    return {};
}
std::string from_j(const json& j, rpc::opaque_struct& out, const std::string& path) {
    return opaque_from_j(j, out.bytes, path, "struct");
}
std::string from_j(const json& j, rpc::opaque_ptr& out, const std::string& path) {
    return opaque_from_j(j, out.bytes, path, "struct");
}
template <go_struct_dec T>
std::string from_j(const json& j, T& out, const std::string& path);
template <class T>
std::string from_j(const json& j, std::vector<T>& out, const std::string& path) {
    if (!j.is_array()) return mismatch(j, path, "array");
    out.clear();
    out.reserve(j.size());
    for (const auto& e : j) {
        T v{};
        if (e.is_null()) {
            out.push_back(std::move(v));
            continue;
        }
        if (auto err = from_j(e, v, path); !err.empty()) return err;
        out.push_back(std::move(v));
    }
    return {};
}
template <class T>
std::string from_j(const json& j, std::map<std::string, T>& out, const std::string& path) {
    if (!j.is_object()) return mismatch(j, path, "map");
    out.clear();
    for (const auto& [k, e] : j.items()) {
        T v{};
        if (!e.is_null()) {
            if (auto err = from_j(e, v, path); !err.empty()) return err;
        }
        out.emplace(k, std::move(v));
    }
    return {};
}
template <class T>
std::string from_j(const json& j, std::optional<T>& out, const std::string& path) {
    T v{};
    if (out) v = std::move(*out);
    if (auto err = from_j(j, v, path); !err.empty()) return err;
    out = std::move(v);
    return {};
}

bool iequal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

struct dec_visitor {
    const json& obj;
    std::string prefix;  // "RegisterRequest.Service."
    std::string error;
    template <class T>
    void operator()(std::string_view name, T& v) {
        if (!error.empty()) return;
        // encoding/json: an exact key wins, else the first case-insensitive one.
        const json* found = nullptr;
        if (auto it = obj.find(std::string(name)); it != obj.end()) {
            found = &*it;
        } else {
            for (auto it2 = obj.begin(); it2 != obj.end(); ++it2) {
                if (iequal(it2.key(), name)) {
                    found = &*it2;
                    break;
                }
            }
        }
        if (!found || found->is_null()) return;
        error = from_j(*found, v, prefix + std::string(name));
    }
    void flat(rpc::query_options&) {}
    void flat(rpc::query_meta&) {}
};

template <go_struct_dec T>
std::string from_j(const json& j, T& out, const std::string& path) {
    if (!j.is_object()) return mismatch(j, path, "struct");
    // Nested field paths read "Outer.Field.Inner" as Go prints them.
    std::string prefix = path.empty() ? std::string() : path + ".";
    dec_visitor vis{j, prefix, {}};
    T::fields(out, vis);
    return vis.error;
}

template <class T>
std::expected<T, std::string> decode_root(const json& j, std::string_view go_name) {
    T out{};
    if (!j.is_object()) {
        return std::unexpected(fmt::format(
            "json: cannot unmarshal {} into Go value of type structs.{}", json_kind(j), go_name));
    }
    dec_visitor vis{j, std::string(go_name) + ".", {}};
    T::fields(out, vis);
    if (!vis.error.empty()) return std::unexpected(vis.error);
    return out;
}

}  // namespace

void add_query_meta(nlohmann::json& obj, const rpc::query_meta& m) {
    obj["Index"] = m.index;
    obj["LastContact"] = m.last_contact.count();
    obj["KnownLeader"] = m.known_leader;
    obj["ConsistencyLevel"] = m.consistency_level;
    obj["NotModified"] = m.not_modified;
    obj["Backend"] = m.backend;
    obj["ResultsFilteredByACLs"] = m.results_filtered_by_acls;
}

std::string rfc3339(const rpc::go_time& t) {
    // Go's time.Time MarshalJSON: RFC3339Nano in the time's zone; ours are UTC (or the offset
    // carried in the blob).
    const int offset_s = t.offset_minutes == -1 ? 0 : t.offset_minutes * 60 + t.offset_seconds;
    std::time_t secs = static_cast<std::time_t>(t.unix_seconds + offset_s);
    std::tm tm{};
    ::gmtime_r(&secs, &tm);
    std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", tm.tm_year + 1900,
                                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (t.nanoseconds != 0) {
        std::string frac = fmt::format("{:09}", t.nanoseconds);
        while (!frac.empty() && frac.back() == '0') frac.pop_back();
        out += "." + frac;
    }
    if (offset_s == 0) {
        out += "Z";
    } else {
        const int a = offset_s < 0 ? -offset_s : offset_s;
        out += fmt::format("{}{:02}:{:02}", offset_s < 0 ? '-' : '+', a / 3600, (a / 60) % 60);
    }
    return out;
}

nlohmann::json to_json(const rpc::node& v) {
    return to_j(v);
}
nlohmann::json to_json(const rpc::service_node& v) {
    return to_j(v);
}
nlohmann::json to_json(const rpc::node_service& v) {
    return to_j(v);
}
nlohmann::json to_json(const rpc::health_check& v) {
    return to_j(v);
}
nlohmann::json to_json(const rpc::check_service_node& v) {
    return to_j(v);
}
nlohmann::json to_json(const rpc::node_services& v) {
    return to_j(v);
}
nlohmann::json to_json(const rpc::federation_state& v) {
    return to_j(v);
}

std::expected<nlohmann::json, std::string> parse_json_body(std::string_view body) {
    constexpr int max_depth = 64;
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
        return std::unexpected("EOF");  // what Go's json.Decoder says for an empty body
    }
    try {
        return json::parse(body, [](int depth, json::parse_event_t, json&) {
            if (depth > max_depth) throw std::runtime_error("exceeded max depth");
            return true;
        });
    } catch (const json::parse_error& e) {
        // Go words a truncated document "unexpected EOF"; otherwise name the byte and what the
        // parser expected.
        if (e.byte >= body.size() + 1 || e.byte > body.size())
            return std::unexpected("unexpected EOF");
        std::string what = e.what();
        if (auto p = what.find("syntax error while parsing "); p != std::string::npos)
            what = what.substr(p + 27);
        const char c = e.byte > 0 ? body[e.byte - 1] : body[0];
        if (std::isprint(static_cast<unsigned char>(c))) {
            return std::unexpected(
                fmt::format("invalid character '{}' at offset {}: {}", c, e.byte, what));
        }
        return std::unexpected(fmt::format("invalid JSON at offset {}: {}", e.byte, what));
    } catch (const std::exception& e) {
        return std::unexpected(std::string(e.what()));
    }
}

std::expected<rpc::register_request, std::string> register_request_from_json(
    const nlohmann::json& j) {
    return decode_root<rpc::register_request>(j, "RegisterRequest");
}

std::expected<rpc::deregister_request, std::string> deregister_request_from_json(
    const nlohmann::json& j) {
    return decode_root<rpc::deregister_request>(j, "DeregisterRequest");
}

}  // namespace meshfed::agent::http
