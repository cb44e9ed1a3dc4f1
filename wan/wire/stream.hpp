#pragma once
// The TCP side of memberlist's wire format (net.go rawSendMsgStream, readStream,
// readRemoteState, readUserMsg): one message per direction per connection.
//
// One direction on the wire:
//   [f4 len label]                       dialer -> listener only (upstream), never on the reply
//   then  type msgpack... [raw]          plain
//   or    09 msgpack{Algo, Buf}          compressed (always, when compression is on)
//   or    0a u32be L | vsn nonce ct tag  encrypted (L <= 20 MiB, AD = 0a L || label); the
//                                        plaintext is a plain or compressed message
// Messages: ping (0), ackResp (2), pushPull (6) = header + N pushNodeState + UserStateLen raw
//   bytes, user (8) = userMsgHeader + UserMsgLen raw bytes, err (13).
//
// Owns: encode_stream (framing of a complete message) and decode_stream (the first message of a
//   connection from a bounded buffer), push/pull and user-message bodies.
// Threading: pure functions; wire_stats is the caller's.
// Errors: decode_stream returns errc::incomplete while the buffer holds a valid prefix (read
//   more and call again with the whole buffer; not recorded). Every other error drops the
//   stream and is recorded once in wire_stats: with eof = true an incomplete message becomes
//   errc::truncated. Limits: encrypted frame <= 20 MiB, decompressed <= 40 MiB, Nodes <= 2^20,
//   UserStateLen/UserMsgLen <= 20 MiB (oversized); an unencrypted message still incomplete when
//   the buffer reaches max_plain_size -> oversized.
#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <string_view>
#include <variant>
#include <vector>

#include "wan/wire/crypto.hpp"
#include "wan/wire/errors.hpp"
#include "wan/wire/lzw.hpp"
#include "wan/wire/messages.hpp"

namespace meshfed::wan::wire {

inline constexpr std::int64_t max_push_pull_nodes = 1 << 20;      // upstream maxPushPullNodes
inline constexpr std::int64_t max_user_state_bytes = 20 << 20;    // UserStateLen / UserMsgLen
inline constexpr std::size_t max_plain_stream_bytes = 40u << 20;  // our bound, unencrypted

// A push/pull exchange message (type 6). Encoded as
//   06 | {Join, Nodes = nodes.size(), UserStateLen = user_state.size()} | nodes... | user_state
struct push_pull {
    bool join = false;
    std::vector<push_node_state> nodes;
    bytes user_state;  // serf: 02 + msgpack messagePushPull
    bool operator==(const push_pull&) const = default;
};

// A reliable user message over TCP (type 8): 08 | {UserMsgLen} | payload.
struct user_stream {
    bytes payload;
    bool operator==(const user_stream&) const = default;
};

bytes encode_push_pull(const push_pull& pp);
bytes encode_user_stream(std::span<const std::uint8_t> payload);

struct stream_encode_options {
    bool compress = true;  // EnableCompression: always wrap (no "only if smaller" on streams)
    // Encrypt with the primary key when non-null and non-empty (pass nullptr for plaintext).
    const keyring* keys = nullptr;
    std::uint8_t encryption_version = 1;
    std::string_view label{};         // GCM AD; also written as header if write_label_header
    bool write_label_header = false;  // true only for the dialer's request
};

// Frames a complete message ([type][...], e.g. encode_message(ping), encode_push_pull(...)).
std::expected<bytes, errc> encode_stream(std::span<const std::uint8_t> message,
                                         const stream_encode_options& opts);

struct stream_decode_options {
    const keyring* keys = nullptr;  // null or empty = encryption disabled
    bool verify_incoming = true;    // plaintext rejected when encryption is enabled
    std::string_view label{};       // our label
    bool skip_inbound_label_check = false;
    // Listener reading a request: a label header may come first (and is checked). Dialer reading
    // the reply: false (no header is sent; `label` is still the AD).
    bool accept_label_header = true;
    std::size_t max_encrypted_size = max_push_state_bytes;
    std::size_t max_decompressed_size = max_stream_decompressed_size;
    std::size_t max_plain_size = max_plain_stream_bytes;
    std::int64_t max_nodes = max_push_pull_nodes;
    std::int64_t max_user_bytes = max_user_state_bytes;
};

using stream_body = std::variant<ping, ack_resp, err_resp, push_pull, user_stream>;

struct stream_message {
    message_type type{};  // of the inner message: ping, ack_resp, push_pull, user or err
    stream_body body;
    std::size_t consumed = 0;  // input bytes used, label header included
    bool encrypted = false;
    bool compressed = false;
    bool had_label_header = false;
};

std::expected<stream_message, errc> decode_stream(std::span<const std::uint8_t> buffered,
                                                  const stream_decode_options& opts, bool eof,
                                                  wire_stats& stats);

}  // namespace meshfed::wan::wire
