#include "wan/serf_messages.hpp"

#include <algorithm>
#include <bitset>
#include <cctype>
#include <limits>

namespace meshfed::wan {

std::string_view to_string(serf_message_type t) noexcept {
    switch (t) {
        case serf_message_type::leave:
            return "leave";
        case serf_message_type::join:
            return "join";
        case serf_message_type::push_pull:
            return "pushPull";
        case serf_message_type::user_event:
            return "userEvent";
        case serf_message_type::query:
            return "query";
        case serf_message_type::query_response:
            return "queryResponse";
        case serf_message_type::conflict_response:
            return "conflictResponse";
        case serf_message_type::key_request:
            return "keyRequest";
        case serf_message_type::key_response:
            return "keyResponse";
        case serf_message_type::relay:
            return "relay";
    }
    return "unknown";
}

std::string_view to_string(serf_errc e) noexcept {
    switch (e) {
        case serf_errc::empty:
            return "empty";
        case serf_errc::unknown_type:
            return "unknown type";
        case serf_errc::wrong_type:
            return "wrong type";
        case serf_errc::truncated:
            return "truncated";
        case serf_errc::malformed:
            return "malformed";
        case serf_errc::oversized:
            return "oversized";
        case serf_errc::bad_tags:
            return "bad tags";
        case serf_errc::bad_filter:
            return "bad filter";
        case serf_errc::invalid_value:
            return "invalid value";
        case serf_errc::stale:
            return "stale";
        case serf_errc::not_supported:
            return "not supported";
        case serf_errc::invalid_argument:
            return "invalid argument";
    }
    return "unknown";
}

namespace {

using msgpack::reader;
using msgpack::writer;
using result = std::expected<void, serf_errc>;

serf_errc map_err(std::error_code ec) {
    return ec == msgpack::errc::truncated ? serf_errc::truncated : serf_errc::malformed;
}

#define SERF_TRY(expr)                                                                            \
    do {                                                                                          \
        if (auto serf_try_r_ = (expr); !serf_try_r_) return std::unexpected(serf_try_r_.error()); \
    } while (0)

// ---- field readers (one non-nil value each)
// --------------------------------------------------------

result read_field(reader& r, std::string& out) {
    auto v = r.read_str();
    if (!v) return std::unexpected(map_err(v.error()));
    out.assign(*v);
    return {};
}

result read_field(reader& r, bytes& out) {
    auto t = r.peek_type();
    if (!t) return std::unexpected(map_err(t.error()));
    if (*t == msgpack::value_type::array) {
        // go-msgpack also decodes an array of small integers into []byte.
        auto n = r.read_array_header();
        if (!n) return std::unexpected(map_err(n.error()));
        if (*n > r.remaining_size()) return std::unexpected(serf_errc::truncated);
        out.clear();
        out.reserve(*n);
        for (std::uint32_t i = 0; i < *n; ++i) {
            auto b = r.read_integer<std::uint8_t>();
            if (!b) return std::unexpected(map_err(b.error()));
            out.push_back(*b);
        }
        return {};
    }
    auto v = r.read_raw();
    if (!v) return std::unexpected(map_err(v.error()));
    out.assign(v->begin(), v->end());
    return {};
}

result read_field(reader& r, bool& out) {
    auto v = r.read_bool();
    if (!v) return std::unexpected(map_err(v.error()));
    out = *v;
    return {};
}

template <class T>
requires std::is_integral_v<T> result read_field(reader& r, T& out) {
    auto v = r.read_integer<T>();
    if (!v) return std::unexpected(map_err(v.error()));
    out = *v;
    return {};
}

// Array header (nil = empty) bounded by `max` items and by the bytes left (each item >= 1 byte).
std::expected<std::uint32_t, serf_errc> read_bounded_array(reader& r, std::size_t max) {
    if (r.next_is_nil()) {
        (void)r.read_nil();
        return 0u;
    }
    auto n = r.read_array_header();
    if (!n) return std::unexpected(map_err(n.error()));
    if (*n > max) return std::unexpected(serf_errc::oversized);
    if (*n > r.remaining_size()) return std::unexpected(serf_errc::truncated);
    return *n;
}

std::expected<std::uint32_t, serf_errc> read_bounded_map(reader& r, std::size_t max) {
    if (r.next_is_nil()) {
        (void)r.read_nil();
        return 0u;
    }
    auto n = r.read_map_header();
    if (!n) return std::unexpected(map_err(n.error()));
    if (*n > max) return std::unexpected(serf_errc::oversized);
    if (*n > r.remaining_size() / 2) return std::unexpected(serf_errc::truncated);
    return *n;
}

result read_string_list(reader& r, std::vector<std::string>& out, std::size_t max) {
    auto n = read_bounded_array(r, max);
    if (!n) return std::unexpected(n.error());
    out.clear();
    out.reserve(*n);
    for (std::uint32_t i = 0; i < *n; ++i) {
        std::string s;
        if (!r.next_is_nil()) {
            SERF_TRY(read_field(r, s));
        } else {
            (void)r.read_nil();
        }
        out.push_back(std::move(s));
    }
    return {};
}

result read_string_map(reader& r, tag_map& out, std::size_t max) {
    auto n = read_bounded_map(r, max);
    if (!n) return std::unexpected(n.error());
    out.clear();
    for (std::uint32_t i = 0; i < *n; ++i) {
        std::string k, v;
        SERF_TRY(read_field(r, k));
        if (r.next_is_nil()) {
            (void)r.read_nil();
        } else {
            SERF_TRY(read_field(r, v));
        }
        out[std::move(k)] = std::move(v);
    }
    return {};
}

// Decodes a msgpack map into a struct: `on_field(key)` returns true if it consumed the value,
// false to skip it. Nil values leave the field at its zero value.
template <class F>
result decode_map(reader& r, F&& on_field) {
    auto n = r.read_map_header();
    if (!n) return std::unexpected(map_err(n.error()));
    for (std::uint32_t i = 0; i < *n; ++i) {
        auto key = r.read_str();
        if (!key) return std::unexpected(map_err(key.error()));
        if (r.next_is_nil()) {
            (void)r.read_nil();
            continue;
        }
        auto handled = on_field(*key);
        if (!handled) return std::unexpected(handled.error());
        if (!*handled) {
            auto s = r.skip();
            if (!s) return std::unexpected(map_err(s.error()));
        }
    }
    return {};
}

using field_result = std::expected<bool, serf_errc>;

template <class T>
field_result take(reader& r, T& out) {
    auto v = read_field(r, out);
    if (!v) return std::unexpected(v.error());
    return true;
}

// Checks the type byte and hands a reader over the body to `body`.
template <class T, class F>
std::expected<T, serf_errc> decode_whole(std::span<const std::uint8_t> msg, serf_message_type want,
                                         F&& body) {
    auto t = peek_serf_type(msg);
    if (!t) return std::unexpected(t.error());
    if (*t != want) return std::unexpected(serf_errc::wrong_type);
    reader r(msg.subspan(1));
    T out{};
    auto res = body(r, out);
    if (!res) return std::unexpected(res.error());
    return out;
}

bytes start(serf_message_type t) {
    bytes out;
    out.push_back(static_cast<std::uint8_t>(t));
    return out;
}

// ---- bodies -------------------------------------------------------------------------------------

result decode_body(reader& r, msg_leave& m) {
    return decode_map(r, [&](std::string_view k) -> field_result {
        if (k == "LTime") return take(r, m.ltime);
        if (k == "Node") return take(r, m.node);
        if (k == "Prune") return take(r, m.prune);
        return false;
    });
}

result decode_body(reader& r, msg_join& m) {
    return decode_map(r, [&](std::string_view k) -> field_result {
        if (k == "LTime") return take(r, m.ltime);
        if (k == "Node") return take(r, m.node);
        return false;
    });
}

result decode_body(reader& r, user_event_entry& m) {
    return decode_map(r, [&](std::string_view k) -> field_result {
        if (k == "Name") return take(r, m.name);
        if (k == "Payload") return take(r, m.payload);
        return false;
    });
}

result decode_body(reader& r, user_events_slot& m) {
    return decode_map(r, [&](std::string_view k) -> field_result {
        if (k == "LTime") return take(r, m.ltime);
        if (k == "Events") {
            auto n = read_bounded_array(r, serf_limits::max_events_per_slot);
            if (!n) return std::unexpected(n.error());
            m.events.clear();
            m.events.reserve(*n);
            for (std::uint32_t i = 0; i < *n; ++i) {
                user_event_entry e;
                if (r.next_is_nil()) {
                    (void)r.read_nil();
                } else {
                    SERF_TRY(decode_body(r, e));
                }
                m.events.push_back(std::move(e));
            }
            return true;
        }
        return false;
    });
}

result decode_body(reader& r, msg_push_pull& m) {
    return decode_map(r, [&](std::string_view k) -> field_result {
        if (k == "LTime") return take(r, m.ltime);
        if (k == "EventLTime") return take(r, m.event_ltime);
        if (k == "QueryLTime") return take(r, m.query_ltime);
        if (k == "LeftMembers") {
            SERF_TRY(read_string_list(r, m.left_members, serf_limits::max_members));
            return true;
        }
        if (k == "StatusLTimes") {
            auto n = read_bounded_map(r, serf_limits::max_members);
            if (!n) return std::unexpected(n.error());
            m.status_ltimes.clear();
            for (std::uint32_t i = 0; i < *n; ++i) {
                std::string name;
                std::uint64_t lt = 0;
                SERF_TRY(read_field(r, name));
                if (r.next_is_nil()) {
                    (void)r.read_nil();
                } else {
                    SERF_TRY(read_field(r, lt));
                }
                m.status_ltimes[std::move(name)] = lt;
            }
            return true;
        }
        if (k == "Events") {
            auto n = read_bounded_array(r, serf_limits::max_event_slots);
            if (!n) return std::unexpected(n.error());
            m.events.clear();
            m.events.reserve(*n);
            for (std::uint32_t i = 0; i < *n; ++i) {
                if (r.next_is_nil()) {
                    (void)r.read_nil();
                    m.events.emplace_back(std::nullopt);
                    continue;
                }
                user_events_slot s;
                SERF_TRY(decode_body(r, s));
                m.events.emplace_back(std::move(s));
            }
            return true;
        }
        return false;
    });
}

result decode_body(reader& r, msg_user_event& m) {
    return decode_map(r, [&](std::string_view k) -> field_result {
        if (k == "LTime") return take(r, m.ltime);
        if (k == "Name") return take(r, m.name);
        if (k == "Payload") return take(r, m.payload);
        if (k == "CC") return take(r, m.cc);
        return false;
    });
}

result decode_body(reader& r, msg_query& m) {
    return decode_map(r, [&](std::string_view k) -> field_result {
        if (k == "LTime") return take(r, m.ltime);
        if (k == "ID") return take(r, m.id);
        if (k == "Addr") return take(r, m.addr);
        if (k == "Port") return take(r, m.port);
        if (k == "SourceNode") return take(r, m.source_node);
        if (k == "Flags") return take(r, m.flags);
        if (k == "RelayFactor") return take(r, m.relay_factor);
        if (k == "Timeout") return take(r, m.timeout_ns);
        if (k == "Name") return take(r, m.name);
        if (k == "Payload") return take(r, m.payload);
        if (k == "Filters") {
            auto n = read_bounded_array(r, serf_limits::max_filters);
            if (!n) return std::unexpected(n.error());
            m.filters.clear();
            m.filters.reserve(*n);
            for (std::uint32_t i = 0; i < *n; ++i) {
                bytes f;
                if (r.next_is_nil()) {
                    (void)r.read_nil();
                } else {
                    SERF_TRY(read_field(r, f));
                }
                m.filters.push_back(std::move(f));
            }
            return true;
        }
        return false;
    });
}

result decode_body(reader& r, msg_query_response& m) {
    return decode_map(r, [&](std::string_view k) -> field_result {
        if (k == "LTime") return take(r, m.ltime);
        if (k == "ID") return take(r, m.id);
        if (k == "From") return take(r, m.from);
        if (k == "Flags") return take(r, m.flags);
        if (k == "Payload") return take(r, m.payload);
        return false;
    });
}

result decode_body(reader& r, msg_member& m) {
    return decode_map(r, [&](std::string_view k) -> field_result {
        if (k == "Name") return take(r, m.name);
        if (k == "Addr") return take(r, m.addr);
        if (k == "Port") return take(r, m.port);
        if (k == "Status") return take(r, m.status);
        if (k == "ProtocolMin") return take(r, m.protocol_min);
        if (k == "ProtocolMax") return take(r, m.protocol_max);
        if (k == "ProtocolCur") return take(r, m.protocol_cur);
        if (k == "DelegateMin") return take(r, m.delegate_min);
        if (k == "DelegateMax") return take(r, m.delegate_max);
        if (k == "DelegateCur") return take(r, m.delegate_cur);
        if (k == "Tags") {
            SERF_TRY(read_string_map(r, m.tags, serf_limits::max_tags));
            return true;
        }
        return false;
    });
}

result decode_body(reader& r, msg_key_request& m) {
    return decode_map(r, [&](std::string_view k) -> field_result {
        if (k == "Key") return take(r, m.key);
        return false;
    });
}

result decode_body(reader& r, msg_key_response& m) {
    return decode_map(r, [&](std::string_view k) -> field_result {
        if (k == "Result") return take(r, m.result);
        if (k == "Message") return take(r, m.message);
        if (k == "PrimaryKey") return take(r, m.primary_key);
        if (k == "Keys") {
            SERF_TRY(read_string_list(r, m.keys, serf_limits::max_keys));
            return true;
        }
        return false;
    });
}

result decode_udp_addr(reader& r, msg_relay& m) {
    return decode_map(r, [&](std::string_view k) -> field_result {
        if (k == "IP") return take(r, m.dest_ip);
        if (k == "Zone") return take(r, m.dest_zone);
        if (k == "Port") {
            std::int64_t p = 0;
            SERF_TRY(read_field(r, p));
            if (p < 0 || p > 65535) return std::unexpected(serf_errc::invalid_value);
            m.dest_port = static_cast<std::uint16_t>(p);
            return true;
        }
        return false;
    });
}

void write_str_map(writer& w, const tag_map& m) {
    w.write_map_header(static_cast<std::uint32_t>(m.size()));
    for (const auto& [k, v] : m) {
        w.write_str(k);
        w.write_str(v);
    }
}

}  // namespace

// ---- encoders (keys sorted by Go field name)
// ------------------------------------------------------

bytes encode(const msg_leave& m) {
    bytes out = start(serf_message_type::leave);
    writer w(out);
    w.write_map_header(3);
    w.write_str("LTime");
    w.write_uint(m.ltime);
    w.write_str("Node");
    w.write_str(m.node);
    w.write_str("Prune");
    w.write_bool(m.prune);
    return out;
}

bytes encode(const msg_join& m) {
    bytes out = start(serf_message_type::join);
    writer w(out);
    w.write_map_header(2);
    w.write_str("LTime");
    w.write_uint(m.ltime);
    w.write_str("Node");
    w.write_str(m.node);
    return out;
}

void encode_body(writer& w, const user_events_slot& m) {
    w.write_map_header(2);
    w.write_str("Events");
    w.write_array_header(static_cast<std::uint32_t>(m.events.size()));
    for (const auto& e : m.events) {
        w.write_map_header(2);
        w.write_str("Name");
        w.write_str(e.name);
        w.write_str("Payload");
        w.write_bytes_or_nil(e.payload);
    }
    w.write_str("LTime");
    w.write_uint(m.ltime);
}

bytes encode(const msg_push_pull& m) {
    bytes out = start(serf_message_type::push_pull);
    writer w(out);
    w.write_map_header(6);
    w.write_str("EventLTime");
    w.write_uint(m.event_ltime);
    w.write_str("Events");
    w.write_array_header(static_cast<std::uint32_t>(m.events.size()));
    for (const auto& s : m.events) {
        if (s) {
            encode_body(w, *s);
        } else {
            w.write_nil();
        }
    }
    w.write_str("LTime");
    w.write_uint(m.ltime);
    w.write_str("LeftMembers");
    w.write_array_header(static_cast<std::uint32_t>(m.left_members.size()));
    for (const auto& n : m.left_members) w.write_str(n);
    w.write_str("QueryLTime");
    w.write_uint(m.query_ltime);
    w.write_str("StatusLTimes");
    w.write_map_header(static_cast<std::uint32_t>(m.status_ltimes.size()));
    for (const auto& [k, v] : m.status_ltimes) {
        w.write_str(k);
        w.write_uint(v);
    }
    return out;
}

bytes encode(const msg_user_event& m) {
    bytes out = start(serf_message_type::user_event);
    writer w(out);
    w.write_map_header(4);
    w.write_str("CC");
    w.write_bool(m.cc);
    w.write_str("LTime");
    w.write_uint(m.ltime);
    w.write_str("Name");
    w.write_str(m.name);
    w.write_str("Payload");
    w.write_bytes_or_nil(m.payload);
    return out;
}

bytes encode(const msg_query& m) {
    bytes out = start(serf_message_type::query);
    writer w(out);
    w.write_map_header(11);
    w.write_str("Addr");
    w.write_bytes_or_nil(m.addr);
    w.write_str("Filters");
    if (m.filters.empty()) {
        w.write_nil();
    } else {
        w.write_array_header(static_cast<std::uint32_t>(m.filters.size()));
        for (const auto& f : m.filters) w.write_bytes_or_nil(f);
    }
    w.write_str("Flags");
    w.write_uint(m.flags);
    w.write_str("ID");
    w.write_uint(m.id);
    w.write_str("LTime");
    w.write_uint(m.ltime);
    w.write_str("Name");
    w.write_str(m.name);
    w.write_str("Payload");
    w.write_bytes_or_nil(m.payload);
    w.write_str("Port");
    w.write_uint(m.port);
    w.write_str("RelayFactor");
    w.write_uint(m.relay_factor);
    w.write_str("SourceNode");
    w.write_str(m.source_node);
    w.write_str("Timeout");
    w.write_int(m.timeout_ns);
    return out;
}

bytes encode(const msg_query_response& m) {
    bytes out = start(serf_message_type::query_response);
    writer w(out);
    w.write_map_header(5);
    w.write_str("Flags");
    w.write_uint(m.flags);
    w.write_str("From");
    w.write_str(m.from);
    w.write_str("ID");
    w.write_uint(m.id);
    w.write_str("LTime");
    w.write_uint(m.ltime);
    w.write_str("Payload");
    w.write_bytes_or_nil(m.payload);
    return out;
}

void encode_body(writer& w, const msg_member& m) {
    w.write_map_header(11);
    w.write_str("Addr");
    w.write_bytes_or_nil(m.addr);
    w.write_str("DelegateCur");
    w.write_uint(m.delegate_cur);
    w.write_str("DelegateMax");
    w.write_uint(m.delegate_max);
    w.write_str("DelegateMin");
    w.write_uint(m.delegate_min);
    w.write_str("Name");
    w.write_str(m.name);
    w.write_str("Port");
    w.write_uint(m.port);
    w.write_str("ProtocolCur");
    w.write_uint(m.protocol_cur);
    w.write_str("ProtocolMax");
    w.write_uint(m.protocol_max);
    w.write_str("ProtocolMin");
    w.write_uint(m.protocol_min);
    w.write_str("Status");
    w.write_int(m.status);
    w.write_str("Tags");
    write_str_map(w, m.tags);
}

bytes encode_conflict_response(const msg_member* m) {
    bytes out = start(serf_message_type::conflict_response);
    writer w(out);
    if (m == nullptr) {
        w.write_nil();
    } else {
        encode_body(w, *m);
    }
    return out;
}

bytes encode(const msg_key_request& m) {
    bytes out = start(serf_message_type::key_request);
    writer w(out);
    w.write_map_header(1);
    w.write_str("Key");
    w.write_raw(m.key);  // KeyManager always sends a non-nil slice (list-keys: a0)
    return out;
}

bytes encode(const msg_key_response& m) {
    bytes out = start(serf_message_type::key_response);
    writer w(out);
    w.write_map_header(4);
    w.write_str("Keys");
    if (m.keys.empty()) {
        w.write_nil();  // Go: nil slice unless a key was appended
    } else {
        w.write_array_header(static_cast<std::uint32_t>(m.keys.size()));
        for (const auto& k : m.keys) w.write_str(k);
    }
    w.write_str("Message");
    w.write_str(m.message);
    w.write_str("PrimaryKey");
    w.write_str(m.primary_key);
    w.write_str("Result");
    w.write_bool(m.result);
    return out;
}

bytes encode(const msg_relay& m) {
    bytes out = start(serf_message_type::relay);
    writer w(out);
    w.write_map_header(2);
    w.write_str("DestAddr");
    w.write_map_header(3);
    w.write_str("IP");
    w.write_bytes_or_nil(m.dest_ip);
    w.write_str("Port");
    w.write_int(m.dest_port);
    w.write_str("Zone");
    w.write_str(m.dest_zone);
    w.write_str("DestName");
    w.write_str(m.dest_name);
    out.insert(out.end(), m.inner.begin(), m.inner.end());
    return out;
}

// ---- decoders -----------------------------------------------------------------------------------

std::expected<serf_message_type, serf_errc> peek_serf_type(std::span<const std::uint8_t> msg) {
    if (msg.empty()) return std::unexpected(serf_errc::empty);
    if (msg[0] >= serf_message_type_count) return std::unexpected(serf_errc::unknown_type);
    return static_cast<serf_message_type>(msg[0]);
}

std::expected<msg_leave, serf_errc> decode_leave(std::span<const std::uint8_t> msg) {
    return decode_whole<msg_leave>(msg, serf_message_type::leave,
                                   [](reader& r, msg_leave& m) { return decode_body(r, m); });
}

std::expected<msg_join, serf_errc> decode_join(std::span<const std::uint8_t> msg) {
    return decode_whole<msg_join>(msg, serf_message_type::join,
                                  [](reader& r, msg_join& m) { return decode_body(r, m); });
}

std::expected<msg_push_pull, serf_errc> decode_push_pull(std::span<const std::uint8_t> msg) {
    return decode_whole<msg_push_pull>(
        msg, serf_message_type::push_pull,
        [](reader& r, msg_push_pull& m) { return decode_body(r, m); });
}

std::expected<msg_user_event, serf_errc> decode_user_event(std::span<const std::uint8_t> msg) {
    return decode_whole<msg_user_event>(
        msg, serf_message_type::user_event,
        [](reader& r, msg_user_event& m) { return decode_body(r, m); });
}

std::expected<msg_query, serf_errc> decode_query(std::span<const std::uint8_t> msg) {
    return decode_whole<msg_query>(msg, serf_message_type::query,
                                   [](reader& r, msg_query& m) { return decode_body(r, m); });
}

std::expected<msg_query_response, serf_errc> decode_query_response(
    std::span<const std::uint8_t> msg) {
    return decode_whole<msg_query_response>(
        msg, serf_message_type::query_response,
        [](reader& r, msg_query_response& m) { return decode_body(r, m); });
}

std::expected<std::optional<msg_member>, serf_errc> decode_conflict_response(
    std::span<const std::uint8_t> msg) {
    return decode_whole<std::optional<msg_member>>(
        msg, serf_message_type::conflict_response,
        [](reader& r, std::optional<msg_member>& m) -> result {
            if (r.at_end()) return std::unexpected(serf_errc::truncated);
            if (r.next_is_nil()) {
                (void)r.read_nil();
                m.reset();
                return {};
            }
            msg_member mm;
            SERF_TRY(decode_body(r, mm));
            m = std::move(mm);
            return {};
        });
}

std::expected<msg_key_request, serf_errc> decode_key_request(std::span<const std::uint8_t> msg) {
    return decode_whole<msg_key_request>(
        msg, serf_message_type::key_request,
        [](reader& r, msg_key_request& m) { return decode_body(r, m); });
}

std::expected<msg_key_response, serf_errc> decode_key_response(std::span<const std::uint8_t> msg) {
    return decode_whole<msg_key_response>(
        msg, serf_message_type::key_response,
        [](reader& r, msg_key_response& m) { return decode_body(r, m); });
}

std::expected<msg_relay, serf_errc> decode_relay(std::span<const std::uint8_t> msg) {
    return decode_whole<msg_relay>(
        msg, serf_message_type::relay, [](reader& r, msg_relay& m) -> result {
            SERF_TRY(decode_map(r, [&](std::string_view k) -> field_result {
                if (k == "DestName") return take(r, m.dest_name);
                if (k == "DestAddr") {
                    SERF_TRY(decode_udp_addr(r, m));
                    return true;
                }
                return false;
            }));
            auto rest = r.remaining();
            m.inner.assign(rest.begin(), rest.end());
            return {};
        });
}

// ---- tags ---------------------------------------------------------------------------------------

bytes encode_tags(const tag_map& tags, std::uint8_t protocol_version) {
    bytes out;
    if (protocol_version < 3) {
        auto it = tags.find("role");
        if (it != tags.end()) out.assign(it->second.begin(), it->second.end());
        return out;
    }
    out.push_back(tag_magic_byte);
    writer w(out);
    write_str_map(w, tags);
    return out;
}

std::expected<tag_map, serf_errc> decode_tags(std::span<const std::uint8_t> meta) {
    tag_map tags;
    if (meta.empty() || meta[0] != tag_magic_byte) {
        tags["role"] = std::string(meta.begin(), meta.end());
        return tags;
    }
    reader r(meta.subspan(1));
    auto res = read_string_map(r, tags, serf_limits::max_tags);
    if (!res) {
        return std::unexpected(res.error() == serf_errc::oversized ? serf_errc::oversized
                                                                   : serf_errc::bad_tags);
    }
    return tags;
}

// ---- filters ------------------------------------------------------------------------------------

bytes encode_filter(const query_filter& f) {
    bytes out;
    if (const auto* nf = std::get_if<node_filter>(&f)) {
        out.push_back(static_cast<std::uint8_t>(filter_type::node));
        writer w(out);
        w.write_array_header(static_cast<std::uint32_t>(nf->nodes.size()));
        for (const auto& n : nf->nodes) w.write_str(n);
    } else {
        const auto& tf = std::get<tag_filter>(f);
        out.push_back(static_cast<std::uint8_t>(filter_type::tag));
        writer w(out);
        w.write_map_header(2);
        w.write_str("Expr");
        w.write_str(tf.expr);
        w.write_str("Tag");
        w.write_str(tf.tag);
    }
    return out;
}

std::expected<query_filter, serf_errc> decode_filter(std::span<const std::uint8_t> f) {
    if (f.empty()) return std::unexpected(serf_errc::empty);
    reader r(f.subspan(1));
    if (f[0] == static_cast<std::uint8_t>(filter_type::node)) {
        node_filter nf;
        SERF_TRY(read_string_list(r, nf.nodes, serf_limits::max_filter_nodes));
        return nf;
    }
    if (f[0] == static_cast<std::uint8_t>(filter_type::tag)) {
        tag_filter tf;
        SERF_TRY(decode_map(r, [&](std::string_view k) -> field_result {
            if (k == "Tag") return take(r, tf.tag);
            if (k == "Expr") return take(r, tf.expr);
            return false;
        }));
        return tf;
    }
    return std::unexpected(serf_errc::unknown_type);
}

// ---- regex (Pike VM over bytes)
// -------------------------------------------------------------------

namespace {

using char_set = std::bitset<256>;

struct rx_node {
    enum kind_t { empty, chars, bol, eol, cat, alt, repeat } kind = empty;
    char_set set{};
    std::vector<std::size_t> kids{};
    int min = 0, max = 0;  // repeat; max < 0 = unbounded
};

constexpr std::size_t rx_max_nodes = 4096;
constexpr std::size_t rx_max_program = 4096;  // x 512-byte tag values: bounded work
constexpr int rx_max_repeat = 1000;           // RE2's limit

class rx_parser {
  public:
    explicit rx_parser(std::string_view s) : s_(s) {}

