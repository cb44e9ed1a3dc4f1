#pragma once
// The I/O side of the WAN gossip pool, owned by wan/: one UDP socket and one TCP listener on
// the same port (ports.serf_wan, 8302), driving the memberlist state machine (and the layer
// above it through `extra_*` hooks): datagrams in -> on_packet, inbound streams -> on_stream
// (bounded reads, deadline, at most max_inbound_streams at once), the outbox out -> UDP sends
// and outbound stream coroutines, and one timer for next_wakeup().
// Threading: everything runs on the executor given at construction, which must be a single
// thread (the agent's io_context) or a strand. Errors: bind() reports socket errors; runtime
// network errors are logged (node, address, UDP/TCP) and counted, never thrown.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include <asio/any_io_executor.hpp>

#include "common/byte_stream.hpp"
#include "wan/memberlist.hpp"

namespace meshfed::wan {

namespace wanfed {
class tunnel;
}

struct transport_stats {
    std::uint64_t udp_in = 0, udp_out = 0, udp_send_errors = 0;
    std::uint64_t tcp_in = 0, tcp_out = 0, tcp_errors = 0;
    std::uint64_t tcp_in_refused_busy = 0;        // over max_inbound_streams
    std::uint64_t tcp_in_refused_source_cap = 0;  // over max_inbound_streams_per_ip
    std::uint64_t tcp_in_timeouts = 0;
    std::uint64_t tunnel_route_errors = 0;  // wanfed: member names without a datacenter
};

class transport {
  public:
    struct hooks {
        std::function<time_point()> next_wakeup;  // of the layer above (nullable)
        std::function<void(time_point)> tick;     // of the layer above (nullable)
    };
    explicit transport(asio::any_io_executor ex);
    ~transport();
    transport(const transport&) = delete;
    transport& operator=(const transport&) = delete;

    // Binds UDP and TCP on ip:port (port 0: a port free for both). Bind first, so the state
    // machine can be built with the port it will advertise.
    std::error_code bind(const std::string& ip, std::uint16_t port);
    std::uint16_t port() const;
    void start(memberlist& ml, hooks h = {});
    void stop();
    // Call after using the memberlist API (join, leave, ...) so its outputs are sent.
    void kick();

    // WAN federation via mesh gateways: packets and streams to members of other datacenters go
    // through `t` instead of UDP/TCP (see wan/wanfed.hpp). Set before start().
    void set_tunnel(std::shared_ptr<wanfed::tunnel> t);
    // A datagram that arrived over a tunnelled packet connection (RPC port, ALPN
    // consul/wan-gossip/packet); `from` is the connection's remote address.
    void ingest_packet(const node_addr& from, std::span<const std::uint8_t> datagram);
    // A stream that arrived over the RPC port (ALPN consul/wan-gossip/stream); served like an
    // accepted TCP stream (bounded by max_inbound_streams).
    void ingest_stream(std::unique_ptr<byte_stream> s, const node_addr& from);
    const transport_stats& stats() const;

    static constexpr int max_inbound_streams = 128;
    // Per source IP on 8302/tcp (memberlist has none): one host cannot hold every slot. A
    // peer needs a few at once (push/pull, fallback ping); tunnelled streams are capped on
    // the RPC port instead.
    static constexpr int max_inbound_streams_per_ip = 32;
    static constexpr std::size_t max_stream_read = 24 * 1024 * 1024;

  private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace meshfed::wan
