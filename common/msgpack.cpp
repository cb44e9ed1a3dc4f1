#include "common/msgpack.hpp"

#include <bit>
#include <cstring>

namespace meshfed::msgpack {

namespace {

class category_impl : public std::error_category {
  public:
    const char* name() const noexcept override { return "msgpack"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::truncated:
                return "msgpack: input truncated";
            case errc::type_mismatch:
                return "msgpack: unexpected value type";
            case errc::out_of_range:
                return "msgpack: integer out of range";
            case errc::depth_exceeded:
                return "msgpack: nesting too deep";
            case errc::invalid_byte:
                return "msgpack: invalid marker byte";
        }
        return "msgpack: unknown error";
    }
};

std::unexpected<std::error_code> fail(errc e) {
    return std::unexpected(make_error_code(e));
}

}  // namespace

const std::error_category& msgpack_category() noexcept {
    static const category_impl instance;
    return instance;
}

std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), msgpack_category()};
}

// ---- writer ------------------------------------------------------------------------------------

void writer::put_be(std::uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) out_->push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

void writer::write_nil() {
    out_->push_back(0xc0);
}

void writer::write_bool(bool v) {
    out_->push_back(v ? 0xc3 : 0xc2);
}

void writer::write_uint(std::uint64_t v) {
    if (v <= 0x7f) {
        out_->push_back(static_cast<std::uint8_t>(v));
    } else if (v <= 0xff) {
        out_->push_back(0xcc);
        put_be(v, 1);
    } else if (v <= 0xffff) {
        out_->push_back(0xcd);
        put_be(v, 2);
    } else if (v <= 0xffffffffULL) {
        out_->push_back(0xce);
        put_be(v, 4);
    } else {
        out_->push_back(0xcf);
        put_be(v, 8);
    }
}