    std::expected<std::size_t, serf_errc> parse() {
        auto n = parse_alt(0);
        if (!n) return n;
        if (pos_ != s_.size()) return std::unexpected(serf_errc::bad_filter);  // stray ')'
        return n;
    }

    std::vector<rx_node> nodes;

  private:
    struct flags {
        bool icase = false;
        bool dotall = false;
    };

    std::expected<std::size_t, serf_errc> add(rx_node n) {
        if (nodes.size() >= rx_max_nodes) return std::unexpected(serf_errc::bad_filter);
        nodes.push_back(std::move(n));
        return nodes.size() - 1;
    }

    bool eof() const { return pos_ >= s_.size(); }
    char peek() const { return s_[pos_]; }

    std::expected<std::size_t, serf_errc> parse_alt(int depth) {
        if (depth > 100) return std::unexpected(serf_errc::bad_filter);
        rx_node alt{.kind = rx_node::alt};
        for (;;) {
            auto c = parse_cat(depth);
            if (!c) return c;
            alt.kids.push_back(*c);
            if (!eof() && peek() == '|') {
                ++pos_;
                continue;
            }
            break;
        }
        if (alt.kids.size() == 1) return alt.kids[0];
        return add(std::move(alt));
    }

    std::expected<std::size_t, serf_errc> parse_cat(int depth) {
        rx_node cat{.kind = rx_node::cat};
        while (!eof() && peek() != '|' && peek() != ')') {
            // Flag groups (?i) / (?s) change the flags for the rest of the current group.
            if (s_.substr(pos_).starts_with("(?")) {
                auto f = try_flag_group();
                if (!f) return std::unexpected(f.error());
                if (*f) continue;
            }
            auto a = parse_atom(depth);
            if (!a) return a;
            auto q = parse_quant(*a);
            if (!q) return q;
            cat.kids.push_back(*q);
        }
        if (cat.kids.size() == 1) return cat.kids[0];
        return add(std::move(cat));
    }

