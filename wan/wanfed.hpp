#pragma once
// WAN gossip through mesh gateways (Consul's agent/consul/wanfed), owned by wan/: with WAN
// federation via mesh gateways, memberlist traffic to a member of another datacenter never goes
// to its UDP/TCP address. It rides TLS connections dialed through the local mesh gateway:
//   packets: one pooled connection per member (ALPN consul/wan-gossip/packet), each memberlist
//            datagram framed as [u32 big-endian length][datagram bytes] (length <= 4 MiB);
//   streams: one new connection per memberlist stream (ALPN consul/wan-gossip/stream), used
//            exactly like memberlist's TCP stream (push/pull, user messages).
// Which members: the name must be "<node>.<dc>"; a dc other than ours goes through the tunnel,
// our own dc is reached directly. "*.<dc>" means any server of <dc> (the first-contact join).
// The TLS dialing (gateway choice, SNI, ALPN, mutual TLS) is injected by the owner (mesh/).
//
// Inbound, the RPC port hands over connections by ALPN: serve_packet_conn() reads frames and
// gives each to memberlist as a datagram; streams go to transport::ingest_stream().
// Threading: all on the executor given (the agent's io_context). Errors: send failures are logged
// with the member, datacenter, ALPN and gateway path, and counted; nothing throws.
#include <chrono>
#include <cstdint>
#include <deque>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "common/byte_stream.hpp"
#include "wan/node.hpp"

namespace spdlog {
class logger;
}

namespace meshfed::wan::wanfed {

inline constexpr std::size_t max_packet_size = 4 * 1024 * 1024;  // GossipPacketMaxByteSize
inline constexpr std::chrono::minutes packet_max_idle{2};        // GossipPacketMaxIdleTime
inline constexpr std::size_t max_queued_packets = 256;           // per member, then dropped
inline constexpr std::chrono::seconds dial_timeout{10};
inline constexpr std::chrono::seconds dial_backoff{1};

// "<node>.<dc>" -> {node, dc}; nullopt unless exactly two non-empty parts (Consul's rule: names
// or datacenters with dots cannot be federated this way).
std::optional<std::pair<std::string, std::string>> split_member_name(std::string_view name);

// [u32 BE length][data].
bytes frame_packet(std::span<const std::uint8_t> datagram);

// Sans-IO reader of packet frames. feed() appends bytes; next() pops whole frames. A length over
// max_packet_size poisons the decoder (the connection must be closed): error() says why.
class frame_decoder {
  public:
    explicit frame_decoder(std::size_t max = max_packet_size) : max_(max) {}
    void feed(std::span<const std::uint8_t> data);
    std::optional<bytes> next();
    const std::string& error() const { return error_; }
    bool failed() const { return !error_.empty(); }
    std::size_t buffered() const { return buf_.size() - pos_; }

  private:
    std::size_t max_;
    bytes buf_;
    std::size_t pos_ = 0;
    std::string error_;
};

struct tunnel_stats {
    std::uint64_t packets_out = 0, packets_in = 0;
    std::uint64_t packet_dials = 0, packet_dial_failures = 0, packet_write_failures = 0;
    std::uint64_t packets_dropped_queue_full = 0, packets_dropped_no_route = 0;
    std::uint64_t packets_dropped_backoff = 0;
    std::uint64_t packet_conns_reaped = 0;
    std::uint64_t streams_out = 0, stream_dial_failures = 0, streams_in = 0;
    std::uint64_t frames_oversized = 0, bad_names = 0;
};

// Dials a TLS connection to a server of `dc` ("*" = any server) through a mesh gateway,
// negotiating `alpn`. The error names the gateway and what failed.
using dial_fn =
    std::function<asio::awaitable<std::expected<std::unique_ptr<byte_stream>, std::string>>(
        std::string dc, std::string node, std::string alpn,
        std::chrono::steady_clock::time_point deadline)>;

class tunnel : public std::enable_shared_from_this<tunnel> {
  public:
    tunnel(asio::any_io_executor ex, std::string local_dc, dial_fn dial);
    ~tunnel();
    tunnel(const tunnel&) = delete;
    tunnel& operator=(const tunnel&) = delete;

    // true: `to_node` is in another datacenter (use the tunnel); false: ours (direct).
    // Error: the name does not encode a datacenter.
    std::expected<bool, std::string> applies(std::string_view to_node) const;
    // Queues one datagram for `to_node` on its packet connection (dialed on demand).
    void send_packet(const std::string& to_node, bytes datagram);
    // A new stream connection to `to_node` (ALPN consul/wan-gossip/stream).
    asio::awaitable<std::expected<std::unique_ptr<byte_stream>, std::string>> dial_stream(
        std::string to_node, std::chrono::steady_clock::time_point deadline);
    // Closes every packet connection; later sends are dropped.
    void stop();

    std::size_t packet_conns() const { return conns_.size(); }
    const tunnel_stats& stats() const { return stats_; }
    tunnel_stats& mutable_stats() { return stats_; }
    const std::string& local_dc() const { return local_dc_; }

  private:
    struct packet_conn {
        std::string node, dc;
        std::deque<bytes> queue;
        std::unique_ptr<byte_stream> stream;
        bool writing = false;
        std::chrono::steady_clock::time_point last_used;
        // After a failed dial, packets are dropped (and counted) until then, so an unreachable
        // datacenter does not cost a TCP + TLS attempt per gossip packet.
        std::chrono::steady_clock::time_point retry_after;
    };
    static asio::awaitable<void> writer(std::shared_ptr<tunnel> self, std::string to_node);
    static asio::awaitable<void> reaper(std::shared_ptr<tunnel> self);

    asio::any_io_executor ex_;
    std::string local_dc_;
    dial_fn dial_;
    std::map<std::string, std::shared_ptr<packet_conn>> conns_;  // by member name
    tunnel_stats stats_;
    bool stopped_ = false;
    bool reaper_running_ = false;
    std::shared_ptr<spdlog::logger> log_;
};

// Serves one inbound consul/wan-gossip/packet connection: frames until EOF, an idle gap longer
// than `idle` or an oversized frame (logged: "gossip packet size N exceeds threshold of M").
// Each frame goes to `on_packet`. `stats` must outlive the coroutine (the tunnel's, or a
// counter struct owned by the agent).
asio::awaitable<void> serve_packet_conn(
    std::unique_ptr<byte_stream> conn, std::function<void(std::span<const std::uint8_t>)> on_packet,
    std::shared_ptr<tunnel> stats_owner, std::chrono::milliseconds idle = packet_max_idle);

}  // namespace meshfed::wan::wanfed
