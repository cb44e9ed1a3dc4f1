#pragma once
// LZW exactly as Go's compress/lzw with LSB bit order and 8-bit literals (what memberlist uses),
// and memberlist's compress message (type 9): 09 | msgpack{Algo: 0, Buf: <lzw stream>}.
//
// Stream format: codes are packed LSB-first; the width starts at 9 bits (clear = 256,
// eof = 257, first free code 258) and grows by one bit when the next free code reaches 2^width,
// up to 12 bits. The compressor emits clear first, emits clear and resets when code 4095 would be
// assigned, and ends with eof plus a zero-padded partial byte: its output is byte-identical to
// Go's lzw.NewWriter(w, lzw.LSB, 8).
// The decompressor accepts anything Go's reader accepts (clear anywhere, KwKwK codes, a full
// 4096-entry table without reset) and stops at eof (trailing bytes ignored).
//
// Owns: the codec and the compress-message framing; no state between calls.
// Threading: pure functions.
// Errors: bad_compression (invalid code, data ending before eof, unknown Algo, empty result,
//   malformed compress body), decompression_limit (output would exceed `limit`).
#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>

#include "wan/wire/errors.hpp"

namespace meshfed::wan::wire {

// memberlist upstream's cap on one decompressed buffer (40 MiB);
// streams use it. UDP packets default to a much smaller cap (see packet.hpp).
inline constexpr std::size_t max_stream_decompressed_size = 40u << 20;
inline constexpr std::uint8_t lzw_algo = 0;

bytes lzw_compress(std::span<const std::uint8_t> input);
std::expected<bytes, errc> lzw_decompress(std::span<const std::uint8_t> input, std::size_t limit);

// [0x09][msgpack{Algo:0, Buf: lzw_compress(message)}]
bytes compress_message(std::span<const std::uint8_t> message);
// Takes the BODY after the 0x09 byte; returns the decompressed inner message. Bytes after the
// msgpack object are ignored (as memberlist's decode does).
std::expected<bytes, errc> decompress_message(std::span<const std::uint8_t> body,
                                              std::size_t limit);
// Stream variant: also reports how many body bytes the msgpack object used; a body cut inside
// the object -> errc::incomplete.
std::expected<bytes, errc> decompress_message_prefix(std::span<const std::uint8_t> body,
                                                     std::size_t limit, std::size_t& consumed);

}  // namespace meshfed::wan::wire
