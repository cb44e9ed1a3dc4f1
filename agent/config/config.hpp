#pragma once
// The agent's typed configuration (Consul option names), its defaults, and the loader API.
//
// Loading (load.cpp): each -config FILE_OR_DIR is read (a directory: its .hcl/.json files in
// lexical order), parsed into a value tree (hcl.hpp), checked for keys repeated within one
// file, then all trees are merged in order (objects merge key by key, lists concatenate,
// scalars: later wins — Consul's merge), and the merged tree is decoded against the schema
// (decode.cpp: unknown keys and type mismatches reported with file:line) on top of the
// defaults, then validated (validate.cpp: Consul's texts). Every problem is collected.
// Threading: plain data. Errors: load_config returns all problems; it never throws.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "rpc/limits.hpp"
#include "tls/settings.hpp"
#include "wan/gossip_config.hpp"

namespace meshfed::config {

struct ports_config {
    int http = 8500;
    int https = -1;  // disabled unless set
    int server = 8300;
    int serf_lan = 8301;
    int serf_wan = 8302;  // -1 disables the WAN pool
};

struct runtime_config {
    std::string node_name;  // default: the host name
    std::string datacenter = "dc1";
    std::string primary_datacenter;  // default: datacenter
    std::vector<std::string> primary_gateways;
    std::chrono::milliseconds primary_gateways_interval{30000};
    bool server = false;
    bool bootstrap = false;
    int bootstrap_expect = 0;
    std::string data_dir;
    std::string bind_addr = "0.0.0.0";
    std::string advertise_addr;      // default: bind_addr (or a private IP for 0.0.0.0)
    std::string advertise_addr_wan;  // default: advertise_addr
    std::string client_addr = "127.0.0.1";
    std::string domain = "consul";
    ports_config ports;
    std::string encrypt;  // base64 gossip key; seeds the WAN keyring
    bool encrypt_verify_incoming = true;
    bool encrypt_verify_outgoing = true;
    bool connect_enabled = true;
    bool enable_mesh_gateway_wan_federation = false;
    tls::settings tls;
    // Consul's defaults depend on the role: a server stays a member when signalled (peers see it
    // failed and reconnect when it is back); a client leaves on SIGTERM. Unset = that default.
    std::optional<bool> leave_on_terminate;       // SIGTERM leaves the pool gracefully
    std::optional<bool> skip_leave_on_interrupt;  // SIGINT does not leave
    std::vector<std::string> retry_join_wan;
    std::chrono::milliseconds retry_interval_wan{30000};
    wan::gossip_config gossip_wan;
    rpc::limits limits;
    // performance { rpc_busy_poll } (meshfed extension): after an RPC request the event loop
    // polls without blocking for this long before it sleeps in epoll again (common/run_loop.hpp);
    // 0 disables. Costs CPU only while RPC traffic flows.
    std::chrono::microseconds rpc_busy_poll{200};
    std::string log_level = "info";
    bool log_json = false;

    // The files that made this config, in load order (for logs and `validate`).
    std::vector<std::string> sources;
};

struct load_result {
    runtime_config config;
    std::vector<std::string> errors;  // empty = valid
    std::vector<std::string> warnings;
    bool ok() const { return errors.empty(); }
};

struct source {
    std::string name;  // the extension (.hcl or .json) decides the format
    std::string text;
};

struct load_options {
    // Require what a running agent needs (data_dir); `validate` checks the same.
    bool require_data_dir = true;
    // Override for the default node name (tests); empty = gethostname().
    std::string default_node_name;
    // Applied after every file, like Consul's command-line flags (e.g. -node, -data-dir).
    std::vector<source> overrides;
};

// Loads and validates config from files/directories (the -config arguments, in order).
load_result load_config(const std::vector<std::string>& paths, const load_options& opts = {});

// Same, from in-memory sources.
load_result load_config_sources(const std::vector<source>& sources, const load_options& opts = {});

}  // namespace meshfed::config
