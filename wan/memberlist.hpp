#pragma once
// The memberlist protocol (SWIM + Lifeguard) as a sans-IO state machine, owned by wan/.
//
// It is driven by (now, input) calls and answers with outputs collected in an outbox that the
// I/O layer (transport.hpp) drains after every call:
//   inputs : on_packet (a UDP datagram), on_stream (an inbound TCP stream's first message; the
//            reply bytes are returned), on_stream_reply (the reply to a stream we opened),
//            tick (timers), and the API: join, leave, update_meta.
//   outputs: packets to send, streams to open (push/pull, TCP fallback ping), delegate calls.
// Time comes only from the `now` arguments, randomness from an injected seed, so tests run it
// with a virtual clock over a fake network.
//
// Threading: not thread-safe; one owner (the WAN pool's strand) calls everything.
// Errors: network input never throws; every dropped input is counted in stats() (wire-level
// reasons in stats().wire, protocol-level ones in the other counters) and, where it helps an
// operator, logged with the node, address and transport (UDP/TCP).
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "wan/broadcast_queue.hpp"
#include "wan/gossip_config.hpp"
#include "wan/host.hpp"
#include "wan/node.hpp"
#include "wan/wire/crypto.hpp"
#include "wan/wire/messages.hpp"
#include "wan/wire/packet.hpp"
#include "wan/wire/stream.hpp"

namespace spdlog {
class logger;
}

namespace meshfed::wan {

struct memberlist_config {
    std::string name;                                   // WAN: <node>.<dc>
    node_addr advertise;                                // what peers dial
    gossip_config timing;                               // probe/gossip/suspicion settings
    std::array<std::uint8_t, 3> delegate_vsn{2, 5, 4};  // serf min, max, cur (Consul: 4)
    std::string label;                                  // gossip label ("" = none)
    bool compress = true;                               // EnableCompression
    // Gossip encryption: shared with serf's keyring queries; null or empty = plaintext.
    std::shared_ptr<wire::keyring> keys;
    bool verify_incoming = true;  // encrypt_verify_incoming
    bool verify_outgoing = true;  // encrypt_verify_outgoing
    // TCP fallback ping allowed towards this node? (wanfed: not for other datacenters)
    std::function<bool(const node&)> tcp_ping_allowed;
    std::uint64_t seed = 0;  // randomness; 0 = from std::random_device
};

// Outputs of one call.
struct out_packet {
    node_addr to;
    std::string to_node;  // "" when unknown (e.g. replies to an address)
    bytes data;           // fully encoded datagram
};

enum class stream_kind : std::uint8_t { push_pull, ping };

struct out_stream {
    std::uint64_t id = 0;
    stream_kind kind = stream_kind::push_pull;
    node_addr to;
    std::string to_node;
    bytes data;           // fully encoded request
    time_point deadline;  // connect + write + read
};

struct outbox {
    std::vector<out_packet> packets;
    std::vector<out_stream> streams;
    bool empty() const { return packets.empty() && streams.empty(); }
};

struct memberlist_stats {
    wire::wire_stats wire;  // wire-level drops by reason
    std::uint64_t packets_sent = 0;
    std::uint64_t packets_received = 0;
    std::uint64_t probes = 0;
    std::uint64_t probes_failed = 0;
    std::uint64_t indirect_probes = 0;
    std::uint64_t tcp_fallback_ok = 0;
    std::uint64_t tcp_fallback_failed = 0;
    std::uint64_t suspects_raised = 0;
    std::uint64_t refutes = 0;
    std::uint64_t dead_declared = 0;
    std::uint64_t push_pulls = 0;
    // protocol-level drops
    std::uint64_t ping_wrong_node = 0;  // "Got ping for unexpected node"
    std::uint64_t ack_unknown_seq = 0;  // late or forged acks
    std::uint64_t alive_refused = 0;    // delegate veto, bad Vsn, conflicting address
    std::uint64_t stale_messages = 0;   // old incarnations
    std::uint64_t streams_refused = 0;  // bad stream requests
};

class memberlist final : public gossip_host {
  public:
    memberlist(memberlist_config cfg, delegate& d, time_point now);
    ~memberlist();
    memberlist(const memberlist&) = delete;
    memberlist& operator=(const memberlist&) = delete;

    // ---- inputs --------------------------------------------------------------------------------
    void on_packet(time_point now, const node_addr& from, std::span<const std::uint8_t> datagram);
    // An inbound stream's decoded first message; returns the encoded reply ("" = none).
    bytes on_stream(time_point now, const node_addr& from, const wire::stream_message& msg);
    // The reply to a stream we opened, or the error that ended it.
    void on_stream_reply(time_point now, std::uint64_t id,
                         std::expected<wire::stream_message, std::string> reply);
    void tick(time_point now);
    time_point next_wakeup() const;

