#pragma once
// msgpack writer and bounded pull reader with the conventions of go-msgpack's MsgpackHandle with
// default options (WriteExt = false), as used by memberlist/serf gossip and Consul's RPC codec.
//
// Owns: the byte-level msgpack format only (no struct mapping; callers map fields by name).
// Writer: strings and []byte both use the legacy "raw" family (fixstr a0-bf, 0xda raw16, 0xdb
//   raw32; never 0xd9 str8 nor bin); integers use the smallest format; signed values can be
//   written go-msgpack 0.5.5 style (non-negative -> unsigned formats) or v2 style.
// Reader: pulls one value at a time from a byte span, never reads past its end, accepts every
//   integer format for every integer read, accepts str8 and bin8/16/32 wherever raw bytes are
//   expected, and skips any value with a nesting-depth bound.
// Threading: writer and reader are plain values over caller-owned memory; no shared state.
// Errors: std::expected<T, std::error_code> with msgpack::errc codes (category "msgpack"); no
//   exceptions. After an error the reader position is unspecified; discard the reader.
#include <cstddef>
#include <cstdint>
#include <expected>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace meshfed::msgpack {

enum class errc {
    truncated = 1,   // the input ended inside a value
    type_mismatch,   // the next value has another type than requested
    out_of_range,    // an integer does not fit the requested type
    depth_exceeded,  // nesting deeper than the reader's bound
    invalid_byte,    // 0xc1 (never used) or another unsupported marker
};

const std::error_category& msgpack_category() noexcept;
std::error_code make_error_code(errc e) noexcept;

}  // namespace meshfed::msgpack

template <>
struct std::is_error_code_enum<meshfed::msgpack::errc> : std::true_type {};

namespace meshfed::msgpack {

// How a signed integer that is >= 0 is written.
enum class int_style {
    unsigned_for_non_negative,  // go-msgpack 0.5.5 (Debian serf): 200 -> cc c8
    signed_formats,             // go-msgpack v2: 200 -> d1 00 c8 (0..127 stay positive fixint)
};

// Appends msgpack values to a caller-owned byte vector.
class writer {
  public:
    explicit writer(std::vector<std::uint8_t>& out) : out_(&out) {}

    void write_nil();
    void write_bool(bool v);
    void write_uint(std::uint64_t v);  // positive fixint, cc, cd, ce, cf
    void write_int(std::int64_t v, int_style style = int_style::unsigned_for_non_negative);
    void write_float64(double v);  // cb + IEEE-754 big endian
    // Raw family (go-msgpack WriteExt=false): a0-bf, da u16, db u32.
    void write_str(std::string_view v);
    void write_raw(std::span<const std::uint8_t> v);
    // []byte semantics: an empty span is written as nil (Go nil slice), otherwise raw.
    void write_bytes_or_nil(std::span<const std::uint8_t> v);
    void write_map_header(std::uint32_t n);    // 80-8f, de u16, df u32
    void write_array_header(std::uint32_t n);  // 90-9f, dc u16, dd u32

    std::vector<std::uint8_t>& buffer() { return *out_; }

  private:
    void put_be(std::uint64_t v, int bytes);
    std::vector<std::uint8_t>* out_;
};

enum class value_type { nil, boolean, integer, float32, float64, raw, array, map, ext };

// Pulls values from a span. Every method either consumes exactly one value (or header) and
// returns it, or returns an error.
class reader {
  public:
    static constexpr std::size_t default_max_depth = 32;

    explicit reader(std::span<const std::uint8_t> in, std::size_t max_depth = default_max_depth)
        : in_(in), max_depth_(max_depth) {}

    std::expected<value_type, std::error_code> peek_type() const;
    bool next_is_nil() const;  // false at end of input
    std::expected<void, std::error_code> read_nil();
    std::expected<bool, std::error_code> read_bool();
    // Any integer format; negative values -> out_of_range.
    std::expected<std::uint64_t, std::error_code> read_uint();
    // Any integer format; unsigned values > INT64_MAX -> out_of_range.
    std::expected<std::int64_t, std::error_code> read_int();
    // float32, float64 or any integer.
    std::expected<double, std::error_code> read_float();
    // fixstr, str8/16/32 (raw), bin8/16/32. The span views the reader's input.
    std::expected<std::span<const std::uint8_t>, std::error_code> read_raw();
    std::expected<std::string_view, std::error_code> read_str();
    std::expected<std::uint32_t, std::error_code> read_map_header();
    std::expected<std::uint32_t, std::error_code> read_array_header();
    // Skips one complete value of any type, nested at most max_depth containers deep.
    std::expected<void, std::error_code> skip();

    // Typed integer with range check.
    template <class T>
    std::expected<T, std::error_code> read_integer() {
        if constexpr (std::is_signed_v<T>) {
            auto v = read_int();
            if (!v) return std::unexpected(v.error());
            if (*v < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
                *v > static_cast<std::int64_t>(std::numeric_limits<T>::max()))
                return std::unexpected(make_error_code(errc::out_of_range));
            return static_cast<T>(*v);
        } else {
            auto v = read_uint();
            if (!v) return std::unexpected(v.error());
            if (*v > static_cast<std::uint64_t>(std::numeric_limits<T>::max()))
                return std::unexpected(make_error_code(errc::out_of_range));
            return static_cast<T>(*v);
        }
    }

    std::size_t position() const { return pos_; }
    std::size_t remaining_size() const { return in_.size() - pos_; }
    std::span<const std::uint8_t> remaining() const { return in_.subspan(pos_); }
    bool at_end() const { return pos_ >= in_.size(); }

  private:
    // Reads an integer value: sign flag + magnitude.
    struct int_value {
        bool negative;
        std::uint64_t magnitude;  // two's complement value when negative
    };
    std::expected<int_value, std::error_code> read_any_int();
    std::expected<std::uint64_t, std::error_code> take_be(int bytes);
    std::expected<void, std::error_code> skip_depth(std::size_t depth);

    std::span<const std::uint8_t> in_;
    std::size_t pos_ = 0;
    std::size_t max_depth_;
};

}  // namespace meshfed::msgpack
