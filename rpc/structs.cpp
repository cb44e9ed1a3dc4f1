#include "rpc/structs.hpp"

#include <algorithm>
#include <concepts>

namespace meshfed::rpc {

namespace {

// ---- encoding
// ------------------------------------------------------------------------------------
struct enc_visitor;

template <class T>
concept go_struct = requires(const T& t, enc_visitor& v) {
    T::fields(t, v);
};

void write_any(msgpack::writer& w, const std::string& v) {
    w.write_str(v);
}
void write_any(msgpack::writer& w, std::uint64_t v) {
    w.write_uint(v);
}
void write_any(msgpack::writer& w, std::int64_t v) {
    w.write_int(v);
}
void write_any(msgpack::writer& w, bool v) {
    w.write_bool(v);
}
void write_any(msgpack::writer& w, const go_time& v) {
    write_time(w, v);
}
void write_any(msgpack::writer& w, const opaque_struct& v) {
    if (v.bytes.empty()) {
        w.write_map_header(0);
    } else {
        w.buffer().insert(w.buffer().end(), v.bytes.begin(), v.bytes.end());
    }
}
void write_any(msgpack::writer& w, const opaque_ptr& v) {
    if (v.bytes.empty()) {
        w.write_nil();
    } else {
        w.buffer().insert(w.buffer().end(), v.bytes.begin(), v.bytes.end());
    }
}
template <go_struct T>
void write_any(msgpack::writer& w, const T& v);
template <class T>
void write_any(msgpack::writer& w, const std::vector<T>& v);
template <class T>
void write_any(msgpack::writer& w, const std::map<std::string, T>& v);
template <class T>
void write_any(msgpack::writer& w, const std::optional<T>& v);

struct enc_visitor {
    struct_writer& sw;
    template <class T>
    void operator()(std::string_view name, const T& value) {
        auto w = sw.field(name);
        write_any(w, value);
    }
    void flat(const query_options& o) { o.write_fields(sw); }
    void flat(const query_meta& m) { m.write_fields(sw); }
};

template <go_struct T>
void write_any(msgpack::writer& w, const T& v) {
    struct_writer sw;
    enc_visitor vis{sw};
    T::fields(v, vis);
    sw.finish(w);
}

template <class T>
void write_any(msgpack::writer& w, const std::vector<T>& v) {
    w.write_array_header(static_cast<std::uint32_t>(v.size()));
    for (const auto& e : v) write_any(w, e);
}

template <class T>
void write_any(msgpack::writer& w, const std::map<std::string, T>& v) {
    w.write_map_header(static_cast<std::uint32_t>(v.size()));
    for (const auto& [k, e] : v) {
        w.write_str(k);
        write_any(w, e);
    }
}

template <class T>
void write_any(msgpack::writer& w, const std::optional<T>& v) {
    if (!v) {
        w.write_nil();
    } else {
        write_any(w, *v);
    }
}

// ---- decoding
// ------------------------------------------------------------------------------------
struct dec_ctx {
    msgpack::reader& r;
    const decode_limits& limits;
    decode_counters* counters;
    std::size_t depth = 0;

