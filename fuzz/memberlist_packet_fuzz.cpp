// memberlist's UDP receive pipeline (wan/wire/packet.hpp decode_packet): label header ->
// decrypt -> CRC -> LZW -> compound (nested) -> message bodies, as a datagram on 8302/udp.
//
// Input: [mode][datagram]. mode bits 0-3: keys, label and verification (fuzz/wire_modes.hpp;
// mode 2 seals the datagram and adds the label header here). Bit 4 turns msgpack body decoding
// off (framing only), bits 5-7 pick max_nesting 0..7.
#include <array>

#include "fuzz/fuzz_input.hpp"
#include "fuzz/wire_modes.hpp"
#include "wan/wire/crypto.hpp"
#include "wan/wire/framing.hpp"
#include "wan/wire/packet.hpp"

using namespace meshfed::wan::wire;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    meshfed::fuzz::input in(data, size);
    const std::uint8_t mode = in.byte();
    packet_decode_options opts;
    opts.decode_bodies = (mode & 0x10) == 0;
    opts.max_nesting = mode >> 5;
    bytes sealed;
    std::span<const std::uint8_t> datagram = in.rest();
    if (meshfed::fuzz::apply_wire_mode(opts, mode)) {
        const std::array<std::uint8_t, encryption_nonce_size> nonce{};
        const auto ad =
            std::span(reinterpret_cast<const std::uint8_t*>(opts.label.data()), opts.label.size());
        auto blob = encrypt_payload_with_nonce(meshfed::fuzz::seal_version(mode),
                                               opts.keys->primary(), nonce, datagram, ad);
        MESHFED_FUZZ_CHECK(blob.has_value());
        auto labelled = add_label_header(*blob, opts.label);
        MESHFED_FUZZ_CHECK(labelled.has_value());
        sealed = std::move(*labelled);
        datagram = sealed;
    }

    wire_stats stats;
    auto r = decode_packet(datagram, opts, stats);
    if (!r) {
        // Every dropped datagram is counted under its reason.
        MESHFED_FUZZ_CHECK(stats.count(r.error()) >= 1);
        MESHFED_FUZZ_CHECK(stats.packets_accepted == 0);
        return 0;
    }
    MESHFED_FUZZ_CHECK(stats.packets_accepted == 1);
    MESHFED_FUZZ_CHECK(r->truncated_parts == stats.truncated_parts);
    // The message spans point into storage the decoded packet owns, also after a move.
    decoded_packet moved = std::move(*r);
    std::uint32_t acc = 0;
    for (const auto& m : moved.messages) {
        MESHFED_FUZZ_CHECK(m.body.size() <= opts.max_decompressed_size + datagram.size());
        acc += meshfed::fuzz::touch(m.body);
    }
    (void)acc;
    return 0;
}
