#include "common/run_loop.hpp"

#include <sched.h>

#include <algorithm>

#include <asio/io_context.hpp>

namespace meshfed {
namespace {

using clock = std::chrono::steady_clock;

// One loop thread per process: plain globals, no atomics needed.
clock::time_point last_activity;
// Moving average (weight 1/8) of the time between requests, each gap capped at the window (a
// longer gap is idleness, and an idle spell should not take long to forget).
clock::duration max_gap = std::chrono::milliseconds(1);
clock::duration average_gap = max_gap;
busy_poll_stats counters;

}  // namespace

void note_activity() {
    const auto now = clock::now();
    if (last_activity != clock::time_point{}) {
        const auto gap = std::min<clock::duration>(now - last_activity, max_gap);
        average_gap += (gap - average_gap) / 8;
    }
    last_activity = now;
}

const busy_poll_stats& busy_poll_counters() {
    return counters;
}

std::size_t run_with_busy_poll(asio::io_context& io, std::chrono::microseconds window) {
    if (window.count() <= 0) return io.run();
    last_activity = {};  // activity before this loop started is none of its business
    max_gap = window;
    average_gap = max_gap;
    // Requests closer together than this queue up while the loop sleeps and are then taken in
    // one batch; spinning would take them one by one (more syscalls per request) and take the
    // CPU a client on the same host needs. Only spaced-out requests (ping-pong) gain.
    const clock::duration dense = window / 4;
    std::size_t total = 0;
    bool spinning = false;
    clock::time_point seen{};  // the activity the current window was opened or extended by
    for (;;) {
        if (last_activity != clock::time_point{} && clock::now() - last_activity < window &&
            average_gap >= dense) {
            if (spinning && seen != last_activity) ++counters.caught;
            spinning = true;
            seen = last_activity;
            // Non-blocking: runs ready handlers and polls the reactor with a zero timeout.
            const std::size_t n = io.poll();
            total += n;
            if (n == 0) {
                if (io.stopped()) break;  // stopped, or out of work
                // Let a runnable thread on this core (a client on the same host) go first.
                sched_yield();
            }
            continue;
        }
        if (spinning) ++counters.expired;
        spinning = false;
        const std::size_t n = io.run_one();  // blocks in the reactor
        if (n == 0) break;
        total += n + io.poll();
    }
    return total;
}

}  // namespace meshfed
