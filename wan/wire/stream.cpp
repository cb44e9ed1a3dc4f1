#include "wan/wire/stream.hpp"

#include <algorithm>

#include "common/msgpack.hpp"
#include "wan/wire/framing.hpp"

namespace meshfed::wan::wire {

namespace {

struct parse_result {
    message_type type{};
    stream_body body;
    std::size_t used = 0;  // bytes of `in` used
};

// `in` = [type][...]. `short_error`: what running out of input means here.
class message_parser {
  public:
    message_parser(std::span<const std::uint8_t> in, const stream_decode_options& opts,
                   errc short_error)
        : in_(in), opts_(opts), short_error_(short_error), r_(in.subspan(1)) {}

    std::expected<parse_result, errc> parse() {
        parse_result out;
        out.type = static_cast<message_type>(in_[0]);
        switch (out.type) {
            case message_type::ping: {
                ping p;
                if (auto e = object(p); !e) return std::unexpected(e.error());
                out.body = std::move(p);
                break;
            }
            case message_type::ack_resp: {
                ack_resp a;
                if (auto e = object(a); !e) return std::unexpected(e.error());
                out.body = std::move(a);
                break;
            }
            case message_type::err: {
                err_resp er;
                if (auto e = object(er); !e) return std::unexpected(e.error());
                out.body = std::move(er);
                break;
            }
            case message_type::push_pull: {
                auto pp = parse_push_pull();
                if (!pp) return std::unexpected(pp.error());
                out.body = std::move(*pp);
                break;
            }
            case message_type::user: {
                user_msg_header h;
                if (auto e = object(h); !e) return std::unexpected(e.error());
                if (h.user_msg_len < 0) return std::unexpected(errc::malformed_msgpack);
                if (h.user_msg_len > opts_.max_user_bytes) return std::unexpected(errc::oversized);
                auto raw = take(static_cast<std::size_t>(h.user_msg_len));
                if (!raw) return std::unexpected(raw.error());
                out.body = user_stream{bytes(raw->begin(), raw->end())};
                break;
            }
            default:
                return std::unexpected(errc::unknown_type);
        }
        out.used = 1 + r_.position() + extra_;
        return out;
    }

  private:
    template <class T>
    std::expected<void, errc> object(T& v) {
        msgpack::reader attempt(r_.remaining().subspan(extra_));
        if (decode_from(attempt, v)) {
            extra_ += attempt.position();
            return {};
        }
        // Distinguish "cut short" from "malformed" by a structural scan.
        msgpack::reader scan(r_.remaining().subspan(extra_));
        auto s = scan.skip();
        if (!s && s.error() == msgpack::errc::truncated) return std::unexpected(short_error_);
        return std::unexpected(errc::malformed_msgpack);
    }

    std::expected<std::span<const std::uint8_t>, errc> take(std::size_t n) {
        auto rest = r_.remaining().subspan(extra_);
        if (rest.size() < n) return std::unexpected(short_error_);
        extra_ += n;
        return rest.first(n);
    }

    std::expected<push_pull, errc> parse_push_pull() {
        push_pull_header h;
        if (auto e = object(h); !e) return std::unexpected(e.error());
        if (h.nodes < 0 || h.user_state_len < 0) return std::unexpected(errc::malformed_msgpack);
        if (h.nodes > opts_.max_nodes || h.user_state_len > opts_.max_user_bytes)
            return std::unexpected(errc::oversized);
        push_pull pp;
        pp.join = h.join;
        // Each node state takes at least one byte: never reserve more than the input could hold.
        const auto remaining = r_.remaining().size() - extra_;
        pp.nodes.reserve(std::min<std::size_t>(static_cast<std::size_t>(h.nodes), remaining));
        for (std::int64_t i = 0; i < h.nodes; ++i) {
            push_node_state n;
            if (auto e = object(n); !e) return std::unexpected(e.error());
            pp.nodes.push_back(std::move(n));
        }
        auto raw = take(static_cast<std::size_t>(h.user_state_len));
        if (!raw) return std::unexpected(raw.error());
        pp.user_state.assign(raw->begin(), raw->end());
        return pp;
    }

