#include "wan/wire/errors.hpp"

#include <string>

namespace meshfed::wan::wire {

std::string_view to_string(message_type t) noexcept {
    switch (t) {
        case message_type::ping:
            return "ping";
        case message_type::indirect_ping:
            return "indirectPing";
        case message_type::ack_resp:
            return "ackResp";
        case message_type::suspect:
            return "suspect";
        case message_type::alive:
            return "alive";
        case message_type::dead:
            return "dead";
        case message_type::push_pull:
            return "pushPull";
        case message_type::compound:
            return "compound";
        case message_type::user:
            return "user";
        case message_type::compress:
            return "compress";
        case message_type::encrypt:
            return "encrypt";
        case message_type::nack_resp:
            return "nackResp";
        case message_type::has_crc:
            return "hasCrc";
        case message_type::err:
            return "err";
        case message_type::has_label:
            return "hasLabel";
    }
    return "unknown";
}

std::string_view to_string(errc e) noexcept {
    switch (e) {
        case errc::truncated:
            return "truncated";
        case errc::incomplete:
            return "incomplete";
        case errc::oversized:
            return "oversized";
        case errc::bad_label:
            return "bad label";
        case errc::malformed_label:
            return "malformed label header";
        case errc::decrypt_failed:
            return "No installed keys could decrypt the message";  // memberlist's text
        case errc::unsupported_encryption_version:
            return "unsupported encryption version";
        case errc::not_encrypted:
            return "encryption is configured but input is not encrypted";
        case errc::encryption_not_configured:
            return "input is encrypted and encryption is not configured";
        case errc::bad_crc:
            return "invalid checksum";
        case errc::bad_compression:
            return "bad compression";
        case errc::decompression_limit:
            return "decompressed size over limit";
        case errc::too_deep:
            return "message nesting too deep";
        case errc::unknown_type:
            return "message type not supported";
        case errc::malformed_msgpack:
            return "malformed msgpack body";
        case errc::empty_message:
            return "empty message";
        case errc::too_many_parts:
            return "too many compound parts";
        case errc::invalid_key:
            return "invalid key";
        case errc::invalid_argument:
            return "invalid argument";
        case errc::crypto_failure:
            return "crypto library failure";
    }
    return "unknown wire error";
}

namespace {
class wire_category_impl : public std::error_category {
  public:
    const char* name() const noexcept override { return "meshfed.wan.wire"; }
    std::string message(int ev) const override {
        return std::string(to_string(static_cast<errc>(ev)));
    }
};
}  // namespace

const std::error_category& wire_category() noexcept {
    static const wire_category_impl instance;
    return instance;
}

std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), wire_category()};
}

std::uint64_t wire_stats::total_dropped() const noexcept {
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < dropped.size(); ++i) {
        if (i != static_cast<std::size_t>(errc::incomplete)) sum += dropped[i];
    }
    return sum;
}

void wire_stats::merge(const wire_stats& other) noexcept {
    for (std::size_t i = 0; i < dropped.size(); ++i) dropped[i] += other.dropped[i];
    packets_accepted += other.packets_accepted;
    messages_accepted += other.messages_accepted;
    streams_accepted += other.streams_accepted;
    truncated_parts += other.truncated_parts;
}

}  // namespace meshfed::wan::wire
