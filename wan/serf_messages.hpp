#pragma once
// serf's gossip messages (serf/messages.go, delegate.go, internal_query.go, keymanager.go) as
// plain structs with msgpack encode/decode byte-identical to go-msgpack 0.5.5 (Debian serf
// 0.9.4): every message is [serf type byte][msgpack map keyed by the Go field name, keys sorted],
// strings and []byte as legacy raw, an empty []byte written as nil (Go nil slice), unsigned
// formats for non-negative signed ints. See gossip-protocol.md §13.
//
// Owns: the serf message structs, tags in memberlist Meta (0xff + msgpack map, or the protocol-2
//   raw role string), query filters (node / tag) and the tag-filter regular expression matcher
//   (a linear-time subset of Go's RE2 syntax; anything else fails closed).
// Decoding follows go-msgpack: keys matched by exact name in any order, unknown keys skipped, nil
//   leaves the zero value, any integer format accepted (range-checked against the Go type),
//   raw/str8/bin accepted for strings and []byte, trailing bytes after the body ignored. Every
//   list/map length is bounded (serf_limits) before anything is allocated.
// Threading: pure functions over caller-owned memory.
// Errors: std::expected<T, serf_errc>; never throws on network input.
#include <array>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/msgpack.hpp"
#include "wan/wire/errors.hpp"

