#include "wan/wire/framing.hpp"

#include <algorithm>
#include <array>

namespace meshfed::wan::wire {

// ---- compound ----------------------------------------------------------------------------------

std::expected<bytes, errc> make_compound(std::span<const bytes> parts) {
    if (parts.size() > max_compound_parts) return std::unexpected(errc::too_many_parts);
    std::size_t total = compound_header_overhead + compound_overhead * parts.size();
    for (const auto& p : parts) {
        if (p.empty()) return std::unexpected(errc::empty_message);
        if (p.size() > max_compound_part_size) return std::unexpected(errc::oversized);
        total += p.size();
    }
    bytes out;
    out.reserve(total);
    out.push_back(static_cast<std::uint8_t>(message_type::compound));
    out.push_back(static_cast<std::uint8_t>(parts.size()));
    for (const auto& p : parts) {
        out.push_back(static_cast<std::uint8_t>(p.size() >> 8));
        out.push_back(static_cast<std::uint8_t>(p.size()));
    }
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

std::expected<std::vector<bytes>, errc> make_compounds(std::span<const bytes> parts) {
    std::vector<bytes> out;
    for (std::size_t i = 0; i < parts.size(); i += max_compound_parts) {
        const std::size_t n = std::min(max_compound_parts, parts.size() - i);
        auto c = make_compound(parts.subspan(i, n));
        if (!c) return std::unexpected(c.error());
        out.push_back(std::move(*c));
    }
    return out;
}

std::expected<compound_parts, errc> parse_compound(std::span<const std::uint8_t> body) {
    if (body.empty()) return std::unexpected(errc::truncated);
    const std::size_t n = body[0];
    body = body.subspan(1);
    if (body.size() < 2 * n) return std::unexpected(errc::truncated);
    compound_parts out;
    out.parts.reserve(n);
    std::size_t off = 2 * n;
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t len = (std::size_t{body[2 * i]} << 8) | body[2 * i + 1];
        if (body.size() - off < len) {
            out.truncated = static_cast<std::uint32_t>(n - i);
            break;
        }
        out.parts.push_back(body.subspan(off, len));
        off += len;
    }
    return out;
}

// ---- CRC ---------------------------------------------------------------------------------------

namespace {
constexpr std::array<std::uint32_t, 256> make_crc_table() {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? (0xedb88320u ^ (c >> 1)) : (c >> 1);
        t[i] = c;
    }
    return t;
}
constexpr auto crc_table = make_crc_table();
}  // namespace

std::uint32_t crc32_ieee(std::span<const std::uint8_t> data) noexcept {
    std::uint32_t c = 0xffffffffu;
    for (std::uint8_t b : data) c = crc_table[(c ^ b) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

bytes add_crc(std::span<const std::uint8_t> message) {
    const std::uint32_t crc = crc32_ieee(message);
    bytes out;
    out.reserve(message.size() + 5);
    out.push_back(static_cast<std::uint8_t>(message_type::has_crc));
    for (int i = 3; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(crc >> (8 * i)));
    out.insert(out.end(), message.begin(), message.end());
    return out;
}

std::expected<std::span<const std::uint8_t>, errc> strip_crc(std::span<const std::uint8_t> packet) {
    if (packet.size() < 5 || packet[0] != static_cast<std::uint8_t>(message_type::has_crc))
        return packet;
    const std::uint32_t expected = (std::uint32_t{packet[1]} << 24) |
                                   (std::uint32_t{packet[2]} << 16) |
                                   (std::uint32_t{packet[3]} << 8) | packet[4];
    auto inner = packet.subspan(5);
    if (crc32_ieee(inner) != expected) return std::unexpected(errc::bad_crc);
    return inner;
}

// ---- label -------------------------------------------------------------------------------------

std::size_t label_overhead(std::string_view label) noexcept {
    return label.empty() ? 0 : 2 + label.size();
}

std::expected<bytes, errc> label_header(std::string_view label) {
    if (label.size() > max_label_size) return std::unexpected(errc::oversized);
    bytes out;
    if (label.empty()) return out;
    out.reserve(2 + label.size());
    out.push_back(static_cast<std::uint8_t>(message_type::has_label));
    out.push_back(static_cast<std::uint8_t>(label.size()));
    out.insert(out.end(), label.begin(), label.end());
    return out;
}

std::expected<bytes, errc> add_label_header(std::span<const std::uint8_t> packet,
                                            std::string_view label) {
    auto out = label_header(label);
    if (!out) return out;
    out->insert(out->end(), packet.begin(), packet.end());
    return out;
}

std::expected<split_label, errc> read_label_header(std::span<const std::uint8_t> packet) {
    split_label out;
    if (packet.empty() || packet[0] != static_cast<std::uint8_t>(message_type::has_label)) {
        out.rest = packet;
        return out;
    }
    if (packet.size() < 2) return std::unexpected(errc::malformed_label);
    const std::size_t len = packet[1];
    if (len == 0) return std::unexpected(errc::malformed_label);
    if (packet.size() < 2 + len) return std::unexpected(errc::malformed_label);
    out.label = std::string_view(reinterpret_cast<const char*>(packet.data() + 2), len);
    out.rest = packet.subspan(2 + len);
    out.had_header = true;
    return out;
}

std::expected<std::string_view, errc> check_label(const split_label& in, std::string_view ours,
                                                  bool skip_inbound_label_check) {
    if (skip_inbound_label_check) {
        if (in.had_header) return std::unexpected(errc::bad_label);
        return ours;
    }
    if (in.label != ours) return std::unexpected(errc::bad_label);
    return ours;
}

}  // namespace meshfed::wan::wire
