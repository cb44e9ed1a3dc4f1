#include "wan/wire/messages.hpp"

#include <string_view>

namespace meshfed::wan::wire {

namespace {

using msgpack::reader;
using msgpack::writer;

// ---- field readers: each consumes one non-nil value ---------------------------------------------

bool read_field(reader& r, std::string& out) {
    auto v = r.read_str();
    if (!v) return false;
    out.assign(*v);
    return true;
}

bool read_field(reader& r, bytes& out) {
    auto t = r.peek_type();
    if (!t) return false;
    if (*t == msgpack::value_type::array) {
        // go-msgpack also decodes an array of small integers into []byte.
        auto n = r.read_array_header();
        if (!n || *n > r.remaining_size()) return false;
        out.clear();
        out.reserve(*n);
        for (std::uint32_t i = 0; i < *n; ++i) {
            auto b = r.read_integer<std::uint8_t>();
            if (!b) return false;
            out.push_back(*b);
        }
        return true;
    }
    auto v = r.read_raw();
    if (!v) return false;
    out.assign(v->begin(), v->end());
    return true;
}

bool read_field(reader& r, bool& out) {
    auto v = r.read_bool();
    if (!v) return false;
    out = *v;
    return true;
}

template <class T>
requires std::is_integral_v<T>
bool read_field(reader& r, T& out) {
    auto v = r.read_integer<T>();
    if (!v) return false;
    out = *v;
    return true;
}

// Field table entry: Go field name -> member pointer reader.
template <class S>
struct field {
    std::string_view name;
    bool (*read)(reader&, S&);
};

#define MESHFED_FIELD(S, name, member)                                \
    field<S> {                                                        \
        name, [](reader& r, S& s) { return read_field(r, s.member); } \
    }

// Decodes a msgpack map into S using the field table: exact-name match, unknown keys skipped,
// nil values leave the field untouched (Go: zero value).
template <class S, std::size_t N>
std::expected<void, errc> decode_struct(reader& r, S& out, const field<S> (&fields)[N]) {
    auto n = r.read_map_header();
    if (!n) return std::unexpected(errc::malformed_msgpack);
    for (std::uint32_t i = 0; i < *n; ++i) {
        auto key = r.read_str();
        if (!key) return std::unexpected(errc::malformed_msgpack);
        if (r.next_is_nil()) {
            (void)r.read_nil();
            continue;
        }
        bool known = false;
        for (const auto& f : fields) {
            if (f.name == *key) {
                if (!f.read(r, out)) return std::unexpected(errc::malformed_msgpack);
                known = true;
                break;
            }
        }
        if (!known && !r.skip()) return std::unexpected(errc::malformed_msgpack);
    }
    return {};
}

}  // namespace

// ---- encoders (keys in sorted order, as go-msgpack emits them) ----------------------------------

void encode_body(writer& w, const ping& m) {
    const std::uint32_t n = 2 + (m.source_addr.empty() ? 0 : 1) + (m.source_node.empty() ? 0 : 1) +
                            (m.source_port == 0 ? 0 : 1);
    w.write_map_header(n);
    w.write_str("Node");
    w.write_str(m.node);
    w.write_str("SeqNo");
    w.write_uint(m.seq_no);
    if (!m.source_addr.empty()) {
        w.write_str("SourceAddr");
        w.write_raw(m.source_addr);
    }
    if (!m.source_node.empty()) {
        w.write_str("SourceNode");
        w.write_str(m.source_node);
    }
    if (m.source_port != 0) {
        w.write_str("SourcePort");
        w.write_uint(m.source_port);
    }
}

void encode_body(writer& w, const indirect_ping_req& m) {
    const std::uint32_t n = 5 + (m.source_addr.empty() ? 0 : 1) + (m.source_node.empty() ? 0 : 1) +
                            (m.source_port == 0 ? 0 : 1);
    w.write_map_header(n);
    w.write_str("Nack");
    w.write_bool(m.nack);
    w.write_str("Node");
    w.write_str(m.node);
    w.write_str("Port");
    w.write_uint(m.port);
    w.write_str("SeqNo");
    w.write_uint(m.seq_no);
    if (!m.source_addr.empty()) {
        w.write_str("SourceAddr");
        w.write_raw(m.source_addr);
    }
    if (!m.source_node.empty()) {
        w.write_str("SourceNode");
        w.write_str(m.source_node);
    }
    if (m.source_port != 0) {
        w.write_str("SourcePort");
        w.write_uint(m.source_port);
    }
    w.write_str("Target");
    w.write_bytes_or_nil(m.target);
}

void encode_body(writer& w, const ack_resp& m) {
    w.write_map_header(2);
    w.write_str("Payload");
    w.write_bytes_or_nil(m.payload);
    w.write_str("SeqNo");
    w.write_uint(m.seq_no);
}

void encode_body(writer& w, const nack_resp& m) {
    w.write_map_header(1);
    w.write_str("SeqNo");
    w.write_uint(m.seq_no);
}

void encode_body(writer& w, const err_resp& m) {
    w.write_map_header(1);
    w.write_str("Error");
    w.write_str(m.error);
}

void encode_body(writer& w, const suspect& m) {
    w.write_map_header(3);
    w.write_str("From");
    w.write_str(m.from);
    w.write_str("Incarnation");
    w.write_uint(m.incarnation);
    w.write_str("Node");
    w.write_str(m.node);
}

void encode_body(writer& w, const alive& m) {
    w.write_map_header(6);
    w.write_str("Addr");
    w.write_bytes_or_nil(m.addr);
    w.write_str("Incarnation");
    w.write_uint(m.incarnation);
    w.write_str("Meta");
    w.write_bytes_or_nil(m.meta);
    w.write_str("Node");
    w.write_str(m.node);
    w.write_str("Port");
    w.write_uint(m.port);
    w.write_str("Vsn");
    w.write_bytes_or_nil(m.vsn);
}

void encode_body(writer& w, const dead& m) {
    w.write_map_header(3);
    w.write_str("From");
    w.write_str(m.from);
    w.write_str("Incarnation");
    w.write_uint(m.incarnation);
    w.write_str("Node");
    w.write_str(m.node);
}

void encode_body(writer& w, const push_pull_header& m) {
    w.write_map_header(3);
    w.write_str("Join");
    w.write_bool(m.join);
    w.write_str("Nodes");
    w.write_int(m.nodes);
    w.write_str("UserStateLen");
    w.write_int(m.user_state_len);
}

void encode_body(writer& w, const push_node_state& m) {
    w.write_map_header(7);
    w.write_str("Addr");
    w.write_bytes_or_nil(m.addr);
    w.write_str("Incarnation");
    w.write_uint(m.incarnation);
    w.write_str("Meta");
    w.write_bytes_or_nil(m.meta);
    w.write_str("Name");
    w.write_str(m.name);
    w.write_str("Port");
    w.write_uint(m.port);
    w.write_str("State");
    w.write_int(m.state);
    w.write_str("Vsn");
    w.write_bytes_or_nil(m.vsn);
}

void encode_body(writer& w, const user_msg_header& m) {
    w.write_map_header(1);
    w.write_str("UserMsgLen");
    w.write_int(m.user_msg_len);
}

void encode_body(writer& w, const compress_msg& m) {
    w.write_map_header(2);
    w.write_str("Algo");
    w.write_uint(m.algo);
    w.write_str("Buf");
    w.write_bytes_or_nil(m.buf);
}

bytes encode_user_packet(std::span<const std::uint8_t> payload) {
    bytes out;
    out.reserve(payload.size() + 1);
    out.push_back(static_cast<std::uint8_t>(message_type::user));
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
}

// ---- decoders -----------------------------------------------------------------------------------

std::expected<void, errc> decode_from(reader& r, ping& out) {
    static const field<ping> fields[] = {
        MESHFED_FIELD(ping, "SeqNo", seq_no),
        MESHFED_FIELD(ping, "Node", node),
        MESHFED_FIELD(ping, "SourceAddr", source_addr),
        MESHFED_FIELD(ping, "SourcePort", source_port),
        MESHFED_FIELD(ping, "SourceNode", source_node),
    };
    return decode_struct(r, out, fields);
}

std::expected<void, errc> decode_from(reader& r, indirect_ping_req& out) {
    static const field<indirect_ping_req> fields[] = {
        MESHFED_FIELD(indirect_ping_req, "SeqNo", seq_no),
        MESHFED_FIELD(indirect_ping_req, "Target", target),
        MESHFED_FIELD(indirect_ping_req, "Port", port),
        MESHFED_FIELD(indirect_ping_req, "Node", node),
        MESHFED_FIELD(indirect_ping_req, "Nack", nack),
        MESHFED_FIELD(indirect_ping_req, "SourceAddr", source_addr),
        MESHFED_FIELD(indirect_ping_req, "SourcePort", source_port),
        MESHFED_FIELD(indirect_ping_req, "SourceNode", source_node),
    };
    return decode_struct(r, out, fields);
}

std::expected<void, errc> decode_from(reader& r, ack_resp& out) {
    static const field<ack_resp> fields[] = {
        MESHFED_FIELD(ack_resp, "SeqNo", seq_no),
        MESHFED_FIELD(ack_resp, "Payload", payload),
    };
    return decode_struct(r, out, fields);
}

std::expected<void, errc> decode_from(reader& r, nack_resp& out) {
    static const field<nack_resp> fields[] = {MESHFED_FIELD(nack_resp, "SeqNo", seq_no)};
    return decode_struct(r, out, fields);
}

std::expected<void, errc> decode_from(reader& r, err_resp& out) {
    static const field<err_resp> fields[] = {MESHFED_FIELD(err_resp, "Error", error)};
    return decode_struct(r, out, fields);
}

std::expected<void, errc> decode_from(reader& r, suspect& out) {
    static const field<suspect> fields[] = {
        MESHFED_FIELD(suspect, "Incarnation", incarnation),
        MESHFED_FIELD(suspect, "Node", node),
        MESHFED_FIELD(suspect, "From", from),
    };
    return decode_struct(r, out, fields);
}

std::expected<void, errc> decode_from(reader& r, alive& out) {
    static const field<alive> fields[] = {
        MESHFED_FIELD(alive, "Incarnation", incarnation),
        MESHFED_FIELD(alive, "Node", node),
        MESHFED_FIELD(alive, "Addr", addr),
        MESHFED_FIELD(alive, "Port", port),
        MESHFED_FIELD(alive, "Meta", meta),
        MESHFED_FIELD(alive, "Vsn", vsn),
    };
    return decode_struct(r, out, fields);
}

std::expected<void, errc> decode_from(reader& r, dead& out) {
    static const field<dead> fields[] = {
        MESHFED_FIELD(dead, "Incarnation", incarnation),
        MESHFED_FIELD(dead, "Node", node),
        MESHFED_FIELD(dead, "From", from),
    };
    return decode_struct(r, out, fields);
}

std::expected<void, errc> decode_from(reader& r, push_pull_header& out) {
    static const field<push_pull_header> fields[] = {
        MESHFED_FIELD(push_pull_header, "Nodes", nodes),
        MESHFED_FIELD(push_pull_header, "UserStateLen", user_state_len),
        MESHFED_FIELD(push_pull_header, "Join", join),
    };
    return decode_struct(r, out, fields);
}

std::expected<void, errc> decode_from(reader& r, push_node_state& out) {
    static const field<push_node_state> fields[] = {
        MESHFED_FIELD(push_node_state, "Name", name),
        MESHFED_FIELD(push_node_state, "Addr", addr),
        MESHFED_FIELD(push_node_state, "Port", port),
        MESHFED_FIELD(push_node_state, "Meta", meta),
        MESHFED_FIELD(push_node_state, "Incarnation", incarnation),
        MESHFED_FIELD(push_node_state, "State", state),
        MESHFED_FIELD(push_node_state, "Vsn", vsn),
    };
    return decode_struct(r, out, fields);
}

std::expected<void, errc> decode_from(reader& r, user_msg_header& out) {
    static const field<user_msg_header> fields[] = {
        MESHFED_FIELD(user_msg_header, "UserMsgLen", user_msg_len)};
    return decode_struct(r, out, fields);
}

std::expected<void, errc> decode_from(reader& r, compress_msg& out) {
    static const field<compress_msg> fields[] = {
        MESHFED_FIELD(compress_msg, "Algo", algo),
        MESHFED_FIELD(compress_msg, "Buf", buf),
    };
    return decode_struct(r, out, fields);
}

#undef MESHFED_FIELD

std::expected<packet_body, errc> decode_packet_body(message_type type,
                                                    std::span<const std::uint8_t> body) {
    auto wrap = [](auto&& res) -> std::expected<packet_body, errc> {
        if (!res) return std::unexpected(res.error());
        return packet_body{std::move(*res)};
    };
    switch (type) {
        case message_type::ping:
            return wrap(decode_body<ping>(body));
        case message_type::indirect_ping:
            return wrap(decode_body<indirect_ping_req>(body));
        case message_type::ack_resp:
            return wrap(decode_body<ack_resp>(body));
        case message_type::nack_resp:
            return wrap(decode_body<nack_resp>(body));
        case message_type::suspect:
            return wrap(decode_body<suspect>(body));
        case message_type::alive:
            return wrap(decode_body<alive>(body));
        case message_type::dead:
            return wrap(decode_body<dead>(body));
        case message_type::user:
            return packet_body{user_packet{bytes(body.begin(), body.end())}};
        default:
            return std::unexpected(errc::unknown_type);
    }
}

}  // namespace meshfed::wan::wire
