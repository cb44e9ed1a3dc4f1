#include "common/run_loop.hpp"

#include <sched.h>

#include <asio/io_context.hpp>

namespace meshfed {
namespace {

using clock = std::chrono::steady_clock;

// One loop thread per process (agent or gateway): plain globals, no atomics needed.
clock::time_point last_activity;
busy_poll_stats counters;

}  // namespace

void note_activity() {
    last_activity = clock::now();
}

const busy_poll_stats& busy_poll_counters() {
    return counters;
}

std::size_t run_with_busy_poll(asio::io_context& io, std::chrono::microseconds window) {
    if (window.count() <= 0) return io.run();
    last_activity = {};  // activity before this loop started is none of its business
    std::size_t total = 0;
    bool spinning = false;
    clock::time_point seen{};  // the activity the current window was opened or extended by
    for (;;) {
        if (last_activity != clock::time_point{} && clock::now() - last_activity < window) {
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