void writer::write_int(std::int64_t v, int_style style) {
    if (v >= 0 && (style == int_style::unsigned_for_non_negative || v <= 0x7f)) {
        write_uint(static_cast<std::uint64_t>(v));
        return;
    }
    const auto u = static_cast<std::uint64_t>(v);
    if (v >= -32 && v < 0) {
        out_->push_back(static_cast<std::uint8_t>(u));  // negative fixint e0-ff
    } else if (v >= INT8_MIN && v <= INT8_MAX) {
        out_->push_back(0xd0);
        put_be(u, 1);
    } else if (v >= INT16_MIN && v <= INT16_MAX) {
        out_->push_back(0xd1);
        put_be(u, 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        out_->push_back(0xd2);
        put_be(u, 4);
    } else {
        out_->push_back(0xd3);
        put_be(u, 8);
    }
}

void writer::write_float64(double v) {
    out_->push_back(0xcb);
    put_be(std::bit_cast<std::uint64_t>(v), 8);
}

void writer::write_raw(std::span<const std::uint8_t> v) {
    const std::size_t n = v.size();
    if (n < 32) {
        out_->push_back(static_cast<std::uint8_t>(0xa0 | n));
    } else if (n <= 0xffff) {
        out_->push_back(0xda);
        put_be(n, 2);
    } else {
        out_->push_back(0xdb);
        put_be(n, 4);
    }
    out_->insert(out_->end(), v.begin(), v.end());
}

void writer::write_str(std::string_view v) {
    write_raw({reinterpret_cast<const std::uint8_t*>(v.data()), v.size()});
}

void writer::write_bytes_or_nil(std::span<const std::uint8_t> v) {
    if (v.empty()) {
        write_nil();
    } else {
        write_raw(v);
    }
}

void writer::write_map_header(std::uint32_t n) {
    if (n < 16) {
        out_->push_back(static_cast<std::uint8_t>(0x80 | n));
    } else if (n <= 0xffff) {
        out_->push_back(0xde);
        put_be(n, 2);
    } else {
        out_->push_back(0xdf);
        put_be(n, 4);
    }
}

void writer::write_array_header(std::uint32_t n) {
    if (n < 16) {
        out_->push_back(static_cast<std::uint8_t>(0x90 | n));
    } else if (n <= 0xffff) {
        out_->push_back(0xdc);
        put_be(n, 2);
    } else {
        out_->push_back(0xdd);
        put_be(n, 4);
    }
}

// ---- reader ------------------------------------------------------------------------------------

std::expected<value_type, std::error_code> reader::peek_type() const {
    if (at_end()) return fail(errc::truncated);
    const std::uint8_t b = in_[pos_];
    if (b <= 0x7f || b >= 0xe0) return value_type::integer;
    if (b <= 0x8f) return value_type::map;
    if (b <= 0x9f) return value_type::array;
    if (b <= 0xbf) return value_type::raw;
    switch (b) {
        case 0xc0:
            return value_type::nil;
        case 0xc2:
        case 0xc3:
            return value_type::boolean;
        case 0xc4:
        case 0xc5:
        case 0xc6:
        case 0xd9:
        case 0xda:
        case 0xdb:
            return value_type::raw;
        case 0xc7:
        case 0xc8:
        case 0xc9:
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
            return value_type::ext;
        case 0xca:
            return value_type::float32;
        case 0xcb:
            return value_type::float64;
        case 0xcc:
        case 0xcd:
        case 0xce:
        case 0xcf:
        case 0xd0:
        case 0xd1:
        case 0xd2:
        case 0xd3:
            return value_type::integer;
        case 0xdc:
        case 0xdd:
            return value_type::array;
        case 0xde:
        case 0xdf:
            return value_type::map;
        default:
            return fail(errc::invalid_byte);  // 0xc1
    }
}

bool reader::next_is_nil() const {
    return !at_end() && in_[pos_] == 0xc0;
}

std::expected<std::uint64_t, std::error_code> reader::take_be(int bytes) {
    if (remaining_size() < static_cast<std::size_t>(bytes)) return fail(errc::truncated);
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | in_[pos_ + i];
    pos_ += bytes;
    return v;
}

std::expected<void, std::error_code> reader::read_nil() {
    if (at_end()) return fail(errc::truncated);
    if (in_[pos_] != 0xc0) return fail(errc::type_mismatch);
    ++pos_;
    return {};
}

std::expected<bool, std::error_code> reader::read_bool() {
    if (at_end()) return fail(errc::truncated);
    const std::uint8_t b = in_[pos_];
    if (b != 0xc2 && b != 0xc3) return fail(errc::type_mismatch);
    ++pos_;
    return b == 0xc3;
}

std::expected<reader::int_value, std::error_code> reader::read_any_int() {
    if (at_end()) return fail(errc::truncated);
    const std::uint8_t b = in_[pos_];
    if (b <= 0x7f) {
        ++pos_;
        return int_value{false, b};
    }
    if (b >= 0xe0) {
        ++pos_;
        return int_value{true, static_cast<std::uint64_t>(
                                   static_cast<std::int64_t>(static_cast<std::int8_t>(b)))};
    }
    int width = 0;
    bool is_signed = false;
    switch (b) {
        case 0xcc:
            width = 1;
            break;
        case 0xcd:
            width = 2;
            break;
        case 0xce:
            width = 4;
            break;
        case 0xcf:
            width = 8;
            break;
        case 0xd0:
            width = 1, is_signed = true;
            break;
        case 0xd1:
            width = 2, is_signed = true;
            break;
        case 0xd2:
            width = 4, is_signed = true;
            break;
        case 0xd3:
            width = 8, is_signed = true;
            break;
        default:
            return fail(errc::type_mismatch);
    }
    const std::size_t start = pos_;
    ++pos_;
    auto raw = take_be(width);
    if (!raw) {
        pos_ = start;
        return std::unexpected(raw.error());
    }
    std::uint64_t v = *raw;
    if (!is_signed) return int_value{false, v};
    // Sign-extend from `width` bytes.
    if (width < 8) {
        const std::uint64_t sign_bit = std::uint64_t{1} << (width * 8 - 1);
        if (v & sign_bit) v |= ~((sign_bit << 1) - 1);
    }
    const bool negative = static_cast<std::int64_t>(v) < 0;
    return int_value{negative, v};
}

std::expected<std::uint64_t, std::error_code> reader::read_uint() {
    const std::size_t start = pos_;
    auto v = read_any_int();
    if (!v) return std::unexpected(v.error());
    if (v->negative) {
        pos_ = start;
        return fail(errc::out_of_range);
    }
    return v->magnitude;
}

std::expected<std::int64_t, std::error_code> reader::read_int() {
    const std::size_t start = pos_;
    auto v = read_any_int();
    if (!v) return std::unexpected(v.error());
    if (!v->negative && v->magnitude > static_cast<std::uint64_t>(INT64_MAX)) {
        pos_ = start;
        return fail(errc::out_of_range);
    }
    return static_cast<std::int64_t>(v->magnitude);
}

std::expected<double, std::error_code> reader::read_float() {
    if (at_end()) return fail(errc::truncated);
    const std::uint8_t b = in_[pos_];
    if (b == 0xca || b == 0xcb) {
        if (remaining_size() < (b == 0xca ? 5u : 9u)) return fail(errc::truncated);
        ++pos_;
        if (b == 0xca) {
            auto bits = take_be(4);
            return static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(*bits)));
        }
        auto bits = take_be(8);
        return std::bit_cast<double>(*bits);
    }
    auto v = read_any_int();
    if (!v) return std::unexpected(v.error());
    if (v->negative) return static_cast<double>(static_cast<std::int64_t>(v->magnitude));
    return static_cast<double>(v->magnitude);
}

