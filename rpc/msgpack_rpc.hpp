#pragma once
// The msgpack-rpc codec Consul servers speak on every yamux stream of the RPC port (net/rpc over
// consul-net-rpc's go-msgpack fork with structs.MsgpackHandle), plus helpers for Consul's common
// argument/reply shapes.
//
// Owns: message framing (header object + body object, no length prefix), header encoding and
//   decoding, an incremental decoder with size bounds, net/rpc error texts, and field helpers for
//   QueryOptions/QueryMeta, time.Time (MarshalBinary blob) and time.Duration.
// Wire form (what real Consul encodes, checked against the Go codec on the wire):
//   request  = map{"Seq": uint, "ServiceMethod": str} then the args object;
//   response = map{"Error": str, "Seq": uint, "ServiceMethod": str} then the reply object
//   (struct{} = 0x80 when Error != ""). go-msgpack 0.5.5 writes struct fields as map keys sorted
//   by name (bytewise), not in declaration order; strings and []byte use the legacy raw family
//   (fixstr, 0xda, 0xdb; never str8/bin) because Consul's handle has WriteExt=false. The decoders
//   accept any key order, unknown keys, nil strings, and str8/bin forms.
// Threading: plain values; no shared state.
// Errors: std::error_code in rpc::codec_errc (category "msgpack-rpc"); sticky in the decoders.
//   No exceptions.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "common/msgpack.hpp"

namespace meshfed::rpc {

enum class codec_errc {
    truncated = 1,      // the stream ended inside a message (see *_decoder::finish)
    message_too_large,  // an object is larger than the configured bound
    bad_type,           // header is not a map, or a header field has the wrong type
    bad_tag,            // a msgpack marker byte that is never valid (0xc1)
    depth_exceeded,     // nesting deeper than the configured bound
    bad_time,           // time.Time blob with a wrong length or version
};

const std::error_category& codec_category() noexcept;
std::error_code make_error_code(codec_errc e) noexcept;

}  // namespace meshfed::rpc

template <>
struct std::is_error_code_enum<meshfed::rpc::codec_errc> : std::true_type {};

namespace meshfed::rpc {

// net/rpc `Request` (the unexported `next` field is never encoded).
struct request_header {
    std::string service_method;
    std::uint64_t seq = 0;
};

// net/rpc `Response`; error == "" means success.
struct response_header {
    std::string service_method;
    std::uint64_t seq = 0;
    std::string error;
};

// The body of an empty struct (struct{}, EmptyReadRequest) and of every error reply.
inline constexpr std::uint8_t empty_struct_body = 0x80;

// ---- encoders (append to `out`) ---------------------------------------------------------------
void encode_request_header(std::vector<std::uint8_t>& out, std::string_view service_method,
                           std::uint64_t seq);
void encode_response_header(std::vector<std::uint8_t>& out, std::string_view service_method,
                            std::uint64_t seq, std::string_view error);
// Header followed by an already-encoded body (must be exactly one msgpack object).
void encode_request(std::vector<std::uint8_t>& out, std::string_view service_method,
                    std::uint64_t seq, std::span<const std::uint8_t> body);
void encode_response(std::vector<std::uint8_t>& out, std::string_view service_method,
                     std::uint64_t seq, std::string_view error, std::span<const std::uint8_t> body);
// An error reply: header with `error` and the 0x80 body.
void encode_error_response(std::vector<std::uint8_t>& out, std::string_view service_method,
                           std::uint64_t seq, std::string_view error);

// Header parsers over exactly one complete object.
std::expected<request_header, std::error_code> parse_request_header(
    std::span<const std::uint8_t> object);
std::expected<response_header, std::error_code> parse_response_header(
    std::span<const std::uint8_t> object);

// ---- incremental framing -----------------------------------------------------------------------
struct decoder_limits {
    std::size_t max_header_size = 64 * 1024;       // bytes of the header object
    std::size_t max_body_size = 64 * 1024 * 1024;  // bytes of the body object
    std::size_t max_depth = msgpack::reader::default_max_depth;
};

// Finds the end of consecutive msgpack objects in a byte stream without re-scanning: state is
// kept between calls, so feeding one byte at a time costs O(total bytes).
class object_scanner {
  public:
    explicit object_scanner(std::size_t max_depth = msgpack::reader::default_max_depth)
        : max_depth_(max_depth) {}

    // Scans `buf` (which starts at the current object's first byte and only grows between
    // calls) and returns the object's size once complete, nullopt if more bytes are needed.
    // `max_size` bounds the object: exceeding it (even by declared length) is an error.
    std::expected<std::optional<std::size_t>, std::error_code> scan(
        std::span<const std::uint8_t> buf, std::size_t max_size);
    // Forget the current object (call after consuming it).
    void reset();
    bool in_progress() const { return pos_ > 0; }

  private:
    std::size_t pos_ = 0;                 // next token starts here
    std::vector<std::uint64_t> pending_;  // items still expected per open container
    std::size_t max_depth_;
};

struct rpc_request {
    request_header header;
    std::vector<std::uint8_t> body;  // exactly one msgpack object
};

struct rpc_response {
    response_header header;
    std::vector<std::uint8_t> body;  // exactly one msgpack object (0x80 on error replies)
};

struct decoder_stats {
    std::uint64_t messages = 0;
    std::uint64_t bytes = 0;
    std::uint64_t errors = 0;  // fatal decode errors (the decoder is dead afterwards)
};

// Server side: yields (request header, args bytes) pairs from a stream.
// Client side: yields (response header, reply bytes) pairs.
template <class Message>
class basic_message_decoder {
  public:
    explicit basic_message_decoder(decoder_limits limits = {})
        : limits_(limits), scanner_(limits.max_depth) {}

