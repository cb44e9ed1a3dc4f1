#pragma once
// Integration support: real `meshfed agent` and `serf agent` processes on 127.0.0.1 with free
// ports, stopped by PID (the child_process destructor SIGKILLs anything still running).
#include <filesystem>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "tests/support/process.hpp"

namespace meshfed::it {

using namespace std::chrono_literals;
using test::child_process;
using test::temp_dir;

inline bool have_serf() {
    return std::filesystem::exists("/usr/bin/serf");
}

// Fast gossip timings for tests (same code paths as Consul's WAN defaults).
inline std::string fast_gossip_hcl() {
    return "gossip_wan {\n  gossip_interval = \"100ms\"\n  probe_interval = \"500ms\"\n"
           "  probe_timeout = \"250ms\"\n  suspicion_mult = 3\n  reconnect_interval = \"2s\"\n}\n";
}

struct meshfed_agent {
    std::string node, dc;
    int serf_port = 0;
    int rpc_port = 0;
    int http_port = 0;
    std::filesystem::path dir;
    std::unique_ptr<child_process> proc;

    std::string wan_name() const { return node + "." + dc; }
    std::string addr() const { return "127.0.0.1:" + std::to_string(serf_port); }
    std::string rpc_addr() const { return "127.0.0.1:" + std::to_string(rpc_port); }
    std::string http_addr() const { return "127.0.0.1:" + std::to_string(http_port); }
    std::string log() const { return proc ? proc->output() : std::string(); }
    std::filesystem::path keyring_file() const { return dir / "data" / "serf" / "remote.keyring"; }

    // Distinct member names seen in "serf: EventMemberJoin: <name> <addr>" log lines.
    std::set<std::string> joined_names() const {
        std::set<std::string> out;
        static const std::regex re("EventMemberJoin: (\\S+) ");
        std::string text = log();
        for (auto it = std::sregex_iterator(text.begin(), text.end(), re);
             it != std::sregex_iterator(); ++it)
            out.insert((*it)[1]);
        return out;
    }
};

// Starts `meshfed agent` as a server of `dc` with its WAN port free on 127.0.0.1.
// `gossip_hcl`: the gossip_wan block (a config file may hold only one).
inline meshfed_agent start_meshfed(const temp_dir& root, const std::string& node,
                                   const std::string& dc, const std::string& extra_hcl = "",
                                   const std::string& gossip_hcl = fast_gossip_hcl()) {
    meshfed_agent a;
    a.node = node;
    a.dc = dc;
    a.dir = root.path() / ("meshfed-" + node);
    std::filesystem::create_directories(a.dir);
    a.serf_port = test::free_tcp_port();
    a.rpc_port = test::free_tcp_port();
    a.http_port = test::free_tcp_port();
    std::string cfg = "node_name = \"" + node + "\"\ndatacenter = \"" + dc +
                      "\"\nserver = true\nbootstrap = true\nbind_addr = \"127.0.0.1\"\n"
                      "data_dir = \"" +
                      (a.dir / "data").string() +
                      "\"\nlog_level = \"debug\"\n"
                      "ports {\n  serf_wan = " +
                      std::to_string(a.serf_port) + "\n  server = " + std::to_string(a.rpc_port) +
                      "\n  http = " + std::to_string(a.http_port) + "\n}\n" + gossip_hcl +
                      extra_hcl;
    std::ofstream(a.dir / "server.hcl") << cfg;
    a.proc = std::make_unique<child_process>(
        MESHFED_BINARY,
        std::vector<std::string>{"agent", "-config", (a.dir / "server.hcl").string()},
        a.dir / "agent.log");
    return a;
}

struct serf_agent {
    std::string node;
    int bind_port = 0, rpc_port = 0;
    std::unique_ptr<child_process> proc;
    std::string addr() const { return "127.0.0.1:" + std::to_string(bind_port); }
    std::string rpc() const { return "-rpc-addr=127.0.0.1:" + std::to_string(rpc_port); }
    test::command_result members() const {
        return test::run_command("serf members " + rpc() + " -detailed");
    }
    // `serf <verb> -rpc-addr=... <args>` (Go's flag parsing stops at the first argument).
    test::command_result cmd(const std::string& verb_and_args) const {
        auto space = verb_and_args.find(' ');
        std::string verb = verb_and_args.substr(0, space);
        std::string rest = space == std::string::npos ? "" : verb_and_args.substr(space + 1);
        return test::run_command("serf " + verb + " " + rpc() + " " + rest);
    }
};

// A real serf agent that passes Consul's WAN merge rule (Consul server tags).
inline serf_agent start_serf(const temp_dir& root, const std::string& node,
                             const std::vector<std::string>& extra = {}) {
    serf_agent s;
    s.node = node;
    s.bind_port = test::free_tcp_port();
    s.rpc_port = test::free_tcp_port();
    std::vector<std::string> args = {"agent",
                                     "-node=" + node,
                                     "-bind=127.0.0.1:" + std::to_string(s.bind_port),
                                     "-rpc-addr=127.0.0.1:" + std::to_string(s.rpc_port),
                                     "-profile=lan",
                                     "-tag",
                                     "role=consul",
                                     "-tag",
                                     "dc=dc9",
                                     "-tag",
                                     "port=8300",
                                     "-tag",
                                     "vsn=2",
                                     "-tag",
                                     "build=1.17.0:abcd1234"};
    args.insert(args.end(), extra.begin(), extra.end());
    s.proc = std::make_unique<child_process>("/usr/bin/serf", args,
                                             root.path() / ("serf-" + node + ".log"));
    return s;
}

// Polls `pred` every 100 ms until true or `limit`.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(100ms);
    }
    return pred();
}

// The status serf's `members` shows for `name` ("alive", "failed", "left", or "").
inline std::string serf_status_of(const serf_agent& s, const std::string& name) {
    auto r = s.members();
    std::istringstream in(r.output);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::string n, addr, status;
        ls >> n >> addr >> status;
        if (n == name) return status;
    }
    return "";
}

}  // namespace meshfed::it