std::expected<std::span<const std::uint8_t>, std::error_code> reader::read_raw() {
    if (at_end()) return fail(errc::truncated);
    const std::uint8_t b = in_[pos_];
    const std::size_t start = pos_;
    std::uint64_t len = 0;
    int len_bytes = 0;
    if (b >= 0xa0 && b <= 0xbf) {
        len = b & 0x1f;
    } else {
        switch (b) {
            case 0xd9:
            case 0xc4:
                len_bytes = 1;
                break;
            case 0xda:
            case 0xc5:
                len_bytes = 2;
                break;
            case 0xdb:
            case 0xc6:
                len_bytes = 4;
                break;
            default:
                return fail(errc::type_mismatch);
        }
    }
    ++pos_;
    if (len_bytes) {
        auto l = take_be(len_bytes);
        if (!l) {
            pos_ = start;
            return std::unexpected(l.error());
        }
        len = *l;
    }
    if (len > remaining_size()) {
        pos_ = start;
        return fail(errc::truncated);
    }
    auto out = in_.subspan(pos_, static_cast<std::size_t>(len));
    pos_ += static_cast<std::size_t>(len);
    return out;
}

std::expected<std::string_view, std::error_code> reader::read_str() {
    auto r = read_raw();
    if (!r) return std::unexpected(r.error());
    return std::string_view(reinterpret_cast<const char*>(r->data()), r->size());
}

std::expected<std::uint32_t, std::error_code> reader::read_map_header() {
    if (at_end()) return fail(errc::truncated);
    const std::uint8_t b = in_[pos_];
    const std::size_t start = pos_;
    if (b >= 0x80 && b <= 0x8f) {
        ++pos_;
        return b & 0x0f;
    }
    if (b != 0xde && b != 0xdf) return fail(errc::type_mismatch);
    ++pos_;
    auto n = take_be(b == 0xde ? 2 : 4);
    if (!n) {
        pos_ = start;
        return std::unexpected(n.error());
    }
    return static_cast<std::uint32_t>(*n);
}

std::expected<std::uint32_t, std::error_code> reader::read_array_header() {
    if (at_end()) return fail(errc::truncated);
    const std::uint8_t b = in_[pos_];
    const std::size_t start = pos_;
    if (b >= 0x90 && b <= 0x9f) {
        ++pos_;
        return b & 0x0f;
    }
    if (b != 0xdc && b != 0xdd) return fail(errc::type_mismatch);
    ++pos_;
    auto n = take_be(b == 0xdc ? 2 : 4);
    if (!n) {
        pos_ = start;
        return std::unexpected(n.error());
    }
    return static_cast<std::uint32_t>(*n);
}

std::expected<void, std::error_code> reader::skip() {
    return skip_depth(0);
}

std::expected<void, std::error_code> reader::skip_depth(std::size_t depth) {
    auto t = peek_type();
    if (!t) return std::unexpected(t.error());
    const std::uint8_t b = in_[pos_];
    switch (*t) {
        case value_type::nil:
        case value_type::boolean:
            ++pos_;
            return {};
        case value_type::integer: {
            auto v = read_any_int();
            if (!v) return std::unexpected(v.error());
            return {};
        }
        case value_type::float32:
        case value_type::float64: {
            auto v = read_float();
            if (!v) return std::unexpected(v.error());
            return {};
        }
        case value_type::raw: {
            auto v = read_raw();
            if (!v) return std::unexpected(v.error());
            return {};
        }
        case value_type::ext: {
            std::uint64_t len = 0;
            std::size_t header = 0;
            switch (b) {
                case 0xd4:
                    len = 1, header = 2;
                    break;
                case 0xd5:
                    len = 2, header = 2;
                    break;
                case 0xd6:
                    len = 4, header = 2;
                    break;
                case 0xd7:
                    len = 8, header = 2;
                    break;
                case 0xd8:
                    len = 16, header = 2;
                    break;
                default: {
                    const int lb = b == 0xc7 ? 1 : b == 0xc8 ? 2 : 4;
                    if (remaining_size() < static_cast<std::size_t>(1 + lb + 1))
                        return fail(errc::truncated);
                    for (int i = 0; i < lb; ++i) len = (len << 8) | in_[pos_ + 1 + i];
                    header = static_cast<std::size_t>(1 + lb + 1);
                }
            }
            if (remaining_size() < header || remaining_size() - header < len)
                return fail(errc::truncated);
            pos_ += header + static_cast<std::size_t>(len);
            return {};
        }
        case value_type::array:
        case value_type::map: {
            if (depth >= max_depth_) return fail(errc::depth_exceeded);
            auto n = *t == value_type::array ? read_array_header() : read_map_header();
            if (!n) return std::unexpected(n.error());
            // Each element needs at least one byte: a count larger than the rest is truncated.
            const std::uint64_t items =
                static_cast<std::uint64_t>(*n) * (*t == value_type::map ? 2 : 1);
            if (items > remaining_size()) return fail(errc::truncated);
            for (std::uint64_t i = 0; i < items; ++i) {
                auto r = skip_depth(depth + 1);
                if (!r) return r;
            }
            return {};
        }
    }
    return fail(errc::invalid_byte);
}

}  // namespace meshfed::msgpack
