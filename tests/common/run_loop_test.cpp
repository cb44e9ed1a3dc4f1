#include "common/run_loop.hpp"

#include <gtest/gtest.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <thread>

namespace meshfed {
namespace {

using namespace std::chrono_literals;

struct counter_delta {
    busy_poll_stats before = busy_poll_counters();
    std::uint64_t caught() const { return busy_poll_counters().caught - before.caught; }
    std::uint64_t expired() const { return busy_poll_counters().expired - before.expired; }
};

// Posts `f` to `io` from another thread after `delay` (a request arriving from the network).
std::jthread post_later(asio::io_context& io, std::chrono::milliseconds delay,
                        std::function<void()> f) {
    return std::jthread([&io, delay, f = std::move(f)] {
        std::this_thread::sleep_for(delay);
        asio::post(io, f);
    });
}

TEST(RunLoop, WithoutActivityItIsRunAndNeverSpins) {
    asio::io_context io;
    counter_delta d;
    int ran = 0;
    asio::steady_timer t(io, 5ms);
    t.async_wait([&](std::error_code) { ++ran; });
    asio::post(io, [&] { ++ran; });
    EXPECT_EQ(run_with_busy_poll(io, 1ms), 2u);
    EXPECT_EQ(ran, 2);
    EXPECT_EQ(d.caught(), 0u);
    EXPECT_EQ(d.expired(), 0u);
}

// Runs a loop with `window` that serves `dense_before` back-to-back requests, then one more,
// then a last one `gap` later (posted from another thread, as the network would deliver it);
// returns when the last one has run.
void serve_then_one_later(std::chrono::microseconds window, std::chrono::milliseconds gap,
                          int dense_before = 0) {
    asio::io_context io;
    auto guard = asio::make_work_guard(io);
    bool last = false;
    std::jthread sender;
    for (int i = 0; i < dense_before; ++i) asio::post(io, [] { note_activity(); });
    asio::post(io, [&] {
        note_activity();  // a request was just served
        sender = post_later(io, gap, [&] {
            note_activity();  // the next one
            last = true;
            guard.reset();
        });
    });
    run_with_busy_poll(io, window);
    EXPECT_TRUE(last);
}

TEST(RunLoop, ARequestInsideTheWindowIsCaughtWhileSpinning) {
    counter_delta d;
    serve_then_one_later(2s, 2ms);  // far longer window than gap: the loop never blocks
    EXPECT_EQ(d.caught(), 1u);
    EXPECT_EQ(d.expired(), 0u);
}

TEST(RunLoop, AnExpiredWindowBlocksUntilTheNextRequest) {
    counter_delta d;
    const auto start = std::chrono::steady_clock::now();
    serve_then_one_later(1ms, 50ms);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
    EXPECT_EQ(d.caught(), 0u);
    EXPECT_EQ(d.expired(), 1u);
}

// Requests arriving back to back are taken in batches by a sleeping loop: no spin at all, even
// with a window that would catch the late one.
TEST(RunLoop, DenseRequestsDoNotMakeItSpin) {
    counter_delta d;
    serve_then_one_later(2s, 20ms, 40);
    EXPECT_EQ(d.caught(), 0u);
    EXPECT_EQ(d.expired(), 0u);
}

TEST(RunLoop, StopEndsASpinAtOnce) {
    asio::io_context io;
    auto guard = asio::make_work_guard(io);  // never released: only stop() can end the loop
    asio::post(io, [&] {
        note_activity();
        io.stop();
    });
    const auto start = std::chrono::steady_clock::now();
    run_with_busy_poll(io, 2s);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
    EXPECT_TRUE(io.stopped());
}

TEST(RunLoop, ZeroWindowIsPlainRun) {
    asio::io_context io;
    counter_delta d;
    int ran = 0;
    asio::post(io, [&] {
        note_activity();
        ++ran;
    });
    EXPECT_EQ(run_with_busy_poll(io, 0us), 1u);
    EXPECT_EQ(ran, 1);
    EXPECT_EQ(d.caught() + d.expired(), 0u);
}

}  // namespace
}  // namespace meshfed
