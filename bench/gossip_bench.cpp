// WAN gossip benchmark (issue: WAN gossip on 8302). Not a test: it prints a table.
//
//   For each pool size N: a pool of N `meshfed agent`s and, separately, a pool of N real
//   `serf agent`s (Debian serf 0.9.4), all on 127.0.0.1, with the same gossip timings:
//   * join convergence: N-1 agents converged, one more starts and joins; seconds until every
//     existing member lists it alive;
//   * failure detection: kill -9 of that node; seconds until every survivor lists it failed;
//   * idle RSS (VmRSS; also RssAnon and PSS, which leave out / split the shared library pages)
//     and CPU (utime+stime, as CPU-seconds per hour) per agent.
//   Method as in /work/shared/docs/serf-baseline.md (its scripts/measure.py), so the serf
//   figures are comparable with the baseline.
//
// How each side is observed (there is no meshfed HTTP API yet):
//   meshfed: every agent's log is tailed every --poll-ms; a member is alive/failed from the
//            moment its "serf: EventMemberJoin/EventMemberFailed: <name>" line appears.
//   serf:    serfwatch -poll (Members() over each agent's RPC every --poll-ms); a member is
//            alive/failed from the first poll that shows that status (no event coalescing).
//
// Usage: gossip_bench [--sizes 8,24] [--profile lan|wan] [--rounds 1] [--idle 10]
//                     [--cpu-window 30] [--poll-ms 20] [--only meshfed|serf] [--json FILE]
//                     [--summary FILE]
//                     [--keep]
// Every process is started by this program, tracked by PID and stopped by PID on every path
// (also on SIGINT/SIGTERM; children get PDEATHSIG so a kill -9 of the bench takes them along).
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench/bench_support.hpp"
#include "tests/support/process.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;
using steady = std::chrono::steady_clock;
using json = nlohmann::json;
using meshfed::bench::cpu_model;
using meshfed::bench::cpu_ticks;
using meshfed::bench::status_kb;

namespace {

// ---------------------------------------------------------------- interruption, children

volatile std::sig_atomic_t g_interrupted = 0;
// PIDs of running children, readable from the signal handler (0 = free slot).
constexpr int max_children = 512;
volatile std::sig_atomic_t g_children[max_children] = {};

extern "C" void on_signal(int) {
    // First signal: ask the main loop to unwind (RAII stops everything, removes temp dirs).
    // Second signal: the user insists, so kill what we know of and leave at once.
    if (g_interrupted) {
        for (int i = 0; i < max_children; ++i)
            if (g_children[i] > 0) ::kill(static_cast<pid_t>(g_children[i]), SIGKILL);
        ::_exit(130);
    }
    g_interrupted = 1;
}

struct interrupted : std::runtime_error {
    interrupted() : std::runtime_error("interrupted") {}
};
// A measurement that cannot go on (agent did not start, pool did not converge...).
struct bench_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

void check_interrupt() {
    if (g_interrupted) throw interrupted();
}

// Sleeps in short steps so SIGINT is honoured within 20 ms.
void nap(ms d) {
    auto end = steady::now() + d;
    for (;;) {
        check_interrupt();
        auto left = end - steady::now();
        if (left <= 0s) return;
        std::this_thread::sleep_for(std::min<steady::duration>(left, 20ms));
    }
}

// Wall-clock seconds: comparable with hclog timestamps and serfwatch's "t".
double now_s() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// One child process, output appended to a file, stopped by PID in the destructor.
class child {
  public:
    child(const std::string& exe, const std::vector<std::string>& args, const fs::path& log) {
        std::vector<std::string> all = {exe};
        all.insert(all.end(), args.begin(), args.end());
        std::vector<char*> argv;
        for (auto& a : all) argv.push_back(a.data());
        argv.push_back(nullptr);
        std::string log_path = log.string();
        pid_t parent = ::getpid();
        pid_ = ::fork();
        if (pid_ < 0) throw bench_error("fork failed");
        if (pid_ == 0) {
            // Own process group: a terminal Ctrl-C reaches only the bench, which stops the
            // children itself (a serf agent would otherwise start a graceful leave on its own).
            ::setpgid(0, 0);
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(127);
            int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            int null_fd = ::open("/dev/null", O_RDONLY);
            if (fd < 0 || null_fd < 0) ::_exit(127);
            ::dup2(null_fd, 0);
            ::dup2(fd, 1);
            ::dup2(fd, 2);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        for (int i = 0; i < max_children; ++i) {
            if (g_children[i] == 0) {
                g_children[i] = pid_;
                slot_ = i;
                break;
            }
        }
    }
    ~child() { kill_now(); }
    child(const child&) = delete;
    child& operator=(const child&) = delete;

    pid_t pid() const { return pid_; }
    bool running() { return !reap(false); }
    void send(int sig) {
        if (running()) ::kill(pid_, sig);
    }
    // Exit status (128+signal when killed), or nullopt at the deadline. Never throws.
    std::optional<int> wait_exit(ms timeout) {
        auto end = steady::now() + timeout;
        while (!reap(false)) {
            if (steady::now() >= end) return std::nullopt;
            std::this_thread::sleep_for(5ms);
        }
        return status_;
    }
    void kill_now() {
        if (!reap(false)) {
            ::kill(pid_, SIGKILL);
            reap(true);
        }
    }
    // SIGTERM (graceful leave for both agents), then SIGKILL after `grace`.
    void stop(ms grace) {
        send(SIGTERM);
        if (!wait_exit(grace)) kill_now();
    }

  private:
    bool reap(bool block) {
        if (status_) return true;
        int st = 0;
        pid_t r = ::waitpid(pid_, &st, block ? 0 : WNOHANG);
        if (r == pid_ || (r < 0 && errno == ECHILD)) {
            status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            if (slot_ >= 0) g_children[slot_] = 0;
            slot_ = -1;
            return true;
        }
        return false;
    }

    pid_t pid_ = -1;
    int slot_ = -1;
    std::optional<int> status_;
};

// New complete lines of a growing file since the last call (cheap enough to call every 20 ms).
class log_tail {
  public:
    explicit log_tail(fs::path p) : path_(std::move(p)) {}
    ~log_tail() {
        if (fd_ >= 0) ::close(fd_);
    }
    log_tail(const log_tail&) = delete;
    log_tail& operator=(const log_tail&) = delete;

