// RPC benchmark (issue: RPC on 8300). Not a test: it prints a table.
//
//   Status.Ping calls/s and p50/p99 over one session, 1 and 16 concurrent streams, plain and
//   native TLS (ALPN consul/rpc-multi): meshfed's server vs the Go reference server
//   (`rpcpeer -listen`, real yamux + net-rpc-msgpackrpc), both driven by the same
//   `rpcpeer -bench` client, rounds interleaved, median reported.
//   Catalog.ListServices answered locally vs forwarded to a second meshfed datacenter joined
//   over WAN gossip (p50/p99, calls/s).
//
// Usage: rpc_bench [--calls 20000] [--rounds 3]
// Everything runs on 127.0.0.1 with free ports; every process is stopped by PID.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench/bench_support.hpp"
#include "integration/support.hpp"
#include "tests/support/process.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using meshfed::bench::cpu_model;
using meshfed::bench::median;
using meshfed::test::child_process;
using meshfed::test::run_command;

namespace {

struct figures {
    double calls_per_s = 0, p50_us = 0, p99_us = 0;
    int errors = 0;
};

figures parse_bench(const std::string& out) {
    figures f;
    auto pos = out.find('{');
    if (pos == std::string::npos) return f;
    auto j = nlohmann::json::parse(out.substr(pos), nullptr, false);
    if (j.is_discarded()) return f;
    f.calls_per_s = j.value("calls_per_s", 0.0);
    f.p50_us = j.value("p50_us", 0.0);
    f.p99_us = j.value("p99_us", 0.0);
    f.errors = j.value("errors", 0);
    return f;
}

}  // namespace

