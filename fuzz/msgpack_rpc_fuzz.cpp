// msgpack-rpc on a yamux stream of the RPC port (rpc/msgpack_rpc.hpp, rpc/structs.hpp): the
// incremental request decoder (header map + args object), the header parser, and the bounded
// struct decoders the endpoints run on the args (rpc/endpoints.cpp picks them by method name),
// or, client side, the response decoder and the reply decoders.
//
// Input: [mode][chunk sizes: n, n bytes][stream bytes]. mode bit 0: response stream (client
// side) instead of requests. Each complete message's body is decoded as the struct its method
// takes (or every request type when the method is unknown) and re-encoded (must decode again).
#include <string_view>

#include "fuzz/fuzz_input.hpp"
#include "rpc/msgpack_rpc.hpp"
#include "rpc/structs.hpp"

using namespace meshfed::rpc;

namespace {

// Small limits so the fuzzer reaches them.
constexpr decode_limits struct_limits{
    .max_elements = 256, .max_string = 4096, .max_opaque = 4096, .max_depth = 24};

template <class T>
void decode_body(std::span<const std::uint8_t> body) {
    decode_counters counters;
    auto v = decode_from_bytes<T>(body, struct_limits, &counters);
    if (!v) {
        MESHFED_FUZZ_CHECK(counters.rejected == 1);
        return;
    }
    // What we decoded we can encode, and it decodes again.
    const auto again = encode_to_bytes(*v);
    auto second = decode_from_bytes<T>(again, decode_limits{});
    MESHFED_FUZZ_CHECK(second.has_value());
}

void request_body(std::string_view method, std::span<const std::uint8_t> body) {
    if (method == "Catalog.Register") return decode_body<register_request>(body);
    if (method == "Catalog.Deregister") return decode_body<deregister_request>(body);
    if (method == "Catalog.ServiceNodes" || method == "Health.ServiceNodes")
        return decode_body<service_specific_request>(body);
    if (method == "Catalog.NodeServices") return decode_body<node_specific_request>(body);
    if (method == "FederationState.Apply") return decode_body<federation_state_request>(body);
    if (method == "FederationState.Get") return decode_body<federation_state_query>(body);
    if (method == "Internal.ServiceDump") return decode_body<service_dump_request>(body);
    if (method == "Status.Ping" || method == "Status.Leader") return;
    decode_body<dc_specific_request>(body);
    decode_body<datacenters_request>(body);
}

void response_body(std::string_view method, std::span<const std::uint8_t> body) {
    if (method == "Catalog.ListNodes") return decode_body<indexed_nodes>(body);
    if (method == "Catalog.ListServices") return decode_body<indexed_services>(body);
    if (method == "Catalog.ServiceNodes") return decode_body<indexed_service_nodes>(body);
    if (method == "Catalog.NodeServices") return decode_body<indexed_node_services>(body);
    if (method == "Health.ServiceNodes") return decode_body<indexed_check_service_nodes>(body);
    if (method == "FederationState.Get") return decode_body<federation_state_response>(body);
    if (method == "FederationState.List") return decode_body<indexed_federation_states>(body);
    if (method == "FederationState.ListMeshGateways")
        return decode_body<datacenter_indexed_check_service_nodes>(body);
    if (method == "Internal.ServiceDump") return decode_body<indexed_nodes_with_gateways>(body);
    decode_body<indexed_health_checks>(body);
}

template <class Decoder, class OnMessage>
void run(std::span<const std::uint8_t> stream, std::span<const std::uint8_t> chunk_sizes,
         OnMessage on_message) {
    decoder_limits limits;
    limits.max_header_size = 1024;
    limits.max_body_size = 16 * 1024;
    Decoder dec(limits);
    bool dead = false;
    meshfed::fuzz::for_each_chunk(stream, chunk_sizes, [&](std::span<const std::uint8_t> chunk) {
        if (dead) return;
        dec.feed(chunk);
        for (;;) {
            auto m = dec.next();
            if (!m) {
                // Sticky: the decoder stays dead.
                MESHFED_FUZZ_CHECK(!dec.next().has_value());
                MESHFED_FUZZ_CHECK(dec.stats().errors == 1);
                dead = true;
                return;
            }
            if (!*m) break;
            MESHFED_FUZZ_CHECK((*m)->body.size() <= limits.max_body_size);
            on_message(**m);
        }
    });
    if (!dead) (void)dec.finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    meshfed::fuzz::input in(data, size);
    const std::uint8_t mode = in.byte();
    const auto chunk_sizes = in.take(in.byte() % 8);
    if ((mode & 1) == 0) {
        run<request_decoder>(in.rest(), chunk_sizes, [](const rpc_request& r) {
            (void)split_service_method(r.header.service_method);
            request_body(r.header.service_method, r.body);
        });
    } else {
        run<response_decoder>(in.rest(), chunk_sizes, [](const rpc_response& r) {
            if (r.header.error.empty()) response_body(r.header.service_method, r.body);
        });
    }
    // The header parsers over the raw bytes, too.
    (void)parse_request_header(in.rest());
    (void)parse_response_header(in.rest());
    return 0;
}
