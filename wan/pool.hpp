#pragma once
// The WAN gossip pool a Consul server runs on port 8302, owned by wan/: memberlist + serf +
// the UDP/TCP transport, the keyring file (<data_dir>/serf/remote.keyring, Consul's format: a
// JSON list of base64 keys, primary first) and joins by address ("[name/]host[:port]").
// Graceful leave follows serf: leave intent, wait for it to be gossiped, memberlist leave,
// propagate delay.
// Threading: everything runs on the executor given (a single-threaded io_context or a strand);
// the API must be called from it. Errors: start() returns what prevented the pool from
// running (bind failure, unreadable keyring); runtime problems are logged and counted.
#include <chrono>
#include <expected>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "wan/gossip_config.hpp"
#include "wan/memberlist.hpp"
#include "wan/serf.hpp"
#include "wan/transport.hpp"

namespace meshfed::wan {

struct pool_config {
    std::string name;  // WAN member name: <node>.<dc>
    std::string bind_addr = "0.0.0.0";
    std::uint16_t port = 8302;
    std::string advertise_addr;  // "" = bind_addr (must then be a concrete address)
    gossip_config timing;
    tag_map tags;
    std::string label;
    // Keyring: the file wins when it exists (Consul: `encrypt` only seeds it).
    std::filesystem::path keyring_file;  // "" = not persisted
    std::vector<bytes> initial_keys;     // from `encrypt`
    bool verify_incoming = true;
    bool verify_outgoing = true;
    bool consul_wan_rules = true;
    std::function<void(member_event_type, const member&)> on_member;
    std::uint64_t seed = 0;
    // WAN federation via mesh gateways: other datacenters through this tunnel (wan/wanfed.hpp).
    std::shared_ptr<wanfed::tunnel> tunnel;
};

class pool {
  public:
    pool(asio::any_io_executor ex, pool_config cfg);
    ~pool();
    pool(const pool&) = delete;
    pool& operator=(const pool&) = delete;

    // Loads the keyring, binds, builds the state machines, serves. Error: what went wrong.
    std::expected<void, std::string> start();
    std::uint16_t port() const;

    // Joins the pool through these addresses ("[name/]host[:port]", default port 8302).
    // `done(joined, errors)`.
    void join(const std::vector<std::string>& addrs,
              std::function<void(int, std::vector<std::string>)> done);
    // Graceful leave; completes when peers have been told (bounded by the timeouts).
    asio::awaitable<void> leave();
    void shutdown();  // stop serving at once (no leave)

    std::vector<member> members() const;
    const serf& serf_layer() const { return *serf_; }
    serf& serf_layer() { return *serf_; }
    const memberlist& memberlist_layer() const { return *ml_; }
    const transport_stats& transport_statistics() const { return transport_->stats(); }
    std::shared_ptr<wire::keyring> keyring() const { return keys_; }
    void kick() { transport_->kick(); }
    // The transport, for connections handed over by the RPC port (wanfed ALPNs).
    transport& io() { return *transport_; }

    // Parses "[name/]host[:port]" (IPv6 in brackets); host may be a name (resolved at join).
    struct join_target {
        std::string name, host;
        std::uint16_t port = 8302;
    };
    static std::optional<join_target> parse_join_address(std::string_view s,
                                                         std::uint16_t default_port = 8302);

    // The keyring file format (Consul's serf/*.keyring).
    static std::expected<std::vector<bytes>, std::string> read_keyring_file(
        const std::filesystem::path& p);
    static std::string write_keyring_file(const std::filesystem::path& p,
                                          std::span<const bytes> keys);

  private:
    asio::any_io_executor ex_;
    pool_config cfg_;
    std::shared_ptr<wire::keyring> keys_;
    std::unique_ptr<transport> transport_;
    std::unique_ptr<serf> serf_;
    std::unique_ptr<memberlist> ml_;
    std::shared_ptr<spdlog::logger> log_;
};

}  // namespace meshfed::wan
