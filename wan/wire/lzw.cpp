#include "wan/wire/lzw.hpp"

#include <array>
#include <memory>

#include "common/msgpack.hpp"
#include "wan/wire/messages.hpp"

namespace meshfed::wan::wire {

namespace {

constexpr std::uint32_t clear_code = 256;
constexpr std::uint32_t eof_code = 257;
constexpr std::uint32_t max_code = 4095;  // 12-bit codes
constexpr unsigned initial_width = 9;
constexpr unsigned max_width = 12;

// LSB-first bit packer.
class bit_writer {
  public:
    explicit bit_writer(bytes& out) : out_(out) {}
    void put(std::uint32_t code, unsigned width) {
        acc_ |= std::uint64_t{code} << nbits_;
        nbits_ += width;
        while (nbits_ >= 8) {
            out_.push_back(static_cast<std::uint8_t>(acc_));
            acc_ >>= 8;
            nbits_ -= 8;
        }
    }
    void flush() {
        if (nbits_ > 0) out_.push_back(static_cast<std::uint8_t>(acc_));
        acc_ = 0;
        nbits_ = 0;
    }

  private:
    bytes& out_;
    std::uint64_t acc_ = 0;
    unsigned nbits_ = 0;
};

// Dictionary of (prefix code, next byte) -> code, open addressing. A slot holds
// (key << 12 | code) with key = prefix << 8 | byte (20 bits); 0 = empty (key 0 never stored
// with code 0 because codes stored are >= 258).
class dictionary {
  public:
    static constexpr std::uint32_t size = 1u << 14;
    static constexpr std::uint32_t mask = size - 1;

    void reset() { slots_.fill(0); }
    // Returns the code for key or 0 when absent; `slot` receives where to insert.
    std::uint32_t find(std::uint32_t key, std::uint32_t& slot) const {
        std::uint32_t h = ((key >> 12) ^ key) & mask;
        while (slots_[h] != 0) {
            if ((slots_[h] >> 12) == key) return slots_[h] & max_code;
            h = (h + 1) & mask;
        }
        slot = h;
        return 0;
    }
    void insert_at(std::uint32_t slot, std::uint32_t key, std::uint32_t code) {
        slots_[slot] = (key << 12) | code;
    }