namespace meshfed::wan {

using wire::bytes;

// serf messageType (messages.go). Append-only.
enum class serf_message_type : std::uint8_t {
    leave = 0,
    join = 1,
    push_pull = 2,
    user_event = 3,
    query = 4,
    query_response = 5,
    conflict_response = 6,
    key_request = 7,
    key_response = 8,
    relay = 9,
};
inline constexpr std::size_t serf_message_type_count = 10;
std::string_view to_string(serf_message_type t) noexcept;

// Why a serf input was dropped (or an encoder/API call refused).
enum class serf_errc : std::uint8_t {
    empty = 1,         // zero-length message / filter / meta where one is required
    unknown_type,      // serf type byte > 9 (or unknown filter type)
    wrong_type,        // a valid type byte, but not the one this decoder/position expects
    truncated,         // input ends inside a value
    malformed,         // not the expected msgpack shape (wrong value type, bad integer range)
    oversized,         // a list/map/string exceeds serf_limits, or an encoded size limit
    bad_tags,          // Meta starts with 0xff but is not a msgpack map of strings
    bad_filter,        // a query filter that cannot be decoded or compiled
    invalid_value,     // a field value out of its allowed range (e.g. IP length, LTime)
    stale,             // older than what the ring buffers remember
    not_supported,     // feature needs a higher serf protocol version
    invalid_argument,  // API call with bad arguments
};
inline constexpr std::size_t serf_errc_count =
    static_cast<std::size_t>(serf_errc::invalid_argument) + 1;
std::string_view to_string(serf_errc e) noexcept;

// Bounds applied while decoding (hostile peers). Go's serf sends at most EventBuffer (512) event
// slots, one StatusLTimes entry per member, a handful of filters and keys.
struct serf_limits {
    static constexpr std::size_t max_members = 1u << 16;       // StatusLTimes, LeftMembers
    static constexpr std::size_t max_event_slots = 8192;       // push/pull Events
    static constexpr std::size_t max_events_per_slot = 1024;   // userEvents.Events
    static constexpr std::size_t max_filters = 256;            // messageQuery.Filters
    static constexpr std::size_t max_filter_nodes = 1u << 14;  // filterNode
    static constexpr std::size_t max_keys = 1024;              // nodeKeyResponse.Keys
    static constexpr std::size_t max_tags = 512;               // tags (Meta <= 512 bytes)
    static constexpr std::size_t max_regex_length = 1024;      // filterTag.Expr
};

// Query flags (messages.go queryFlag*).
inline constexpr std::uint32_t query_flag_ack = 1;
inline constexpr std::uint32_t query_flag_no_broadcast = 2;

// type 0. map{LTime u64, Node str, Prune bool}
struct msg_leave {
    std::uint64_t ltime = 0;
    std::string node;
    bool prune = false;
    bool operator==(const msg_leave&) const = default;
};

// type 1. map{LTime u64, Node str}
struct msg_join {
    std::uint64_t ltime = 0;
    std::string node;
    bool operator==(const msg_join&) const = default;
};

// One buffered event: map{Name str, Payload raw|nil}
struct user_event_entry {
    std::string name;
    bytes payload;
    bool operator==(const user_event_entry&) const = default;
};

// One event ring slot (serf userEvents): map{Events [entry...], LTime u64}
struct user_events_slot {
    std::uint64_t ltime = 0;
    std::vector<user_event_entry> events;
    bool operator==(const user_events_slot&) const = default;
};

// type 2 (push/pull user state only). map{EventLTime u64, Events [slot|nil...], LTime u64,
// LeftMembers [str...], QueryLTime u64, StatusLTimes {str: u64}}
struct msg_push_pull {
    std::uint64_t ltime = 0;
    std::map<std::string, std::uint64_t> status_ltimes;
    std::vector<std::string> left_members;
    std::uint64_t event_ltime = 0;
    std::vector<std::optional<user_events_slot>> events;  // nullopt = nil slot
    std::uint64_t query_ltime = 0;
    bool operator==(const msg_push_pull&) const = default;
};

// type 3. map{CC bool, LTime u64, Name str, Payload raw|nil}
struct msg_user_event {
    std::uint64_t ltime = 0;
    std::string name;
    bytes payload;
    bool cc = false;  // may be coalesced by receivers
    bool operator==(const msg_user_event&) const = default;
};

// type 4. map{Addr raw, Filters [raw...]|nil, Flags u32, ID u32, LTime u64, Name str,
// Payload raw|nil, Port u16, RelayFactor u8, SourceNode str, Timeout i64 ns}
struct msg_query {
    std::uint64_t ltime = 0;
    std::uint32_t id = 0;
    bytes addr;  // responder sends to addr:port
    std::uint16_t port = 0;
    std::string source_node;
    std::vector<bytes> filters;  // each [u8 filter type][msgpack]
    std::uint32_t flags = 0;
    std::uint8_t relay_factor = 0;
    std::int64_t timeout_ns = 0;
    std::string name;
    bytes payload;
    bool ack() const { return (flags & query_flag_ack) != 0; }
    bool no_broadcast() const { return (flags & query_flag_no_broadcast) != 0; }
    bool operator==(const msg_query&) const = default;
};

// type 5. map{Flags u32, From str, ID u32, LTime u64, Payload raw|nil}
struct msg_query_response {
    std::uint64_t ltime = 0;
    std::uint32_t id = 0;
    std::string from;
    std::uint32_t flags = 0;
    bytes payload;
    bool ack() const { return (flags & query_flag_ack) != 0; }
    bool operator==(const msg_query_response&) const = default;
};

using tag_map = std::map<std::string, std::string>;

// serf Member (type 6 body, the _serf_conflict answer). map{Addr raw, DelegateCur u8,
// DelegateMax u8, DelegateMin u8, Name str, Port u16, ProtocolCur u8, ProtocolMax u8,
// ProtocolMin u8, Status int, Tags {str: str}}. A nil body (c0) = unknown member.
struct msg_member {
    std::string name;
    bytes addr;
    std::uint16_t port = 0;
    tag_map tags;
    std::int64_t status = 0;  // 0 none 1 alive 2 leaving 3 left 4 failed
    std::uint8_t protocol_min = 0, protocol_max = 0, protocol_cur = 0;
    std::uint8_t delegate_min = 0, delegate_max = 0, delegate_cur = 0;
    bool operator==(const msg_member&) const = default;
};

// type 7 (query payload of _serf_install-key/use-key/remove-key/list-keys). map{Key raw}
// (list-keys sends an empty raw, a0)
struct msg_key_request {
    bytes key;
    bool operator==(const msg_key_request&) const = default;
};

// type 8 (response payload of the key queries). map{Keys [str...]|nil, Message str,
// PrimaryKey str, Result bool}. Keys are base64 (std, padded).
struct msg_key_response {
    bool result = false;
    std::string message;
    std::vector<std::string> keys;
    std::string primary_key;
    bool operator==(const msg_key_response&) const = default;
};

// type 9 header: map{DestAddr {IP raw, Port int, Zone str}, DestName str}, followed directly by
// the wrapped serf message [type][msgpack].
struct msg_relay {
    bytes dest_ip;
    std::uint16_t dest_port = 0;
    std::string dest_zone;
    std::string dest_name;
    bytes inner;  // the wrapped message, forwarded unchanged
    bool operator==(const msg_relay&) const = default;
};

// ---- encoding: [type byte][msgpack]
// ---------------------------------------------------------------
bytes encode(const msg_leave& m);
bytes encode(const msg_join& m);
bytes encode(const msg_push_pull& m);
bytes encode(const msg_user_event& m);
bytes encode(const msg_query& m);
bytes encode(const msg_query_response& m);
bytes encode_conflict_response(const msg_member* m);  // nullptr -> 06 c0
bytes encode(const msg_key_request& m);
bytes encode(const msg_key_response& m);
bytes encode(const msg_relay& m);  // header + m.inner

// Bodies only (no type byte), for embedding.
void encode_body(msgpack::writer& w, const msg_member& m);
void encode_body(msgpack::writer& w, const user_events_slot& m);

// ---- decoding ----------------------------------------------------------------------------------
// The serf type byte of a message (errors: empty, unknown_type).
std::expected<serf_message_type, serf_errc> peek_serf_type(std::span<const std::uint8_t> msg);

// Whole messages including the type byte (errors: empty, unknown_type, wrong_type, truncated,
// malformed, oversized).
std::expected<msg_leave, serf_errc> decode_leave(std::span<const std::uint8_t> msg);
std::expected<msg_join, serf_errc> decode_join(std::span<const std::uint8_t> msg);
std::expected<msg_push_pull, serf_errc> decode_push_pull(std::span<const std::uint8_t> msg);
std::expected<msg_user_event, serf_errc> decode_user_event(std::span<const std::uint8_t> msg);
std::expected<msg_query, serf_errc> decode_query(std::span<const std::uint8_t> msg);
std::expected<msg_query_response, serf_errc> decode_query_response(
    std::span<const std::uint8_t> msg);
// nullopt inside = a nil Member (the responder does not know the node).
std::expected<std::optional<msg_member>, serf_errc> decode_conflict_response(
    std::span<const std::uint8_t> msg);
std::expected<msg_key_request, serf_errc> decode_key_request(std::span<const std::uint8_t> msg);
std::expected<msg_key_response, serf_errc> decode_key_response(std::span<const std::uint8_t> msg);
std::expected<msg_relay, serf_errc> decode_relay(std::span<const std::uint8_t> msg);

// ---- tags in memberlist Meta (serf.go encodeTags/decodeTags)
// --------------------------------------
inline constexpr std::uint8_t tag_magic_byte = 0xff;
// protocol >= 3: ff + msgpack map (sorted keys); protocol < 3: the raw value of tag "role".
bytes encode_tags(const tag_map& tags, std::uint8_t protocol_version = 4);
// Empty meta or first byte != 0xff: {"role": whole meta}. Errors: bad_tags, oversized.
std::expected<tag_map, serf_errc> decode_tags(std::span<const std::uint8_t> meta);

// ---- query filters (messages.go filterType)
// --------------------------------------------------------
enum class filter_type : std::uint8_t { node = 0, tag = 1 };
// filter 0: msgpack [str...]
struct node_filter {
    std::vector<std::string> nodes;
    bool operator==(const node_filter&) const = default;
};
// filter 1: msgpack map{Expr str, Tag str}; Expr is a Go regexp searched in the tag's value.
struct tag_filter {
    std::string tag;
    std::string expr;
    bool operator==(const tag_filter&) const = default;
};
using query_filter = std::variant<node_filter, tag_filter>;
bytes encode_filter(const query_filter& f);
// Errors: empty, unknown_type (filter type byte), truncated, malformed, oversized.
std::expected<query_filter, serf_errc> decode_filter(std::span<const std::uint8_t> f);

// Go regexp.MatchString(expr, text) for the supported subset: literals, ., [] classes (ranges,
// negation, \d\w\s and [:name:]), \d \D \w \W \s \S and escaped punctuation, ^ $, groups
// (capturing, (?:...), flags (?i) (?s) and (?i:...)), |, * + ? {n} {n,} {n,m} (lazy forms too).
// Linear time (Pike VM), bounded program size. Errors: bad_filter (unsupported or invalid
// syntax, too long).
std::expected<bool, serf_errc> regex_search(std::string_view expr, std::string_view text);

}  // namespace meshfed::wan