    // Consumes "(?flags)"; returns true if it did, false if it is "(?:" / "(?flags:" (an atom).
    std::expected<bool, serf_errc> try_flag_group() {
        std::size_t p = pos_ + 2;
        flags f = flags_;
        bool neg = false;
        while (p < s_.size()) {
            char c = s_[p];
            if (c == ')') {
                flags_ = f;
                pos_ = p + 1;
                return true;
            }
            if (c == ':') return false;
            if (c == '-' && !neg) {
                neg = true;
            } else if (c == 'i') {
                f.icase = !neg;
            } else if (c == 's') {
                f.dotall = !neg;
            } else {
                return std::unexpected(serf_errc::bad_filter);  // m, U, named groups, ...
            }
            ++p;
        }
        return std::unexpected(serf_errc::bad_filter);
    }

    std::expected<std::size_t, serf_errc> parse_quant(std::size_t atom) {
        bool applied = false;
        while (!eof()) {
            char c = peek();
            int mn = 0, mx = 0;
            if (c == '*') {
                mn = 0, mx = -1, ++pos_;
            } else if (c == '+') {
                mn = 1, mx = -1, ++pos_;
            } else if (c == '?') {
                mn = 0, mx = 1, ++pos_;
            } else if (c == '{') {
                auto r = parse_braces(mn, mx);
                if (!r) return std::unexpected(r.error());
                if (!*r) return atom;  // a literal '{' (Go treats a malformed {..} as literal)
            } else {
                return atom;
            }
            // "a**" / "a+*": Go rejects a repetition operator applied to a repetition operator.
            if (applied) return std::unexpected(serf_errc::bad_filter);
            applied = true;
            if (!eof() && peek() == '?') ++pos_;  // lazy: same match/no-match answer
            auto r = add(rx_node{.kind = rx_node::repeat, .kids = {atom}, .min = mn, .max = mx});
            if (!r) return r;
            atom = *r;
        }
        return atom;
    }

