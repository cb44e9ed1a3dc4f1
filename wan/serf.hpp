#pragma once
// The serf layer of the WAN gossip pool (hashicorp/serf 0.9.4 serf/serf.go, delegate.go,
// query.go, internal_query.go, keymanager.go, ping_delegate.go, merge_delegate.go) as a sans-IO
// state machine on top of memberlist (gossip_host). See gossip-protocol.md §13 and
// consul-wanfed.md §9.
//
// Owns: the serf member map (statuses alive/leaving/left/failed, Lamport status times), the
//   three Lamport clocks (member, event, query), recent intents for unknown nodes, the user
//   event and query dedupe rings, serf's three broadcast queues (intents, events, queries),
//   pending outgoing queries, the Vivaldi coordinate client and the peer coordinate cache, the
//   reap / reconnect / queue-check timers, and the Consul WAN merge rule.
// Inputs: the memberlist delegate callbacks (class delegate), the API below, tick(now).
// Outputs: calls on gossip_host (update_meta, send_user_packet, join, leave), the callbacks in
//   serf_callbacks, the keyring persistence callback, log lines on logger "agent.wan".
// Time comes only from `now` arguments; randomness (query IDs, reconnect choice, relays,
//   coordinate tie-breaking) from serf_config::seed.
//
// Threading: not thread-safe; one owner (the WAN pool's strand) calls everything, including the
//   memberlist callbacks. Callbacks into the agent run synchronously inside serf calls; they
//   may call back into serf's API (but should not destroy it).
// Errors: network input never throws: every dropped input is counted in stats() (by serf_errc
//   and by protocol reason) and logged at the level serf uses, naming the member and address.
//   API calls return std::expected<..., std::string> with serf's error texts.
#include <array>
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wan/broadcast_queue.hpp"
#include "wan/coordinate.hpp"
#include "wan/host.hpp"
#include "wan/node.hpp"
#include "wan/serf_messages.hpp"
#include "wan/wire/crypto.hpp"

namespace spdlog {
class logger;
}

namespace meshfed::wan {

// serf MemberStatus (values as on the wire in the conflict response).
enum class member_status : std::uint8_t { none = 0, alive = 1, leaving = 2, left = 3, failed = 4 };
const char* to_string(member_status s);  // "none" "alive" "leaving" "left" "failed"

// serf Member.
struct member {
    std::string name;
    node_addr addr;  // IP + memberlist (gossip) port
    tag_map tags;
    member_status status = member_status::none;
    std::uint8_t protocol_min = 0, protocol_max = 0, protocol_cur = 0;
    std::uint8_t delegate_min = 0, delegate_max = 0, delegate_cur = 0;
    bool operator==(const member&) const = default;
};

enum class member_event_type : std::uint8_t { join, leave, failed, update, reap };
const char* to_string(member_event_type t);  // "member-join", "member-leave", ...

struct user_event {
    std::uint64_t ltime = 0;
    std::string name;
    bytes payload;
    bool coalesce = false;
};

// A query delivered to the agent (names not starting with "_serf_"); answer with
// serf::respond() before `deadline`.
struct query_event {
    std::uint64_t ltime = 0;
    std::uint32_t id = 0;
    std::string name;
    bytes payload;
    node_addr respond_to;  // the query's Addr:Port
    std::string source_node;
    std::uint8_t relay_factor = 0;
    time_point deadline{};
};

// Parameters of a query we start (serf QueryParam).
struct query_params {
    std::vector<std::string> filter_nodes;  // only these nodes answer
    tag_map filter_tags;                    // tag -> Go regexp over the tag value
    bool request_ack = false;
    std::uint8_t relay_factor = 0;
    duration timeout{0};  // 0 = default_query_timeout()
};

// What an outgoing query collects. `done` is the last call (timeout reached).
struct query_reply {
    enum class kind : std::uint8_t { ack, response, done };
    kind type = kind::done;
    std::string from;
    bytes payload;
};
using query_callback = std::function<void(const query_reply&)>;

// Aggregate of a keyring query (serf KeyResponse).
enum class key_op : std::uint8_t { install, use, remove, list };
struct key_response_summary {
    std::map<std::string, std::string> messages;  // node -> message (errors and warnings)
    int num_nodes = 0;
    int num_resp = 0;
    int num_err = 0;
    std::map<std::string, int> keys;          // base64 key -> nodes holding it
    std::map<std::string, int> primary_keys;  // base64 key -> nodes using it as primary
    std::string error;  // "" = success; else serf's "%d/%d nodes reported failure" etc.
};

struct serf_callbacks {
    std::function<void(member_event_type, const member&)> on_member;
    std::function<void(const user_event&)> on_user_event;
    std::function<void(const query_event&)> on_query;
};

struct serf_config {
    std::string node_name;  // WAN: <node>.<dc>
    tag_map tags;
    std::uint8_t protocol_version = 4;  // Consul: 4; range [2, 5]
    bool consul_wan_rules = true;       // refuse members that are not Consul servers

