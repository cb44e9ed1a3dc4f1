#pragma once
// The federation-state routines of a datacenter's leader (consul-wanfed.md §6.3, §6.4) and the
// gateway locator's refresh loop (§5.2), owned by mesh/. Everything goes through injected
// functions, so the owner decides what "call a datacenter" and "write locally" mean:
//
// - anti-entropy (every DC's leader): blocking Internal.ServiceDump (kind mesh-gateway) plus
//   FederationState.Get of our own DC; when the stored state is missing or not the same
//   (same_federation_state: UpdatedAt and raft indexes ignored) it sends FederationState.Apply
//   {Op upsert, State{our DC, the dump, UpdatedAt now}} to the primary DC (the local handler in
//   the primary; the Apply handler routes it to the primary as Consul's does). Our stored state
//   changing (seen by the locator refresh) wakes it early.
// - replication (secondary leaders only): blocking FederationState.List in the primary with
//   MinQueryIndex = last remote index, diff by DC (diff_federation_states), and apply_local()
//   of deletes and upserts (PrimaryModifyIndex = the primary's ModifyIndex), spaced by
//   `apply_interval`; every fetch's outcome goes to the locator (report_replication).
// - locator refresh (every server): blocking FederationState.List on the local DC ->
//   gateway_locator::update().
// - pruning (primary leader only): every `prune_interval`, apply_local() deletes of the states
//   of DCs known_datacenters() no longer lists (never our own; skipped while it is empty).
// Pacing: Consul's retryLoopBackoff for anti-entropy and the locator (token bucket 0.2/s,
//   burst 5; after an error wait 2 s doubling to 256 s, reset on success) and Consul's
//   Replicator for replication (1/s, burst 5; after an error 1 s doubling to 120 s, and the
//   next fetch is a full one). All knobs are in federation_timing (tests use milliseconds).
// Logs name the datacenters and the RPC: modules "agent.server" (anti-entropy, pruning),
//   "agent.server.replication.federation_state", "agent.server.gateway_locator".
// Threading: the executor must be single-threaded (the agent's io_context); construct, start,
//   stop and destroy on it. call/apply_local/known_datacenters are invoked on it, and `call`'s
//   reply may come synchronously or later, but on it. After stop() (or destruction) no injected
//   function is called again and late replies are dropped.
// Errors: never thrown; RPC errors, undecodable replies and failed local writes are logged,
//   counted in federation_stats and retried with backoff.
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>

#include "mesh/gateway_locator.hpp"
#include "rpc/handler.hpp"
#include "rpc/structs.hpp"

namespace meshfed::mesh {

// Consul's FederationState.IsSame: same Datacenter and, pairwise in catalog order, the same
// node, service and checks (raft indexes ignored); UpdatedAt and PrimaryModifyIndex ignored.
bool same_federation_state(const rpc::federation_state& a, const rpc::federation_state& b);

struct federation_state_diff {
    std::vector<rpc::federation_state> deletions;  // local only
    std::vector<rpc::federation_state> updates;    // remote only, or remote ModifyIndex newer
};
// Consul's FederationStateReplicator.DiffRemoteAndLocalState (both sorted by Datacenter here).
federation_state_diff diff_federation_states(std::vector<rpc::federation_state> local,
                                             std::vector<rpc::federation_state> remote,
                                             std::uint64_t last_remote_index);

struct federation_timing {
    // retryLoopBackoff (anti-entropy, locator refresh)
    double loop_rate = 0.2;  // iterations per second
    int loop_burst = 5;
    std::chrono::milliseconds loop_backoff_base{2000};
    std::chrono::milliseconds loop_backoff_max{256000};
    // Replicator (replication)
    double replication_rate = 1.0;
    int replication_burst = 5;
    std::chrono::milliseconds replication_backoff_base{1000};
    std::chrono::milliseconds replication_backoff_max{120000};
    std::chrono::milliseconds apply_interval{10};  // FederationStateReplicationApplyLimit 100/s
    // MaxQueryTime sent with the blocking queries (0 = the server's default, 300 s).
    std::chrono::milliseconds query_wait{0};
    std::chrono::milliseconds prune_interval{3600000};  // federationStatePruneInterval
};

struct federation_config {
    std::string datacenter;
    std::string primary_datacenter;  // == datacenter in the primary
    federation_timing timing;
};

struct federation_stats {
    std::uint64_t ae_runs = 0, ae_synced = 0, ae_skipped = 0, ae_errors = 0, ae_woken = 0;
    std::uint64_t replication_rounds = 0, replication_errors = 0, replicated_updates = 0,
                  replicated_deletions = 0, replication_full_syncs = 0;
    std::uint64_t last_remote_index = 0;
    std::uint64_t locator_refreshes = 0, locator_errors = 0;
    std::uint64_t pruned = 0, prune_errors = 0;
    std::uint64_t decode_errors = 0;  // undecodable replies (also counted in the *_errors)
};

class federation_states {
  public:
    // call(dc, method, msgpack body, reply): one RPC; `dc` == our datacenter means this server's
    // own handlers, any other is forwarded. reply(error text, body): error empty = success.
    using call_fn = std::function<void(std::string dc, std::string method,
                                       std::vector<std::uint8_t> body, rpc::reply_fn reply)>;
    // A federation-state write committed to the local store (raft type 30); error text or ok.
    using apply_fn = std::function<std::expected<void, std::string>(rpc::federation_state_request)>;
    // The datacenters the WAN router knows (pruning keeps their states).
    using datacenters_fn = std::function<std::vector<std::string>()>;
    // UpdatedAt of the states anti-entropy writes.
    using now_fn = std::function<std::chrono::system_clock::time_point()>;

    // `locator` must outlive this object's routines (until stop() or destruction).
    federation_states(asio::any_io_executor ex, federation_config cfg, call_fn call,
                      apply_fn apply_local, datacenters_fn known_datacenters,
                      gateway_locator& locator, now_fn now = {});
    ~federation_states();  // stop()
    federation_states(const federation_states&) = delete;
    federation_states& operator=(const federation_states&) = delete;

    // The locator refresh loop (every server). Idempotent.
    void start_locator_refresh();
    // The leader routines: anti-entropy, plus replication in a secondary (which first turns on
    // the locator's replication signal with a synthetic success, as Consul does) or pruning in
    // the primary. Idempotent.
    void start_leader_routines();
    // Stops the leader routines and turns the locator's replication signal off.
    void stop_leader_routines();
    void start() {
        start_locator_refresh();
        start_leader_routines();
    }
    void stop();  // everything; pending calls are abandoned (their replies dropped)

    bool leader_routines_running() const;
    const federation_stats& stats() const;

  private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace meshfed::mesh