    // Buffers bytes read from the stream. Never fails; errors surface from next().
    void feed(std::span<const std::uint8_t> bytes);
    // The next complete message, nullopt if more bytes are needed, or a sticky error.
    std::expected<std::optional<Message>, std::error_code> next();
    // Call at end of stream: truncated if a partial message is buffered.
    std::error_code finish() const;
    std::size_t buffered() const { return buf_.size() - start_; }
    const decoder_stats& stats() const { return stats_; }

  private:
    decoder_limits limits_;
    object_scanner scanner_;
    std::vector<std::uint8_t> buf_;
    std::size_t start_ = 0;                                      // first unconsumed byte of buf_
    std::optional<std::pair<std::size_t, std::size_t>> header_;  // (offset, size) when scanned
    std::error_code error_;
    decoder_stats stats_;
};

using request_decoder = basic_message_decoder<rpc_request>;
using response_decoder = basic_message_decoder<rpc_response>;
extern template class basic_message_decoder<rpc_request>;
extern template class basic_message_decoder<rpc_response>;

// ---- net/rpc server error texts ---------------------------------------------------------------
std::string error_cant_find_service(
    std::string_view service_method);                                 // "rpc: can't find service X"
std::string error_cant_find_method(std::string_view service_method);  // "rpc: can't find method X"
std::string error_ill_formed(std::string_view service_method);
// "Service.Method" split at the last dot, as net/rpc does; nullopt when there is no dot.
std::optional<std::pair<std::string_view, std::string_view>> split_service_method(
    std::string_view service_method);

// ---- Go struct helpers -------------------------------------------------------------------------
// Encodes a Go struct the way go-msgpack 0.5.5 does: a map whose keys (field names, embedded
// structs flattened) are written sorted bytewise, whatever order they were added in.
class struct_writer {
  public:
    // Returns a writer for the value of field `name`; write exactly one value with it before
    // the next call.
    msgpack::writer field(std::string_view name);
    // Writes map header + sorted fields to `out`.
    void finish(msgpack::writer& out);
    std::size_t size() const { return fields_.size(); }

  private:
    std::vector<std::pair<std::string, std::vector<std::uint8_t>>> fields_;
};

// time.Duration: int64 nanoseconds (non-negative values in unsigned formats, as 0.5.5 writes).
void write_duration(msgpack::writer& w, std::chrono::nanoseconds d);
std::expected<std::chrono::nanoseconds, std::error_code> read_duration(msgpack::reader& r);

// time.Time as Go's MarshalBinary blob, written as raw bytes (0xaf + 15 bytes for version 1).
// Layout: version(1)=1|2, seconds since 0001-01-01 UTC (8, BE, signed), nanoseconds (4, BE),
// zone offset minutes (2, BE, -1 = UTC), [version 2: offset seconds (1)].
struct go_time {
    static constexpr std::int64_t unix_to_internal = 62135596800;  // 0001-01-01 -> 1970-01-01

    std::int64_t unix_seconds = -unix_to_internal;  // Go's zero time
    std::uint32_t nanoseconds = 0;                  // 0..999999999
    std::int16_t offset_minutes = -1;               // -1 = UTC location
    std::int8_t offset_seconds = 0;                 // version 2 only

    bool is_zero() const { return unix_seconds == -unix_to_internal && nanoseconds == 0; }
    static go_time from(std::chrono::system_clock::time_point tp);  // UTC
    std::chrono::system_clock::time_point to_time_point() const;
    bool operator==(const go_time&) const = default;
};
std::vector<std::uint8_t> marshal_time(const go_time& t);
std::expected<go_time, std::error_code> unmarshal_time(std::span<const std::uint8_t> blob);
void write_time(msgpack::writer& w, const go_time& t);
std::expected<go_time, std::error_code> read_time(msgpack::reader& r);

// structs.QueryOptions, flattened into read requests.
struct query_options {
    std::string token;
    std::uint64_t min_query_index = 0;
    std::chrono::nanoseconds max_query_time{0};
    bool allow_stale = false;
    bool require_consistent = false;
    bool use_cache = false;
    std::chrono::nanoseconds max_stale_duration{0};
    std::chrono::nanoseconds max_age{0};
    bool must_revalidate = false;
    std::chrono::nanoseconds stale_if_error{0};
    std::string filter;
    bool allow_not_modified_response = false;

    void write_fields(struct_writer& s) const;
    // true when `key` is one of ours (value consumed), false if not (nothing consumed).
    std::expected<bool, std::error_code> read_field(std::string_view key, msgpack::reader& r);
};

// structs.QueryMeta, flattened into replies.
struct query_meta {
    std::uint64_t index = 0;
    std::chrono::nanoseconds last_contact{0};
    bool known_leader = false;
    std::string consistency_level;
    bool not_modified = false;
    std::int64_t backend = 0;  // QueryBackend
    bool results_filtered_by_acls = false;

    void write_fields(struct_writer& s) const;
    std::expected<bool, std::error_code> read_field(std::string_view key, msgpack::reader& r);
};

}  // namespace meshfed::rpc
