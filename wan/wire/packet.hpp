#pragma once
// The UDP side of memberlist's wire pipeline as two pure functions.
//
// Send (net.go rawSendMsgPacket + label transport), outermost last:
//   message | compound(messages) -> [compress, kept only if smaller] -> [0c crc] ->
//   [encrypt: vsn nonce ct tag, AD = label] -> [f4 len label]
// Receive (ingestPacket + handleCommand): size check -> label header + acceptance rule ->
//   decrypt (every key; on failure fall back to plaintext only if !verify_incoming) ->
//   CRC verify/strip when the first byte is 0x0c and len >= 5 -> dispatch: compound and compress
//   recurse (bounded nesting and a total decompression budget); 0-5, 8, 11 are delivered.
//
// Owns: encode_packet/decode_packet and their options; decoded_packet owns every byte its
//   message spans point to (move-only; moving keeps the spans valid).
// Threading: pure functions; the keyring is read only; wire_stats is the caller's.
// Errors: decode_packet returns the reason when the whole datagram is dropped and records it in
//   wire_stats; a dropped compound part is recorded there too (and counted in dropped_parts)
//   while the other parts are still delivered. encode_packet: invalid_argument (no messages),
//   too_many_parts, oversized (part > 65535, label > 255 or datagram > 65507), empty_message,
//   invalid_key, crypto_failure.
#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "wan/wire/crypto.hpp"
#include "wan/wire/errors.hpp"
#include "wan/wire/messages.hpp"

namespace meshfed::wan::wire {

inline constexpr std::size_t udp_receive_buffer_size = 65536;  // memberlist udpPacketBufSize
inline constexpr std::size_t max_udp_payload = 65507;          // IPv4 UDP payload limit
// Default cap on the total decompressed bytes of one datagram. memberlist upstream allows 40 MiB
// per compress layer; no Go sender ever compresses more than one datagram's worth (~64 KiB), so
// 1 MiB keeps amplification bounded with a wide margin.
inline constexpr std::size_t default_packet_decompressed_limit = 1u << 20;
// compound/compress nesting levels accepted on receive (Go senders produce at most 2:
// compress(compound(...))).
inline constexpr std::size_t default_max_packet_nesting = 4;

struct packet_encode_options {
    bool compress = false;  // EnableCompression: LZW-wrap, used only if it came out smaller
    bool crc = false;       // destination known with PMax >= 5
    // Encrypt with the primary key when non-null and non-empty. Pass nullptr to send plaintext
    // (no keys, or GossipVerifyOutgoing = false).
    const keyring* keys = nullptr;
    std::uint8_t encryption_version = 1;
    std::string_view label{};  // "" = no label header, empty GCM AD
};

// Overhead that encode_packet adds around the (compound) message, excluding compression:
// label header + CRC + encryption (vsn 1: 29, vsn 0: up to 45).
std::size_t packet_overhead(const packet_encode_options& opts) noexcept;

// One message ([type][body]) -> one datagram.
std::expected<bytes, errc> encode_packet(std::span<const std::uint8_t> message,
                                         const packet_encode_options& opts);
// Several messages: one is sent as-is, two or more as one compound (<= 255).
std::expected<bytes, errc> encode_packet(std::span<const bytes> messages,
                                         const packet_encode_options& opts);

struct packet_decode_options {
    const keyring* keys = nullptr;  // null or empty = encryption disabled
    bool verify_incoming = true;    // GossipVerifyIncoming
    std::string_view label{};       // our label ("" = none)
    bool skip_inbound_label_check = false;
    std::size_t max_packet_size = udp_receive_buffer_size;
    std::size_t max_decompressed_size = default_packet_decompressed_limit;
    std::size_t max_nesting = default_max_packet_nesting;
    bool decode_bodies = true;  // decode msgpack bodies into packet_message::decoded
};

struct packet_message {
    message_type type{};
    std::span<const std::uint8_t> body;  // after the type byte; owned by the decoded_packet
    packet_body decoded;                 // filled when decode_bodies (else default ping{})
};

class decoded_packet {
  public:
    decoded_packet() = default;
    decoded_packet(decoded_packet&&) noexcept = default;
    decoded_packet& operator=(decoded_packet&&) noexcept = default;
    decoded_packet(const decoded_packet&) = delete;
    decoded_packet& operator=(const decoded_packet&) = delete;

    std::vector<packet_message> messages;
    std::uint32_t truncated_parts = 0;  // compound parts cut off (memberlist "trunc")
    std::uint32_t dropped_parts = 0;    // nested messages dropped for any other reason
    bool encrypted = false;             // decrypted with one of our keys
    bool had_crc = false;
    bool compressed = false;
    std::string label;  // label header of the datagram ("" = none)

  private:
    friend std::expected<decoded_packet, errc> decode_packet(std::span<const std::uint8_t>,
                                                             const packet_decode_options&,
                                                             wire_stats&);
    friend struct packet_decoder;
    std::vector<bytes> storage_;  // buffers the spans point into
};

std::expected<decoded_packet, errc> decode_packet(std::span<const std::uint8_t> datagram,
                                                  const packet_decode_options& opts,
                                                  wire_stats& stats);

}  // namespace meshfed::wan::wire