    std::error_code oversized() {
        if (counters) ++counters->oversized;
        return codec_errc::message_too_large;
    }
};

std::error_code map_error(std::error_code ec) {
    if (ec == msgpack::errc::truncated) return codec_errc::truncated;
    if (ec == msgpack::errc::invalid_byte) return codec_errc::bad_tag;
    if (ec == msgpack::errc::depth_exceeded) return codec_errc::depth_exceeded;
    if (ec.category() == codec_category()) return ec;
    return codec_errc::bad_type;
}

// A type mismatch on the never-used marker 0xc1 is reported as bad_tag.
std::error_code map_error(dec_ctx& d, std::error_code ec) {
    if (ec == msgpack::errc::type_mismatch) {
        auto p = d.r.peek_type();
        if (!p && p.error() == msgpack::errc::invalid_byte) return codec_errc::bad_tag;
    }
    return map_error(ec);
}

// Consumes a nil if one is next.
bool take_nil(dec_ctx& d) {
    if (!d.r.next_is_nil()) return false;
    (void)d.r.read_nil();
    return true;
}

std::error_code read_any(dec_ctx& d, std::string& out) {
    if (take_nil(d)) {
        out.clear();
        return {};
    }
    auto s = d.r.read_str();
    if (!s) return map_error(d, s.error());
    if (s->size() > d.limits.max_string) return d.oversized();
    out.assign(*s);
    return {};
}

std::error_code read_any(dec_ctx& d, std::uint64_t& out) {
    if (take_nil(d)) {
        out = 0;
        return {};
    }
    auto v = d.r.read_uint();
    if (!v) return map_error(d, v.error());
    out = *v;
    return {};
}

std::error_code read_any(dec_ctx& d, std::int64_t& out) {
    if (take_nil(d)) {
        out = 0;
        return {};
    }
    auto v = d.r.read_int();
    if (!v) return map_error(d, v.error());
    out = *v;
    return {};
}

std::error_code read_any(dec_ctx& d, bool& out) {
    if (take_nil(d)) {
        out = false;
        return {};
    }
    auto v = d.r.read_bool();
    if (!v) return map_error(d, v.error());
    out = *v;
    return {};
}

std::error_code read_any(dec_ctx& d, go_time& out) {
    auto t = read_time(d.r);
    if (!t) return map_error(d, t.error());
    out = *t;
    return {};
}

std::error_code read_opaque(dec_ctx& d, std::vector<std::uint8_t>& out) {
    if (take_nil(d)) {
        out.clear();
        return {};
    }
    const auto before = d.r.remaining();
    if (auto s = d.r.skip(); !s) return map_error(d, s.error());
    const std::size_t used = before.size() - d.r.remaining_size();
    if (used > d.limits.max_opaque) return d.oversized();
    out.assign(before.begin(), before.begin() + static_cast<std::ptrdiff_t>(used));
    return {};
}

std::error_code read_any(dec_ctx& d, opaque_struct& out) {
    auto ec = read_opaque(d, out.bytes);
    // An empty struct is how an absent one is written: keep the two equal.
    if (!ec && out.bytes.size() == 1 && out.bytes[0] == 0x80) out.bytes.clear();
    return ec;
}
std::error_code read_any(dec_ctx& d, opaque_ptr& out) {
    return read_opaque(d, out.bytes);
}

struct dec_visitor;

template <class T>
concept go_struct_mut = requires(T& t, dec_visitor& v) {
    T::fields(t, v);
};

template <go_struct_mut T>
std::error_code read_any(dec_ctx& d, T& out);
template <class T>
std::error_code read_any(dec_ctx& d, std::vector<T>& out);
template <class T>
std::error_code read_any(dec_ctx& d, std::map<std::string, T>& out);
template <class T>
std::error_code read_any(dec_ctx& d, std::optional<T>& out);

struct dec_visitor {
    dec_ctx& d;
    std::string_view key;
    bool matched = false;
    std::error_code ec;

