// serf's gossip messages (wan/serf_messages.hpp): the payload of every memberlist user message
// and of the push/pull user state, node tags from memberlist Meta, query filters and the tag
// filter's regular expression (which comes from the network: `serf query -tag role=EXPR`).
//
// Input: [mode][bytes]. mode % 4:
//   0  a serf message: dispatched on its type byte like serf.cpp does, and a message that
//      decodes is re-encoded and decoded again (must give the same struct);
//   1  node Meta -> decode_tags (re-encoded tags must decode to the same map);
//   2  a query filter -> decode_filter; a tag filter's expression is run over its tag name;
//   3  regex_search(expr, text): [u8 expr length][expr][text].
#include <optional>

#include "fuzz/fuzz_input.hpp"
#include "wan/serf_messages.hpp"

using namespace meshfed::wan;

namespace {

// decode -> encode -> decode must be stable for everything serf accepts.
template <class Msg, class Decode>
void round_trip(std::span<const std::uint8_t> msg, Decode decode) {
    auto first = decode(msg);
    if (!first) return;
    const bytes again = encode(*first);
    auto second = decode(again);
    MESHFED_FUZZ_CHECK(second.has_value());
    MESHFED_FUZZ_CHECK(*second == *first);
}

void message(std::span<const std::uint8_t> msg) {
    auto type = peek_serf_type(msg);
    if (!type) return;
    switch (*type) {
        case serf_message_type::leave:
            return round_trip<msg_leave>(msg, decode_leave);
        case serf_message_type::join:
            return round_trip<msg_join>(msg, decode_join);
        case serf_message_type::push_pull:
            return round_trip<msg_push_pull>(msg, decode_push_pull);
        case serf_message_type::user_event:
            return round_trip<msg_user_event>(msg, decode_user_event);
        case serf_message_type::query:
            if (auto q = decode_query(msg); q) {
                for (const auto& f : q->filters) (void)decode_filter(f);
            }
            return round_trip<msg_query>(msg, decode_query);
        case serf_message_type::query_response:
            return round_trip<msg_query_response>(msg, decode_query_response);
        case serf_message_type::conflict_response: {
            auto m = decode_conflict_response(msg);
            if (!m) return;
            const bytes again = encode_conflict_response(m->has_value() ? &**m : nullptr);
            auto second = decode_conflict_response(again);
            MESHFED_FUZZ_CHECK(second.has_value() && *second == *m);
            return;
        }
        case serf_message_type::key_request:
            return round_trip<msg_key_request>(msg, decode_key_request);
        case serf_message_type::key_response:
            return round_trip<msg_key_response>(msg, decode_key_response);
        case serf_message_type::relay:
            if (auto r = decode_relay(msg); r) message(r->inner);  // serf relays the inner one
            return;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    meshfed::fuzz::input in(data, size);
    const std::uint8_t mode = in.byte();
    switch (mode % 4) {
        case 0:
            message(in.rest());
            break;
        case 1:
            if (auto tags = decode_tags(in.rest()); tags && !tags->empty()) {
                const bool legacy = in.rest().empty() || in.rest()[0] != tag_magic_byte;
                if (!legacy) {
                    auto again = decode_tags(encode_tags(*tags));
                    MESHFED_FUZZ_CHECK(again.has_value() && *again == *tags);
                }
            }
            break;
        case 2:
            if (auto f = decode_filter(in.rest()); f) {
                if (const auto* tf = std::get_if<tag_filter>(&*f)) {
                    (void)regex_search(tf->expr, tf->tag);
                }
                auto again = decode_filter(encode_filter(*f));
                MESHFED_FUZZ_CHECK(again.has_value() && *again == *f);
            }
            break;
        default: {
            const auto expr = in.take(in.byte());
            const auto text = in.rest();
            (void)regex_search(
                std::string_view(reinterpret_cast<const char*>(expr.data()), expr.size()),
                std::string_view(reinterpret_cast<const char*>(text.data()), text.size()));
            break;
        }
    }
    return 0;
}
