#include "rpc/msgpack_rpc.hpp"

#include <algorithm>

namespace meshfed::rpc {

namespace {

class codec_category_impl : public std::error_category {
  public:
    const char* name() const noexcept override { return "msgpack-rpc"; }
    std::string message(int ev) const override {
        switch (static_cast<codec_errc>(ev)) {
            case codec_errc::truncated:
                return "msgpack-rpc: stream ended inside a message";
            case codec_errc::message_too_large:
                return "msgpack-rpc: message too large";
            case codec_errc::bad_type:
                return "msgpack-rpc: header has an unexpected type";
            case codec_errc::bad_tag:
                return "msgpack-rpc: invalid msgpack marker byte";
            case codec_errc::depth_exceeded:
                return "msgpack-rpc: nesting too deep";
            case codec_errc::bad_time:
                return "msgpack-rpc: invalid time.Time encoding";
        }
        return "msgpack-rpc: unknown error";
    }
};

std::unexpected<std::error_code> fail(codec_errc e) {
    return std::unexpected(make_error_code(e));
}

// Maps msgpack reader errors on a complete object to codec errors.
std::error_code map_reader_error(std::error_code ec) {
    if (ec == msgpack::errc::invalid_byte) return codec_errc::bad_tag;
    if (ec == msgpack::errc::depth_exceeded) return codec_errc::depth_exceeded;
    if (ec == msgpack::errc::truncated) return codec_errc::truncated;
    return codec_errc::bad_type;
}

// Reads a Go string field: raw/str/bin or nil (nil decodes to "").
std::expected<std::string, std::error_code> read_go_string(msgpack::reader& r) {
    if (r.next_is_nil()) {
        (void)r.read_nil();
        return std::string{};
    }
    auto s = r.read_str();
    if (!s) return std::unexpected(map_reader_error(s.error()));
    return std::string(*s);
}

std::expected<std::uint64_t, std::error_code> read_go_uint(msgpack::reader& r) {
    if (r.next_is_nil()) {
        (void)r.read_nil();
        return 0;
    }
    auto v = r.read_uint();
    if (!v) return std::unexpected(map_reader_error(v.error()));
    return *v;
}

std::expected<bool, std::error_code> read_go_bool(msgpack::reader& r) {
    if (r.next_is_nil()) {
        (void)r.read_nil();
        return false;
    }
    auto v = r.read_bool();
    if (!v) return std::unexpected(map_reader_error(v.error()));
    return *v;
}

std::expected<std::int64_t, std::error_code> read_go_int(msgpack::reader& r) {
    if (r.next_is_nil()) {
        (void)r.read_nil();
        return 0;
    }
    auto v = r.read_int();
    if (!v) return std::unexpected(map_reader_error(v.error()));
    return *v;
}

// Iterates a struct map, calling fn(key, reader) for each key; fn returns expected<bool> (true
// when it consumed the value); unconsumed values are skipped.
template <class Fn>
std::expected<void, std::error_code> for_each_field(msgpack::reader& r, Fn&& fn) {
    auto n = r.read_map_header();
    if (!n) return std::unexpected(map_reader_error(n.error()));
    for (std::uint32_t i = 0; i < *n; ++i) {
        auto key = r.read_str();
        if (!key) return std::unexpected(map_reader_error(key.error()));
        auto used = fn(*key, r);
        if (!used) return std::unexpected(used.error());
        if (!*used) {
            auto s = r.skip();
            if (!s) return std::unexpected(map_reader_error(s.error()));
        }
    }
    return {};
}

}  // namespace

const std::error_category& codec_category() noexcept {
    static const codec_category_impl instance;
    return instance;
}

std::error_code make_error_code(codec_errc e) noexcept {
    return {static_cast<int>(e), codec_category()};
}

// ---- encoders ----------------------------------------------------------------------------------

void encode_request_header(std::vector<std::uint8_t>& out, std::string_view service_method,
                           std::uint64_t seq) {
    msgpack::writer w(out);
    w.write_map_header(2);  // keys sorted by name, as go-msgpack 0.5.5 writes structs
    w.write_str("Seq");
    w.write_uint(seq);
    w.write_str("ServiceMethod");
    w.write_str(service_method);
}

void encode_response_header(std::vector<std::uint8_t>& out, std::string_view service_method,
                            std::uint64_t seq, std::string_view error) {
    msgpack::writer w(out);
    w.write_map_header(3);
    w.write_str("Error");
    w.write_str(error);
    w.write_str("Seq");
    w.write_uint(seq);
    w.write_str("ServiceMethod");
    w.write_str(service_method);
}

void encode_request(std::vector<std::uint8_t>& out, std::string_view service_method,
                    std::uint64_t seq, std::span<const std::uint8_t> body) {
    encode_request_header(out, service_method, seq);
    out.insert(out.end(), body.begin(), body.end());
}

void encode_response(std::vector<std::uint8_t>& out, std::string_view service_method,
                     std::uint64_t seq, std::string_view error,
                     std::span<const std::uint8_t> body) {
    encode_response_header(out, service_method, seq, error);
    out.insert(out.end(), body.begin(), body.end());
}

void encode_error_response(std::vector<std::uint8_t>& out, std::string_view service_method,
                           std::uint64_t seq, std::string_view error) {
    encode_response_header(out, service_method, seq, error);
    out.push_back(empty_struct_body);
}

std::expected<request_header, std::error_code> parse_request_header(
    std::span<const std::uint8_t> object) {
    msgpack::reader r(object);
    auto t = r.peek_type();
    if (!t) return std::unexpected(map_reader_error(t.error()));
    if (*t != msgpack::value_type::map) return fail(codec_errc::bad_type);
    request_header h;
    auto ok = for_each_field(
        r, [&](std::string_view key, msgpack::reader& rr) -> std::expected<bool, std::error_code> {
            if (key == "ServiceMethod") {
                auto s = read_go_string(rr);
                if (!s) return std::unexpected(s.error());
                h.service_method = std::move(*s);
                return true;
            }
            if (key == "Seq") {
                auto v = read_go_uint(rr);
                if (!v) return std::unexpected(v.error());
                h.seq = *v;
                return true;
            }
            return false;
        });
    if (!ok) return std::unexpected(ok.error());
    return h;
}

std::expected<response_header, std::error_code> parse_response_header(
    std::span<const std::uint8_t> object) {
    msgpack::reader r(object);
    auto t = r.peek_type();
    if (!t) return std::unexpected(map_reader_error(t.error()));
    if (*t != msgpack::value_type::map) return fail(codec_errc::bad_type);
    response_header h;
    auto ok = for_each_field(
        r, [&](std::string_view key, msgpack::reader& rr) -> std::expected<bool, std::error_code> {
            if (key == "ServiceMethod" || key == "Error") {
                auto s = read_go_string(rr);
                if (!s) return std::unexpected(s.error());
                (key == "Error" ? h.error : h.service_method) = std::move(*s);
                return true;
            }
            if (key == "Seq") {
                auto v = read_go_uint(rr);
                if (!v) return std::unexpected(v.error());
                h.seq = *v;
                return true;
            }
            return false;
        });
    if (!ok) return std::unexpected(ok.error());
    return h;
}

// ---- object scanner ----------------------------------------------------------------------------

void object_scanner::reset() {
    pos_ = 0;
    pending_.clear();
}

std::expected<std::optional<std::size_t>, std::error_code> object_scanner::scan(
    std::span<const std::uint8_t> buf, std::size_t max_size) {
    // Big-endian length of `n` bytes at `at` (caller checked availability).
    auto be = [&](std::size_t at, int n) {
        std::uint64_t v = 0;
        for (int i = 0; i < n; ++i) v = (v << 8) | buf[at + static_cast<std::size_t>(i)];
        return v;
    };
    for (;;) {
        if (pos_ >= buf.size()) {
            if (pos_ > max_size) return fail(codec_errc::message_too_large);
            return std::optional<std::size_t>{};
        }
        const std::uint8_t b = buf[pos_];
        std::size_t head = 1;        // marker + length bytes
        std::uint64_t payload = 0;   // bytes after the head
        std::uint64_t children = 0;  // items of a container
        bool container = false;
        int len_bytes = 0;  // length field size for variable-length types
        std::uint64_t fixed_extra = 0;
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            // fixint, nil, bool
        } else if (b >= 0x80 && b <= 0x8f) {
            container = true, children = 2ull * (b & 0x0f);
        } else if (b >= 0x90 && b <= 0x9f) {
            container = true, children = b & 0x0f;
        } else if (b >= 0xa0 && b <= 0xbf) {
            payload = b & 0x1f;
        } else {
            switch (b) {
                case 0xc1:
                    return fail(codec_errc::bad_tag);
                case 0xc4:  // bin8
                case 0xd9:  // str8
                    len_bytes = 1;
                    break;
                case 0xc5:
                case 0xda:
                    len_bytes = 2;
                    break;
                case 0xc6:
                case 0xdb:
                    len_bytes = 4;
                    break;
                case 0xc7:  // ext8/16/32: length + type byte
                    len_bytes = 1, fixed_extra = 1;
                    break;
                case 0xc8:
                    len_bytes = 2, fixed_extra = 1;
                    break;
                case 0xc9:
                    len_bytes = 4, fixed_extra = 1;
                    break;
                case 0xca:
                    payload = 4;
                    break;
                case 0xcb:
                    payload = 8;
                    break;
                case 0xcc:
                case 0xd0:
                    payload = 1;
                    break;
                case 0xcd:
                case 0xd1:
                    payload = 2;
                    break;
                case 0xce:
                case 0xd2:
                    payload = 4;
                    break;
                case 0xcf:
                case 0xd3:
                    payload = 8;
                    break;
                case 0xd4:
                    payload = 2;
                    break;
                case 0xd5:
                    payload = 3;
                    break;
                case 0xd6:
                    payload = 5;
                    break;
                case 0xd7:
                    payload = 9;
                    break;
                case 0xd8:
                    payload = 17;
                    break;
                case 0xdc:  // array16/32
                    container = true, len_bytes = 2;
                    break;
                case 0xdd:
                    container = true, len_bytes = 4;
                    break;
                case 0xde:  // map16/32
                    container = true, len_bytes = 2;
                    break;
                case 0xdf:
                    container = true, len_bytes = 4;
                    break;
                default:
                    return fail(codec_errc::bad_tag);
            }
            if (len_bytes > 0) {
                head += static_cast<std::size_t>(len_bytes);
                if (pos_ + head > buf.size()) {
                    if (pos_ + head > max_size) return fail(codec_errc::message_too_large);
                    return std::optional<std::size_t>{};
                }
                const std::uint64_t n = be(pos_ + 1, len_bytes);
                if (container) {
                    children = (b == 0xde || b == 0xdf) ? 2 * n : n;
                } else {
                    payload = n + fixed_extra;
                }
            }
        }
        // Bound the object by declared sizes before waiting for the bytes.
        if (static_cast<std::uint64_t>(pos_) + head + payload > max_size)
            return fail(codec_errc::message_too_large);
        if (container && children > 0) {
            // Every child takes at least one byte.
            if (static_cast<std::uint64_t>(pos_) + head + children > max_size)
                return fail(codec_errc::message_too_large);
        }
        const std::uint64_t need = head + payload;
        if (pos_ + need > buf.size()) return std::optional<std::size_t>{};
        pos_ += static_cast<std::size_t>(need);
        if (container && children > 0) {
            if (pending_.size() >= max_depth_) return fail(codec_errc::depth_exceeded);
            pending_.push_back(children);
            continue;
        }
        // A complete value: pop finished containers.
        for (;;) {
            if (pending_.empty()) {
                const std::size_t size = pos_;
                return std::optional<std::size_t>{size};
            }
            if (--pending_.back() > 0) break;
            pending_.pop_back();
        }
    }
}