    std::vector<std::string> lines() {
        std::vector<std::string> out;
        if (fd_ < 0) fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd_ < 0) return out;
        char buf[65536];
        for (;;) {
            ssize_t n = ::read(fd_, buf, sizeof buf);
            if (n <= 0) break;
            partial_.append(buf, static_cast<std::size_t>(n));
        }
        std::size_t start = 0;
        for (std::size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1)
            out.push_back(partial_.substr(start, nl - start));
        partial_.erase(0, start);
        return out;
    }

  private:
    fs::path path_;
    int fd_ = -1;
    std::string partial_;
};

// ---------------------------------------------------------------- machine, /proc

std::string read_first_line(const fs::path& p) {
    std::ifstream in(p);
    std::string line;
    std::getline(in, line);
    return line;
}

// Proportional set size (/proc/PID/smaps_rollup): shared pages (libraries, the binary's text)
// divided among the processes that map them, i.e. what one more agent really costs.
std::optional<long> pss_kb(pid_t pid) {
    std::ifstream in(fmt::format("/proc/{}/smaps_rollup", pid));
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("Pss:", 0) == 0) return std::stol(line.substr(4));
    return std::nullopt;
}

// Sum of on-CPU nanoseconds of all threads (/proc/PID/task/*/schedstat): a finer cross-check of
// the tick counts, which only have 10 ms resolution.
std::optional<long long> sched_ns(pid_t pid) {
    std::error_code ec;
    long long sum = 0;
    bool any = false;
    for (const auto& t : fs::directory_iterator(fmt::format("/proc/{}/task", pid), ec)) {
        std::istringstream in(read_first_line(t.path() / "schedstat"));
        long long ns = 0;
        if (in >> ns) {
            sum += ns;
            any = true;
        }
    }
    if (!any) return std::nullopt;
    return sum;
}

// ---------------------------------------------------------------- timings

struct profile {
    std::string name;
    int gossip_ms, probe_ms, probe_timeout_ms, suspicion_mult, gossip_nodes, retransmit_mult;
    int push_pull_ms;
};

// memberlist DefaultLANConfig / DefaultWANConfig, i.e. what `serf agent -profile=X` runs.
const profile lan_profile{"lan", 200, 1000, 500, 4, 3, 4, 30000};
const profile wan_profile{"wan", 500, 5000, 3000, 6, 4, 4, 60000};

std::string describe(const profile& p) {
    return fmt::format(
        "{}: gossip_interval {} ms to {} nodes, probe_interval {} ms, probe_timeout {} ms, "
        "suspicion_mult {}, retransmit_mult {}, push_pull_interval {} ms",
        p.name, p.gossip_ms, p.gossip_nodes, p.probe_ms, p.probe_timeout_ms, p.suspicion_mult,
        p.retransmit_mult, p.push_pull_ms);
}

// Upper bounds for each wait, from the profile: generous, but never unbounded.
ms build_timeout(const profile& p) {
    return ms(60000 + 10 * p.probe_ms);
}
ms join_timeout(const profile& p) {
    return std::max(ms(30000), ms(12 * p.probe_ms));
}
ms fail_timeout(const profile& p, int n) {
    // Lifeguard: suspicion max = 6 x suspicion_mult x log10(N) x probe_interval, plus a probe.
    double susp_max = 6.0 * p.suspicion_mult * std::max(1.0, std::log10(n)) * p.probe_ms;
    return ms(static_cast<long>(p.probe_ms + p.probe_timeout_ms + susp_max) + 30000);
}

struct options {
    std::vector<int> sizes = {8, 24};
    profile prof = lan_profile;
    int rounds = 1;
    int idle_s = 10;
    int cpu_window_s = 30;
    int poll_ms = 20;
    std::string only;
    std::string json_file;
    std::string summary_file;  // scripts/bench's combined table
    bool keep = false;
    std::string command;
};

// ---------------------------------------------------------------- results

// Seconds from T0 until each observed agent showed the status (nullopt: not by the deadline).
struct latency {
    std::vector<std::optional<double>> per_agent;
    std::vector<std::optional<double>> per_agent_logged;  // meshfed: from the log timestamps
    double t0 = 0;
    std::string t0_note;

    bool complete() const {
        return !per_agent.empty() && std::all_of(per_agent.begin(), per_agent.end(),
                                                 [](auto& v) { return v.has_value(); });
    }
    std::vector<double> seen() const {
        std::vector<double> v;
        for (auto& x : per_agent)
            if (x) v.push_back(*x);
        std::sort(v.begin(), v.end());
        return v;
    }
    std::optional<double> max() const {
        if (!complete()) return std::nullopt;
        return seen().back();
    }
    std::optional<double> first() const {
        auto v = seen();
        if (v.empty()) return std::nullopt;
        return v.front();
    }
    json to_json() const {
        json j;
        j["t0_note"] = t0_note;
        j["per_agent_s"] = json::array();
        for (auto& x : per_agent) j["per_agent_s"].push_back(x ? json(*x) : json(nullptr));
        if (!per_agent_logged.empty()) {
            j["per_agent_logged_s"] = json::array();
            for (auto& x : per_agent_logged)
                j["per_agent_logged_s"].push_back(x ? json(*x) : json(nullptr));
        }
        j["complete"] = complete();
        j["max_s"] = max() ? json(*max()) : json(nullptr);
        j["first_s"] = first() ? json(*first()) : json(nullptr);
        return j;
    }
};

struct pool_result {
    std::string impl;
    int n = 0, round = 0;
    double build_s = 0;
    latency join, fail;
    std::vector<double> rss_mb, rss_anon_mb, pss_mb, cpu_s_per_h, cpu_sched_s_per_h;
    double cpu_window_s = 0;
    std::string error;
    json extra = json::object();
};

