#pragma once
// Which server to call in each datacenter, owned by rpc/. Fed by the owner from the WAN pool
// (every alive Consul server member: its dc, node and RPC address), it keeps per datacenter an
// ordered server list: the first is tried, a server that failed is rotated to the end, and
// rebalance() shuffles (Consul's manager). Datacenters sort by median round-trip time from the
// owner's estimate (Vivaldi coordinates), the local datacenter first.
// Threading: one owner (the agent's io_context thread). Errors: route() returns the texts
// Consul returns: "No path to datacenter" (unknown DC) and "Remote DC has no server currently
// reachable" (known DC, no server).
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace meshfed::rpc {

inline constexpr const char* err_no_dc_path = "No path to datacenter";
inline constexpr const char* err_dc_not_available = "Remote DC has no server currently reachable";

struct server_info {
    std::string name;  // node name (without .dc)
    std::string dc;
    std::string ip;
    std::uint16_t port = 0;  // RPC port (the `port` tag)
    bool use_tls = false;
    bool alive = true;         // false: the WAN pool has it failed (kept, tried after alive ones)
    std::string addr() const;  // "ip:port"
    bool operator==(const server_info&) const = default;
};

class router {
  public:
    explicit router(std::string local_dc, std::uint64_t seed = 0);

    // Replaces the known servers (alive and failed WAN members: Consul's router keeps a failed
    // server, since gossip may fail while RPC works, and only drops one that left). Keeps each
    // DC's current order for servers that stay, appends new ones, drops gone ones, and puts
    // failed ones after alive ones.
    void set_servers(const std::vector<server_info>& servers);
    // Datacenters with at least one known server (also ones that had servers and lost them
    // are remembered until set_servers no longer mentions them).
    std::expected<server_info, std::string> route(const std::string& dc) const;
    void failed(const server_info& s);  // rotate to the end of its DC's list
    void rebalance();                   // shuffle every DC's list

    // Sorted by median RTT estimate (rtt(server) may return nullopt = unknown, sorted last),
    // local first, then by name.
    using rtt_fn = std::function<std::optional<std::chrono::duration<double>>(const server_info&)>;
    std::vector<std::string> datacenters(const rtt_fn& rtt = {}) const;
    std::vector<server_info> servers(const std::string& dc) const;
    const std::string& local_dc() const { return local_dc_; }

  private:
    std::string local_dc_;
    std::map<std::string, std::vector<server_info>> by_dc_;
    mutable std::mt19937_64 rng_;
};

}  // namespace meshfed::rpc
