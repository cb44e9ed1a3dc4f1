// memberlist's TCP stream decoding (wan/wire/stream.hpp decode_stream): label header, the
// encrypted frame (0a u32 len | vsn nonce ct tag), compression, and ping / ack / err / push-pull
// (header + node states + serf user state) / user messages, as read from 8302/tcp.
//
// Input: [mode][chunk sizes: n, n bytes][stream bytes]. mode bits 0-3: keys, label and
// verification (fuzz/wire_modes.hpp; mode 2 seals the bytes into one encrypted frame here, after
// the label header on the listener side). Bit 4: dialer side reading a reply (no label header
// accepted; else the listener, where one may come first). The bytes are delivered in chunks
// (sizes from the input), the decoder re-run on the growing buffer like transport.cpp does,
// then at EOF.
#include <array>

#include "fuzz/fuzz_input.hpp"
#include "fuzz/wire_modes.hpp"
#include "wan/wire/crypto.hpp"
#include "wan/wire/framing.hpp"
#include "wan/wire/stream.hpp"

using namespace meshfed::wan::wire;

namespace {

// 0a | u32be L | blob with AD = the 5 header bytes || label (crypto.cpp encrypt_stream_frame,
// here with a fixed nonce so that inputs reproduce).
bytes seal_stream(std::uint8_t vsn, std::span<const std::uint8_t> plaintext,
                  std::string_view label) {
    const std::size_t len = encrypted_length(vsn, plaintext.size());
    bytes out{static_cast<std::uint8_t>(message_type::encrypt)};
    for (int i = 3; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(len >> (8 * i)));
    bytes ad = out;
    ad.insert(ad.end(), label.begin(), label.end());
    const std::array<std::uint8_t, encryption_nonce_size> nonce{};
    auto blob = encrypt_payload_with_nonce(vsn, meshfed::fuzz::capture_keyring().primary(), nonce,
                                           plaintext, ad);
    MESHFED_FUZZ_CHECK(blob.has_value() && blob->size() == len);
    out.insert(out.end(), blob->begin(), blob->end());
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    meshfed::fuzz::input in(data, size);
    const std::uint8_t mode = in.byte();
    const auto chunk_sizes = in.take(in.byte() % 8);
    stream_decode_options opts;
    opts.accept_label_header = (mode & 0x10) == 0;
    // Smaller bounds than production so the fuzzer reaches them without 40 MiB inputs.
    opts.max_decompressed_size = 1u << 20;
    opts.max_plain_size = 1u << 20;
    opts.max_encrypted_size = 1u << 20;
    bytes sealed;
    std::span<const std::uint8_t> stream = in.rest();
    if (meshfed::fuzz::apply_wire_mode(opts, mode)) {
        sealed = seal_stream(meshfed::fuzz::seal_version(mode), stream, opts.label);
        if (opts.accept_label_header && !opts.label.empty()) {  // the dialer's label header
            auto header = label_header(opts.label);
            MESHFED_FUZZ_CHECK(header.has_value());
            sealed.insert(sealed.begin(), header->begin(), header->end());
        }
        stream = sealed;
    }

    // As the transport reads: grow the buffer chunk by chunk until a message or an error.
    wire_stats stats;
    bytes buffered;
    bool done = false;
    meshfed::fuzz::for_each_chunk(stream, chunk_sizes, [&](std::span<const std::uint8_t> chunk) {
        if (done) return;
        buffered.insert(buffered.end(), chunk.begin(), chunk.end());
        auto r = decode_stream(buffered, opts, false, stats);
        if (r) {
            MESHFED_FUZZ_CHECK(r->consumed <= buffered.size());
            MESHFED_FUZZ_CHECK(stats.streams_accepted == 1);
            done = true;
        } else if (r.error() != errc::incomplete) {
            MESHFED_FUZZ_CHECK(stats.count(r.error()) == 1);
            done = true;
        }
    });
    if (done) return 0;
    // EOF: an incomplete message is now a truncation (and counted).
    auto r = decode_stream(buffered, opts, true, stats);
    if (r) {
        MESHFED_FUZZ_CHECK(r->consumed <= buffered.size());
        MESHFED_FUZZ_CHECK(stats.streams_accepted == 1);
    } else {
        MESHFED_FUZZ_CHECK(r.error() != errc::incomplete);
        MESHFED_FUZZ_CHECK(stats.count(r.error()) == 1);
    }
    return 0;
}