    // {n}, {n,}, {n,m}. Returns false (nothing consumed) if not a valid repeat.
    std::expected<bool, serf_errc> parse_braces(int& mn, int& mx) {
        std::size_t p = pos_ + 1;
        auto num = [&](int& out) {
            std::size_t b = p;
            long v = 0;
            while (p < s_.size() && std::isdigit(static_cast<unsigned char>(s_[p]))) {
                v = v * 10 + (s_[p] - '0');
                if (v > 100000) v = 100000;
                ++p;
            }
            out = static_cast<int>(v);
            return p > b;
        };
        if (!num(mn)) return false;
        if (p < s_.size() && s_[p] == '}') {
            mx = mn;
        } else if (p < s_.size() && s_[p] == ',') {
            ++p;
            if (p < s_.size() && s_[p] == '}') {
                mx = -1;
            } else if (!num(mx) || p >= s_.size() || s_[p] != '}') {
                return false;
            }
        } else {
            return false;
        }
        if (mn > rx_max_repeat || mx > rx_max_repeat || (mx >= 0 && mx < mn))
            return std::unexpected(serf_errc::bad_filter);
        pos_ = p + 1;
        return true;
    }

    void add_char(char_set& set, unsigned char c) const {
        set.set(c);
        if (flags_.icase && std::isalpha(c)) {
            set.set(static_cast<unsigned char>(std::tolower(c)));
            set.set(static_cast<unsigned char>(std::toupper(c)));
        }
    }

