#pragma once
// The agent's event loop: io_context::run(), plus a bounded busy-poll after RPC requests
// (performance.rpc_busy_poll).
//
// Why: a request/response exchange over one RPC stream is ping-pong; each turn, the thread
// that blocked in epoll_wait has to be woken by the kernel, which on a VM costs tens of
// microseconds (the idle vCPU is halted). After a request was noted, run_with_busy_poll() keeps
// polling without blocking (yielding the CPU between empty polls) for `window` before it blocks
// again, so the next request is picked up by a running thread. Only while requests are spaced
// out (their average gap at least a quarter of the window): dense requests queue up while the
// loop sleeps and are taken in one batch, which spinning would break up. Everything else
// (gossip ticks, timers, HTTP) notes nothing and never makes the loop spin.
//
// Threading: note_activity() is called from the loop's own thread (single-threaded io_context);
// run_with_busy_poll() runs on that thread. Errors: none (the io_context's handlers own theirs).
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace asio {
class io_context;
}

namespace meshfed {

// Marks "a request just arrived": the loop may spin for its window from now on (unless
// requests are arriving densely).
void note_activity();

struct busy_poll_stats {
    std::uint64_t caught = 0;   // requests that arrived while the loop was spinning
    std::uint64_t expired = 0;  // spins that ended (window ran out, or requests turned dense):
                                // the loop then blocked in the reactor
};
const busy_poll_stats& busy_poll_counters();

// io_context::run() with a busy-poll `window` after note_activity(); window <= 0 is plain run().
// Returns the number of handlers run, like run().
std::size_t run_with_busy_poll(asio::io_context& io, std::chrono::microseconds window);

}  // namespace meshfed
