// The mesh gateway's TLS ClientHello reader (mesh/client_hello.hpp parse_client_hello): SNI and
// ALPN from the first bytes of every connection to the gateway, before any TLS.
//
// Input: [split][bytes]. The whole input is parsed, then the prefix that a reader stopping after
// `split` bytes would have seen: a prefix of a good hello must ask for more, never fail.
#include <algorithm>
#include <cctype>

#include "fuzz/fuzz_input.hpp"
#include "mesh/client_hello.hpp"

using namespace meshfed::mesh;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    meshfed::fuzz::input in(data, size);
    const std::uint16_t split = in.u16();
    const auto bytes = in.rest();

    auto full = parse_client_hello(bytes);
    if (full) {
        MESHFED_FUZZ_CHECK(full->consumed <= bytes.size());
        MESHFED_FUZZ_CHECK(!full->sni.empty() && full->sni.back() != '.');
        MESHFED_FUZZ_CHECK(std::none_of(full->sni.begin(), full->sni.end(), [](char c) {
            return std::isupper(static_cast<unsigned char>(c));
        }));
        if (full->consumed > 0) {
            const std::size_t cut = split % full->consumed;
            auto part = parse_client_hello(bytes.first(cut));
            MESHFED_FUZZ_CHECK(!part && part.error() == hello_error::need_more);
        }
        // Bytes after the hello (the rest of the TLS flight) change nothing.
        auto exact = parse_client_hello(bytes.first(full->consumed));
        MESHFED_FUZZ_CHECK(exact && exact->sni == full->sni && exact->alpn == full->alpn);
    } else if (!bytes.empty()) {
        (void)parse_client_hello(bytes.first(split % bytes.size()));
    }
    return 0;
}
