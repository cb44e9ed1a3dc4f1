// Gateway packet frames (wan/wanfed.hpp frame_decoder): the [u32 BE length][datagram] frames of
// an inbound consul/wan-gossip/packet connection, tunnelled through the mesh gateways.
//
// Input: [max size: u16][chunk sizes: n, n bytes][connection bytes]. The decoder is fed chunk by
// chunk and drained after each; the frames it yields must be exactly the input's frames, and an
// oversized length must poison it for good. Each frame goes on to memberlist's packet decoder,
// as serve_packet_conn hands it over.
#include "fuzz/fuzz_input.hpp"
#include "wan/wanfed.hpp"
#include "wan/wire/packet.hpp"

using namespace meshfed::wan;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    meshfed::fuzz::input in(data, size);
    const std::size_t max = in.u16();  // 0..65535 (production: 4 MiB)
    const auto chunk_sizes = in.take(in.byte() % 8);
    const auto wire = in.rest();

    wanfed::frame_decoder dec(max);
    std::size_t pos = 0;  // where the next frame starts in `wire`
    std::size_t fed = 0;
    meshfed::fuzz::for_each_chunk(wire, chunk_sizes, [&](std::span<const std::uint8_t> chunk) {
        const bool was_failed = dec.failed();
        dec.feed(chunk);
        fed += chunk.size();
        while (auto frame = dec.next()) {
            MESHFED_FUZZ_CHECK(!dec.failed());
            MESHFED_FUZZ_CHECK(frame->size() <= max);
            MESHFED_FUZZ_CHECK(pos + 4 + frame->size() <= fed);
            const std::size_t len = (std::size_t{wire[pos]} << 24) |
                                    (std::size_t{wire[pos + 1]} << 16) |
                                    (std::size_t{wire[pos + 2]} << 8) | wire[pos + 3];
            MESHFED_FUZZ_CHECK(len == frame->size());
            MESHFED_FUZZ_CHECK(std::equal(frame->begin(), frame->end(), wire.begin() + pos + 4));
            pos += 4 + len;
            wire::wire_stats stats;
            (void)wire::decode_packet(*frame, wire::packet_decode_options{}, stats);
        }
        if (was_failed) MESHFED_FUZZ_CHECK(dec.failed());
        if (!dec.failed()) MESHFED_FUZZ_CHECK(dec.buffered() == fed - pos);
    });
    if (dec.failed()) {
        // Only a length over the bound poisons the decoder, and it is the next frame's.
        MESHFED_FUZZ_CHECK(pos + 4 <= wire.size());
        const std::size_t len = (std::size_t{wire[pos]} << 24) |
                                (std::size_t{wire[pos + 1]} << 16) |
                                (std::size_t{wire[pos + 2]} << 8) | wire[pos + 3];
        MESHFED_FUZZ_CHECK(len > max);
        MESHFED_FUZZ_CHECK(!dec.next().has_value());
    }
    return 0;
}