// ---- message decoder ---------------------------------------------------------------------------

template <class Message>
void basic_message_decoder<Message>::feed(std::span<const std::uint8_t> bytes) {
    if (error_) return;  // dead: drop input
    // Compact when the consumed prefix dominates.
    if (start_ > 0 && start_ >= buf_.size() / 2) {
        buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(start_));
        if (header_) header_->first -= start_;
        start_ = 0;
    }
    buf_.insert(buf_.end(), bytes.begin(), bytes.end());
    stats_.bytes += bytes.size();
}

template <class Message>
std::expected<std::optional<Message>, std::error_code> basic_message_decoder<Message>::next() {
    if (error_) return std::unexpected(error_);
    auto die = [&](std::error_code ec) -> std::unexpected<std::error_code> {
        error_ = ec;
        ++stats_.errors;
        return std::unexpected(ec);
    };
    const std::span<const std::uint8_t> all(buf_);
    if (!header_) {
        auto r = scanner_.scan(all.subspan(start_), limits_.max_header_size);
        if (!r) return die(r.error());
        if (!*r) return std::optional<Message>{};
        header_ = std::pair{start_, **r};
        scanner_.reset();
    }
    const std::size_t body_off = header_->first + header_->second;
    auto r = scanner_.scan(all.subspan(body_off), limits_.max_body_size);
    if (!r) return die(r.error());
    if (!*r) return std::optional<Message>{};
    const std::size_t body_size = **r;
    scanner_.reset();

    Message m;
    const auto hdr_bytes = all.subspan(header_->first, header_->second);
    if constexpr (std::is_same_v<Message, rpc_request>) {
        auto h = parse_request_header(hdr_bytes);
        if (!h) return die(h.error());
        m.header = std::move(*h);
    } else {
        auto h = parse_response_header(hdr_bytes);
        if (!h) return die(h.error());
        m.header = std::move(*h);
    }
    const auto body = all.subspan(body_off, body_size);
    m.body.assign(body.begin(), body.end());
    start_ = body_off + body_size;
    header_.reset();
    if (start_ == buf_.size()) {
        buf_.clear();
        start_ = 0;
    }
    ++stats_.messages;
    return std::optional<Message>{std::move(m)};
}

