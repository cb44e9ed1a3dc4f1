#pragma once
// The multi-datacenter harness: a declarative topology (datacenters, the primary, servers and
// mesh gateways per DC, TLS, gossip key, timings) becomes a run directory whose every file is
// made by meshfed's own verbs (`tls ca create`, `tls cert create -server -dc -node`, `keygen`,
// one Consul-syntax server.hcl per server), and real `meshfed agent` / `meshfed mesh-gateway`
// processes started in the seed's bootstrap order (per DC: servers, then gateways with
// `-register -expose-servers`; the primary first).
//
// Address plan:
//   loopback  every process on its own 127.R.N.H address (R per run, N per DC, H per process)
//             with free ports; servers advertise unroutable TEST-NET WAN addresses
//             (192.0.2.N) so gossip and RPC across DCs can only go through the gateways.
//   isolated  (root and `ip netns`) one network namespace per DC, holding its servers
//             (198.19.N.10+i on its loopback) and its gateways' LAN side (198.19.N.2+j); the
//             gateways' WAN side is on "wan0" (198.18.0.10N+k), a veth into a shared "WAN"
//             namespace's bridge. Nothing routes 198.19.M/24 into DC N, so a server cannot
//             reach another DC's server at all; it reaches gateways' WAN addresses (first
//             contact with the primary's, as the seeds require). Default Consul ports.
//   automatic isolated when possible, else loopback (and says so on stderr).
// With root, secondaries name the primary's gateways by a host name ("gateways.<primary>.test")
// resolved through a per-DC hosts file that is bind-mounted over /etc/hosts in the processes'
// own mount namespace, so replacing a gateway can re-point the name; without root the
// secondaries get literal ip:port entries.
//
// Threading: one test thread; not thread-safe. Errors: setup failures (a verb failing, a
// process not coming up) throw harness_error with the command or log that explains them.
// Every process started is stopped by PID in the destructor (gateways first, SIGTERM then
// SIGKILL after 5 s), the namespaces are deleted, and when the current GoogleTest test has
// failed the tail of every log is printed.
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"

namespace meshfed::harness {

using json = nlohmann::json;
using namespace std::chrono_literals;

struct harness_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

enum class network_mode { automatic, loopback, isolated };

// The meshfed binary the harness runs: $MESHFED_BIN, else the one built beside it.
std::string meshfed_bin();

struct dc_spec {
    std::string name;
    int servers = 1;  // one server per DC until multi-server DCs exist
    int gateways = 1;
    // Bad setups, for the scenarios that check the error a user gets:
    bool own_ca = false;        // its certificates come from a CA of its own
    bool cert_node_san = true;  // false: server certificates made without -node
    std::string gossip_key;     // empty: the federation's key
    std::string extra_hcl;      // appended to its servers' server.hcl
};

struct topology {
    std::vector<dc_spec> dcs;  // start order; the first is the primary unless `primary` is set
    std::string primary;
    network_mode mode = network_mode::automatic;
    bool wanfed = true;            // connect.enable_mesh_gateway_wan_federation
    bool tls = true;               // CA + server certificates, verify_incoming/outgoing
    bool gossip_key = true;        // `keygen` -> encrypt
    bool gateways_by_name = true;  // primary_gateways as a host name when root allows it
    std::string gossip_hcl;        // default: fast test timings (100 ms gossip, 500 ms probes)
    std::string primary_gateways_interval = "2s";
    std::string extra_server_hcl;   // appended to every server.hcl
    std::filesystem::path run_dir;  // empty: a temporary directory, removed at the end
    bool keep_run_dir = false;
};

struct server_proc {
    std::string dc, node;
    int index = 0;
    std::string ip;
    int rpc_port = 0, serf_port = 0, http_port = 0;
    std::filesystem::path dir;
    std::unique_ptr<test::child_process> proc;
    std::string wan_name() const { return node + "." + dc; }
    std::string http_addr() const { return ip + ":" + std::to_string(http_port); }
    std::filesystem::path log_file() const { return dir / "agent.log"; }
    std::string log() const { return test::read_text(log_file()); }
    bool running() const { return proc && proc->running(); }
};

struct gateway_proc {
    std::string dc, id;
    int index = 0;
    std::string lan_ip, wan_ip;
    int port = 0;
    int generation = 0;  // bumped by replace_gateway
    std::filesystem::path log_file;
    std::unique_ptr<test::child_process> proc;
    std::string wan_addr() const { return wan_ip + ":" + std::to_string(port); }
    std::string lan_addr() const { return lan_ip + ":" + std::to_string(port); }
    std::string log() const { return test::read_text(log_file); }
    bool running() const { return proc && proc->running(); }
};

class federation {
  public:
    explicit federation(topology t);
    ~federation();
    federation(const federation&) = delete;
    federation& operator=(const federation&) = delete;