    duration reap_interval = std::chrono::seconds(15);
    duration reconnect_interval = std::chrono::seconds(30);
    duration reconnect_timeout = std::chrono::hours(72);  // Consul WAN (serf default 24 h)
    duration tombstone_timeout = std::chrono::hours(24);
    duration recent_intent_timeout = std::chrono::minutes(5);
    duration flap_timeout = std::chrono::seconds(60);
    duration queue_check_interval = std::chrono::seconds(30);
    duration gossip_interval = std::chrono::milliseconds(500);  // memberlist WAN
    std::size_t event_buffer = 512;
    std::size_t query_buffer = 512;
    int query_timeout_mult = 16;
    std::size_t query_size_limit = 1024;
    std::size_t query_response_size_limit = 1024;
    std::size_t user_event_size_limit = 512;
    std::size_t queue_depth_warning = 128;
    std::size_t max_queue_depth = 4096;
    std::size_t max_recent_intents = 4096;  // hostile-peer bound (Go: unbounded)
    bool coordinates = true;

    // Gossip keyring shared with memberlist; null or empty = encryption not enabled.
    std::shared_ptr<wire::keyring> keyring;
    // Called with the new key list after a key query changed the keyring (the agent writes
    // serf/remote.keyring). Returns "" on success or the error text sent back to the querier.
    std::function<std::string(std::span<const bytes> keys)> persist_keyring;

    serf_callbacks callbacks;
    std::uint64_t seed = 0;  // 0 = std::random_device
};

enum class serf_state : std::uint8_t { alive, leaving, left, shutdown };
const char* to_string(serf_state s);

struct serf_stats {
    // inputs
    std::array<std::uint64_t, serf_message_type_count> received{};  // user messages by type
    std::array<std::uint64_t, serf_errc_count> dropped{};           // dropped inputs by reason
    std::uint64_t unknown_type = 0;  // "Received message of unknown type"
    std::uint64_t relays_forwarded = 0;
    std::uint64_t push_pull_merged = 0;
    // intents
    std::uint64_t join_intents = 0, leave_intents = 0;
    std::uint64_t intents_buffered = 0;  // about unknown nodes
    std::uint64_t intents_rebroadcast = 0;
    std::uint64_t refutes = 0;  // leave intents about ourselves refuted
    // members
    std::uint64_t member_joins = 0, member_leaves = 0, member_failures = 0, member_updates = 0;
    std::uint64_t member_reaps = 0, flaps = 0, reconnect_attempts = 0;
    std::uint64_t merges_refused = 0, alives_refused = 0;  // Consul WAN rule
    // events
    std::uint64_t events_delivered = 0, events_duplicate = 0, events_old = 0;
    // queries
    std::uint64_t queries_handled = 0, queries_duplicate = 0, queries_old = 0;
    std::uint64_t queries_filtered = 0, queries_internal = 0;
    std::uint64_t query_acks_sent = 0, query_responses_sent = 0;
    std::uint64_t query_acks_received = 0, query_responses_received = 0;
    std::uint64_t query_replies_dropped = 0;  // unknown/finished query, ID mismatch, duplicate
    std::uint64_t key_queries = 0;
    std::uint64_t queue_prunes = 0;
    // gauges (filled by stats())
    std::size_t members = 0, failed = 0, left = 0;
    std::uint64_t member_time = 0, event_time = 0, query_time = 0;
    std::size_t intent_queue = 0, event_queue = 0, query_queue = 0;
    bool encrypted = false;
    std::uint64_t coordinate_resets = 0;

    std::uint64_t drops(serf_errc e) const { return dropped[static_cast<std::size_t>(e)]; }
};

// Lamport clock (serf/lamport.go); saturates instead of wrapping.
class lamport_clock {
  public:
    std::uint64_t time() const { return counter_; }
    std::uint64_t increment() { return counter_ < UINT64_MAX ? ++counter_ : counter_; }
    void witness(std::uint64_t v) {
        if (v < counter_) return;
        counter_ = v < UINT64_MAX ? v + 1 : v;
    }

