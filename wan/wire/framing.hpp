#pragma once
// memberlist's non-cryptographic framings: compound (type 7), CRC32 (type 12) and the label
// header (0xf4), as in memberlist util.go / net.go / label.go.
//
// Owns: byte layouts and limits of these three wrappers.
// Threading: pure functions; outputs own their bytes, input views point into the caller's span.
// Errors: std::expected<..., errc>: oversized / too_many_parts (encoders), truncated, bad_crc,
//   malformed_label, bad_label (decoders).
#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <string_view>
#include <vector>

#include "wan/wire/errors.hpp"

namespace meshfed::wan::wire {

// ---- compound ----------------------------------------------------------------------------------
// 07 | u8 N | N x u16be length | part_0 | part_1 | ...   (each part = [type][body])

inline constexpr std::size_t max_compound_parts = 255;
inline constexpr std::size_t max_compound_part_size = 0xffff;
inline constexpr std::size_t compound_header_overhead = 2;  // type + count
inline constexpr std::size_t compound_overhead = 2;         // per part: u16 length

// Builds one compound message. > 255 parts -> too_many_parts; a part > 65535 bytes -> oversized;
// an empty part -> empty_message.
std::expected<bytes, errc> make_compound(std::span<const bytes> parts);

// memberlist makeCompoundMessages: splits into as many compounds of <= 255 parts as needed.
std::expected<std::vector<bytes>, errc> make_compounds(std::span<const bytes> parts);

struct compound_parts {
    std::vector<std::span<const std::uint8_t>> parts;  // views into the input
    std::uint32_t truncated = 0;  // parts announced but cut off (memberlist "trunc")
};

// Parses a compound BODY (the bytes after the 0x07). Like memberlist: missing count byte or
// length table -> truncated; a buffer ending inside part k yields parts [0,k) and
// truncated = N - k. Bytes after the last part are ignored.
std::expected<compound_parts, errc> parse_compound(std::span<const std::uint8_t> body);

// ---- CRC (type 12) -----------------------------------------------------------------------------
// 0c | u32be crc32-IEEE(message) | message

std::uint32_t crc32_ieee(std::span<const std::uint8_t> data) noexcept;
bytes add_crc(std::span<const std::uint8_t> message);
// If `packet` starts with 0x0c and has >= 5 bytes: verifies and returns the inner message
// (bad_crc on mismatch). Otherwise returns the packet unchanged (memberlist behaviour).
std::expected<std::span<const std::uint8_t>, errc> strip_crc(std::span<const std::uint8_t> packet);

// ---- label header (0xf4) -----------------------------------------------------------------------
// f4 | u8 len (1..255) | label

inline constexpr std::size_t max_label_size = 255;

// Prefixes the label header; an empty label returns the input unchanged; > 255 -> oversized.
std::expected<bytes, errc> add_label_header(std::span<const std::uint8_t> packet,
                                            std::string_view label);
// Header bytes alone (empty for no label): what a TCP dialer writes first.
std::expected<bytes, errc> label_header(std::string_view label);
// label header size on the wire: 0 without label, 2 + len otherwise.
std::size_t label_overhead(std::string_view label) noexcept;

struct split_label {
    std::string_view label{};  // empty when no header; views the input
    std::span<const std::uint8_t> rest;
    bool had_header = false;
};
// Removes a leading label header if present (upstream RemoveLabelHeaderFromPacket):
// [0xf4] alone or a cut label -> malformed_label; zero length -> malformed_label.
std::expected<split_label, errc> read_label_header(std::span<const std::uint8_t> packet);

// memberlist's acceptance rule, given what read_label_header found. Returns the label to use as
// encryption AD, or bad_label:
//   skip_inbound_label_check: a labelled input is rejected, an unlabelled one is given `ours`;
//   otherwise: the input's label (empty when none) must equal `ours` exactly.
std::expected<std::string_view, errc> check_label(const split_label& in, std::string_view ours,
                                                  bool skip_inbound_label_check);

}  // namespace meshfed::wan::wire
