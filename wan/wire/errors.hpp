#pragma once
// Shared vocabulary of the WAN gossip wire layer (memberlist framing): the byte buffer type, the
// message type byte, the error/drop-reason enum and the per-reason drop counters.
//
// Owns: wire::errc (every reason an input can be rejected or an encoder can refuse), wire_stats.
// Threading: plain values; wire_stats is owned and mutated by one caller (no atomics).
// Errors: functions of this layer return std::expected<T, wire::errc>; make_error_code() turns a
//   wire::errc into a std::error_code (category "meshfed.wan.wire") for callers that want one.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <system_error>
#include <vector>

namespace meshfed::wan::wire {

using bytes = std::vector<std::uint8_t>;

// memberlist's message type byte (net.go messageType). Append-only list; 244 = label header.
enum class message_type : std::uint8_t {
    ping = 0,
    indirect_ping = 1,
    ack_resp = 2,
    suspect = 3,
    alive = 4,
    dead = 5,
    push_pull = 6,
    compound = 7,
    user = 8,
    compress = 9,
    encrypt = 10,
    nack_resp = 11,
    has_crc = 12,
    err = 13,
    has_label = 244,
};

std::string_view to_string(message_type t) noexcept;

// Reasons an input is dropped (decoders) or an output refused (encoders).
enum class errc : std::uint8_t {
    truncated = 1,    // input ends inside a header, length-prefixed part or body
    incomplete,       // stream decoder: more bytes needed (not a drop; read more and retry)
    oversized,        // a length field exceeds its limit (label, compound part, stream, nodes)
    bad_label,        // label missing, unexpected or different from ours
    malformed_label,  // 0xf4 header with zero length or cut short
    decrypt_failed,   // no installed key authenticated the payload / bad padding
    unsupported_encryption_version,  // encryption version byte > 1
    not_encrypted,                   // encryption required (verify_incoming) but input is plain
    encryption_not_configured,       // encrypted stream but we have no keys
    bad_crc,                         // hasCrc checksum mismatch
    bad_compression,                 // unknown algo, invalid LZW code, missing EOF, empty output
    decompression_limit,             // LZW output larger than the allowed limit
    too_deep,                        // compound/compress nested deeper than allowed
    unknown_type,                    // type byte not valid in this position/transport
    malformed_msgpack,               // body is not the expected msgpack struct
    empty_message,                   // zero-length message or compound part
    too_many_parts,                  // encoder: compound with > 255 parts
    invalid_key,                     // key length not 16/24/32, unknown key, primary removal
    invalid_argument,                // encoder: a field out of its wire range
    crypto_failure,                  // OpenSSL failure (RNG, context allocation)
};
inline constexpr std::size_t errc_count = static_cast<std::size_t>(errc::crypto_failure) + 1;

std::string_view to_string(errc e) noexcept;
const std::error_category& wire_category() noexcept;
std::error_code make_error_code(errc e) noexcept;

// Counts every dropped input by reason. decode_packet/decode_stream record exactly one reason per
// dropped datagram, stream, or compound part. errc::incomplete is never recorded.
struct wire_stats {
    std::array<std::uint64_t, errc_count> dropped{};
    std::uint64_t packets_accepted = 0;   // datagrams that yielded >= 1 message
    std::uint64_t messages_accepted = 0;  // messages handed to the caller (packets + streams)
    std::uint64_t streams_accepted = 0;
    std::uint64_t truncated_parts = 0;  // compound parts lost to truncation (memberlist "trunc")

    void record(errc e) noexcept { ++dropped[static_cast<std::size_t>(e)]; }
    std::uint64_t count(errc e) const noexcept { return dropped[static_cast<std::size_t>(e)]; }
    std::uint64_t total_dropped() const noexcept;
    void merge(const wire_stats& other) noexcept;
};

}  // namespace meshfed::wan::wire

template <>
struct std::is_error_code_enum<meshfed::wan::wire::errc> : std::true_type {};