    static char_set perl_class(char c) {
        char_set s;
        for (int i = 0; i < 256; ++i) {
            const bool d = i >= '0' && i <= '9';
            const bool w = d || (i >= 'a' && i <= 'z') || (i >= 'A' && i <= 'Z') || i == '_';
            const bool sp = i == ' ' || i == '\t' || i == '\n' || i == '\f' || i == '\r';
            bool in = false;
            switch (std::tolower(c)) {
                case 'd':
                    in = d;
                    break;
                case 'w':
                    in = w;
                    break;
                case 's':
                    in = sp;
                    break;
            }
            if (std::isupper(static_cast<unsigned char>(c))) in = !in;
            s.set(static_cast<std::size_t>(i), in);
        }
        return s;
    }

    // After a backslash: a class (\d...) or a single literal byte.
    std::expected<std::variant<char_set, unsigned char>, serf_errc> parse_escape() {
        if (eof()) return std::unexpected(serf_errc::bad_filter);
        const char c = s_[pos_++];
        switch (c) {
            case 'd':
            case 'D':
            case 'w':
            case 'W':
            case 's':
            case 'S':
                return perl_class(c);
            case 't':
                return static_cast<unsigned char>('\t');
            case 'n':
                return static_cast<unsigned char>('\n');
            case 'r':
                return static_cast<unsigned char>('\r');
            case 'f':
                return static_cast<unsigned char>('\f');
            case 'v':
                return static_cast<unsigned char>('\v');
            case 'a':
                return static_cast<unsigned char>('\a');
            default:
                break;
        }
        if (std::ispunct(static_cast<unsigned char>(c))) return static_cast<unsigned char>(c);
        return std::unexpected(serf_errc::bad_filter);  // \b, \pN, \x.., octal: unsupported
    }

