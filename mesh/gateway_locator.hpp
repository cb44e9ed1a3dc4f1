#pragma once
// The gateway locator (Consul's agent/consul/gateway_locator.go; consul-wanfed.md §5), owned
// by mesh/: which mesh gateway a server dials to reach another datacenter when WAN federation
// goes through mesh gateways.
//
// State: the primary's gateways (WAN "ip:port" of the primary DC's healthy wanfed gateways, from
//   the federation states replicated into the local store), the local gateways (LAN "ip:port"
//   of this DC's), the fallback list resolved from `primary_gateways`, whether update() ran once
//   ("populated": before that pick_gateway() returns ""), and the federation-state replication
//   signal deciding whether the primary is dialed through the local gateways (§5.4).
// Healthy wanfed gateway: Service.Meta["consul-wan-federation"] == "1" and no check critical.
// Address (Consul's CheckServiceNode.BestAddress): WAN = service tagged address "wan" (its port
//   when non-zero, else the service port), else service Address, else node tagged "wan", else
//   node Address; LAN = service Address, else node Address (Consul does not read the "lan" tag;
//   mesh gateways register Address = their LAN address). IPv6 hosts are bracketed. Entries
//   without a host or with port 0 cannot be dialed and are skipped (counted). Lists are sorted.
// pick_gateway(dc): §5.3 exactly: "" until populated; dc != primary -> a random local gateway;
//   dc == primary -> in the primary: the primary list; else local gateways when
//   dial_primary_through_local_gateway() and there are any; else the sorted union of the primary
//   list and the fallback list. Random choice: one draw from a generator seeded at construction.
// Logs (module "agent.server.gateway_locator", Consul's texts plus the DCs and addresses): list
//   changes, fallback changes, and each flip of the primary-dial mode.
// Threading: thread-safe (one mutex); the ready callback runs outside it. Errors: none; an
//   empty pick means no gateway is known (callers answer "Remote DC has no server currently
//   reachable").
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "rpc/structs.hpp"

namespace spdlog {
class logger;
}

namespace meshfed::mesh {

// The service meta key a mesh gateway registers with -expose-servers (MetaWANFederationKey).
inline constexpr std::string_view meta_wan_federation_key = "consul-wan-federation";
// Consecutive replication failures after which a secondary dials the primary's gateways
// directly (localFederationStateReplicatorFailuresBeforeDialingDirectly).
inline constexpr std::uint64_t replication_failures_before_dialing_directly = 3;

// Consul's retainGateways: the instances with the wanfed meta and no critical check.
bool healthy_wanfed_gateway(const rpc::check_service_node& csn);
// Consul's CheckServiceNode.BestAddress rendered as "host:port" ("[v6]:port"); nullopt when the
// host is empty, the port is not in 1..65535, or Node/Service is absent.
std::optional<std::string> gateway_address(const rpc::check_service_node& csn, bool wan);

struct gateway_locator_stats {
    std::uint64_t updates = 0;          // update() calls
    std::uint64_t unusable = 0;         // healthy wanfed gateways skipped: no usable address
    std::uint64_t picks = 0;            // pick_gateway() calls
    std::uint64_t empty_picks = 0;      // ... that had nothing to offer
    std::uint64_t replication_ok = 0;   // replication results reported
    std::uint64_t replication_err = 0;  //
    std::uint64_t mode_flips = 0;       // dial_primary_through_local_gateway() changes
};

class gateway_locator {
  public:
    // `seed` seeds the random choice (tests pass a fixed one; the agent a random one).
    gateway_locator(std::string datacenter, std::string primary_datacenter, std::uint64_t seed,
                    std::shared_ptr<spdlog::logger> log = nullptr);
    gateway_locator(const gateway_locator&) = delete;
    gateway_locator& operator=(const gateway_locator&) = delete;

    // Recomputes both lists from the local store's federation states (FederationState.List).
    void update(const std::vector<rpc::federation_state>& states);
    // Replaces the fallback list (addresses resolved from primary_gateways); sorted here.
    void refresh_primary_fallback(std::vector<std::string> addrs);

    // The address to dial for `dc` (see above); "" when none is known.
    std::string pick_gateway(std::string_view dc);
    // The candidates pick_gateway(dc) draws from.
    std::vector<std::string> candidates(std::string_view dc) const;

    // Consul's SetLastFederationStateReplicationError: `error` empty = the last replication
    // fetch succeeded. `from_replication` (true from the replicator) turns the signal on.
    void report_replication(const std::string& error, bool from_replication);
    // On in a secondary's leader while it replicates; off when leadership is lost (followers
    // dial through local gateways blindly).
    void set_use_replication_signal(bool on);
    // State 3 (through local gateways) vs states 1+2 (the primary's gateways directly).
    // Always false in the primary.
    bool dial_primary_through_local_gateway() const;

    std::vector<std::string> primary_gateways() const;
    std::vector<std::string> local_gateways() const;
    std::vector<std::string> primary_fallback() const;
    bool populated() const;
    // True once update() has seen a non-empty primary list (Consul's
    // PrimaryMeshGatewayAddressesReadyCh: the primary_gateways re-resolution may stop).
    bool primary_gateways_ready() const;
    // Called once (outside the lock) when primary_gateways_ready() becomes true; called at once
    // if it already is.
    void on_primary_gateways_ready(std::function<void()> cb);
    // True once any federation state was seen (Consul flips "DC supports federation states").
    bool seen_federation_states() const;

    const std::string& datacenter() const { return datacenter_; }
    const std::string& primary_datacenter() const { return primary_datacenter_; }
    gateway_locator_stats stats() const;

  private:
    bool through_local_locked() const;
    std::vector<std::string> candidates_locked(bool primary) const;
    void log_dial_mode_locked(bool through_local) const;

    const std::string datacenter_;
    const std::string primary_datacenter_;
    std::shared_ptr<spdlog::logger> log_;

    mutable std::mutex mu_;
    std::vector<std::string> primary_;   // WAN addrs, sorted
    std::vector<std::string> local_;     // LAN addrs, sorted
    std::vector<std::string> fallback_;  // sorted
    bool populated_ = false;
    bool primary_ready_ = false;
    bool seen_states_ = false;
    std::function<void()> ready_cb_;

    // Replication signal. Consul compares wall-clock times of the last success and failure;
    // an event sequence number orders them the same way without a clock.
    std::uint64_t event_seq_ = 0;
    std::uint64_t last_success_seq_ = 0;  // 0 = never
    std::uint64_t last_failure_seq_ = 0;
    std::uint64_t consecutive_failures_ = 0;
    bool use_replication_signal_ = false;

    std::mt19937_64 rng_;
    gateway_locator_stats stats_;
};

}  // namespace meshfed::mesh
