// yamux (rpc/yamux.hpp) as Consul's RPC port runs it after the 0x04 type byte: the 12-byte frame
// header decoder and a whole server-side session fed by a hostile client, with the server
// accepting streams, reading, answering, closing and resetting them, and time moving on.
//
// Input: [role][chunk sizes: n, n bytes][ops: 8 bytes][client bytes]. role bit 0: client
// session (answers a server's SYNs) instead of server. After every chunk the session runs one
// op chosen by the op bytes (accept + read + echo, close, reset, open, ping, go-away, timer).
#include <array>
#include <chrono>
#include <vector>

#include "fuzz/fuzz_input.hpp"
#include "rpc/yamux.hpp"

using namespace meshfed::rpc::yamux;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    meshfed::fuzz::input in(data, size);
    const std::uint8_t flags = in.byte();
    const auto chunk_sizes = in.take(in.byte() % 8);
    const auto ops = in.take(8);
    const auto wire = in.rest();

    // The header decoder alone, at every offset a frame could start.
    for (std::size_t off = 0; off + frame_header::size <= wire.size() && off < 64 * 12; off += 12) {
        auto h = frame_header::decode(wire.subspan(off, frame_header::size));
        if (h) {
            const auto enc = h->encode();
            MESHFED_FUZZ_CHECK(std::equal(enc.begin(), enc.end(), wire.begin() + off));
        }
    }

    using clock = session::clock;
    clock::time_point now{};
    config cfg;
    cfg.accept_backlog = 8;  // small bounds so the fuzzer reaches them
    cfg.max_streams = 16;
    session s((flags & 1) ? role::client : role::server, now, cfg);
    std::vector<std::uint32_t> accepted;
    std::array<std::uint8_t, 512> buf{};
    std::size_t step = 0;

    meshfed::fuzz::for_each_chunk(wire, chunk_sizes, [&](std::span<const std::uint8_t> chunk) {
        now += std::chrono::milliseconds(250);
        const auto err = s.feed(now, chunk);
        MESHFED_FUZZ_CHECK(!err || s.is_closed());
        const std::uint8_t op = ops.empty() ? 0 : ops[step % ops.size()];
        ++step;
        switch (op % 8) {
            case 0:
            case 1:  // accept, read everything, echo it back (what the RPC server does)
                while (auto id = s.accept_stream()) accepted.push_back(*id);
                for (auto id : accepted) {
                    for (;;) {
                        auto n = s.read(id, buf);
                        if (!n || *n == 0) break;
                        MESHFED_FUZZ_CHECK(*n <= buf.size());
                        (void)s.write(id, std::span(buf).first(*n));
                    }
                }
                break;
            case 2:
                if (!accepted.empty()) (void)s.close_stream(accepted[op % accepted.size()]);
                break;
            case 3:
                if (!accepted.empty()) s.reset_stream(accepted[op % accepted.size()]);
                break;
            case 4:
                if (auto id = s.open_stream(); id) accepted.push_back(*id);
                break;
            case 5:
                (void)s.ping(now);
                break;
            case 6:
                if (!accepted.empty()) {
                    s.release_stream(accepted.back());
                    accepted.pop_back();
                }
                break;
            default:
                now += std::chrono::seconds(op);  // keepalive deadlines pass
                s.on_timer(now);
                break;
        }
        (void)s.take_output();
    });
    s.abort(std::make_error_code(std::errc::connection_reset));
    MESHFED_FUZZ_CHECK(s.is_closed());
    return 0;
}