    template <class T>
    void operator()(std::string_view name, T& member) {
        if (matched || name != key) return;
        matched = true;
        ec = read_any(d, member);
    }
    template <class Embedded>
    void flat(Embedded& e) {
        if (matched) return;
        auto r = e.read_field(key, d.r);
        if (!r) {
            matched = true;
            ec = map_error(d, r.error());
        } else if (*r) {
            matched = true;
        }
    }
};

// Reads a container header and checks its count against the limits and the input left.
std::expected<std::uint32_t, std::error_code> read_count(dec_ctx& d, bool map) {
    auto n = map ? d.r.read_map_header() : d.r.read_array_header();
    if (!n) return std::unexpected(map_error(d, n.error()));
    if (*n > d.limits.max_elements) return std::unexpected(d.oversized());
    const std::uint64_t min_bytes = static_cast<std::uint64_t>(*n) * (map ? 2 : 1);
    if (min_bytes > d.r.remaining_size()) return std::unexpected(codec_errc::truncated);
    return *n;
}

struct depth_guard {
    dec_ctx& d;
    explicit depth_guard(dec_ctx& c) : d(c) { ++d.depth; }
    ~depth_guard() { --d.depth; }
    bool exceeded() const { return d.depth > d.limits.max_depth; }
};

template <go_struct_mut T>
std::error_code read_any(dec_ctx& d, T& out) {
    out = T{};
    if (take_nil(d)) return {};
    depth_guard g(d);
    if (g.exceeded()) return codec_errc::depth_exceeded;
    auto n = read_count(d, true);
    if (!n) return n.error();
    for (std::uint32_t i = 0; i < *n; ++i) {
        auto key = d.r.read_str();
        if (!key) return map_error(d, key.error());
        dec_visitor vis{d, *key};
        T::fields(out, vis);
        if (vis.ec) return vis.ec;
        if (!vis.matched) {
            if (d.counters) ++d.counters->unknown_fields;
            if (auto s = d.r.skip(); !s) return map_error(d, s.error());
        }
    }
    return {};
}

template <class T>
std::error_code read_any(dec_ctx& d, std::vector<T>& out) {
    out.clear();
    if (take_nil(d)) return {};
    depth_guard g(d);
    if (g.exceeded()) return codec_errc::depth_exceeded;
    auto n = read_count(d, false);
    if (!n) return n.error();
    out.reserve(*n);
    for (std::uint32_t i = 0; i < *n; ++i) {
        out.emplace_back();
        if (auto ec = read_any(d, out.back())) return ec;
    }
    return {};
}

template <class T>
std::error_code read_any(dec_ctx& d, std::map<std::string, T>& out) {
    out.clear();
    if (take_nil(d)) return {};
    depth_guard g(d);
    if (g.exceeded()) return codec_errc::depth_exceeded;
    auto n = read_count(d, true);
    if (!n) return n.error();
    for (std::uint32_t i = 0; i < *n; ++i) {
        std::string key;
        if (auto ec = read_any(d, key)) return ec;
        T value{};
        if (auto ec = read_any(d, value)) return ec;
        out.insert_or_assign(std::move(key), std::move(value));
    }
    return {};
}

template <class T>
std::error_code read_any(dec_ctx& d, std::optional<T>& out) {
    out.reset();
    if (take_nil(d)) return {};
    T value{};
    if (auto ec = read_any(d, value)) return ec;
    out = std::move(value);
    return {};
}

bool tags_equal(const std::vector<std::string>& a, const std::vector<std::string>& b) {
    return a == b;
}

}  // namespace

template <class T>
void encode_value(msgpack::writer& w, const T& value) {
    write_any(w, value);
}

template <class T>
std::expected<T, std::error_code> decode_value(msgpack::reader& r, const decode_limits& limits,
                                               decode_counters* counters) {
    dec_ctx d{r, limits, counters};
    T out{};
    if (r.at_end()) {
        if (counters) ++counters->rejected;
        return std::unexpected(make_error_code(codec_errc::truncated));
    }
    if (auto ec = read_any(d, out)) {
        if (counters) ++counters->rejected;
        return std::unexpected(ec);
    }
    return out;
}

#define MESHFED_RPC_STRUCT_CODEC(T)                             \
    template void encode_value<T>(msgpack::writer&, const T&);  \
    template std::expected<T, std::error_code> decode_value<T>( \
        msgpack::reader&, const decode_limits&, decode_counters*);

MESHFED_RPC_STRUCT_CODEC(weights)
MESHFED_RPC_STRUCT_CODEC(service_address)
MESHFED_RPC_STRUCT_CODEC(query_source)
MESHFED_RPC_STRUCT_CODEC(node)
MESHFED_RPC_STRUCT_CODEC(node_service)
MESHFED_RPC_STRUCT_CODEC(service_node)
MESHFED_RPC_STRUCT_CODEC(health_check)
MESHFED_RPC_STRUCT_CODEC(check_service_node)
MESHFED_RPC_STRUCT_CODEC(federation_state)
MESHFED_RPC_STRUCT_CODEC(node_services)
MESHFED_RPC_STRUCT_CODEC(register_request)
MESHFED_RPC_STRUCT_CODEC(deregister_request)
MESHFED_RPC_STRUCT_CODEC(federation_state_request)
MESHFED_RPC_STRUCT_CODEC(datacenters_request)
MESHFED_RPC_STRUCT_CODEC(dc_specific_request)
MESHFED_RPC_STRUCT_CODEC(service_specific_request)
MESHFED_RPC_STRUCT_CODEC(node_specific_request)
MESHFED_RPC_STRUCT_CODEC(service_dump_request)
MESHFED_RPC_STRUCT_CODEC(federation_state_query)
MESHFED_RPC_STRUCT_CODEC(indexed_nodes)
MESHFED_RPC_STRUCT_CODEC(indexed_services)
MESHFED_RPC_STRUCT_CODEC(indexed_service_nodes)
MESHFED_RPC_STRUCT_CODEC(indexed_node_services)
MESHFED_RPC_STRUCT_CODEC(indexed_health_checks)
MESHFED_RPC_STRUCT_CODEC(indexed_check_service_nodes)
MESHFED_RPC_STRUCT_CODEC(indexed_nodes_with_gateways)
MESHFED_RPC_STRUCT_CODEC(federation_state_response)
MESHFED_RPC_STRUCT_CODEC(indexed_federation_states)
MESHFED_RPC_STRUCT_CODEC(datacenter_indexed_check_service_nodes)
MESHFED_RPC_STRUCT_CODEC(snapshot_service)
MESHFED_RPC_STRUCT_CODEC(state_snapshot)

#undef MESHFED_RPC_STRUCT_CODEC

std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

bool satisfies_meta(const string_map& meta, const string_map& filter) {
    for (const auto& [k, v] : filter) {
        auto it = meta.find(k);
        if (it == meta.end() || it->second != v) return false;
    }
    return true;
}

service_node to_service_node(const node& n, const node_service& s) {
    service_node out;
    out.id = n.id;
    out.node = n.name;
    out.address = n.address;
    out.datacenter = n.datacenter;
    out.tagged_addresses = n.tagged_addresses;
    out.node_meta = n.meta;
    out.service_kind = s.kind;
    out.service_id = s.id;
    out.service_name = s.service;
    out.service_tags = s.tags;
    out.service_addr = s.address;
    out.service_tagged_addresses = s.tagged_addresses;
    out.service_weights = s.weights_.value_or(weights{});
    out.service_meta = s.meta;
    out.service_port = s.port;
    out.service_socket_path = s.socket_path;
    out.service_enable_tag_override = s.enable_tag_override;
    out.service_proxy = s.proxy;
    out.service_connect = s.connect;
    out.service_locality = s.locality;
    out.peer_name = s.peer_name;
    out.create_index = s.create_index;
    out.modify_index = s.modify_index;
    return out;
}

bool same_node(const node& a, const node& b) {
    return a.id == b.id && ascii_lower(a.name) == ascii_lower(b.name) &&
           a.partition == b.partition && a.peer_name == b.peer_name && a.address == b.address &&
           a.datacenter == b.datacenter && a.tagged_addresses == b.tagged_addresses &&
           a.meta == b.meta && a.locality == b.locality;
}

bool same_service(const node_service& a, const node_service& b) {
    return a.id == b.id && a.service == b.service && tags_equal(a.tags, b.tags) &&
           a.address == b.address && a.port == b.port && a.socket_path == b.socket_path &&
           a.tagged_addresses == b.tagged_addresses && a.weights_ == b.weights_ &&
           a.meta == b.meta && a.enable_tag_override == b.enable_tag_override && a.kind == b.kind &&
           a.proxy == b.proxy && a.connect == b.connect && a.locality == b.locality &&
           a.peer_name == b.peer_name;
}

bool same_check(const health_check& a, const health_check& b) {
    return a.node == b.node && a.check_id == b.check_id && a.name == b.name &&
           a.status == b.status && a.notes == b.notes && a.output == b.output &&
           a.service_id == b.service_id && a.service_name == b.service_name &&
           a.service_tags == b.service_tags && a.definition == b.definition && a.type == b.type &&
           a.interval == b.interval && a.timeout == b.timeout && a.exposed_port == b.exposed_port &&
           a.peer_name == b.peer_name;
}

}  // namespace meshfed::rpc