    // Starts every DC of the topology in order (see add_dc).
    void start();
    // The seed's procedure for a DC: certificates, servers (waiting for their HTTP API and a
    // leader), then gateways (waiting until the server's catalog lists them). A DC that is not
    // in the topology yet is appended (the "existing secondary" procedure).
    void add_dc(const dc_spec& spec);

    bool isolated() const { return isolated_; }
    // The network namespace of a DC's processes (empty on loopback).
    std::string netns(const std::string& dc_name);
    const std::string& primary() const { return primary_; }
    const std::filesystem::path& run_dir() const { return run_dir_; }
    std::vector<std::string> dc_names() const;
    server_proc& server(const std::string& dc, int i = 0);
    gateway_proc& gateway(const std::string& dc, int j = 0);
    std::vector<server_proc*> all_servers();

    // Process operations. start_* (re)start with the same configuration and data.
    void stop_server(const std::string& dc, int i = 0);  // SIGTERM: graceful leave
    void kill_server(const std::string& dc, int i = 0);  // SIGKILL
    void start_server(const std::string& dc, int i = 0);
    void stop_gateway(const std::string& dc, int j = 0);  // SIGTERM: deregisters
    void kill_gateway(const std::string& dc, int j = 0);  // SIGKILL: its check must notice
    void start_gateway(const std::string& dc, int j = 0);
    // Stops the gateway and starts its replacement on a new address (same port, same service
    // ID); for the primary, the secondaries' gateway host name is re-pointed at it.
    void replace_gateway(const std::string& dc, int j = 0);

    // HTTP GET against a server's API (from inside its DC's namespace when isolated). Returns
    // null JSON unless the status is 200; `status` gets the status (0: no answer).
    json get(const std::string& dc, const std::string& path, int* status = nullptr, int i = 0);
    // `meshfed <args> -http-addr=<server's API>` run beside the server.
    test::command_result verb(const std::string& dc, const std::string& args, int i = 0);
    // `meshfed <args>` in the run directory (cert and key verbs).
    test::command_result local_verb(const std::string& args);
    std::string metrics(const std::string& dc, int i = 0);
    // Whether a TCP connection from `from_dc`'s network reaches host:port within 2 s.
    bool can_connect(const std::string& from_dc, const std::string& host, int port);

    // Readiness conditions, each polled until `limit`; false on timeout.
    bool wan_alive_everywhere(std::chrono::milliseconds limit);
    // `members -wan` in `dc` shows `member` with this status ("alive", "failed", "left").
    bool wan_status(const std::string& dc, const std::string& member, const std::string& status);
    // /v1/catalog/services?dc=<to> answered from every DC for every other DC. `failing` gets
    // the first pair that did not answer.
    bool all_pairs_reachable(std::chrono::milliseconds limit, std::string* failing = nullptr);
    bool federation_states_complete(std::chrono::milliseconds limit);

    // Prints "[harness +12.3s] what" to stderr: where a scenario's time goes.
    void phase(const std::string& what) const;

    // The last `lines` lines of every process's log, for test failure output.
    std::string logs(std::size_t lines = 150) const;

  private:
    struct dc_state;
    dc_state& dc(const std::string& name);
    void setup_namespaces();
    void add_dc_network(dc_state& d);
    std::string new_gateway_address(dc_state& d, std::string* lan_ip);
    std::string server_hcl(const dc_state& d, const server_proc& s);
    void write_hosts_files();
    std::function<bool()> child_setup(const dc_state& d) const;
    void stop_proc(test::child_process* p);
    bool wait_server_ready(server_proc& s, std::chrono::milliseconds limit);
    bool wait_gateway_registered(gateway_proc& g, std::chrono::milliseconds limit);

    topology topo_;
    std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
    std::string primary_;
    std::filesystem::path run_dir_;
    bool own_run_dir_ = false;
    bool isolated_ = false;
    bool hosts_by_name_ = false;
    std::string tag_;     // unique per run: namespace names, loopback octet
    int loop_octet_ = 0;  // 127.<loop_octet_>.N.H in loopback mode
    std::string wan_ns_;
    std::string gossip_key_;
    std::vector<std::unique_ptr<dc_state>> dcs_;
};

}  // namespace meshfed::harness