template <class Message>
std::error_code basic_message_decoder<Message>::finish() const {
    if (error_) return error_;
    if (buffered() > 0) return codec_errc::truncated;
    return {};
}

template class basic_message_decoder<rpc_request>;
template class basic_message_decoder<rpc_response>;

// ---- net/rpc errors ----------------------------------------------------------------------------

std::string error_cant_find_service(std::string_view service_method) {
    return "rpc: can't find service " + std::string(service_method);
}

std::string error_cant_find_method(std::string_view service_method) {
    return "rpc: can't find method " + std::string(service_method);
}

std::string error_ill_formed(std::string_view service_method) {
    return "rpc: service/method request ill-formed: " + std::string(service_method);
}

std::optional<std::pair<std::string_view, std::string_view>> split_service_method(
    std::string_view service_method) {
    const auto dot = service_method.rfind('.');
    if (dot == std::string_view::npos) return std::nullopt;
    return std::pair{service_method.substr(0, dot), service_method.substr(dot + 1)};
}

// ---- struct helpers ----------------------------------------------------------------------------

msgpack::writer struct_writer::field(std::string_view name) {
    fields_.emplace_back(std::string(name), std::vector<std::uint8_t>{});
    return msgpack::writer(fields_.back().second);
}

void struct_writer::finish(msgpack::writer& out) {
    std::stable_sort(fields_.begin(), fields_.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    out.write_map_header(static_cast<std::uint32_t>(fields_.size()));
    for (const auto& [name, value] : fields_) {
        out.write_str(name);
        out.buffer().insert(out.buffer().end(), value.begin(), value.end());
    }
    fields_.clear();
}

void write_duration(msgpack::writer& w, std::chrono::nanoseconds d) {
    w.write_int(static_cast<std::int64_t>(d.count()));
}

std::expected<std::chrono::nanoseconds, std::error_code> read_duration(msgpack::reader& r) {
    auto v = read_go_int(r);
    if (!v) return std::unexpected(v.error());
    return std::chrono::nanoseconds(*v);
}

go_time go_time::from(std::chrono::system_clock::time_point tp) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(tp.time_since_epoch());
    auto secs = std::chrono::floor<std::chrono::seconds>(ns);
    go_time t;
    t.unix_seconds = secs.count();
    t.nanoseconds = static_cast<std::uint32_t>((ns - secs).count());
    t.offset_minutes = -1;
    return t;
}