  private:
    std::uint64_t counter_ = 0;
};

// "" if `tags` describe a Consul server (Consul's metadata.IsConsulServer: role=consul, integer
// port and vsn, build containing \d+.\d+.\d+, integer expect/raft_vsn/wan_join_port, positive
// grpc_port/grpc_tls_port, host:port sl_*, integer ft_*), else why not (names the tag).
std::string consul_server_problem(const tag_map& tags);

class serf final : public delegate {
  public:
    serf(serf_config cfg, time_point now);
    serf(serf_config cfg, gossip_host& host, time_point now);
    ~serf() override;
    serf(const serf&) = delete;
    serf& operator=(const serf&) = delete;

    void set_host(gossip_host& host) { host_ = &host; }

    // ---- memberlist delegate
    // ---------------------------------------------------------------------
    bytes node_meta(std::size_t limit) override;
    void notify_user_msg(time_point now, std::span<const std::uint8_t> msg) override;
    std::vector<bytes> get_broadcasts(std::size_t overhead, std::size_t limit) override;
    bytes local_state(bool join) override;
    void merge_remote_state(time_point now, std::span<const std::uint8_t> state,
                            bool join) override;
    void notify_join(time_point now, const node& n) override;
    void notify_leave(time_point now, const node& n) override;
    void notify_update(time_point now, const node& n) override;
    std::string notify_merge(std::span<const node> peers) override;
    std::string notify_alive(const node& peer) override;
    bytes ack_payload() override;
    void notify_ping_complete(time_point now, const node& peer, duration rtt,
                              std::span<const std::uint8_t> payload) override;

    // ---- API -----------------------------------------------------------------------------------
    // New tags: checked against the 512-byte meta limit, then host.update_meta(now).
    std::expected<void, std::string> set_tags(time_point now, tag_map tags);
    // memberlist join; when at least one peer answered, broadcasts our join intent. With
    // `ignore_old`, user events older than the peers' event clock are not replayed.
    void join(time_point now, const std::vector<std::pair<std::string, node_addr>>& peers,
              bool ignore_old, gossip_host::join_callback done);
    // Graceful leave, step 1: queue our leave intent (state -> leaving). The owner then waits
    // until pending_broadcasts() == 0 (or ~5 s, serf's BroadcastTimeout), calls host.leave(now),
    // waits LeavePropagateDelay (1 s) and calls finish_leave().
    std::expected<void, std::string> leave(time_point now);
    void finish_leave();  // state -> left
    void shutdown();      // state -> shutdown (no more timers)
    std::size_t pending_broadcasts() const { return intents_.size(); }
    // Leave intent about another (failed) node: failed -> left; `prune` erases it at once.
    std::expected<void, std::string> force_leave(time_point now, const std::string& name,
                                                 bool prune = false);
    // serf UserEvent: size limits, event clock, local delivery, gossip.
    std::expected<void, std::string> user_event(time_point now, std::string name, bytes payload,
                                                bool coalesce);
    // serf Query: returns the query's (LTime, ID). `cb` receives acks/responses, then `done`
    // once the timeout passed (driven by tick()).
    std::expected<std::pair<std::uint64_t, std::uint32_t>, std::string> query(
        time_point now, std::string name, bytes payload, const query_params& params,
        query_callback cb);
    // Answer to a query delivered through serf_callbacks::query (once, before its deadline).
    std::expected<void, std::string> respond(time_point now, const query_event& q,
                                             std::span<const std::uint8_t> payload);
    // KeyManager: runs _serf_<op>-key(s) over the pool; `done` gets serf's aggregate. `key_b64`
    // is ignored for list.
    std::expected<void, std::string> key_operation(
        time_point now, key_op op, std::string_view key_b64,
        std::function<void(const key_response_summary&)> done, std::uint8_t relay_factor = 0);
    // GossipInterval x QueryTimeoutMult x ceil(log10(alive + 1)).
    duration default_query_timeout() const;

    void tick(time_point now);
    time_point next_wakeup() const;

