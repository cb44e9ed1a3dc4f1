#pragma once
// Runs the agent's health checks (Consul's agent/checks) on the agent's io_context: Asio timers
// and asynchronous connects, no thread per check.
//   TCP: every `interval` (the first run after a random stagger within one interval, as
//     Consul), connect to host:port with `timeout` (0 = Consul's 10 s). Passing output
//     "TCP connect <addr>: Success"; critical output Go's dial error ("dial tcp <addr>:
//     connect: connection refused", "dial tcp <addr>: i/o timeout").
//   TTL: critical with "TTL expired" (or "TTL expired (last output before timeout follows):
//     <output>") when `ttl` passes without ttl_update(); ttl_update() reports the status and
//     re-arms the timer.
//   Consul's StatusHandler thresholds: success_before_passing / failures_before_warning /
//   failures_before_critical consecutive results before the status flips.
// Results go to `report(check_id, status, output)`, on the io thread; the runner does not keep
// the status (local_state does).
// Threading: construct, call and destroy on the io thread. Errors: none surface (a failed
// check is a result).
#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace asio {
class io_context;
}

namespace meshfed::agent {

struct check_type;

class check_runner {
  public:
    using report_fn =
        std::function<void(const std::string& check_id, std::string status, std::string output)>;

    check_runner(asio::io_context& io, report_fn report);
    ~check_runner();  // stops every check
    check_runner(const check_runner&) = delete;
    check_runner& operator=(const check_runner&) = delete;

    // Starts (or restarts) the check `id` of type `c` (TCP or TTL).
    void start(const std::string& id, const check_type& c);
    void remove(const std::string& id);
    // A TTL check's update: reports status/output and re-arms the TTL. false: `id` is not a
    // running TTL check.
    bool ttl_update(const std::string& id, std::string status, std::string output);
    bool is_ttl(const std::string& id) const;
    void stop();

    std::size_t tcp_checks() const;
    std::size_t ttl_checks() const;

  private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace meshfed::agent