std::chrono::system_clock::time_point go_time::to_time_point() const {
    using namespace std::chrono;
    return system_clock::time_point(duration_cast<system_clock::duration>(
        seconds(unix_seconds) + std::chrono::nanoseconds(static_cast<std::int64_t>(nanoseconds))));
}

std::vector<std::uint8_t> marshal_time(const go_time& t) {
    const bool v2 = t.offset_seconds != 0;
    std::vector<std::uint8_t> out;
    out.reserve(v2 ? 16 : 15);
    out.push_back(v2 ? 2 : 1);
    const auto sec = static_cast<std::uint64_t>(t.unix_seconds + go_time::unix_to_internal);
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(sec >> (8 * i)));
    for (int i = 3; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(t.nanoseconds >> (8 * i)));
    const auto off = static_cast<std::uint16_t>(t.offset_minutes);
    out.push_back(static_cast<std::uint8_t>(off >> 8));
    out.push_back(static_cast<std::uint8_t>(off));
    if (v2) out.push_back(static_cast<std::uint8_t>(t.offset_seconds));
    return out;
}

std::expected<go_time, std::error_code> unmarshal_time(std::span<const std::uint8_t> blob) {
    if (blob.empty()) return fail(codec_errc::bad_time);
    const std::uint8_t version = blob[0];
    if ((version == 1 && blob.size() != 15) || (version == 2 && blob.size() != 16) ||
        (version != 1 && version != 2))
        return fail(codec_errc::bad_time);
    std::uint64_t sec = 0;
    for (int i = 1; i <= 8; ++i) sec = (sec << 8) | blob[static_cast<std::size_t>(i)];
    std::uint32_t nsec = 0;
    for (int i = 9; i <= 12; ++i) nsec = (nsec << 8) | blob[static_cast<std::size_t>(i)];
    if (nsec > 999'999'999) return fail(codec_errc::bad_time);
    go_time t;
    const auto internal = static_cast<std::int64_t>(sec);
    if (internal < INT64_MIN + go_time::unix_to_internal) return fail(codec_errc::bad_time);
    t.unix_seconds = internal - go_time::unix_to_internal;
    t.nanoseconds = nsec;
    t.offset_minutes = static_cast<std::int16_t>((blob[13] << 8) | blob[14]);
    if (version == 2) t.offset_seconds = static_cast<std::int8_t>(blob[15]);
    return t;
}