    std::expected<std::size_t, serf_errc> parse_class() {
        // at '[' already consumed
        bool negate = false;
        if (!eof() && peek() == '^') {
            negate = true;
            ++pos_;
        }
        char_set set;
        bool first = true;
        for (;;) {
            if (eof()) return std::unexpected(serf_errc::bad_filter);
            char c = peek();
            if (c == ']' && !first) {
                ++pos_;
                break;
            }
            first = false;
            if (c == '[' && s_.substr(pos_).starts_with("[:")) {
                auto end = s_.find(":]", pos_ + 2);
                if (end == std::string_view::npos) return std::unexpected(serf_errc::bad_filter);
                auto name = s_.substr(pos_ + 2, end - pos_ - 2);
                bool neg = !name.empty() && name[0] == '^';
                if (neg) name.remove_prefix(1);
                int (*fn)(int) = nullptr;
                if (name == "alpha")
                    fn = ::isalpha;
                else if (name == "digit")
                    fn = ::isdigit;
                else if (name == "alnum")
                    fn = ::isalnum;
                else if (name == "space")
                    fn = ::isspace;
                else if (name == "upper")
                    fn = ::isupper;
                else if (name == "lower")
                    fn = ::islower;
                else if (name == "punct")
                    fn = ::ispunct;
                else if (name == "xdigit")
                    fn = ::isxdigit;
                else if (name == "word")
                    fn = [](int ch) { return (::isalnum(ch) || ch == '_') ? 1 : 0; };
                else
                    return std::unexpected(serf_errc::bad_filter);
                for (int i = 0; i < 128; ++i)
                    if ((fn(i) != 0) != neg) add_char(set, static_cast<unsigned char>(i));
                if (neg)
                    for (int i = 128; i < 256; ++i) set.set(static_cast<std::size_t>(i));
                pos_ = end + 2;
                continue;
            }
            unsigned char lo = 0;
            ++pos_;
            if (c == '\\') {
                auto e = parse_escape();
                if (!e) return std::unexpected(e.error());
                if (auto* cs = std::get_if<char_set>(&*e)) {
                    set |= *cs;
                    continue;
                }
                lo = std::get<unsigned char>(*e);
            } else {
                lo = static_cast<unsigned char>(c);
            }
            // range?
            if (pos_ + 1 < s_.size() && peek() == '-' && s_[pos_ + 1] != ']') {
                ++pos_;
                unsigned char hi = 0;
                char h = s_[pos_++];
                if (h == '\\') {
                    auto e = parse_escape();
                    if (!e || !std::holds_alternative<unsigned char>(*e))
                        return std::unexpected(serf_errc::bad_filter);
                    hi = std::get<unsigned char>(*e);
                } else {
                    hi = static_cast<unsigned char>(h);
                }
                if (hi < lo) return std::unexpected(serf_errc::bad_filter);
                for (int i = lo; i <= hi; ++i) add_char(set, static_cast<unsigned char>(i));
            } else {
                add_char(set, lo);
            }
        }
        if (negate) set.flip();  // Go's Perl flags include ClassNL: [^a] matches \n

        return add(rx_node{.kind = rx_node::chars, .set = set});
    }

