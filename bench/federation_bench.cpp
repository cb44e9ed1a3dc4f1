// federation_bench: what a server costs in a running 3-datacenter federation (the harness's
// seed topology: one server and one mesh gateway per DC, TLS and gossip encryption on, Consul's
// WAN gossip defaults): time from `meshfed agent` start to serving (its HTTP API answers
// /v1/status/leader), idle RSS (VmRSS and its private part RssAnon) of servers and gateways,
// and idle CPU seconds per hour. No peer: there is no Consul binary on the machine.
//
//   federation_bench [--idle S] [--cpu-window S] [--summary FILE]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "bench/bench_support.hpp"
#include "integration/harness.hpp"

using namespace meshfed::harness;
using namespace std::chrono_literals;

namespace {

struct proc_figures {
    double rss_mb = 0, anon_mb = 0;
    double cpu_s = 0;  // utime + stime so far
};

proc_figures read_proc(pid_t pid) {
    using meshfed::bench::cpu_ticks;
    using meshfed::bench::status_kb;
    proc_figures f;
    f.rss_mb = static_cast<double>(status_kb(pid, "VmRSS").value_or(0)) / 1024;
    f.anon_mb = static_cast<double>(status_kb(pid, "RssAnon").value_or(0)) / 1024;
    f.cpu_s = static_cast<double>(cpu_ticks(pid).value_or(0)) /
              static_cast<double>(::sysconf(_SC_CLK_TCK));
    return f;
}

}  // namespace

int main(int argc, char** argv) {
    int idle_s = 10, window_s = 30;
    std::string summary;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--idle" && i + 1 < argc)
            idle_s = std::atoi(argv[++i]);
        else if (a == "--cpu-window" && i + 1 < argc)
            window_s = std::atoi(argv[++i]);
        else if (a == "--summary" && i + 1 < argc)
            summary = argv[++i];
        else {
            std::fprintf(stderr,
                         "usage: federation_bench [--idle S] [--cpu-window S] [--summary FILE]\n");
            return 2;
        }
    }
    topology t;
    t.dcs = {{"dc1"}, {"dc2"}, {"dc3"}};
    t.gossip_hcl = " ";  // Consul's WAN gossip defaults (5 s probes), as in production
    try {
        federation f(t);
        f.start();
        if (!f.wan_alive_everywhere(180s) || !f.all_pairs_reachable(180s)) {
            std::fprintf(stderr, "federation_bench: the federation did not settle\n%s\n",
                         f.logs(40).c_str());
            return 1;
        }
        // Start to serving: restart each server (its data and config kept) and time it.
        std::vector<double> startup_ms;
        for (const auto& dc : f.dc_names()) {
            f.stop_server(dc);
            auto t0 = std::chrono::steady_clock::now();
            f.start_server(dc);
            startup_ms.push_back(
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                    .count());
        }
        if (!f.wan_alive_everywhere(180s) || !f.all_pairs_reachable(180s)) {
            std::fprintf(stderr, "federation_bench: no federation after the restarts\n");
            return 1;
        }
        std::this_thread::sleep_for(std::chrono::seconds(idle_s));
        std::vector<pid_t> servers, gateways;
        for (const auto& dc : f.dc_names()) {
            servers.push_back(f.server(dc).proc->pid());
            gateways.push_back(f.gateway(dc).proc->pid());
        }
        std::vector<proc_figures> s0, g0;
        for (auto p : servers) s0.push_back(read_proc(p));
        for (auto p : gateways) g0.push_back(read_proc(p));
        std::this_thread::sleep_for(std::chrono::seconds(window_s));
        std::vector<double> s_rss, s_anon, s_cpu, g_rss, g_anon, g_cpu;
        for (std::size_t i = 0; i < servers.size(); ++i) {
            auto now = read_proc(servers[i]);
            s_rss.push_back(now.rss_mb);
            s_anon.push_back(now.anon_mb);
            s_cpu.push_back((now.cpu_s - s0[i].cpu_s) * 3600.0 / window_s);
            auto g = read_proc(gateways[i]);
            g_rss.push_back(g.rss_mb);
            g_anon.push_back(g.anon_mb);
            g_cpu.push_back((g.cpu_s - g0[i].cpu_s) * 3600.0 / window_s);
        }
        using meshfed::bench::median;
        struct row {
            std::string metric;
            double value;
        };
        std::vector<row> rows = {
            {"server start to serving, median (ms)", median(startup_ms)},
            {"server idle VmRSS, median (MB)", median(s_rss)},
            {"server idle RssAnon, median (MB)", median(s_anon)},
            {"server idle CPU, median (CPU-s/h)", median(s_cpu)},
            {"gateway idle VmRSS, median (MB)", median(g_rss)},
            {"gateway idle RssAnon, median (MB)", median(g_anon)},
            {"gateway idle CPU, median (CPU-s/h)", median(g_cpu)},
        };
        std::cout << fmt::format(
            "federation_bench: 3 DCs ({} networks), 1 server + 1 gateway each, Consul's WAN "
            "gossip defaults; idle {} s, CPU window {} s; machine: {} cores, {}; load {}\n",
            f.isolated() ? "isolated" : "loopback", idle_s, window_s,
            std::thread::hardware_concurrency(), meshfed::bench::cpu_model(),
            meshfed::bench::load_average());
        std::cout << fmt::format("{:<40} {:>10}\n", "metric", "meshfed");
        for (const auto& r : rows) {
            std::cout << fmt::format("{:<40} {:>10.1f}\n", r.metric, r.value);
            meshfed::bench::summary_row(summary, "federation", r.metric, r.value);
        }
    } catch (const harness_error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
    return 0;
}