    // ---- views
    // -----------------------------------------------------------------------------------
    std::vector<member> members() const;
    std::optional<member> find_member(const std::string& name) const;
    member local_member() const;
    const std::string& name() const { return cfg_.node_name; }
    const tag_map& tags() const { return cfg_.tags; }
    serf_state state() const { return state_; }
    serf_stats stats() const;
    // Our coordinate for our own name, the cached peer coordinate otherwise.
    std::optional<coordinate> coordinate_of(const std::string& name) const;
    const coordinate_client& coordinates() const { return coord_client_; }
    std::uint64_t member_clock() const { return clock_.time(); }
    std::uint64_t event_clock() const { return event_clock_.time(); }
    std::uint64_t query_clock() const { return query_clock_.time(); }
    const serf_config& config() const { return cfg_; }

  private:
    struct member_state {
        member m;
        std::uint64_t status_ltime = 0;
        time_point leave_time{};
    };
    struct intent {
        serf_message_type type = serf_message_type::join;
        time_point wall_time{};
        std::uint64_t ltime = 0;
    };
    struct query_ring_slot {
        std::uint64_t ltime = 0;
        std::vector<std::uint32_t> ids;
    };
    struct pending_query {
        std::uint32_t id = 0;
        time_point deadline{};
        std::size_t capacity = 0;  // Go: channel buffer = NumMembers at start
        bool ack_requested = false;
        std::set<std::string> acks;
        std::set<std::string> responses;
        query_callback cb;
    };

    void drop(serf_errc e) { ++stats_.dropped[static_cast<std::size_t>(e)]; }
    member_state* find(const std::string& name);
    const member_state* find(const std::string& name) const;
    void ensure_local();
    member_state* local_state_ptr();
    int retransmits() const;
    std::size_t alive_count() const;

    bool handle_leave_intent(time_point now, const msg_leave& m);
    bool handle_join_intent(time_point now, const msg_join& m);
    bool upsert_intent(time_point now, const std::string& node, serf_message_type t,
                       std::uint64_t ltime);
    std::optional<std::uint64_t> recent_intent(const std::string& node, serf_message_type t) const;
    void broadcast_join(time_point now, std::uint64_t ltime);
    void handle_prune(member_state& ms);
    void erase_node(const std::string& name);
    bool handle_user_event(const msg_user_event& m);
    bool handle_query(time_point now, const msg_query& q);
    void handle_query_response(time_point now, const msg_query_response& r);
    void handle_relay(std::span<const std::uint8_t> msg);
    bool should_process_query(const std::vector<bytes>& filters);
    void handle_internal_query(time_point now, const msg_query& q);
    void answer_key_query(time_point now, const msg_query& q, key_op op);
    std::expected<void, std::string> send_response(time_point now, const msg_query& q,
                                                   std::span<const std::uint8_t> payload);
    std::expected<void, std::string> send_response_raw(const node_addr& to,
                                                       const std::string& to_node,
                                                       std::uint8_t relay_factor,
                                                       const msg_query_response& r,
                                                       const bytes& raw);
    void deliver_user_packet(const node_addr& to, const std::string& to_node,
                             std::span<const std::uint8_t> raw);
    std::string merge_check(const node& n);
    member node_to_member(const node& n, member_status status);
    void emit(member_event_type t, const member& m);
    void reap(time_point now);
    void reconnect(time_point now);
    void check_queues();
    std::string persist_keys();
    bool encryption_enabled() const { return cfg_.keyring && !cfg_.keyring->empty(); }

    serf_config cfg_;
    gossip_host* host_ = nullptr;
    std::shared_ptr<spdlog::logger> log_;
    serf_state state_ = serf_state::alive;
    time_point last_now_{};

    lamport_clock clock_, event_clock_, query_clock_;
    std::map<std::string, member_state> members_;
    std::map<std::string, intent> recent_intents_;

    broadcast_queue intents_, events_, queries_;

    std::vector<std::optional<user_events_slot>> event_ring_;
    std::uint64_t event_min_time_ = 0;
    bool event_join_ignore_ = false;

    std::vector<std::optional<query_ring_slot>> query_ring_;
    std::uint64_t query_min_time_ = 0;
    std::map<std::uint64_t, pending_query> pending_queries_;  // by LTime
    // Queries delivered to the agent and not answered yet: (LTime, ID) -> deadline.
    std::map<std::pair<std::uint64_t, std::uint32_t>, time_point> awaiting_response_;

    coordinate_client coord_client_;
    std::map<std::string, coordinate> coord_cache_;

    time_point next_reap_{}, next_reconnect_{}, next_queue_check_{};
    std::mt19937_64 rng_;
    serf_stats stats_;
};

}  // namespace meshfed::wan