void write_time(msgpack::writer& w, const go_time& t) {
    const auto blob = marshal_time(t);
    w.write_raw(blob);
}

std::expected<go_time, std::error_code> read_time(msgpack::reader& r) {
    if (r.next_is_nil()) {  // nil *time.Time / empty blob
        (void)r.read_nil();
        return go_time{};
    }
    auto raw = r.read_raw();
    if (!raw) return std::unexpected(map_reader_error(raw.error()));
    return unmarshal_time(*raw);
}

void query_options::write_fields(struct_writer& s) const {
    s.field("Token").write_str(token);
    s.field("MinQueryIndex").write_uint(min_query_index);
    {
        auto w = s.field("MaxQueryTime");
        write_duration(w, max_query_time);
    }
    s.field("AllowStale").write_bool(allow_stale);
    s.field("RequireConsistent").write_bool(require_consistent);
    s.field("UseCache").write_bool(use_cache);
    {
        auto w = s.field("MaxStaleDuration");
        write_duration(w, max_stale_duration);
    }
    {
        auto w = s.field("MaxAge");
        write_duration(w, max_age);
    }
    s.field("MustRevalidate").write_bool(must_revalidate);
    {
        auto w = s.field("StaleIfError");
        write_duration(w, stale_if_error);
    }
    s.field("Filter").write_str(filter);
    s.field("AllowNotModifiedResponse").write_bool(allow_not_modified_response);
}

namespace {

template <class T>
std::expected<bool, std::error_code> assign(std::expected<T, std::error_code> v, T& out) {
    if (!v) return std::unexpected(v.error());
    out = std::move(*v);
    return true;
}

}  // namespace

std::expected<bool, std::error_code> query_options::read_field(std::string_view key,
                                                               msgpack::reader& r) {
    if (key == "Token") return assign(read_go_string(r), token);
    if (key == "MinQueryIndex") return assign(read_go_uint(r), min_query_index);
    if (key == "MaxQueryTime") return assign(read_duration(r), max_query_time);
    if (key == "AllowStale") return assign(read_go_bool(r), allow_stale);
    if (key == "RequireConsistent") return assign(read_go_bool(r), require_consistent);
    if (key == "UseCache") return assign(read_go_bool(r), use_cache);
    if (key == "MaxStaleDuration") return assign(read_duration(r), max_stale_duration);
    if (key == "MaxAge") return assign(read_duration(r), max_age);
    if (key == "MustRevalidate") return assign(read_go_bool(r), must_revalidate);
    if (key == "StaleIfError") return assign(read_duration(r), stale_if_error);
    if (key == "Filter") return assign(read_go_string(r), filter);
    if (key == "AllowNotModifiedResponse")
        return assign(read_go_bool(r), allow_not_modified_response);
    return false;
}

void query_meta::write_fields(struct_writer& s) const {
    s.field("Index").write_uint(index);
    {
        auto w = s.field("LastContact");
        write_duration(w, last_contact);
    }
    s.field("KnownLeader").write_bool(known_leader);
    s.field("ConsistencyLevel").write_str(consistency_level);
    s.field("NotModified").write_bool(not_modified);
    s.field("Backend").write_int(backend);
    s.field("ResultsFilteredByACLs").write_bool(results_filtered_by_acls);
}

std::expected<bool, std::error_code> query_meta::read_field(std::string_view key,
                                                            msgpack::reader& r) {
    if (key == "Index") return assign(read_go_uint(r), index);
    if (key == "LastContact") return assign(read_duration(r), last_contact);
    if (key == "KnownLeader") return assign(read_go_bool(r), known_leader);
    if (key == "ConsistencyLevel") return assign(read_go_string(r), consistency_level);
    if (key == "NotModified") return assign(read_go_bool(r), not_modified);
    if (key == "Backend") return assign(read_go_int(r), backend);
    if (key == "ResultsFilteredByACLs") return assign(read_go_bool(r), results_filtered_by_acls);
    return false;
}

}  // namespace meshfed::rpc