    std::expected<std::size_t, serf_errc> parse_atom(int depth) {
        const char c = s_[pos_++];
        switch (c) {
            case '(': {
                flags saved = flags_;
                if (s_.substr(pos_).starts_with("?")) {
                    // (?:...) or (?flags:...)
                    ++pos_;
                    bool neg = false;
                    for (;;) {
                        if (eof()) return std::unexpected(serf_errc::bad_filter);
                        char f = s_[pos_++];
                        if (f == ':') break;
                        if (f == '-' && !neg)
                            neg = true;
                        else if (f == 'i')
                            flags_.icase = !neg;
                        else if (f == 's')
                            flags_.dotall = !neg;
                        else
                            return std::unexpected(serf_errc::bad_filter);
                    }
                }
                auto inner = parse_alt(depth + 1);
                if (!inner) return inner;
                if (eof() || peek() != ')') return std::unexpected(serf_errc::bad_filter);
                ++pos_;
                flags_ = saved;
                return inner;
            }
            case ')':
                return std::unexpected(serf_errc::bad_filter);
            case '[':
                return parse_class();
            case '.': {
                char_set set;
                set.set();
                if (!flags_.dotall) set.reset('\n');
                return add(rx_node{.kind = rx_node::chars, .set = set});
            }
            case '^':
                return add(rx_node{.kind = rx_node::bol});
            case '$':
                return add(rx_node{.kind = rx_node::eol});
            case '*':
            case '+':
            case '?':
                return std::unexpected(serf_errc::bad_filter);  // "missing argument"
            case '\\': {
                auto e = parse_escape();
                if (!e) return std::unexpected(e.error());
                if (auto* cs = std::get_if<char_set>(&*e))
                    return add(rx_node{.kind = rx_node::chars, .set = *cs});
                char_set set;
                add_char(set, std::get<unsigned char>(*e));
                return add(rx_node{.kind = rx_node::chars, .set = set});
            }
            default: {
                char_set set;
                add_char(set, static_cast<unsigned char>(c));
                return add(rx_node{.kind = rx_node::chars, .set = set});
            }
        }
    }

