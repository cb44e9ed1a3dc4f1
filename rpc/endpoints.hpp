#pragma once
// The server's own RPC endpoints over the state store, owned by rpc/: Status.Ping,
// Status.Leader, Status.Peers, Catalog.Register, Catalog.Deregister, Catalog.ListDatacenters,
// Catalog.ListServices, Catalog.ListNodes, Catalog.ServiceNodes, Catalog.NodeServices,
// Health.ServiceNodes, Internal.ServiceDump, FederationState.Apply/Get/List/ListMeshGateways,
// with Consul's argument/reply shapes (rpc/structs.hpp) and blocking queries.
//
// Routing: handlers answer locally. Calls naming another datacenter are forwarded by the RPC
//   server before dispatch, so a request's Datacenter field is not checked here. The exception
//   is FederationState.Apply, which Consul always runs in the primary datacenter: a secondary
//   hands it to `forward_fn` (set_forwarder) for primary_datacenter.
// Writes go through `commit_fn` (by default: validate + apply at last_index()+1 on the store; the
//   owner plugs in command_log::commit for durability, later a Raft apply). This server is its
//   own (single-server) leader: QueryMeta has KnownLeader = true, LastContact = 0 and
//   Index >= 1 (Consul never returns index 0).
// Blocking queries: MinQueryIndex > 0 and the result's index equal to it parks the call: a
//   store watch on the query's tables plus an asio::steady_timer of MaxQueryTime (0 -> the
//   default 300 s, capped at 600 s) plus a random jitter of up to 1/16 of it. The call is
//   answered once, with a fresh result, when the index moves or the time is up. A parked call
//   costs one small heap object and a timer, no thread. A result index below MinQueryIndex
//   (state restored from an older snapshot) is answered at once so clients resynchronise.
// Threading: construct, call and destroy on the agent's io_context thread (the executor given);
//   handlers are called there by the RPC server. The store must outlive this object.
// Errors: handler errors are sent as the net/rpc Error text (Consul's wording: "Must provide
//   node", "Must provide service name", ...); undecodable arguments are answered with
//   "rpc: cannot decode <method> arguments: <reason>" and counted. No exceptions.
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>

#include "rpc/handler.hpp"
#include "rpc/state_store.hpp"

namespace meshfed::rpc {

struct endpoints_config {
    std::string datacenter = "dc1";
    std::string rpc_address;         // this server's "ip:port" (Status.Leader, Status.Peers)
    std::string primary_datacenter;  // "" = this datacenter is the primary
    std::chrono::nanoseconds default_query_time = std::chrono::seconds(300);
    std::chrono::nanoseconds max_query_time = std::chrono::seconds(600);
};

struct endpoint_stats {
    std::uint64_t calls = 0;
    std::uint64_t errors = 0;         // calls answered with an Error text
    std::uint64_t decode_errors = 0;  // of which: undecodable arguments
    std::uint64_t parked = 0;         // blocking queries that had to wait
    std::uint64_t woken = 0;          // ... answered because the index moved
    std::uint64_t timed_out = 0;      // ... answered because MaxQueryTime passed
    decode_counters decode;           // unknown fields skipped, rejected / oversized objects
};

class endpoints {
  public:
    // Makes a command durable and applies it; returns the index it was applied at.
    using commit_fn = std::function<std::expected<std::uint64_t, store_error>(const command&)>;
    // The known datacenters, sorted (Catalog.ListDatacenters); empty -> [local datacenter].
    using datacenters_fn = std::function<std::vector<std::string>()>;
    // Sends a call to another datacenter (FederationState.Apply from a secondary).
    using forward_fn = std::function<void(std::string dc, std::string method,
                                          std::vector<std::uint8_t> body, reply_fn reply)>;

    endpoints(asio::any_io_executor ex, state_store& store, endpoints_config cfg);
    ~endpoints();  // cancels parked queries without answering them
    endpoints(const endpoints&) = delete;
    endpoints& operator=(const endpoints&) = delete;

    void set_commit(commit_fn f);
    void set_datacenters(datacenters_fn f);
    void set_forwarder(forward_fn f);

    // Adds every method above to `registry`. The handlers hold a weak reference: once this
    // object is gone they answer "rpc: endpoints are shut down".
    void register_handlers(handler_registry& registry);

    // Registers this server in its catalog as Consul's leader does for every live server:
    // node `node` (ID `node_id` if non-empty, Address `address`, Datacenter `datacenter`, keeping
    // an existing node's TaggedAddresses and Meta), service {ID "consul", Service "consul",
    // Port rpc_port} and check {CheckID "serfHealth", Name "Serf Health Status", Status
    // "passing", Output "Agent alive and reachable"}.
    std::expected<std::uint64_t, store_error> register_self(const std::string& node,
                                                            const std::string& address,
                                                            const std::string& datacenter,
                                                            std::uint16_t rpc_port,
                                                            const std::string& node_id);

    // Answers every parked query now with its current result (call before stopping the server).
    void release_parked();
    std::size_t parked() const;
    const endpoint_stats& stats() const;

  private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace meshfed::rpc
