// meshfed-harness: the multi-datacenter harness as a command. `up` brings a federation of N
// datacenters (dc1 the primary; one server and one mesh gateway each; TLS and gossip
// encryption on) up in the seed's order, prints the seed's verification (`members -wan` in
// every DC, `catalog services -datacenter` for every pair), then stays up until SIGINT/SIGTERM
// and stops every process by PID. scripts/demo runs it.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "integration/harness.hpp"

using namespace meshfed::harness;
using namespace std::chrono_literals;

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) {
    g_stop = 1;
}

int usage(int code) {
    std::fprintf(code ? stderr : stdout,
                 "usage: meshfed-harness up [--dcs N] [--mode auto|loopback|isolated] [-d DIR]\n"
                 "  --dcs N   datacenters dc1..dcN (default 3, at most 9); dc1 is the primary\n"
                 "  --mode    isolated: one network namespace per DC (root + ip netns);\n"
                 "            loopback: 127.x addresses; auto (default): isolated if possible\n"
                 "  -d DIR    run directory, kept afterwards (default: temporary, removed)\n"
                 "MESHFED_BIN=/path/to/meshfed picks the binary (default: the one built here).\n");
    return code;
}

void banner(const std::string& text) {
    std::printf("\n==> %s\n", text.c_str());
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || std::strcmp(argv[1], "up") != 0)
        return usage(
            argc >= 2 && (!std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help")) ? 0 : 2);
    int n_dcs = 3;
    topology t;
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "meshfed-harness: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--dcs") {
            n_dcs = std::atoi(next().c_str());
            if (n_dcs < 1 || n_dcs > 9) return usage(2);
        } else if (a == "--mode") {
            std::string m = next();
            if (m == "auto")
                t.mode = network_mode::automatic;
            else if (m == "loopback")
                t.mode = network_mode::loopback;
            else if (m == "isolated")
                t.mode = network_mode::isolated;
            else
                return usage(2);
        } else if (a == "-d") {
            t.run_dir = next();
            t.keep_run_dir = true;
        } else {
            return usage(2);
        }
    }
    for (int n = 1; n <= n_dcs; ++n) t.dcs.push_back({"dc" + std::to_string(n)});
    // Quicker than Consul's WAN defaults (5 s probes) so the demo settles in seconds; the code
    // paths are the same.
    t.gossip_hcl =
        "gossip_wan {\n  gossip_interval = \"200ms\"\n  probe_interval = \"1s\"\n"
        "  probe_timeout = \"500ms\"\n  suspicion_mult = 4\n  reconnect_interval = \"5s\"\n}\n";
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    try {
        federation f(t);
        banner("run directory: " + f.run_dir().string());
        banner(f.isolated()
                   ? "isolation: one network namespace per datacenter; gateways share a WAN bridge"
                   : "isolation: none (distinct loopback addresses per datacenter); servers "
                     "advertise unroutable WAN addresses");
        for (const auto& spec : t.dcs) {
            if (g_stop) return 130;
            f.add_dc(spec);
        }
        banner("waiting for every datacenter to see every server alive and reach every other");
        std::string failing;
        if (!f.wan_alive_everywhere(120s) || !f.all_pairs_reachable(120s, &failing)) {
            std::fprintf(stderr, "meshfed-harness: the federation did not settle (%s)\n%s\n",
                         failing.c_str(), f.logs(40).c_str());
            return 1;
        }
        const auto names = f.dc_names();
        for (const auto& dc : names) {
            banner(dc + ": meshfed members -wan");
            std::printf("%s", f.verb(dc, "members -wan").output.c_str());
        }
        for (const auto& from : names)
            for (const auto& to : names) {
                if (from == to) continue;
                banner(from + ": meshfed catalog services -datacenter " + to);
                std::printf("%s",
                            f.verb(from, "catalog services -datacenter " + to).output.c_str());
            }
        banner("federation of " + std::to_string(names.size()) +
               " datacenters is up (Ctrl-C stops it). HTTP APIs:");
        for (const auto& dc : names) {
            const auto& s = f.server(dc);
            const std::string ns = f.netns(dc);
            std::printf("    %s: http://%s   e.g. %s%s members -wan -http-addr http://%s\n",
                        dc.c_str(), s.http_addr().c_str(),
                        ns.empty() ? "" : ("ip netns exec " + ns + " ").c_str(),
                        meshfed_bin().c_str(), s.http_addr().c_str());
        }
        std::printf("    logs: %s/*.log, %s/dc*-server-*/agent.log\n", f.run_dir().c_str(),
                    f.run_dir().c_str());
        while (!g_stop) std::this_thread::sleep_for(200ms);
        banner("stopping (gateways first, then servers; by PID)");
    } catch (const harness_error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
    return 0;
}