int main(int argc, char** argv) {
    int calls = 20000, rounds = 3;
    std::string summary;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--summary" && i + 1 < argc)
            summary = argv[++i];
        else if (a == "--calls" && i + 1 < argc)
            calls = std::stoi(argv[++i]);
        else if (a == "--rounds" && i + 1 < argc)
            rounds = std::stoi(argv[++i]);
        else {
            std::cerr << "usage: rpc_bench [--calls N] [--rounds R] [--summary FILE]\n";
            return 2;
        }
    }
    const fs::path rpcpeer = fs::path(MESHFED_INTEROP_BIN) / "rpcpeer";
    if (!fs::exists(rpcpeer)) {
        std::cerr << "rpc_bench: " << rpcpeer << " not built (scripts/setup builds it)\n";
        return 1;
    }
    meshfed::test::temp_dir root;
    auto in_root = [&](const std::string& args) {
        return run_command("cd " + root.path().string() + " && " + MESHFED_BINARY + " " + args);
    };
    if (in_root("tls ca create").status != 0 ||
        in_root("tls cert create -server -dc dc1 -node n1").status != 0 ||
        in_root("tls cert create -server -dc dc2 -node n2").status != 0) {
        std::cerr << "rpc_bench: cannot make certificates\n";
        return 1;
    }
    auto p = [&](const std::string& f) { return (root.path() / f).string(); };
    std::string tls_hcl = fmt::format(
        "tls {{\n defaults {{\n  ca_file = \"{}\"\n  cert_file = \"{}\"\n  key_file = \"{}\"\n "
        "}}\n}}\n",
        p("consul-agent-ca.pem"), p("dc1-server-consul-0.pem"), p("dc1-server-consul-0-key.pem"));

    // meshfed dc1 (TLS configured, verify_incoming off so the plain mode is served too).
    auto dc1 = meshfed::it::start_meshfed(root, "n1", "dc1", tls_hcl);
    if (!dc1.proc->wait_for_output("meshfed agent running", 10s)) {
        std::cerr << "rpc_bench: meshfed did not start:\n" << dc1.log();
        return 1;
    }
    // The Go reference server with the same certificate.
    int go_port = meshfed::test::free_tcp_port();
    std::string go_addr = fmt::format("127.0.0.1:{}", go_port);
    child_process go(
        rpcpeer.string(),
        {"-listen", go_addr, "-timeout", "0", "-tls-cert", p("dc1-server-consul-0.pem"), "-tls-key",
         p("dc1-server-consul-0-key.pem"), "-tls-ca", p("consul-agent-ca.pem")},
        root.path() / "go-server.log");
    if (!go.wait_for_output("serving on", 10s)) {
        std::cerr << "rpc_bench: rpcpeer -listen did not start\n";
        return 1;
    }

    std::string tls_client = fmt::format(
        " -tls-mode alpn -sni n1.server.dc1.consul -ca {} -cert {} -key {}",
        p("consul-agent-ca.pem"), p("dc2-server-consul-0.pem"), p("dc2-server-consul-0-key.pem"));
    auto bench = [&](const std::string& addr, const std::string& method, const std::string& args,
                     int concurrency, bool tls) {
        std::string cmd = fmt::format(
            "{} -write-ext=false -addr {} -method {} -bench {} "
            "-concurrency {} -timeout 300s{}{}",
            rpcpeer.string(), addr, method, calls, concurrency,
            args.empty() ? "" : " -args '" + args + "'", tls ? tls_client : "");
        return parse_bench(run_command(cmd).output);
    };

    struct row {
        std::string metric;
        std::vector<double> ours, theirs;
        bool lower_is_better = false;
    };
    std::vector<row> rows;
    auto get_row = [&](const std::string& name, bool lower) -> row& {
        for (auto& r : rows)
            if (r.metric == name) return r;
        rows.push_back({name, {}, {}, lower});
        return rows.back();
    };
    int errors = 0;
    for (int round = 0; round < rounds; ++round) {
        for (bool tls : {false, true}) {
            for (int c : {1, 16}) {
                std::string mode = tls ? "alpn" : "plain";
                // Interleave the two servers so machine noise hits both alike.
                auto ours = bench(dc1.rpc_addr(), "Status.Ping", "", c, tls);
                auto theirs = bench(go_addr, "Status.Ping", "", c, tls);
                errors += ours.errors + theirs.errors;
                auto& cps = get_row(fmt::format("Status.Ping {} c={} calls/s", mode, c), false);
                cps.ours.push_back(ours.calls_per_s);
                cps.theirs.push_back(theirs.calls_per_s);
                auto& p50 = get_row(fmt::format("Status.Ping {} c={} p50 us", mode, c), true);
                p50.ours.push_back(ours.p50_us);
                p50.theirs.push_back(theirs.p50_us);
                auto& p99 = get_row(fmt::format("Status.Ping {} c={} p99 us", mode, c), true);
                p99.ours.push_back(ours.p99_us);
                p99.theirs.push_back(theirs.p99_us);
            }
        }
    }

    // Forwarding: a second datacenter joined over WAN gossip.
    auto dc2 = meshfed::it::start_meshfed(root, "n2", "dc2",
                                          "retry_join_wan = [\"" + dc1.addr() + "\"]\n");
    bool joined = meshfed::it::eventually(
        [&] {
            auto r =
                run_command(fmt::format("{} -write-ext=false -addr {} -method "
                                        "Catalog.ListServices -args '{{\"Datacenter\":\"dc2\"}}'",
                                        rpcpeer.string(), dc1.rpc_addr()));
            return r.status == 0;
        },
        20s);
    struct fwd_row {
        std::string metric;
        std::vector<double> local, forwarded;
    };
    std::vector<fwd_row> fwd = {{"Catalog.ListServices c=1 p50 us", {}, {}},
                                {"Catalog.ListServices c=1 p99 us", {}, {}},
                                {"Catalog.ListServices c=16 calls/s", {}, {}}};
    if (joined) {
        for (int round = 0; round < rounds; ++round) {
            auto l1 =
                bench(dc1.rpc_addr(), "Catalog.ListServices", "{\"Datacenter\":\"dc1\"}", 1, false);
            auto f1 =
                bench(dc1.rpc_addr(), "Catalog.ListServices", "{\"Datacenter\":\"dc2\"}", 1, false);
            auto l16 = bench(dc1.rpc_addr(), "Catalog.ListServices", "{\"Datacenter\":\"dc1\"}", 16,
                             false);
            auto f16 = bench(dc1.rpc_addr(), "Catalog.ListServices", "{\"Datacenter\":\"dc2\"}", 16,
                             false);
            errors += l1.errors + f1.errors + l16.errors + f16.errors;
            fwd[0].local.push_back(l1.p50_us);
            fwd[0].forwarded.push_back(f1.p50_us);
            fwd[1].local.push_back(l1.p99_us);
            fwd[1].forwarded.push_back(f1.p99_us);
            fwd[2].local.push_back(l16.calls_per_s);
            fwd[2].forwarded.push_back(f16.calls_per_s);
        }
    }

    std::cout << fmt::format(
        "rpc_bench: {} calls per run, {} rounds (median), machine: {} cores, {}\n", calls, rounds,
        std::thread::hardware_concurrency(), cpu_model());
    std::cout << fmt::format("{:<36} {:>12} {:>12} {:>8}\n", "metric", "meshfed", "go server",
                             "ratio");
    for (const auto& r : rows) {
        double a = median(r.ours), b = median(r.theirs);
        std::cout << fmt::format("{:<36} {:>12.0f} {:>12.0f} {:>8.2f}\n", r.metric, a, b,
                                 b > 0 ? a / b : 0.0);
        meshfed::bench::summary_row(summary, "rpc", r.metric, a, "go server", b);
    }
    std::cout << fmt::format("\n{:<36} {:>12} {:>12} {:>8}\n", "forwarding (meshfed dc1)", "local",
                             "to dc2", "ratio");
    if (!joined) std::cout << "  (dc2 never became reachable: forwarding not measured)\n";
    for (const auto& r : fwd) {
        double a = median(r.local), b = median(r.forwarded);
        std::cout << fmt::format("{:<36} {:>12.0f} {:>12.0f} {:>8.2f}\n", r.metric, a, b,
                                 a > 0 ? b / a : 0.0);
        // Forwarded against local: the "peer" here is the local call.
        if (joined)
            meshfed::bench::summary_row(summary, "rpc", r.metric + " forwarded vs local", b,
                                        "local call", a);
    }
    std::cout << fmt::format("errors: {}\n", errors);
    dc2.proc->signal(SIGTERM);
    dc1.proc->signal(SIGTERM);
    dc2.proc->wait_exit(15s);
    dc1.proc->wait_exit(15s);
    return errors == 0 ? 0 : 1;
}
