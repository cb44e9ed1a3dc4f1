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

TEST(RunLoop, ARequestInsideTheWindowIsCaughtWhileSpinning) {
    asio::io_context io;
    auto guard = asio::make_work_guard(io);
    counter_delta d;
    bool second = false;
    std::jthread sender;
    asio::post(io, [&] {
        note_activity();  // a request was just served
        sender = post_later(io, 2ms, [&] {
            note_activity();  // the next one, picked up by the spinning loop
            second = true;
            guard.reset();
        });
    });
    run_with_busy_poll(io, 2s);  // far longer than the 2 ms gap: the loop never blocks
    EXPECT_TRUE(second);
    EXPECT_EQ(d.caught(), 1u);
    EXPECT_EQ(d.expired(), 0u);
}

TEST(RunLoop, AnExpiredWindowBlocksUntilTheNextRequest) {
    asio::io_context io;
    auto guard = asio::make_work_guard(io);
    counter_delta d;
    bool second = false;
    std::jthread sender;
    asio::post(io, [&] {
        note_activity();
        sender = post_later(io, 50ms, [&] {
            second = true;
            guard.reset();
        });
    });
    const auto start = std::chrono::steady_clock::now();
    run_with_busy_poll(io, 1ms);
    EXPECT_TRUE(second);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
    EXPECT_EQ(d.caught(), 0u);
    EXPECT_EQ(d.expired(), 1u);
}

// Requests arriving back to back are taken in batches by a sleeping loop: no spin at all.
TEST(RunLoop, DenseRequestsDoNotMakeItSpin) {
    asio::io_context io;
    auto guard = asio::make_work_guard(io);
    counter_delta d;
    bool late = false;
    std::jthread sender;
    for (int i = 0; i < 40; ++i) asio::post(io, [] { note_activity(); });
    asio::post(io, [&] {
        note_activity();
        sender = post_later(io, 20ms, [&] {
            late = true;
            guard.reset();
        });
    });
    run_with_busy_poll(io, 2s);  // a window that would catch the late one, were it used
    EXPECT_TRUE(late);
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