    std::string_view s_;
    std::size_t pos_ = 0;
    flags flags_;
};

struct rx_inst {
    enum op_t { chars, match, jmp, split, bol, eol } op;
    std::size_t x = 0, y = 0;  // jmp/split targets; chars: index into sets
};

class rx_compiler {
  public:
    explicit rx_compiler(const std::vector<rx_node>& nodes) : nodes_(nodes) {}
    std::vector<rx_inst> prog;
    std::vector<char_set> sets;

    bool emit(std::size_t n) {
        if (prog.size() > rx_max_program) return false;
        const rx_node& node = nodes_[n];
        switch (node.kind) {
            case rx_node::empty:
                return true;
            case rx_node::chars:
                sets.push_back(node.set);
                prog.push_back({rx_inst::chars, sets.size() - 1, 0});
                return true;
            case rx_node::bol:
                prog.push_back({rx_inst::bol});
                return true;
            case rx_node::eol:
                prog.push_back({rx_inst::eol});
                return true;
            case rx_node::cat:
                for (auto k : node.kids)
                    if (!emit(k)) return false;
                return true;
            case rx_node::alt: {
                std::vector<std::size_t> jumps;
                for (std::size_t i = 0; i < node.kids.size(); ++i) {
                    if (i + 1 < node.kids.size()) {
                        const std::size_t split = prog.size();
                        prog.push_back({rx_inst::split, split + 1, 0});
                        if (!emit(node.kids[i])) return false;
                        jumps.push_back(prog.size());
                        prog.push_back({rx_inst::jmp});
                        prog[split].y = prog.size();
                    } else {
                        if (!emit(node.kids[i])) return false;
                    }
                }
                for (auto j : jumps) prog[j].x = prog.size();
                return true;
            }
            case rx_node::repeat: {
                const std::size_t body = node.kids[0];
                for (int i = 0; i < node.min; ++i)
                    if (!emit(body)) return false;
                if (node.max < 0) {
                    const std::size_t loop = prog.size();
                    prog.push_back({rx_inst::split, loop + 1, 0});
                    if (!emit(body)) return false;
                    prog.push_back({rx_inst::jmp, loop, 0});
                    prog[loop].y = prog.size();
                } else {
                    std::vector<std::size_t> splits;
                    for (int i = node.min; i < node.max; ++i) {
                        splits.push_back(prog.size());
                        prog.push_back({rx_inst::split, prog.size() + 1, 0});
                        if (!emit(body)) return false;
                    }
                    for (auto s : splits) prog[s].y = prog.size();
                }
                return prog.size() <= rx_max_program;
            }
        }
        return false;
    }

  private:
    const std::vector<rx_node>& nodes_;
};

}  // namespace

std::expected<bool, serf_errc> regex_search(std::string_view expr, std::string_view text) {
    if (expr.size() > serf_limits::max_regex_length) return std::unexpected(serf_errc::bad_filter);
    rx_parser p(expr);
    auto root = p.parse();
    if (!root) return std::unexpected(root.error());
    rx_compiler c(p.nodes);
    if (!c.emit(*root)) return std::unexpected(serf_errc::bad_filter);
    c.prog.push_back({rx_inst::match});
    const auto& prog = c.prog;

    // Pike VM without captures: a set of pcs per input position; unanchored search adds a new
    // thread at pc 0 at every position.
    std::vector<std::size_t> clist, nlist, stack;
    std::vector<std::size_t> mark(prog.size(), std::numeric_limits<std::size_t>::max());
    std::size_t gen = 0;
    auto add_thread = [&](std::vector<std::size_t>& list, std::size_t pc, std::size_t at) -> bool {
        stack.clear();
        stack.push_back(pc);
        while (!stack.empty()) {
            std::size_t q = stack.back();
            stack.pop_back();
            if (mark[q] == gen) continue;
            mark[q] = gen;
            switch (prog[q].op) {
                case rx_inst::match:
                    return true;
                case rx_inst::jmp:
                    stack.push_back(prog[q].x);
                    break;
                case rx_inst::split:
                    stack.push_back(prog[q].y);
                    stack.push_back(prog[q].x);
                    break;
                case rx_inst::bol:
                    if (at == 0) stack.push_back(q + 1);
                    break;
                case rx_inst::eol:
                    if (at == text.size()) stack.push_back(q + 1);
                    break;
                case rx_inst::chars:
                    list.push_back(q);
                    break;
            }
        }
        return false;
    };
    for (std::size_t at = 0;; ++at) {
        ++gen;
        // Threads carried over from the previous step were already added to clist with the
        // previous generation; re-adding pc 0 uses this step's generation.
        for (auto q : clist) mark[q] = gen;
        if (add_thread(clist, 0, at)) return true;
        if (at >= text.size()) return false;
        ++gen;
        nlist.clear();
        const auto ch = static_cast<unsigned char>(text[at]);
        for (auto q : clist) {
            if (c.sets[prog[q].x].test(ch)) {
                if (add_thread(nlist, q + 1, at + 1)) return true;
            }
        }
        std::swap(clist, nlist);
    }
}

}  // namespace meshfed::wan