double median_of(std::vector<double> v) {
    if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
    std::sort(v.begin(), v.end());
    std::size_t m = v.size() / 2;
    return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// ---------------------------------------------------------------- pools

// The interface both implementations offer to the measurement sequence.
class pool {
  public:
    virtual ~pool() = default;
    // Starts `count` agents, all joining the first; returns seconds until all list each other.
    virtual double build(int count) = 0;
    // Starts one more agent and joins it to the first.
    virtual latency join_one() = 0;
    // kill -9 of agent `idx`.
    virtual latency kill_one(int idx) = 0;
    virtual std::vector<pid_t> pids() = 0;
    virtual void stop_all() = 0;
    json extra = json::object();
};

// Waits until `found(i)` has a value for every i < n, polling every `poll`.
template <class Poll, class Found>
latency wait_all(int n, double t0, ms timeout, ms poll, Poll&& do_poll, Found&& found) {
    latency lat;
    lat.t0 = t0;
    lat.per_agent.assign(n, std::nullopt);
    auto end = steady::now() + timeout;
    for (;;) {
        do_poll();
        bool all = true;
        for (int i = 0; i < n; ++i) {
            if (!lat.per_agent[i]) lat.per_agent[i] = found(i);
            all = all && lat.per_agent[i].has_value();
        }
        if (all || steady::now() >= end) return lat;
        nap(poll);
    }
}

// ---- meshfed

// A private copy of the meshfed binary (made at start), so a rebuild by someone else during the
// run cannot mix two builds in one table.
fs::path g_meshfed_bin = MESHFED_BINARY;

// "2026-11-22T05:29:09.013Z [INFO]  ..." (hclog) -> unix seconds.
std::optional<double> hclog_time(const std::string& line) {
    int y, mo, d, h, mi, s, milli;
    if (line.size() < 24 || std::sscanf(line.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3d", &y, &mo, &d,
                                        &h, &mi, &s, &milli) != 7)
        return std::nullopt;
    std::tm t{};
    t.tm_year = y - 1900;
    t.tm_mon = mo - 1;
    t.tm_mday = d;
    t.tm_hour = h;
    t.tm_min = mi;
    t.tm_sec = s;
    double secs = static_cast<double>(::timegm(&t)) + milli / 1000.0;
    char z = line[23];
    if (z == '+' || z == '-') {
        int oh = 0, om = 0;
        if (std::sscanf(line.c_str() + 24, "%2d:%2d", &oh, &om) < 1 &&
            std::sscanf(line.c_str() + 24, "%2d%2d", &oh, &om) < 1)
            return secs;
        secs -= (z == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    }
    return secs;
}

struct member_event {
    std::string kind;  // Join, Failed, Leave, Update, Reap
    std::string name;
    double seen = 0;               // when this program read the line
    std::optional<double> logged;  // the line's own timestamp
};

struct meshfed_node {
    std::string node, dc, name;
    int wan_port = 0, rpc_port = 0, http_port = 0;
    fs::path dir;
    std::unique_ptr<child> proc;
    std::unique_ptr<log_tail> tail;
    std::vector<member_event> events;
    bool running_seen = false;
    std::optional<double> serving_logged, joined_logged;

    std::string addr() const { return fmt::format("127.0.0.1:{}", wan_port); }

    void poll() {
        if (!tail) return;
        double t = now_s();
        for (auto& line : tail->lines()) {
            if (line.find("meshfed agent running") != std::string::npos) running_seen = true;
            if (line.find("WAN gossip pool serving") != std::string::npos)
                serving_logged = hclog_time(line);
            if (line.find("(WAN) joined:") != std::string::npos) joined_logged = hclog_time(line);
            auto p = line.find("serf: EventMember");
            if (p == std::string::npos) continue;
            p += 17;
            auto colon = line.find(": ", p);
            if (colon == std::string::npos) continue;
            member_event e;
            e.kind = line.substr(p, colon - p);
            if (e.kind.rfind("Leave", 0) == 0) e.kind = "Leave";
            if (e.kind.rfind("Reap", 0) == 0) e.kind = "Reap";
            auto name_end = line.find(' ', colon + 2);
            e.name = line.substr(colon + 2, name_end - (colon + 2));
            e.seen = t;
            e.logged = hclog_time(line);
            events.push_back(std::move(e));
        }
    }
    // Last known status of `member` from the event lines ("" = never seen).
    std::string status_of(const std::string& member) const {
        std::string st;
        for (const auto& e : events) {
            if (e.name != member) continue;
            if (e.kind == "Join") st = "alive";
            if (e.kind == "Failed") st = "failed";
            if (e.kind == "Leave") st = "left";
            if (e.kind == "Reap") st = "";
        }
        return st;
    }
    const member_event* first_event(const std::string& kind, const std::string& member,
                                    double after) const {
        for (const auto& e : events)
            if (e.kind == kind && e.name == member && e.seen >= after) return &e;
        return nullptr;
    }
};

class meshfed_pool : public pool {
  public:
    meshfed_pool(fs::path dir, const options& o) : dir_(std::move(dir)), o_(o) {}
    ~meshfed_pool() override { stop_all(); }

    double build(int count) override {
        auto t0 = steady::now();
        for (int i = 0; i < count; ++i) start_node(i > 0);
        auto end = t0 + build_timeout(o_.prof);
        while (!converged()) {
            if (steady::now() >= end)
                throw bench_error(fmt::format("meshfed pool of {} did not converge in {} s", count,
                                              build_timeout(o_.prof).count() / 1000));
            nap(ms(100));
        }
        return std::chrono::duration<double>(steady::now() - t0).count();
    }

    // As serf's side: the new agent runs for 1 s, then `meshfed join -wan <seed>` (the CLI
    // over the new agent's HTTP API) at T0.
    latency join_one() override {
        int existing = static_cast<int>(nodes_.size());
        auto& j = start_node(false);
        nap(1s);
        double t0 = now_s();
        child cmd(g_meshfed_bin.string(),
                  {"join", "-wan", fmt::format("-http-addr=http://127.0.0.1:{}", j.http_port),
                   nodes_.front()->addr()},
                  dir_ / "meshfed-join.log");
        auto rc = cmd.wait_exit(30s);
        extra["join_cmd_s"] = now_s() - t0;
        if (!rc || *rc != 0)
            throw bench_error("meshfed join failed: " +
                              meshfed::test::read_text(dir_ / "meshfed-join.log"));
        auto lat = wait_all(
            existing, t0, join_timeout(o_.prof), ms(o_.poll_ms), [&] { poll_all(); },
            [&](int i) -> std::optional<double> {
                if (auto* e = nodes_[i]->first_event("Join", j.name, t0 - 0.01))
                    return e->seen - t0;
                return std::nullopt;
            });
        lat.t0 = t0;
        lat.t0_note = "just before running `meshfed join -wan -http-addr=<new> <seed>`";
        lat.per_agent_logged = logged_latencies(existing, "Join", j.name, t0 - 0.01, t0);
        if (j.joined_logged) extra["join_push_pull_s"] = *j.joined_logged - t0;
        return lat;
    }

    latency kill_one(int idx) override {
        auto& victim = *nodes_[idx];
        poll_all();
        double t0 = now_s();
        victim.proc->kill_now();
        std::vector<int> others;
        for (int i = 0; i < static_cast<int>(nodes_.size()); ++i)
            if (i != idx) others.push_back(i);
        auto lat = wait_all(
            static_cast<int>(others.size()), t0,
            fail_timeout(o_.prof, static_cast<int>(nodes_.size())), ms(o_.poll_ms),
            [&] { poll_all(); },
            [&](int k) -> std::optional<double> {
                if (auto* e = nodes_[others[k]]->first_event("Failed", victim.name, t0))
                    return e->seen - t0;
                return std::nullopt;
            });
        lat.t0_note = "just before kill -9";
        for (int k : others) {
            auto* e = nodes_[k]->first_event("Failed", victim.name, t0);
            lat.per_agent_logged.push_back(e && e->logged ? std::optional(*e->logged - t0)
                                                          : std::nullopt);
        }
        return lat;
    }

    std::vector<pid_t> pids() override {
        std::vector<pid_t> v;
        for (auto& n : nodes_)
            if (n->proc->running()) v.push_back(n->proc->pid());
        return v;
    }

    void stop_all() override {
        for (auto& n : nodes_) n->proc->send(SIGTERM);
        for (auto& n : nodes_)
            if (!n->proc->wait_exit(ms(5000))) n->proc->kill_now();
    }

  private:
    void poll_all() {
        for (auto& n : nodes_) n->poll();
    }

    std::vector<std::optional<double>> logged_latencies(int count, const std::string& kind,
                                                        const std::string& member, double after,
                                                        double t0) {
        std::vector<std::optional<double>> v;
        for (int i = 0; i < count; ++i) {
            auto* e = nodes_[i]->first_event(kind, member, after);
            v.push_back(e && e->logged ? std::optional(*e->logged - t0) : std::nullopt);
        }
        return v;
    }

    bool converged() {
        poll_all();
        for (auto& a : nodes_)
            for (auto& b : nodes_)
                if (a != b && a->status_of(b->name) != "alive") return false;
        return true;
    }

    // Starts node number nodes_.size(); retries with new ports if it exits at once (a free port
    // can be taken by someone else between the probe and the bind).
    meshfed_node& start_node(bool join) {
        int i = static_cast<int>(nodes_.size());
        for (int attempt = 1;; ++attempt) {
            auto n = std::make_unique<meshfed_node>();
            n->node = fmt::format("m{:02d}", i);
            n->dc = fmt::format("dc{:02d}", i);
            n->name = n->node + "." + n->dc;
            n->dir = dir_ / fmt::format("{}-try{}", n->name, attempt);
            fs::create_directories(n->dir);
            n->wan_port = meshfed::test::free_tcp_port();
            n->rpc_port = meshfed::test::free_tcp_port();
            n->http_port = meshfed::test::free_tcp_port();
            const auto& p = o_.prof;
            std::string cfg = fmt::format(
                "node_name = \"{}\"\ndatacenter = \"{}\"\nserver = true\nbootstrap = true\n"
                "bind_addr = \"127.0.0.1\"\ndata_dir = \"{}\"\nlog_level = \"info\"\n"
                "ports {{\n  serf_wan = {}\n  server = {}\n  http = {}\n}}\n"
                "gossip_wan {{\n  gossip_interval = \"{}ms\"\n  probe_interval = \"{}ms\"\n"
                "  probe_timeout = \"{}ms\"\n  suspicion_mult = {}\n  gossip_nodes = {}\n"
                "  retransmit_mult = {}\n  push_pull_interval = \"{}ms\"\n}}\n",
                n->node, n->dc, (n->dir / "data").string(), n->wan_port, n->rpc_port, n->http_port,
                p.gossip_ms, p.probe_ms, p.probe_timeout_ms, p.suspicion_mult, p.gossip_nodes,
                p.retransmit_mult, p.push_pull_ms);
            if (join)
                cfg += fmt::format("retry_join_wan = [\"{}\"]\nretry_interval_wan = \"1s\"\n",
                                   nodes_.front()->addr());
            std::ofstream(n->dir / "server.hcl") << cfg;
            fs::path log = n->dir / "agent.log";
            n->proc = std::make_unique<child>(
                g_meshfed_bin.string(),
                std::vector<std::string>{"agent", "-config", (n->dir / "server.hcl").string()},
                log);
            n->tail = std::make_unique<log_tail>(log);
            auto end = steady::now() + 15s;
            // Poll everyone meanwhile: the others log the newcomer within milliseconds.
            while (!n->running_seen && n->proc->running() && steady::now() < end) {
                n->poll();
                poll_all();
                if (!n->running_seen) nap(ms(std::min(o_.poll_ms, 10)));
            }
            n->poll();
            if (n->running_seen) {
                nodes_.push_back(std::move(n));
                return *nodes_.back();
            }
            std::string text = meshfed::test::read_text(log);
            n->proc->kill_now();
            if (attempt >= 3)
                throw bench_error(fmt::format("meshfed {} did not start:\n{}", n->name, text));
        }
    }

    fs::path dir_;
    const options& o_;
    std::vector<std::unique_ptr<meshfed_node>> nodes_;
};

// ---- serf

struct serf_node {
    std::string name, dc;
    int bind_port = 0, rpc_port = 0;
    fs::path log;
    std::unique_ptr<child> proc;

    std::string addr() const { return fmt::format("127.0.0.1:{}", bind_port); }
    std::string rpc() const { return fmt::format("127.0.0.1:{}", rpc_port); }
};

const fs::path serfwatch_bin = fs::path(MESHFED_INTEROP_BIN) / "serfwatch";

// serfwatch -poll over some agents: status changes with the poll's wall-clock time.
class serf_watch {
  public:
    struct change {
        std::string agent, member, status;
        double t;
    };

    serf_watch(const std::vector<std::string>& rpcs, const fs::path& out, ms poll, ms lifetime)
        : tail_(out) {
        std::string list;
        for (auto& r : rpcs) list += (list.empty() ? "" : ",") + r;
        proc_ = std::make_unique<child>(
            serfwatch_bin.string(),
            std::vector<std::string>{"-rpc", list, "-poll", fmt::format("{}ms", poll.count()),
                                     "-timeout", fmt::format("{}s", lifetime.count() / 1000 + 5)},
            out);
        auto end = steady::now() + 10s;
        while (subscribed_ < static_cast<int>(rpcs.size())) {
            read();
            if (steady::now() >= end || !proc_->running())
                throw bench_error(fmt::format("serfwatch subscribed to {} of {} agents: {}",
                                              subscribed_, rpcs.size(), errors_));
            nap(20ms);
        }
    }
    ~serf_watch() { proc_->kill_now(); }

    void read() {
        for (auto& line : tail_.lines()) {
            auto j = json::parse(line, nullptr, false);
            if (j.is_discarded() || !j.is_object()) continue;
            std::string ev = j.value("event", "");
            if (ev == "subscribed") ++subscribed_;
            if (ev == "error") errors_ += j.value("agent", "") + ": " + j.value("err", "") + "; ";
            if (ev == "status")
                changes_.push_back({j.value("agent", ""), j.value("member", ""),
                                    j.value("status", ""), j.value("t", 0.0)});
        }
    }
    std::optional<double> first(const std::string& agent, const std::string& member,
                                const std::string& status, double after) const {
        for (const auto& c : changes_)
            if (c.agent == agent && c.member == member && c.status == status && c.t >= after)
                return c.t;
        return std::nullopt;
    }

  private:
    log_tail tail_;
    std::unique_ptr<child> proc_;
    int subscribed_ = 0;
    std::string errors_;
    std::vector<change> changes_;
};

class serf_pool : public pool {
  public:
    serf_pool(fs::path dir, const options& o) : dir_(std::move(dir)), o_(o) {
        fs::create_directories(dir_);
    }
    ~serf_pool() override { stop_all(); }

    double build(int count) override {
        auto t0 = steady::now();
        for (int i = 0; i < count; ++i) start_node(i > 0);
        auto end = t0 + build_timeout(o_.prof);
        while (!converged()) {
            if (steady::now() >= end)
                throw bench_error(fmt::format("serf pool of {} did not converge", count));
            nap(ms(300));
        }
        return std::chrono::duration<double>(steady::now() - t0).count();
    }

    latency join_one() override {
        std::vector<std::string> rpcs;
        for (auto& n : nodes_) rpcs.push_back(n->rpc());
        auto timeout = join_timeout(o_.prof);
        serf_watch watch(rpcs, dir_ / "watch-join.jsonl", ms(o_.poll_ms), timeout + 20s);
        auto& j = start_node(false);
        nap(1s);  // as in the baseline: the new agent has run 1 s before `serf join`
        double t0 = now_s();
        child cmd("/usr/bin/serf", {"join", "-rpc-addr=" + j.rpc(), nodes_.front()->addr()},
                  dir_ / "serf-join.log");
        auto rc = cmd.wait_exit(30s);
        extra["join_cmd_s"] = now_s() - t0;
        if (!rc || *rc != 0)
            throw bench_error("serf join failed: " +
                              meshfed::test::read_text(dir_ / "serf-join.log"));
        auto lat = wait_all(
            static_cast<int>(rpcs.size()), t0, timeout, ms(o_.poll_ms), [&] { watch.read(); },
            [&](int i) -> std::optional<double> {
                if (auto t = watch.first(rpcs[i], j.name, "alive", t0 - 0.01)) return *t - t0;
                return std::nullopt;
            });
        lat.t0_note = "just before running `serf join -rpc-addr=<new> <seed>`";
        return lat;
    }

    latency kill_one(int idx) override {
        auto& victim = *nodes_[idx];
        std::vector<std::string> rpcs;
        for (int i = 0; i < static_cast<int>(nodes_.size()); ++i)
            if (i != idx) rpcs.push_back(nodes_[i]->rpc());
        auto timeout = fail_timeout(o_.prof, static_cast<int>(nodes_.size()));
        serf_watch watch(rpcs, dir_ / "watch-fail.jsonl", ms(o_.poll_ms), timeout + 20s);
        double t0 = now_s();
        victim.proc->kill_now();
        auto lat = wait_all(
            static_cast<int>(rpcs.size()), t0, timeout, ms(o_.poll_ms), [&] { watch.read(); },
            [&](int i) -> std::optional<double> {
                if (auto t = watch.first(rpcs[i], victim.name, "failed", t0)) return *t - t0;
                return std::nullopt;
            });
        lat.t0_note = "just before kill -9";
        return lat;
    }

    std::vector<pid_t> pids() override {
        std::vector<pid_t> v;
        for (auto& n : nodes_)
            if (n->proc->running()) v.push_back(n->proc->pid());
        return v;
    }

    void stop_all() override {
        for (auto& n : nodes_) n->proc->send(SIGTERM);
        for (auto& n : nodes_)
            if (!n->proc->wait_exit(ms(5000))) n->proc->kill_now();
    }

  private:
    // Every agent's member list (serfwatch -members, one process for all agents).
    bool converged() {
        std::vector<std::string> rpcs;
        for (auto& n : nodes_) rpcs.push_back(n->rpc());
        std::string list;
        for (auto& r : rpcs) list += (list.empty() ? "" : ",") + r;
        fs::path out = dir_ / "members.jsonl";
        fs::remove(out);
        {
            child c(serfwatch_bin.string(), {"-members", "-rpc", list}, out);
            if (!c.wait_exit(30s)) return false;
        }
        std::map<std::string, std::map<std::string, std::string>> per;
        std::ifstream in(out);
        for (std::string line; std::getline(in, line);) {
            auto j = json::parse(line, nullptr, false);
            if (j.is_discarded() || j.value("event", "") != "member") continue;
            per[j.value("agent", "")][j.value("member", "")] = j.value("status", "");
        }
        for (auto& a : nodes_)
            for (auto& b : nodes_)
                if (per[a->rpc()][b->name] != "alive") return false;
        return true;
    }

    serf_node& start_node(bool join) {
        int i = static_cast<int>(nodes_.size());
        for (int attempt = 1;; ++attempt) {
            auto n = std::make_unique<serf_node>();
            n->dc = fmt::format("dc{:02d}", i);
            n->name = fmt::format("s{:02d}.{}", i, n->dc);
            n->bind_port = meshfed::test::free_tcp_port();
            n->rpc_port = meshfed::test::free_tcp_port();
            n->log = dir_ / fmt::format("{}-try{}.log", n->name, attempt);
            // Consul server tags, so the pool gossips the same kind of payload as meshfed's.
            std::vector<std::string> args = {"agent",
                                             "-node=" + n->name,
                                             "-bind=" + n->addr(),
                                             "-rpc-addr=" + n->rpc(),
                                             "-profile=" + o_.prof.name,
                                             "-tag",
                                             "role=consul",
                                             "-tag",
                                             "dc=" + n->dc,
                                             "-tag",
                                             "port=8300",
                                             "-tag",
                                             "vsn=2",
                                             "-tag",
                                             "build=1.17.0:abcd1234"};
            if (join) args.push_back("-join=" + nodes_.front()->addr());
            n->proc = std::make_unique<child>("/usr/bin/serf", args, n->log);
            log_tail tail(n->log);
            bool up = false;
            auto end = steady::now() + 15s;
            while (!up && n->proc->running() && steady::now() < end) {
                for (auto& l : tail.lines())
                    if (l.find("Serf agent running") != std::string::npos) up = true;
                if (!up) nap(10ms);
            }
            if (up) {
                nodes_.push_back(std::move(n));
                return *nodes_.back();
            }
            std::string text = meshfed::test::read_text(n->log);
            n->proc->kill_now();
            if (attempt >= 3)
                throw bench_error(fmt::format("serf {} did not start:\n{}", n->name, text));
        }
    }

    fs::path dir_;
    const options& o_;
    std::vector<std::unique_ptr<serf_node>> nodes_;
};

// ---------------------------------------------------------------- the sequence

// Idle pool: wait --idle, then utime+stime over --cpu-window, then VmRSS.
void measure_idle(pool& p, const options& o, pool_result& r) {
    nap(ms(o.idle_s * 1000));
    auto pids = p.pids();
    std::vector<std::optional<long long>> ticks0, sched0;
    for (pid_t pid : pids) {
        ticks0.push_back(cpu_ticks(pid));
        sched0.push_back(sched_ns(pid));
    }
    auto t0 = steady::now();
    nap(ms(o.cpu_window_s * 1000));
    double dt = std::chrono::duration<double>(steady::now() - t0).count();
    r.cpu_window_s = dt;
    double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
    for (std::size_t i = 0; i < pids.size(); ++i) {
        auto t1 = cpu_ticks(pids[i]);
        auto s1 = sched_ns(pids[i]);
        if (ticks0[i] && t1) r.cpu_s_per_h.push_back((*t1 - *ticks0[i]) / hz / dt * 3600);
        if (sched0[i] && s1) r.cpu_sched_s_per_h.push_back((*s1 - *sched0[i]) / 1e9 / dt * 3600);
        if (auto kb = status_kb(pids[i], "VmRSS")) r.rss_mb.push_back(*kb / 1024.0);
        if (auto kb = status_kb(pids[i], "RssAnon")) r.rss_anon_mb.push_back(*kb / 1024.0);
        if (auto kb = pss_kb(pids[i])) r.pss_mb.push_back(*kb / 1024.0);
    }
}

pool_result run_pool(const std::string& impl, int n, int round, const fs::path& dir,
                     const options& o) {
    pool_result r;
    r.impl = impl;
    r.n = n;
    r.round = round;
    std::unique_ptr<pool> p;
    if (impl == "meshfed")
        p = std::make_unique<meshfed_pool>(dir, o);
    else
        p = std::make_unique<serf_pool>(dir, o);
    auto say = [&](const std::string& what) {
        std::cerr << fmt::format("[round {} N={} {}] {}\n", round, n, impl, what);
    };
    try {
        say("building a pool of " + std::to_string(n - 1));
        r.build_s = p->build(n - 1);
        say(fmt::format("converged in {:.2f} s; joining node {}", r.build_s, n));
        r.join = p->join_one();
        say(r.join.max() ? fmt::format("join: all members in {:.3f} s", *r.join.max())
                         : "join: timeout");
        say(fmt::format("idle {} s + CPU window {} s", o.idle_s, o.cpu_window_s));
        measure_idle(*p, o, r);
        if (static_cast<int>(r.rss_mb.size()) != n)
            throw bench_error(
                fmt::format("only {} of {} agents alive before the kill", r.rss_mb.size(), n));
        r.fail = p->kill_one(n - 1);  // the joiner: the baseline also kills the newest node
        say(r.fail.max() ? fmt::format("failure: all survivors in {:.3f} s", *r.fail.max())
                         : "failure: timeout");
    } catch (const bench_error& e) {
        r.error = e.what();
        say("error: " + r.error);
    }
    r.extra = p->extra;
    p->stop_all();
    return r;
}

// ---------------------------------------------------------------- report

std::string fmt_value(double v, int prec) {
    if (std::isnan(v)) return "n/a";
    if (std::isinf(v)) return "timeout";
    return fmt::format("{:.{}f}", v, prec);
}

// Median across rounds; a timed-out round counts as +inf, so a majority of timeouts shows.
double median_rounds(std::vector<double> v) {
    if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
    std::sort(v.begin(), v.end());
    std::size_t m = v.size() / 2;
    if (v.size() % 2 || std::isinf(v[m])) return v[m];
    return (v[m - 1] + v[m]) / 2;
}

struct metric {
    std::string name;
    int prec;
    std::function<double(const pool_result&)> get;
};

// NaN = not measured (the run failed before), +inf = measured but timed out.
double as_value(const latency& l, const std::optional<double>& v) {
    if (l.per_agent.empty()) return std::numeric_limits<double>::quiet_NaN();
    return v ? *v : std::numeric_limits<double>::infinity();
}

int usage() {
    std::cerr << "usage: gossip_bench [--sizes 8,24] [--profile lan|wan] [--rounds R] [--idle S]\n"
                 "                    [--cpu-window S] [--poll-ms MS] [--only meshfed|serf]\n"
                 "                    [--json FILE] [--summary FILE] [--keep]\n";
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    for (int i = 0; i < argc; ++i) o.command += (i ? " " : "") + std::string(argv[i]);
    try {
        for (int i = 1; i < argc; ++i) {
            std::string a = argv[i];
            auto next = [&]() -> std::string {
                if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
                return argv[++i];
            };
            if (a == "--sizes") {
                o.sizes.clear();
                std::istringstream in(next());
                for (std::string t; std::getline(in, t, ',');) o.sizes.push_back(std::stoi(t));
            } else if (a == "--profile") {
                std::string p = next();
                if (p == "lan")
                    o.prof = lan_profile;
                else if (p == "wan")
                    o.prof = wan_profile;
                else
                    throw std::invalid_argument("--profile is lan or wan");
            } else if (a == "--rounds")
                o.rounds = std::stoi(next());
            else if (a == "--idle")
                o.idle_s = std::stoi(next());
            else if (a == "--cpu-window")
                o.cpu_window_s = std::stoi(next());
            else if (a == "--poll-ms")
                o.poll_ms = std::stoi(next());
            else if (a == "--only")
                o.only = next();
            else if (a == "--json")
                o.json_file = next();
            else if (a == "--summary")
                o.summary_file = next();
            else if (a == "--keep")
                o.keep = true;
            else
                return usage();
        }
    } catch (const std::exception& e) {
        std::cerr << "gossip_bench: " << e.what() << "\n";
        return usage();
    }
    for (int n : o.sizes)
        if (n < 3 || n > 200) return std::cerr << "gossip_bench: sizes are 3..200\n", usage();
    if (o.rounds < 1 || o.rounds > 50 || o.idle_s < 10 || o.cpu_window_s < 1 || o.poll_ms < 1 ||
        o.poll_ms > 20 || (!o.only.empty() && o.only != "meshfed" && o.only != "serf"))
        return std::cerr << "gossip_bench: rounds 1..50, idle >= 10, poll-ms 1..20\n", usage();
    for (const fs::path& p : {fs::path(MESHFED_BINARY), fs::path("/usr/bin/serf"), serfwatch_bin})
        if (!fs::exists(p)) {
            std::cerr << "gossip_bench: " << p << " missing (scripts/setup builds/installs it)\n";
            return 1;
        }

    struct sigaction sa {};
    sa.sa_handler = on_signal;
    ::sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    ::signal(SIGPIPE, SIG_IGN);

    std::string tmpl = (fs::temp_directory_path() / "gossip-bench-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) return std::cerr << "gossip_bench: mkdtemp failed\n", 1;
    fs::path root = tmpl;
    // Removed on every way out of main (unless --keep).
    struct dir_guard {
        fs::path p;
        bool keep;
        ~dir_guard() {
            std::error_code ec;
            if (keep)
                std::cerr << "gossip_bench: kept " << p << "\n";
            else
                fs::remove_all(p, ec);
        }
    } guard{root, o.keep};

    {
        std::error_code ec;
        fs::copy_file(MESHFED_BINARY, root / "meshfed", ec);
        if (ec)
            return std::cerr << "gossip_bench: cannot copy meshfed: " << ec.message() << "\n", 1;
        g_meshfed_bin = root / "meshfed";
    }

    std::vector<std::string> impls;
    if (o.only.empty() || o.only == "meshfed") impls.push_back("meshfed");
    if (o.only.empty() || o.only == "serf") impls.push_back("serf");

    std::string load_start = read_first_line("/proc/loadavg");
    // Which builds were measured: others may rebuild meshfed while this runs.
    auto trim = [](std::string t) {
        while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
        return t;
    };
    auto mtime = fs::last_write_time(MESHFED_BINARY);
    auto mtime_sys = std::chrono::file_clock::to_sys(mtime);
    std::string versions = fmt::format(
        "{} (binary {} built {:%Y-%m-%d %H:%M:%S} UTC, source HEAD {}); serf {}",
        trim(meshfed::test::run_command(g_meshfed_bin.string() + " version | head -1").output),
        MESHFED_BINARY, std::chrono::floor<std::chrono::seconds>(mtime_sys),
        trim(meshfed::test::run_command("git -C " MESHFED_SOURCE_DIR " rev-parse --short HEAD")
                 .output),
        trim(meshfed::test::run_command("dpkg-query -W -f '${Version}' serf").output));
    auto started = steady::now();
    std::vector<pool_result> results;
    bool was_interrupted = false;
    try {
        for (int round = 1; round <= o.rounds; ++round) {
            for (int n : o.sizes) {
                // Alternate which implementation goes first, so drift hits both alike.
                auto order = impls;
                if (round % 2 == 0) std::reverse(order.begin(), order.end());
                for (const auto& impl : order) {
                    fs::path dir = root / fmt::format("r{}-N{}-{}", round, n, impl);
                    fs::create_directories(dir);
                    results.push_back(run_pool(impl, n, round, dir, o));
                }
            }
        }
    } catch (const interrupted&) {
        was_interrupted = true;
        std::cerr << "gossip_bench: interrupted; every agent was stopped\n";
    }
    double elapsed = std::chrono::duration<double>(steady::now() - started).count();
    std::string load_end = read_first_line("/proc/loadavg");

    std::vector<metric> metrics = {
        {"join convergence: all members list the new node alive (s)", 3,
         [](const pool_result& r) { return as_value(r.join, r.join.max()); }},
        {"failure detection: all survivors list it failed (s)", 3,
         [](const pool_result& r) { return as_value(r.fail, r.fail.max()); }},
        {"failure detection: first survivor (s)", 3,
         [](const pool_result& r) { return as_value(r.fail, r.fail.first()); }},
        {"idle RSS per agent, median (MB)", 1,
         [](const pool_result& r) { return median_of(r.rss_mb); }},
        {"idle RSS per agent, max (MB)", 1,
         [](const pool_result& r) {
             return r.rss_mb.empty() ? std::numeric_limits<double>::quiet_NaN()
                                     : *std::max_element(r.rss_mb.begin(), r.rss_mb.end());
         }},
        {"idle RssAnon (private part of RSS) per agent, median (MB)", 1,
         [](const pool_result& r) { return median_of(r.rss_anon_mb); }},
        {"idle PSS (shared pages split) per agent, median (MB)", 1,
         [](const pool_result& r) { return median_of(r.pss_mb); }},
        {"idle CPU per agent, median (CPU-s/h, utime+stime)", 1,
         [](const pool_result& r) { return median_of(r.cpu_s_per_h); }},
        {"idle CPU per agent, median (CPU-s/h, schedstat ns)", 1,
         [](const pool_result& r) { return median_of(r.cpu_sched_s_per_h); }},
    };

    std::ostringstream out;
    out << fmt::format("machine: {}, nproc {}, {}; load avg at start {} / end {}\n", cpu_model(),
                       ::sysconf(_SC_NPROCESSORS_ONLN), read_first_line("/proc/meminfo"),
                       load_start, load_end);
    out << "versions: " << versions << "\n";
    out << "profile: " << describe(o.prof) << "\n"
        << "  serf agent -profile=" << o.prof.name
        << "; meshfed gossip_wan { same six values, push_pull_interval = serf's }; joins: "
           "`serf join` / `meshfed join -wan` 1 s after the new agent started\n";
    out << fmt::format(
        "command: {}\nrounds: {} (median of rounds), idle {} s before a {} s CPU "
        "window, polling every {} ms, run time {:.0f} s{}\n\n",
        o.command, o.rounds, o.idle_s, o.cpu_window_s, o.poll_ms, elapsed,
        was_interrupted ? " (INTERRUPTED: partial results)" : "");
    out << fmt::format("| {:<58} | {:>3} | {:>9} | {:>9} | {:>22} |\n", "metric", "N", "meshfed",
                       "serf", "ratio (meshfed/serf)");
    out << fmt::format("| {:-<58} | {:->3} | {:->9} | {:->9} | {:->22} |\n", "", "", "", "", "");
    json summary = json::array();
    for (const auto& m : metrics) {
        for (int n : o.sizes) {
            std::map<std::string, double> med;
            for (const auto& impl : {"meshfed", "serf"}) {
                std::vector<double> v;
                for (const auto& r : results)
                    if (r.impl == impl && r.n == n) v.push_back(m.get(r));
                v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return std::isnan(x); }),
                        v.end());
                med[impl] = median_rounds(v);
            }
            double a = med["meshfed"], b = med["serf"];
            std::string ratio = std::isfinite(a) && std::isfinite(b) && b > 0
                                    ? fmt::format("{:.2f}", a / b)
                                    : "n/a";
            out << fmt::format("| {:<58} | {:>3} | {:>9} | {:>9} | {:>22} |\n", m.name, n,
                               fmt_value(a, m.prec), fmt_value(b, m.prec), ratio);
            if (std::isfinite(a) && std::isfinite(b))
                meshfed::bench::summary_row(o.summary_file, "gossip " + o.prof.name,
                                            fmt::format("{} N={}", m.name, n), a, "serf", b);
            summary.push_back({{"metric", m.name},
                               {"N", n},
                               {"meshfed", std::isfinite(a) ? json(a) : json(fmt_value(a, 3))},
                               {"serf", std::isfinite(b) ? json(b) : json(fmt_value(b, 3))},
                               {"ratio", ratio}});
        }
    }
    for (const auto& r : results)
        if (!r.error.empty())
            out << fmt::format("error (round {} N={} {}): {}\n", r.round, r.n, r.impl,
                               r.error.substr(0, 300));
    std::cout << out.str() << std::flush;

    if (!o.json_file.empty()) {
        json j;
        j["machine"] = {{"nproc", ::sysconf(_SC_NPROCESSORS_ONLN)},
                        {"model", cpu_model()},
                        {"loadavg_start", load_start},
                        {"loadavg_end", load_end}};
        j["versions"] = versions;
        j["profile"] = describe(o.prof);
        j["command"] = o.command;
        j["rounds"] = o.rounds;
        j["idle_s"] = o.idle_s;
        j["cpu_window_s"] = o.cpu_window_s;
        j["poll_ms"] = o.poll_ms;
        j["run_time_s"] = elapsed;
        j["interrupted"] = was_interrupted;
        j["summary"] = summary;
        j["runs"] = json::array();
        for (const auto& r : results)
            j["runs"].push_back({{"impl", r.impl},
                                 {"N", r.n},
                                 {"round", r.round},
                                 {"build_s", r.build_s},
                                 {"join", r.join.to_json()},
                                 {"fail", r.fail.to_json()},
                                 {"rss_mb", r.rss_mb},
                                 {"rss_anon_mb", r.rss_anon_mb},
                                 {"pss_mb", r.pss_mb},
                                 {"cpu_s_per_h", r.cpu_s_per_h},
                                 {"cpu_sched_s_per_h", r.cpu_sched_s_per_h},
                                 {"cpu_window_s", r.cpu_window_s},
                                 {"extra", r.extra},
                                 {"error", r.error}});
        std::ofstream(o.json_file) << j.dump(1) << "\n";
    }
    return was_interrupted ? 130 : 0;
}
