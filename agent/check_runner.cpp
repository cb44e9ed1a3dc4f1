#include "agent/check_runner.hpp"

#include <cctype>
#include <map>
#include <random>

#include <fmt/format.h>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "agent/service_definition.hpp"
#include "common/asio_compat.hpp"
#include "common/log.hpp"

namespace meshfed::agent {

namespace {

constexpr std::chrono::seconds default_tcp_timeout{10};  // Consul's checks.CheckTCP default
constexpr std::chrono::seconds min_interval{1};          // Consul's checks.MinInterval

// Go's syscall error strings are lower case ("connection refused").
std::string go_errno_text(const std::error_code& ec) {
    auto s = ec.message();
    if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
    return s;
}

std::string endpoint_text(const asio::ip::tcp::endpoint& ep) {
    auto a = ep.address();
    if (a.is_v6()) return fmt::format("[{}]:{}", a.to_string(), ep.port());
    return fmt::format("{}:{}", a.to_string(), ep.port());
}

struct check_state {
    check_state(asio::io_context& io, std::string i, check_type d)
        : id(std::move(i)), def(std::move(d)), timer(io), deadline(io), socket(io), resolver(io) {}
    std::string id;
    check_type def;
    bool stopped = false;
    asio::steady_timer timer;     // interval / TTL
    asio::steady_timer deadline;  // TCP connect timeout
    asio::ip::tcp::socket socket;
    asio::ip::tcp::resolver resolver;
    std::uint64_t ttl_generation = 0;
    std::string last_output;  // TTL: the last update's output
    std::int64_t successes = 0, failures = 0;

    void halt() {
        stopped = true;
        timer.cancel();
        deadline.cancel();
        resolver.cancel();
        std::error_code ignored;
        socket.close(ignored);
    }
};

}  // namespace

struct check_runner::impl : std::enable_shared_from_this<check_runner::impl> {
    asio::io_context& io;
    report_fn report;
    std::map<std::string, std::shared_ptr<check_state>> checks;
    std::mt19937_64 rng{std::random_device{}()};
    std::shared_ptr<spdlog::logger> log = get_logger("agent.checks");

    impl(asio::io_context& i, report_fn r) : io(i), report(std::move(r)) {}

    // Consul's StatusHandler: thresholds before a TCP result changes the status.
    void tcp_result(check_state& st, std::string status, std::string output) {
        const auto& d = st.def;
        if (status == "passing" || status == "warning") {
            ++st.successes;
            st.failures = 0;
            if (st.successes >= d.success_before_passing) {
                report(st.id, std::move(status), std::move(output));
                return;
            }
            log->warn(
                "Check passed but has not reached success threshold: check={} status={} "
                "success_count={} success_threshold={}",
                st.id, status, st.successes, d.success_before_passing);
            return;
        }
        ++st.failures;
        st.successes = 0;
        if (st.failures >= d.failures_before_critical) {
            report(st.id, std::move(status), std::move(output));
            return;
        }
        const auto warn_after =
            d.failures_before_warning > 0 ? d.failures_before_warning : d.failures_before_critical;
        if (st.failures >= warn_after) {
            report(st.id, "warning", std::move(output));
            return;
        }
        log->warn(
            "Check failed but has not reached failure threshold: check={} status={} "
            "failure_count={} failure_threshold={}",
            st.id, status, st.failures, d.failures_before_critical);
    }

    static asio::awaitable<void> tcp_loop(std::shared_ptr<check_state> st, std::weak_ptr<impl> weak,
                                          std::chrono::nanoseconds first_delay);

    void arm_ttl(const std::shared_ptr<check_state>& st) {
        const auto gen = ++st->ttl_generation;
        st->timer.expires_after(st->def.ttl);
        std::weak_ptr<impl> weak = weak_from_this();
        st->timer.async_wait([weak, st, gen](const std::error_code& ec) {
            if (ec || st->stopped || gen != st->ttl_generation) return;
            auto self = weak.lock();
            if (!self) return;
            std::string out =
                st->last_output.empty()
                    ? std::string("TTL expired")
                    : "TTL expired (last output before timeout follows): " + st->last_output;
            self->log->warn("Check missed TTL, is now critical: check={}", st->id);
            self->report(st->id, "critical", std::move(out));
        });
    }
};

namespace {

// One TCP probe: resolve, then connect to each address in turn until one answers, all within
// the timeout. Returns (status, output) with Go's texts.
asio::awaitable<std::pair<std::string, std::string>> tcp_probe(std::shared_ptr<check_state> st) {
    const std::string addr = st->def.tcp;
    auto colon = addr.rfind(':');
    if (colon == std::string::npos) {
        co_return std::pair<std::string, std::string>{
            "critical", fmt::format("dial tcp: address {}: missing port in address", addr)};
    }
    std::string host = addr.substr(0, colon);
    std::string port = addr.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);