    std::span<const std::uint8_t> in_;
    const stream_decode_options& opts_;
    errc short_error_;
    msgpack::reader r_;      // positioned after the type byte (position stays 0)
    std::size_t extra_ = 0;  // bytes consumed after the type byte
};

// Parses an inner message that may be compressed. `complete`: `in` is the whole plaintext.
std::expected<stream_message, errc> parse_inner(std::span<const std::uint8_t> in,
                                                const stream_decode_options& opts, bool complete) {
    const errc short_error = complete ? errc::truncated : errc::incomplete;
    if (in.empty()) return std::unexpected(complete ? errc::empty_message : errc::incomplete);
    stream_message out;
    if (in[0] == static_cast<std::uint8_t>(message_type::compress)) {
        std::size_t used = 0;
        auto plain = decompress_message_prefix(in.subspan(1), opts.max_decompressed_size, used);
        if (!plain) {
            if (plain.error() == errc::incomplete) return std::unexpected(short_error);
            return std::unexpected(plain.error());
        }
        message_parser p(*plain, opts, errc::truncated);
        auto res = p.parse();
        if (!res) return std::unexpected(res.error());
        out.type = res->type;
        out.body = std::move(res->body);
        out.consumed = 1 + used;
        out.compressed = true;
        return out;
    }
    message_parser p(in, opts, short_error);
    auto res = p.parse();
    if (!res) return std::unexpected(res.error());
    out.type = res->type;
    out.body = std::move(res->body);
    out.consumed = res->used;
    return out;
}

std::expected<stream_message, errc> decode_stream_impl(std::span<const std::uint8_t> in,
                                                       const stream_decode_options& opts) {
    std::size_t offset = 0;
    bool had_label = false;
    std::string_view label = opts.label;
    if (opts.accept_label_header) {
        if (in.empty()) return std::unexpected(errc::incomplete);
        if (in[0] == static_cast<std::uint8_t>(message_type::has_label)) {
            if (in.size() < 2) return std::unexpected(errc::incomplete);
            if (in[1] == 0) return std::unexpected(errc::malformed_label);
            if (in.size() < 2u + in[1]) return std::unexpected(errc::incomplete);
        }
        auto split = read_label_header(in);
        if (!split) return std::unexpected(split.error());
        auto ok = check_label(*split, opts.label, opts.skip_inbound_label_check);
        if (!ok) return std::unexpected(ok.error());
        label = *ok;
        had_label = split->had_header;
        offset = in.size() - split->rest.size();
    }
    const auto rest = in.subspan(offset);
    if (rest.empty()) return std::unexpected(errc::incomplete);
    const bool encryption = opts.keys && !opts.keys->empty();

    if (rest[0] == static_cast<std::uint8_t>(message_type::encrypt)) {
        if (!encryption) return std::unexpected(errc::encryption_not_configured);
        if (rest.size() < 5) return std::unexpected(errc::incomplete);
        const std::size_t len = (std::size_t{rest[1]} << 24) | (std::size_t{rest[2]} << 16) |
                                (std::size_t{rest[3]} << 8) | rest[4];
        if (len > opts.max_encrypted_size) return std::unexpected(errc::oversized);
        if (rest.size() - 5 < len) return std::unexpected(errc::incomplete);
        bytes ad(rest.begin(), rest.begin() + 5);
        ad.insert(ad.end(), label.begin(), label.end());
        auto plain = decrypt_payload(*opts.keys, rest.subspan(5, len), ad);
        if (!plain) return std::unexpected(plain.error());
        auto msg = parse_inner(*plain, opts, true);
        if (!msg) return msg;
        msg->consumed = offset + 5 + len;
        msg->encrypted = true;
        msg->had_label_header = had_label;
        return msg;
    }
    if (encryption && opts.verify_incoming) return std::unexpected(errc::not_encrypted);
    auto msg = parse_inner(rest, opts, false);
    if (!msg) {
        if (msg.error() == errc::incomplete && in.size() >= opts.max_plain_size)
            return std::unexpected(errc::oversized);
        return msg;
    }
    msg->consumed += offset;
    msg->had_label_header = had_label;
    return msg;
}

}  // namespace

bytes encode_push_pull(const push_pull& pp) {
    bytes out;
    out.push_back(static_cast<std::uint8_t>(message_type::push_pull));
    msgpack::writer w(out);
    push_pull_header h;
    h.join = pp.join;
    h.nodes = static_cast<std::int64_t>(pp.nodes.size());
    h.user_state_len = static_cast<std::int64_t>(pp.user_state.size());
    encode_body(w, h);
    for (const auto& n : pp.nodes) encode_body(w, n);
    out.insert(out.end(), pp.user_state.begin(), pp.user_state.end());
    return out;
}

bytes encode_user_stream(std::span<const std::uint8_t> payload) {
    bytes out;
    out.push_back(static_cast<std::uint8_t>(message_type::user));
    msgpack::writer w(out);
    encode_body(w, user_msg_header{static_cast<std::int64_t>(payload.size())});
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
}

std::expected<bytes, errc> encode_stream(std::span<const std::uint8_t> message,
                                         const stream_encode_options& opts) {
    if (message.empty()) return std::unexpected(errc::empty_message);
    if (opts.label.size() > max_label_size) return std::unexpected(errc::oversized);
    bytes buf = opts.compress ? compress_message(message) : bytes(message.begin(), message.end());
    if (opts.keys && !opts.keys->empty()) {
        auto enc =
            encrypt_stream_frame(opts.encryption_version, opts.keys->primary(), buf, opts.label);
        if (!enc) return enc;
        buf = std::move(*enc);
    }
    if (opts.write_label_header && !opts.label.empty()) {
        auto labelled = add_label_header(buf, opts.label);
        if (!labelled) return labelled;
        buf = std::move(*labelled);
    }
    return buf;
}

std::expected<stream_message, errc> decode_stream(std::span<const std::uint8_t> buffered,
                                                  const stream_decode_options& opts, bool eof,
                                                  wire_stats& stats) {
    auto res = decode_stream_impl(buffered, opts);
    if (res) {
        ++stats.streams_accepted;
        ++stats.messages_accepted;
        return res;
    }
    errc e = res.error();
    if (e == errc::incomplete) {
        if (!eof) return res;
        e = errc::truncated;
    }
    stats.record(e);
    return std::unexpected(e);
}

}  // namespace meshfed::wan::wire
