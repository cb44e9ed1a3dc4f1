#pragma once
// memberlist message bodies (net.go structs) as plain structs, with msgpack encode/decode that is
// byte-identical to go-msgpack 0.5.5 (Debian serf) output: maps keyed by the Go field name, keys
// sorted by name, strings and []byte as legacy raw (a0-bf / da / db), minimal integers, signed
// Go ints >= 0 in unsigned formats, omitempty only on the Source* fields of ping/indirectPing.
// []byte fields: an empty vector is written as nil (c0), like a Go nil slice.
//
// Owns: the struct <-> msgpack mapping of message types 0-6, 8 (TCP header), 9, 11, 13.
// Decoding follows go-msgpack: keys matched by exact name in any order, unknown keys skipped,
//   nil leaves a field at its zero value, any integer format accepted (range-checked against the
//   Go type), raw/str8/bin accepted for strings and []byte, an array of small ints accepted for
//   []byte, trailing bytes after the body ignored (UDP) or left for the next object (TCP).
// Threading: pure functions.
// Errors: decode_body<T> returns errc::malformed_msgpack for anything not decodable as T.
#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <variant>

#include "common/msgpack.hpp"
#include "wan/wire/errors.hpp"

namespace meshfed::wan::wire {

// type 0. map{Node str, SeqNo u32, SourceAddr raw?, SourceNode str?, SourcePort u16?}
// (? = omitted when empty/zero)
struct ping {
    std::uint32_t seq_no = 0;
    std::string node;   // intended target; receiver drops the ping if set and not its name
    bytes source_addr;  // 4 or 16 byte IP of the sender (ack goes here when set)
    std::uint16_t source_port = 0;
    std::string source_node;
    bool operator==(const ping&) const = default;
};

// type 1. map{Nack bool, Node str, Port u16, SeqNo u32, SourceAddr raw?, SourceNode str?,
// SourcePort u16?, Target raw}
struct indirect_ping_req {
    std::uint32_t seq_no = 0;
    bytes target;  // IP of the node to probe
    std::uint16_t port = 0;
    std::string node;
    bool nack = false;
    bytes source_addr;
    std::uint16_t source_port = 0;
    std::string source_node;
    bool operator==(const indirect_ping_req&) const = default;
};

// type 2. map{Payload raw|nil, SeqNo u32}. serf direct acks: payload = 01 + msgpack Coordinate.
struct ack_resp {
    std::uint32_t seq_no = 0;
    bytes payload;
    bool operator==(const ack_resp&) const = default;
};

// type 11. map{SeqNo u32}
struct nack_resp {
    std::uint32_t seq_no = 0;
    bool operator==(const nack_resp&) const = default;
};

// type 13 (TCP reply). map{Error str}
struct err_resp {
    std::string error;
    bool operator==(const err_resp&) const = default;
};

// type 3. map{From str, Incarnation u32, Node str}
struct suspect {
    std::uint32_t incarnation = 0;
    std::string node;  // accused
    std::string from;  // accuser
    bool operator==(const suspect&) const = default;
};

// type 4. map{Addr raw, Incarnation u32, Meta raw|nil, Node str, Port u16, Vsn raw(6)}
struct alive {
    std::uint32_t incarnation = 0;
    std::string node;
    bytes addr;  // 4 or 16 bytes
    std::uint16_t port = 0;
    bytes meta;  // <= 512 bytes (serf: ff + msgpack tags)
    bytes vsn;   // [pmin, pmax, pcur, dmin, dmax, dcur]
    bool operator==(const alive&) const = default;
};

// type 5. map{From str, Incarnation u32, Node str}; node == from means "left".
struct dead {
    std::uint32_t incarnation = 0;
    std::string node;
    std::string from;
    bool operator==(const dead&) const = default;
};

// TCP type 6 header. map{Join bool, Nodes int, UserStateLen int}
struct push_pull_header {
    std::int64_t nodes = 0;
    std::int64_t user_state_len = 0;
    bool join = false;
    bool operator==(const push_pull_header&) const = default;
};

// memberlist state.go NodeStateType values.
enum class node_state_type : std::int64_t { alive = 0, suspect = 1, dead = 2, left = 3 };

// One node of a push/pull. map{Addr raw, Incarnation u32, Meta raw|nil, Name str, Port u16,
// State int, Vsn raw(6)}
struct push_node_state {
    std::string name;
    bytes addr;
    std::uint16_t port = 0;
    bytes meta;
    std::uint32_t incarnation = 0;
    std::int64_t state = 0;  // node_state_type value; other values are passed through
    bytes vsn;
    bool operator==(const push_node_state&) const = default;
};

// TCP type 8 header (followed by user_msg_len raw bytes). map{UserMsgLen int}
struct user_msg_header {
    std::int64_t user_msg_len = 0;
    bool operator==(const user_msg_header&) const = default;
};

// type 9 body. map{Algo u8 (0 = LZW), Buf raw}
struct compress_msg {
    std::uint8_t algo = 0;
    bytes buf;
    bool operator==(const compress_msg&) const = default;
};

// type 8 over UDP: the raw delegate (serf) message bytes, no msgpack framing by memberlist.
struct user_packet {
    bytes payload;
    bool operator==(const user_packet&) const = default;
};

// ---- encoding ----------------------------------------------------------------------------------

void encode_body(msgpack::writer& w, const ping& m);
void encode_body(msgpack::writer& w, const indirect_ping_req& m);
void encode_body(msgpack::writer& w, const ack_resp& m);
void encode_body(msgpack::writer& w, const nack_resp& m);
void encode_body(msgpack::writer& w, const err_resp& m);
void encode_body(msgpack::writer& w, const suspect& m);
void encode_body(msgpack::writer& w, const alive& m);
void encode_body(msgpack::writer& w, const dead& m);
void encode_body(msgpack::writer& w, const push_pull_header& m);
void encode_body(msgpack::writer& w, const push_node_state& m);
void encode_body(msgpack::writer& w, const user_msg_header& m);
void encode_body(msgpack::writer& w, const compress_msg& m);

// The type byte of each struct that is a whole message (no entry: not a standalone message).
template <class T>
inline constexpr message_type type_of = static_cast<message_type>(255);
template <>
inline constexpr message_type type_of<ping> = message_type::ping;
template <>
inline constexpr message_type type_of<indirect_ping_req> = message_type::indirect_ping;
template <>
inline constexpr message_type type_of<ack_resp> = message_type::ack_resp;
template <>
inline constexpr message_type type_of<nack_resp> = message_type::nack_resp;
template <>
inline constexpr message_type type_of<err_resp> = message_type::err;
template <>
inline constexpr message_type type_of<suspect> = message_type::suspect;
template <>
inline constexpr message_type type_of<alive> = message_type::alive;
template <>
inline constexpr message_type type_of<dead> = message_type::dead;
template <>
inline constexpr message_type type_of<compress_msg> = message_type::compress;

// [type byte][msgpack body], ready to be a compound part or a packet.
template <class T>
bytes encode_message(const T& m) {
    static_assert(type_of<T> != static_cast<message_type>(255), "not a standalone message");
    bytes out;
    out.push_back(static_cast<std::uint8_t>(type_of<T>));
    msgpack::writer w(out);
    encode_body(w, m);
    return out;
}

// [0x08][raw payload]: a UDP user (serf) message.
bytes encode_user_packet(std::span<const std::uint8_t> payload);

// ---- decoding ----------------------------------------------------------------------------------

// Decodes one msgpack struct from the reader (consuming exactly that object).
std::expected<void, errc> decode_from(msgpack::reader& r, ping& out);
std::expected<void, errc> decode_from(msgpack::reader& r, indirect_ping_req& out);
std::expected<void, errc> decode_from(msgpack::reader& r, ack_resp& out);
std::expected<void, errc> decode_from(msgpack::reader& r, nack_resp& out);
std::expected<void, errc> decode_from(msgpack::reader& r, err_resp& out);
std::expected<void, errc> decode_from(msgpack::reader& r, suspect& out);
std::expected<void, errc> decode_from(msgpack::reader& r, alive& out);
std::expected<void, errc> decode_from(msgpack::reader& r, dead& out);
std::expected<void, errc> decode_from(msgpack::reader& r, push_pull_header& out);
std::expected<void, errc> decode_from(msgpack::reader& r, push_node_state& out);
std::expected<void, errc> decode_from(msgpack::reader& r, user_msg_header& out);
std::expected<void, errc> decode_from(msgpack::reader& r, compress_msg& out);

// Decodes the body (the bytes after the type byte) as T; trailing bytes are ignored.
template <class T>
std::expected<T, errc> decode_body(std::span<const std::uint8_t> body) {
    msgpack::reader r(body);
    T out{};
    if (auto res = decode_from(r, out); !res) return std::unexpected(res.error());
    return out;
}

// A decoded UDP message (what the SWIM state machine consumes).
using packet_body =
    std::variant<ping, indirect_ping_req, ack_resp, nack_resp, suspect, alive, dead, user_packet>;

// Decodes the body of a UDP-deliverable type (0-5, 8, 11). Other types -> errc::unknown_type.
std::expected<packet_body, errc> decode_packet_body(message_type type,
                                                    std::span<const std::uint8_t> body);

}  // namespace meshfed::wan::wire
