#pragma once
// Helpers shared by the libFuzzer targets: splitting the fuzzer's input into option bytes and a
// payload, and the fixed key/label the seeds were captured with (../shared/interop/captures).
//
// Every target is `extern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t)`; the first
// byte(s) of an input choose options (decoder mode, chunking), the rest is what a peer or a user
// sent. Seeds in fuzz/corpus/<target>/ carry those leading bytes (fuzz/seedgen.cpp writes them).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>

namespace meshfed::fuzz {

// The gossip key of every encrypted capture (captures/*/KEY.txt) and the label of the labelled
// capture, so captured datagrams and streams decrypt in the targets.
inline constexpr std::string_view capture_key_b64 = "rGIPt7bScsbddgm1QvL24tsgJygmi9DQG2xKkVWiAnA=";
inline constexpr std::string_view capture_label = "wan-test";

// Consumes option bytes from the front of the input; reads past the end yield 0.
class input {
  public:
    input(const std::uint8_t* data, std::size_t size) : rest_(data, size) {}

    std::uint8_t byte() {
        if (rest_.empty()) return 0;
        const std::uint8_t b = rest_[0];
        rest_ = rest_.subspan(1);
        return b;
    }
    std::uint16_t u16() {
        const std::uint16_t hi = byte();
        return static_cast<std::uint16_t>((hi << 8) | byte());
    }
    std::span<const std::uint8_t> take(std::size_t n) {
        n = std::min(n, rest_.size());
        auto out = rest_.first(n);
        rest_ = rest_.subspan(n);
        return out;
    }
    std::span<const std::uint8_t> rest() const { return rest_; }
    bool empty() const { return rest_.empty(); }

  private:
    std::span<const std::uint8_t> rest_;
};

// Splits `data` into chunks whose sizes cycle through `sizes` (each 1..256; 0 counts as 1): how
// the bytes of a TCP connection arrive, so incremental decoders see every split point.
template <class Fn>
void for_each_chunk(std::span<const std::uint8_t> data, std::span<const std::uint8_t> sizes,
                    Fn&& fn) {
    std::size_t i = 0;
    while (!data.empty()) {
        std::size_t n = sizes.empty() ? data.size() : std::size_t{sizes[i++ % sizes.size()]} + 1;
        n = std::min(n, data.size());
        fn(data.first(n));
        data = data.subspan(n);
    }
}

// Touches every byte of a span so ASan checks the memory a decoder handed out is still valid.
inline std::uint32_t touch(std::span<const std::uint8_t> s) {
    std::uint32_t acc = 0;
    for (auto b : s) acc = acc * 31 + b;
    return acc;
}

}  // namespace meshfed::fuzz

// A property the code under test promises was broken: report it as a crash (libFuzzer saves
// the input).
#define MESHFED_FUZZ_CHECK(cond)                                                          \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                 \
        }                                                                                 \
    } while (0)
