#include "wan/wire/packet.hpp"

#include <optional>

#include "wan/wire/framing.hpp"
#include "wan/wire/lzw.hpp"

namespace meshfed::wan::wire {

namespace {

std::span<const std::uint8_t> label_ad(std::string_view label) {
    return {reinterpret_cast<const std::uint8_t*>(label.data()), label.size()};
}

bool is_packet_message(std::uint8_t t) {
    switch (static_cast<message_type>(t)) {
        case message_type::ping:
        case message_type::indirect_ping:
        case message_type::ack_resp:
        case message_type::suspect:
        case message_type::alive:
        case message_type::dead:
        case message_type::user:
        case message_type::nack_resp:
            return true;
        default:
            return false;
    }
}

}  // namespace

// ---- encode ------------------------------------------------------------------------------------

std::size_t packet_overhead(const packet_encode_options& opts) noexcept {
    std::size_t n = label_overhead(opts.label);
    if (opts.crc) n += 5;
    if (opts.keys && !opts.keys->empty()) n += opts.encryption_version == 0 ? 45 : 29;
    return n;
}

std::expected<bytes, errc> encode_packet(std::span<const std::uint8_t> message,
                                         const packet_encode_options& opts) {
    if (message.empty()) return std::unexpected(errc::empty_message);
    if (opts.label.size() > max_label_size) return std::unexpected(errc::oversized);
    bytes buf(message.begin(), message.end());
    if (opts.compress) {
        bytes c = compress_message(buf);
        if (c.size() < buf.size()) buf = std::move(c);
    }
    if (opts.crc) buf = add_crc(buf);
    if (opts.keys && !opts.keys->empty()) {
        auto enc = encrypt_payload(opts.encryption_version, opts.keys->primary(), buf,
                                   label_ad(opts.label));
        if (!enc) return enc;
        buf = std::move(*enc);
    }
    if (!opts.label.empty()) {
        auto labelled = add_label_header(buf, opts.label);
        if (!labelled) return labelled;
        buf = std::move(*labelled);
    }
    if (buf.size() > max_udp_payload) return std::unexpected(errc::oversized);
    return buf;
}

std::expected<bytes, errc> encode_packet(std::span<const bytes> messages,
                                         const packet_encode_options& opts) {
    if (messages.empty()) return std::unexpected(errc::invalid_argument);
    if (messages.size() == 1)
        return encode_packet(std::span<const std::uint8_t>(messages[0]), opts);
    auto compound = make_compound(messages);
    if (!compound) return compound;
    return encode_packet(std::span<const std::uint8_t>(*compound), opts);
}

// ---- decode ------------------------------------------------------------------------------------

struct packet_decoder {
    const packet_decode_options& opts;
    wire_stats& stats;
    decoded_packet& out;
    std::size_t decompressed_total = 0;

    std::span<const std::uint8_t> keep(bytes&& b) {
        out.storage_.push_back(std::move(b));
        return out.storage_.back();
    }

    // Handles one message; returns the drop reason if this message (not its children) is
    // dropped. Children's drops are recorded here.
    std::optional<errc> dispatch(std::span<const std::uint8_t> msg, std::size_t depth) {
        if (msg.empty()) return errc::empty_message;
        const std::uint8_t t = msg[0];
        const auto body = msg.subspan(1);
        switch (static_cast<message_type>(t)) {
            case message_type::compound: {
                if (depth >= opts.max_nesting) return errc::too_deep;
                auto parts = parse_compound(body);
                if (!parts) return parts.error();
                if (parts->truncated > 0) {
                    out.truncated_parts += parts->truncated;
                    stats.truncated_parts += parts->truncated;
                    stats.record(errc::truncated);
                }
                for (auto part : parts->parts) child(part, depth + 1);
                return std::nullopt;
            }
            case message_type::compress: {
                if (depth >= opts.max_nesting) return errc::too_deep;
                const std::size_t budget = opts.max_decompressed_size > decompressed_total
                                               ? opts.max_decompressed_size - decompressed_total
                                               : 0;
                auto inner = decompress_message(body, budget);
                if (!inner) return inner.error();
                decompressed_total += inner->size();
                out.compressed = true;
                auto view = keep(std::move(*inner));
                return dispatch(view, depth + 1);
            }
            default:
                break;
        }
        if (!is_packet_message(t)) return errc::unknown_type;
        packet_message pm;
        pm.type = static_cast<message_type>(t);
        pm.body = body;
        if (opts.decode_bodies) {
            auto decoded = decode_packet_body(pm.type, body);
            if (!decoded) return decoded.error();
            pm.decoded = std::move(*decoded);
        }
        out.messages.push_back(std::move(pm));
        return std::nullopt;
    }

    void child(std::span<const std::uint8_t> part, std::size_t depth) {
        if (auto dropped = dispatch(part, depth)) {
            stats.record(*dropped);
            ++out.dropped_parts;
        }
    }
};

std::expected<decoded_packet, errc> decode_packet(std::span<const std::uint8_t> datagram,
                                                  const packet_decode_options& opts,
                                                  wire_stats& stats) {
    auto drop = [&](errc e) -> std::expected<decoded_packet, errc> {
        stats.record(e);
        return std::unexpected(e);
    };
    if (datagram.size() > opts.max_packet_size) return drop(errc::oversized);
    if (datagram.empty()) return drop(errc::empty_message);

    auto split = read_label_header(datagram);
    if (!split) return drop(split.error());
    auto label = check_label(*split, opts.label, opts.skip_inbound_label_check);
    if (!label) return drop(label.error());

    decoded_packet out;
    out.label = std::string(split->label);
    std::span<const std::uint8_t> buf;
    if (opts.keys && !opts.keys->empty()) {
        auto plain = decrypt_payload(*opts.keys, split->rest, label_ad(*label));
        if (plain) {
            out.storage_.push_back(std::move(*plain));
            out.encrypted = true;
        } else if (!opts.verify_incoming) {
            out.storage_.emplace_back(split->rest.begin(), split->rest.end());
        } else {
            return drop(plain.error());
        }
    } else {
        out.storage_.emplace_back(split->rest.begin(), split->rest.end());
    }
    buf = out.storage_.back();
    if (buf.empty()) return drop(errc::empty_message);

    if (buf.size() >= 5 && buf[0] == static_cast<std::uint8_t>(message_type::has_crc)) {
        auto inner = strip_crc(buf);
        if (!inner) return drop(inner.error());
        buf = *inner;
        out.had_crc = true;
    }

    packet_decoder dec{opts, stats, out};
    if (auto dropped = dec.dispatch(buf, 0)) return drop(*dropped);
    ++stats.packets_accepted;
    stats.messages_accepted += out.messages.size();
    return out;
}

}  // namespace meshfed::wan::wire