  private:
    std::array<std::uint32_t, size> slots_{};
};

struct encoder_state {
    unsigned width = initial_width;
    std::uint32_t hi = eof_code;  // last assigned code
    std::uint32_t overflow = 1u << initial_width;
};

// Advances the next-code counter the way Go's writer does; returns false when the table was
// reset (a clear code was emitted and no entry must be added).
bool advance(encoder_state& st, bit_writer& bw, dictionary& dict) {
    ++st.hi;
    if (st.hi == st.overflow) {
        ++st.width;
        st.overflow <<= 1;
    }
    if (st.hi == max_code) {
        bw.put(clear_code, st.width);
        st = encoder_state{};
        dict.reset();
        return false;
    }
    return true;
}

}  // namespace

bytes lzw_compress(std::span<const std::uint8_t> input) {
    bytes out;
    out.reserve(input.size() / 2 + 8);
    bit_writer bw(out);
    encoder_state st;
    if (input.empty()) {
        bw.put(clear_code, st.width);
        bw.put(eof_code, st.width);
        bw.flush();
        return out;
    }
    auto dict = std::make_unique<dictionary>();
    bw.put(clear_code, st.width);
    std::uint32_t code = input[0];
    for (std::size_t i = 1; i < input.size(); ++i) {
        const std::uint32_t lit = input[i];
        const std::uint32_t key = (code << 8) | lit;
        std::uint32_t slot = 0;
        if (std::uint32_t found = dict->find(key, slot); found != 0) {
            code = found;
            continue;
        }
        bw.put(code, st.width);
        code = lit;
        if (advance(st, bw, *dict)) dict->insert_at(slot, key, st.hi);
    }
    bw.put(code, st.width);
    (void)advance(st, bw, *dict);
    bw.put(eof_code, st.width);
    bw.flush();
    return out;
}

std::expected<bytes, errc> lzw_decompress(std::span<const std::uint8_t> input, std::size_t limit) {
    constexpr std::uint16_t invalid = 0xffff;
    struct tables {
        std::array<std::uint16_t, max_code + 1> prefix{};
        std::array<std::uint8_t, max_code + 1> suffix{};
        std::array<std::uint8_t, max_code + 2> scratch{};
    };
    auto t = std::make_unique<tables>();

    bytes out;
    std::size_t pos = 0;
    std::uint64_t acc = 0;
    unsigned nbits = 0;
    unsigned width = initial_width;
    std::uint32_t hi = eof_code;
    std::uint32_t overflow = 1u << initial_width;
    std::uint16_t last = invalid;

    for (;;) {
        while (nbits < width) {
            if (pos >= input.size()) return std::unexpected(errc::bad_compression);  // no eof
            acc |= std::uint64_t{input[pos++]} << nbits;
            nbits += 8;
        }
        const std::uint32_t code = static_cast<std::uint32_t>(acc & ((1u << width) - 1));
        acc >>= width;
        nbits -= width;

        if (code < clear_code) {
            if (out.size() + 1 > limit) return std::unexpected(errc::decompression_limit);
            out.push_back(static_cast<std::uint8_t>(code));
            if (last != invalid) {
                t->suffix[hi] = static_cast<std::uint8_t>(code);
                t->prefix[hi] = last;
            }
        } else if (code == clear_code) {
            width = initial_width;
            hi = eof_code;
            overflow = 1u << initial_width;
            last = invalid;
            continue;
        } else if (code == eof_code) {
            break;
        } else if (code <= hi) {
            // Expand right-to-left into scratch; at most 4096 symbols (+1 for KwKwK).
            std::size_t i = t->scratch.size();
            std::uint32_t c = code;
            if (code == hi && last != invalid) {
                // KwKwK: string(last) + first byte of string(last).
                std::uint32_t first = last;
                for (unsigned guard = 0; first >= clear_code && guard <= max_code; ++guard)
                    first = t->prefix[first];
                t->scratch[--i] = static_cast<std::uint8_t>(first);
                c = last;
            }
            unsigned guard = 0;
            while (c >= clear_code) {
                if (i == 0 || ++guard > max_code) return std::unexpected(errc::bad_compression);
                t->scratch[--i] = t->suffix[c];
                c = t->prefix[c];
            }
            if (i == 0) return std::unexpected(errc::bad_compression);
            t->scratch[--i] = static_cast<std::uint8_t>(c);
            const std::size_t n = t->scratch.size() - i;
            if (out.size() + n > limit) return std::unexpected(errc::decompression_limit);
            out.insert(out.end(), t->scratch.begin() + static_cast<std::ptrdiff_t>(i),
                       t->scratch.end());
            if (last != invalid) {
                t->suffix[hi] = static_cast<std::uint8_t>(c);
                t->prefix[hi] = last;
            }
        } else {
            return std::unexpected(errc::bad_compression);  // code beyond the table
        }
        last = static_cast<std::uint16_t>(code);
        ++hi;
        if (hi >= overflow) {
            if (width == max_width) {
                last = invalid;  // table full: no new entries until a clear code
                --hi;
            } else {
                ++width;
                overflow <<= 1;
            }
        }
    }
    return out;
}

bytes compress_message(std::span<const std::uint8_t> message) {
    compress_msg c;
    c.algo = lzw_algo;
    c.buf = lzw_compress(message);
    return encode_message(c);
}

std::expected<bytes, errc> decompress_message_prefix(std::span<const std::uint8_t> body,
                                                     std::size_t limit, std::size_t& consumed) {
    msgpack::reader r(body);
    compress_msg c;
    if (auto res = decode_from(r, c); !res) {
        // A stream may simply not have delivered the whole object yet: report incomplete when
        // the object is a valid prefix (the reader ran out of bytes).
        msgpack::reader probe(body);
        auto skipped = probe.skip();
        if (!skipped && skipped.error() == msgpack::errc::truncated)
            return std::unexpected(errc::incomplete);
        return std::unexpected(errc::bad_compression);
    }
    consumed = r.position();
    if (c.algo != lzw_algo) return std::unexpected(errc::bad_compression);
    auto out = lzw_decompress(c.buf, limit);
    if (!out) return out;
    if (out->empty()) return std::unexpected(errc::bad_compression);
    return out;
}

std::expected<bytes, errc> decompress_message(std::span<const std::uint8_t> body,
                                              std::size_t limit) {
    std::size_t consumed = 0;
    auto out = decompress_message_prefix(body, limit, consumed);
    if (!out && out.error() == errc::incomplete) return std::unexpected(errc::bad_compression);
    return out;
}

}  // namespace meshfed::wan::wire