    // ---- API -----------------------------------------------------------------------------------
    // Push/pull (join) with each address; `done(joined, errors)` runs when all have answered.
    void join(time_point now, const std::vector<std::pair<std::string, node_addr>>& peers,
              join_callback done) override;
    // Graceful leave: broadcasts our own dead (peers record "left").
    void leave(time_point now) override;
    // New meta (serf tags): re-broadcast alive with incarnation + 1.
    void update_meta(time_point now) override;
    void send_user_packet(const node_addr& to, const std::string& to_node,
                          std::span<const std::uint8_t> serf_msg) override;
    // Everything the calls above produced.
    outbox take_outbox();

    // ---- views ---------------------------------------------------------------------------------
    const node& local() const override;
    const node* find(const std::string& name) const;
    std::vector<node> members() const override;  // every known node (any state)
    std::size_t num_nodes() const override { return nodes_.size(); }
    int retransmit_mult() const override { return cfg_.timing.retransmit_mult; }
    std::size_t num_alive() const;
    int health_score() const { return awareness_; }
    std::size_t pending_broadcasts() const { return broadcasts_.size(); }
    const memberlist_stats& stats() const { return stats_; }
    const memberlist_config& config() const { return cfg_; }
    wire::stream_decode_options stream_decode_options() const;
    wire::packet_decode_options packet_decode_options() const;
    // Encodes a reply/request for a stream with our compression/encryption/label settings.
    std::expected<bytes, wire::errc> encode_stream_message(std::span<const std::uint8_t> msg,
                                                           bool dialer) const;
    std::uint32_t incarnation() const { return incarnation_; }

  private:
    struct node_entry;
    struct ack_handler;
    struct suspicion;
    struct probe_state;
    struct pending_join;

    // message handlers
    void handle_ping(time_point now, const node_addr& from, const wire::ping& p);
    void handle_indirect_ping(time_point now, const node_addr& from,
                              const wire::indirect_ping_req& p);
    void handle_ack(time_point now, const node_addr& from, const wire::ack_resp& a);
    void handle_nack(time_point now, const wire::nack_resp& n);
    void handle_alive(time_point now, const wire::alive& a, bool bootstrap, bool from_merge);
    void handle_suspect(time_point now, const wire::suspect& s);
    void handle_dead(time_point now, const wire::dead& d);
    void merge_remote(time_point now, const wire::push_pull& pp, const node_addr& from);
    std::string verify_protocol(const std::vector<wire::push_node_state>& remote) const;

    // actions
    void probe(time_point now);
    void probe_node(time_point now, node_entry& target);
    void gossip(time_point now);
    void push_pull_random(time_point now);
    void start_push_pull(time_point now, const node_addr& to, const std::string& to_node, bool join,
                         std::shared_ptr<pending_join> pj);
    void refute(time_point now, std::uint32_t accused_inc);
    void set_alive(time_point now);
    void suspect_node(time_point now, node_entry& n, const std::string& from);
    void expire_suspicion(time_point now, const std::string& name);
    void reap_dead(time_point now);

    // sending
    void send_packet(const node_addr& to, const std::string& to_node, bytes msg, bool piggyback);
    void send_compound(const node_addr& to, const std::string& to_node, std::vector<bytes> msgs);
    void queue_broadcast(const std::string& about, bytes msg);
    wire::packet_encode_options packet_encode_options(const std::string& to_node) const;
    bytes local_state_bytes(bool join);

    node_entry* lookup(const std::string& name);
    int retransmit_limit() const;
    duration probe_interval() const;
    void adjust_awareness(int delta);
    void log_state_change(const node_entry& n, const char* why);

    memberlist_config cfg_;
    delegate& delegate_;
    std::shared_ptr<spdlog::logger> log_;
    std::mt19937_64 rng_;
    memberlist_stats stats_;

    std::vector<std::unique_ptr<node_entry>> nodes_;  // probe order (shuffled)
    std::map<std::string, node_entry*> by_name_;
    std::size_t probe_index_ = 0;
    std::uint32_t incarnation_ = 0;
    std::uint32_t seq_no_ = 0;
    int awareness_ = 0;
    bool leaving_ = false;

    std::map<std::uint32_t, ack_handler> acks_;
    std::map<std::string, suspicion> suspicions_;
    std::unique_ptr<probe_state> probe_;
    std::map<std::uint64_t, std::shared_ptr<pending_join>> stream_joins_;
    std::map<std::uint64_t, std::uint32_t> stream_pings_;  // stream id -> probe seq
    std::uint64_t next_stream_id_ = 1;

    time_point next_probe_;
    time_point next_gossip_;
    time_point next_push_pull_;

    broadcast_queue broadcasts_;
    outbox out_;
};

}  // namespace meshfed::wan