    auto timed_out_flag = std::make_shared<bool>(false);
    const bool& timed_out = *timed_out_flag;
    auto timeout =
        st->def.timeout.count() > 0
            ? std::chrono::duration_cast<std::chrono::steady_clock::duration>(st->def.timeout)
            : std::chrono::steady_clock::duration(default_tcp_timeout);
    st->deadline.expires_after(timeout);
    st->deadline.async_wait([st, timed_out_flag](const std::error_code& ec) {
        if (ec) return;
        *timed_out_flag = true;
        st->resolver.cancel();
        std::error_code ignored;
        st->socket.close(ignored);
    });
    struct cancel_on_exit {
        asio::steady_timer& t;
        ~cancel_on_exit() { t.cancel(); }
    } guard{st->deadline};

    auto [rec, results] = co_await st->resolver.async_resolve(host, port, nothrow_awaitable);
    if (st->stopped) co_return std::pair<std::string, std::string>{};
    if (timed_out) {
        co_return std::pair<std::string, std::string>{
            "critical", fmt::format("dial tcp: lookup {}: i/o timeout", host)};
    }
    if (rec || results.empty()) {
        co_return std::pair<std::string, std::string>{
            "critical", fmt::format("dial tcp: lookup {}: no such host", host)};
    }
    std::string first_error;
    for (const auto& entry : results) {
        const auto ep = entry.endpoint();
        std::error_code ec;
        st->socket.close(ec);
        st->socket.open(ep.protocol(), ec);
        if (!ec) std::tie(ec) = co_await st->socket.async_connect(ep, nothrow_awaitable);
        if (st->stopped) co_return std::pair<std::string, std::string>{};
        if (!ec && !timed_out) {
            std::error_code ignored;
            st->socket.close(ignored);
            co_return std::pair<std::string, std::string>{
                "passing", fmt::format("TCP connect {}: Success", addr)};
        }
        if (timed_out) {
            co_return std::pair<std::string, std::string>{
                "critical", fmt::format("dial tcp {}: i/o timeout", endpoint_text(ep))};
        }
        if (first_error.empty())
            first_error =
                fmt::format("dial tcp {}: connect: {}", endpoint_text(ep), go_errno_text(ec));
    }
    co_return std::pair<std::string, std::string>{"critical", first_error};
}

}  // namespace

// A TCP check's loop, until the check is removed or the runner goes away.
asio::awaitable<void> check_runner::impl::tcp_loop(std::shared_ptr<check_state> st,
                                                   std::weak_ptr<impl> weak,
                                                   std::chrono::nanoseconds first_delay) {
    st->timer.expires_after(first_delay);
    co_await st->timer.async_wait(nothrow_awaitable);
    while (!st->stopped) {
        auto [status, output] = co_await tcp_probe(st);
        if (st->stopped) co_return;
        auto self = weak.lock();
        if (!self) co_return;
        if (status == "critical")
            self->log->warn("Check socket connection failed: check={} error=\"{}\"", st->id,
                            output);
        self->tcp_result(*st, std::move(status), std::move(output));
        self.reset();
        st->timer.expires_after(st->def.interval);
        co_await st->timer.async_wait(nothrow_awaitable);
    }
}

check_runner::check_runner(asio::io_context& io, report_fn report)
    : impl_(std::make_shared<impl>(io, std::move(report))) {}

check_runner::~check_runner() {
    stop();
}

void check_runner::start(const std::string& id, const check_type& c) {
    remove(id);
    auto def = c;
    if (!def.is_ttl() && def.interval < min_interval) {
        impl_->log->warn("check has interval below minimum: check={} minimum_interval={}s", id,
                         min_interval.count());
        def.interval = min_interval;
    }
    auto st = std::make_shared<check_state>(impl_->io, id, def);
    impl_->checks[id] = st;
    if (c.is_ttl()) {
        impl_->arm_ttl(st);
        return;
    }
    // Consul staggers the first run randomly within one interval.
    std::uniform_int_distribution<std::int64_t> dist(
        0, std::max<std::int64_t>(def.interval.count() - 1, 0));
    auto first = std::chrono::nanoseconds(dist(impl_->rng));
    asio::co_spawn(impl_->io, impl::tcp_loop(st, impl_, first), asio::detached);
}

void check_runner::remove(const std::string& id) {
    auto it = impl_->checks.find(id);
    if (it == impl_->checks.end()) return;
    it->second->halt();
    impl_->checks.erase(it);
}

bool check_runner::ttl_update(const std::string& id, std::string status, std::string output) {
    auto it = impl_->checks.find(id);
    if (it == impl_->checks.end() || !it->second->def.is_ttl()) return false;
    auto st = it->second;
    st->last_output = output;
    impl_->arm_ttl(st);
    impl_->report(id, std::move(status), std::move(output));
    return true;
}

bool check_runner::is_ttl(const std::string& id) const {
    auto it = impl_->checks.find(id);
    return it != impl_->checks.end() && it->second->def.is_ttl();
}

void check_runner::stop() {
    for (auto& [id, st] : impl_->checks) st->halt();
    impl_->checks.clear();
}

std::size_t check_runner::tcp_checks() const {
    std::size_t n = 0;
    for (const auto& [id, st] : impl_->checks) n += st->def.is_ttl() ? 0 : 1;
    return n;
}

std::size_t check_runner::ttl_checks() const {
    return impl_->checks.size() - tcp_checks();
}

}  // namespace meshfed::agent
