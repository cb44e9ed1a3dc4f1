#pragma once
// The agent's local services and checks (Consul's agent/local.State plus the agent's service
// bookkeeping): what was registered through /v1/agent/service/register, the checks the agent
// runs for them (check_runner), their persistence, and anti-entropy to the catalog.
//
// Anti-entropy: the agent is a server; its node in the catalog is this node (node_name, ID,
//   Address = the advertise address). Every change (register, deregister, a check's status)
//   is pushed at once with Catalog.Register / Catalog.Deregister through `rpc` (the same RPC
//   path network clients use); a full sync every sync_interval (Consul: ~1 min) reads the
//   node's services (Catalog.NodeServices) and checks (Internal.ServiceDump) and repairs any
//   difference: services/checks of this node the agent does not know are deregistered, except
//   the server's own "consul" service and "serfHealth" check. A check's output-only change
//   waits for the next full sync (Consul's check_update_interval); a status change is prompt.
//   Failed syncs are retried after retry_interval.
// Persistence: each service, with its checks, as the JSON it was registered with, in
//   <data_dir>/services/<sha256 of the ID> (0600, written atomically); start() loads them back
//   (checks restart critical, as Consul's do). A file that cannot be read is logged and skipped.
// Reaping: a check with DeregisterCriticalServiceAfter deregisters its service once critical
//   for that long (at least deregister_min; checked every reap_interval), as Consul.
// Threading: the io thread only. Errors: add/remove/update return results; sync failures are
//   logged (with the datacenter and node) and counted in stats.
#include <chrono>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/service_definition.hpp"
#include "rpc/handler.hpp"
#include "rpc/structs.hpp"

namespace asio {
class io_context;
}

namespace meshfed::agent {

// dc "" = the local datacenter; the reply comes on the io thread.
using local_rpc_fn = std::function<void(std::string dc, std::string method,
                                        std::vector<std::uint8_t> body, rpc::reply_fn reply)>;

struct local_state_config {
    std::string node_name;
    std::string node_id;  // the catalog node's ID ("" = none)
    std::string datacenter = "dc1";
    std::string address;             // the node's advertise address
    std::filesystem::path data_dir;  // "" = nothing persisted
    std::chrono::milliseconds sync_interval{std::chrono::minutes(1)};
    std::chrono::milliseconds retry_interval{std::chrono::seconds(15)};
    std::chrono::milliseconds reap_interval{std::chrono::seconds(30)};
    std::chrono::milliseconds deregister_min{std::chrono::minutes(1)};
};

struct local_state_stats {
    std::uint64_t full_syncs = 0;
    std::uint64_t sync_registers = 0, sync_deregisters = 0, sync_errors = 0;
    std::uint64_t status_changes = 0;   // check status transitions
    std::uint64_t services_reaped = 0;  // DeregisterCriticalServiceAfter
    std::uint64_t persist_errors = 0, load_errors = 0;
};

struct local_check {
    rpc::health_check check;  // Status/Output are the current ones
    check_type type;
    std::optional<std::chrono::steady_clock::time_point> critical_since;
};

class local_state {
  public:
    local_state(asio::io_context& io, local_state_config cfg, local_rpc_fn rpc);
    ~local_state();
    local_state(const local_state&) = delete;
    local_state& operator=(const local_state&) = delete;

    // Loads the persisted services, starts their checks and the sync and reap loops.
    void start();
    void stop();

    // Adds or replaces service `def.service.id` and its checks (a check that already existed
    // keeps its status). Checks of the service not in `def` stay unless
    // `replace_existing_checks`. `raw` is what gets persisted (null: not persisted).
    void add_service(service_definition def, bool replace_existing_checks,
                     const nlohmann::json& raw);
    bool remove_service(const std::string& id);

    enum class ttl_result { ok, unknown_check, not_ttl };
    ttl_result update_ttl(const std::string& check_id, std::string status, std::string output);

    const std::map<std::string, rpc::node_service>& services() const;
    const std::map<std::string, local_check>& checks() const;
    const local_state_stats& stats() const;
    std::size_t tcp_checks() const;
    std::size_t ttl_checks() const;
    const local_state_config& config() const;

    void sync_changes();  // pushes what is out of sync now
    void sync_full();     // reads the catalog, then pushes the differences

  private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace meshfed::agent
