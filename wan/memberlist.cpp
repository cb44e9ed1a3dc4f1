#include "wan/memberlist.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/log.hpp"
#include "wan/wire/framing.hpp"

namespace meshfed::wan {
namespace {

using namespace std::chrono_literals;
constexpr std::size_t compound_header_overhead = 2;  // type + count
constexpr std::size_t compound_part_overhead = 2;    // u16 length
constexpr std::size_t user_msg_overhead = 1;         // 0x08 type byte memberlist prepends

wire::alive to_alive(const node& n) {
    wire::alive a;
    a.incarnation = n.incarnation;
    a.node = n.name;
    a.addr = n.addr.ip;
    a.port = n.addr.port;
    a.meta = n.meta;
    a.vsn.assign(n.vsn.begin(), n.vsn.end());
    return a;
}

}  // namespace

struct memberlist::node_entry {
    node n;
};

struct memberlist::ack_handler {
    enum class kind { probe, relay } k = kind::probe;
    time_point sent{};
    time_point expires{};
    // relay (we are the intermediary of someone's indirect probe)
    node_addr requester;
    std::string requester_node;
    std::uint32_t requester_seq = 0;
    bool want_nack = false;
};

struct memberlist::suspicion {
    time_point start{};
    duration min{}, max{};
    int k = 0;
    std::set<std::string> confirmers;  // includes the original accuser
    time_point deadline{};
    std::uint32_t incarnation = 0;
};

struct memberlist::probe_state {
    std::string target;
    std::uint32_t seq = 0;
    time_point start{};
    time_point timeout_at{};  // direct ack wait ends: go indirect
    time_point deadline{};    // the whole probe ends
    bool indirect_sent = false;
    int expected_nacks = 0;
    int nacks = 0;
    bool tcp_ok = false;
    std::uint64_t tcp_stream = 0;
};

struct memberlist::pending_join {
    int outstanding = 0;
    int joined = 0;
    std::vector<std::string> errors;
    join_callback done;
};

memberlist::memberlist(memberlist_config cfg, delegate& d, time_point now)
    : cfg_(std::move(cfg)),
      delegate_(d),
      log_(get_logger("agent.wan")),
      rng_(cfg_.seed ? cfg_.seed : std::random_device{}()) {
    next_probe_ = now + cfg_.timing.probe_interval;
    next_gossip_ = now + cfg_.timing.gossip_interval;
    next_push_pull_ = now + cfg_.timing.push_pull_interval;
    set_alive(now);
}

memberlist::~memberlist() = default;

// ---- helpers
// -------------------------------------------------------------------------------------

memberlist::node_entry* memberlist::lookup(const std::string& name) {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second;
}

const node* memberlist::find(const std::string& name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &it->second->n;
}

const node& memberlist::local() const {
    return by_name_.at(cfg_.name)->n;
}

std::vector<node> memberlist::members() const {
    std::vector<node> out;
    out.reserve(nodes_.size());
    for (const auto& e : nodes_) out.push_back(e->n);
    return out;
}

std::size_t memberlist::num_alive() const {
    return static_cast<std::size_t>(std::count_if(nodes_.begin(), nodes_.end(), [](const auto& e) {
        return e->n.state == node_state::alive || e->n.state == node_state::suspect;
    }));
}

int memberlist::retransmit_limit() const {
    return wan::retransmit_limit(cfg_.timing.retransmit_mult, nodes_.size());
}

duration memberlist::probe_interval() const {
    return cfg_.timing.probe_interval * (awareness_ + 1);
}

void memberlist::adjust_awareness(int delta) {
    int max = std::max(1, cfg_.timing.awareness_max_multiplier) - 1;
    int before = awareness_;
    awareness_ = std::clamp(awareness_ + delta, 0, max);
    if (awareness_ != before && awareness_ > 0)
        log_->debug(
            "memberlist: local health score now {} (probe interval {}ms)", awareness_,
            std::chrono::duration_cast<std::chrono::milliseconds>(probe_interval()).count());
}

wire::packet_encode_options memberlist::packet_encode_options(const std::string& to_node) const {
    wire::packet_encode_options o;
    o.compress = cfg_.compress;
    auto it = by_name_.find(to_node);
    o.crc = it != by_name_.end() && it->second->n.pmax() >= 5;
    if (cfg_.keys && !cfg_.keys->empty() && cfg_.verify_outgoing) o.keys = cfg_.keys.get();
    o.label = cfg_.label;
    return o;
}

wire::packet_decode_options memberlist::packet_decode_options() const {
    wire::packet_decode_options o;
    if (cfg_.keys && !cfg_.keys->empty()) o.keys = cfg_.keys.get();
    o.verify_incoming = cfg_.verify_incoming;
    o.label = cfg_.label;
    return o;
}

wire::stream_decode_options memberlist::stream_decode_options() const {
    wire::stream_decode_options o;
    if (cfg_.keys && !cfg_.keys->empty()) o.keys = cfg_.keys.get();
    o.verify_incoming = cfg_.verify_incoming;
    o.label = cfg_.label;
    return o;
}

std::expected<bytes, wire::errc> memberlist::encode_stream_message(
    std::span<const std::uint8_t> msg, bool dialer) const {
    wire::stream_encode_options o;
    o.compress = cfg_.compress;
    if (cfg_.keys && !cfg_.keys->empty() && cfg_.verify_outgoing) o.keys = cfg_.keys.get();
    o.label = cfg_.label;
    o.write_label_header = dialer && !cfg_.label.empty();
    return wire::encode_stream(msg, o);
}

outbox memberlist::take_outbox() {
    outbox o = std::move(out_);
    out_ = {};
    return o;
}

void memberlist::log_state_change(const node_entry& e, const char* why) {
    log_->info("memberlist: {} {} ({}) is now {}", why, e.n.name, e.n.addr.to_string(),
               to_string(e.n.state));
}

// ---- sending
// -------------------------------------------------------------------------------------

void memberlist::queue_broadcast(const std::string& about, bytes msg) {
    broadcasts_.queue(about, std::move(msg));
    // memberlist prunes its queue when it grows past HandoffQueueDepth-like bounds.
    if (broadcasts_.size() > 4096) broadcasts_.prune(4096);
}

void memberlist::send_packet(const node_addr& to, const std::string& to_node, bytes msg,
                             bool piggyback) {
    auto opts = packet_encode_options(to_node);
    std::vector<bytes> parts;
    parts.push_back(std::move(msg));
    if (piggyback) {
        std::size_t overhead = wire::packet_overhead(opts);
        std::size_t budget = static_cast<std::size_t>(cfg_.timing.udp_buffer_size);
        std::size_t used =
            parts.front().size() + compound_header_overhead + compound_part_overhead + overhead;
        if (used < budget) {
            int limit = retransmit_limit();
            auto extra = broadcasts_.get(compound_part_overhead, budget - used, limit);
            std::size_t extra_size = 0;
            for (const auto& e : extra) extra_size += e.size() + compound_part_overhead;
            if (budget > used + extra_size) {
                for (auto& e : delegate_.get_broadcasts(compound_part_overhead + user_msg_overhead,
                                                        budget - used - extra_size)) {
                    bytes m;
                    m.reserve(e.size() + 1);
                    m.push_back(static_cast<std::uint8_t>(wire::message_type::user));
                    m.insert(m.end(), e.begin(), e.end());
                    extra.push_back(std::move(m));
                }
            }
            for (auto& e : extra) parts.push_back(std::move(e));
        }
    }
    send_compound(to, to_node, std::move(parts));
}

void memberlist::send_compound(const node_addr& to, const std::string& to_node,
                               std::vector<bytes> msgs) {
    auto opts = packet_encode_options(to_node);
    std::vector<bytes> datagrams;
    if (msgs.size() == 1) {
        auto enc = wire::encode_packet(msgs.front(), opts);
        if (enc) datagrams.push_back(std::move(*enc));
    } else {
        // Budgets keep a datagram far below compound's 255-part limit.
        auto enc = wire::encode_packet(std::span<const bytes>(msgs), opts);
        if (enc) datagrams.push_back(std::move(*enc));
    }
    for (auto& d : datagrams) {
        ++stats_.packets_sent;
        out_.packets.push_back({to, to_node, std::move(d)});
    }
}

void memberlist::send_user_packet(const node_addr& to, const std::string& to_node,
                                  std::span<const std::uint8_t> serf_msg) {
    send_packet(to, to_node, wire::encode_user_packet(serf_msg), false);
}

// ---- local state
// ---------------------------------------------------------------------------------

void memberlist::set_alive(time_point now) {
    incarnation_ = 1;
    wire::alive a;
    a.incarnation = incarnation_;
    a.node = cfg_.name;
    a.addr = cfg_.advertise.ip;
    a.port = cfg_.advertise.port;
    a.meta = delegate_.node_meta(meta_max_size);
    a.vsn = {protocol_min,         protocol_max,         protocol_cur,
             cfg_.delegate_vsn[0], cfg_.delegate_vsn[1], cfg_.delegate_vsn[2]};
    handle_alive(now, a, /*bootstrap=*/true, false);
}

void memberlist::update_meta(time_point now) {
    auto* self = lookup(cfg_.name);
    bytes meta = delegate_.node_meta(meta_max_size);
    ++incarnation_;
    self->n.meta = meta;
    self->n.incarnation = incarnation_;
    queue_broadcast(cfg_.name, wire::encode_message(to_alive(self->n)));
    delegate_.notify_update(now, self->n);
}

void memberlist::refute(time_point now, std::uint32_t accused_inc) {
    (void)now;
    auto* self = lookup(cfg_.name);
    incarnation_ = std::max(incarnation_ + 1, accused_inc + 1);
    self->n.incarnation = incarnation_;
    adjust_awareness(1);
    ++stats_.refutes;
    queue_broadcast(cfg_.name, wire::encode_message(to_alive(self->n)));
}

void memberlist::leave(time_point now) {
    if (leaving_) return;
    leaving_ = true;
    auto* self = lookup(cfg_.name);
    wire::dead d{incarnation_, cfg_.name, cfg_.name};
    queue_broadcast(cfg_.name, wire::encode_message(d));
    self->n.state = node_state::left;
    self->n.state_change = now;
    log_->info("memberlist: {} is leaving the pool (broadcasting its departure to {} members)",
               cfg_.name, num_alive());
}

// ---- receiving
// -----------------------------------------------------------------------------------

void memberlist::on_packet(time_point now, const node_addr& from,
                           std::span<const std::uint8_t> datagram) {
    ++stats_.packets_received;
    auto pkt = wire::decode_packet(datagram, packet_decode_options(), stats_.wire);
    if (!pkt) {
        log_->debug("memberlist: dropped UDP packet from {}: {}", from.to_string(),
                    wire::make_error_code(pkt.error()).message());
        return;
    }
    for (const auto& m : pkt->messages) {
        std::visit(
            [&](const auto& body) {
                using T = std::decay_t<decltype(body)>;
                if constexpr (std::is_same_v<T, wire::ping>) {
                    handle_ping(now, from, body);
                } else if constexpr (std::is_same_v<T, wire::indirect_ping_req>) {
                    handle_indirect_ping(now, from, body);
                } else if constexpr (std::is_same_v<T, wire::ack_resp>) {
                    handle_ack(now, from, body);
                } else if constexpr (std::is_same_v<T, wire::nack_resp>) {
                    handle_nack(now, body);
                } else if constexpr (std::is_same_v<T, wire::suspect>) {
                    handle_suspect(now, body);
                } else if constexpr (std::is_same_v<T, wire::alive>) {
                    handle_alive(now, body, false, false);
                } else if constexpr (std::is_same_v<T, wire::dead>) {
                    handle_dead(now, body);
                } else if constexpr (std::is_same_v<T, wire::user_packet>) {
                    delegate_.notify_user_msg(now, body.payload);
                }
            },
            m.decoded);
    }
}

void memberlist::handle_ping(time_point now, const node_addr& from, const wire::ping& p) {
    (void)now;
    if (!p.node.empty() && p.node != cfg_.name) {
        ++stats_.ping_wrong_node;
        log_->warn("memberlist: Got ping for unexpected node '{}' from {} (UDP); this node is '{}'",
                   p.node, from.to_string(), cfg_.name);
        return;
    }
    wire::ack_resp ack{p.seq_no, delegate_.ack_payload()};
    node_addr to = from;
    if (!p.source_addr.empty() && p.source_port != 0) to = {p.source_addr, p.source_port};
    send_packet(to, p.source_node, wire::encode_message(ack), true);
}

void memberlist::handle_indirect_ping(time_point now, const node_addr& from,
                                      const wire::indirect_ping_req& req) {
    std::uint32_t seq = ++seq_no_;
    wire::ping p{seq, req.node, cfg_.advertise.ip, cfg_.advertise.port, cfg_.name};
    node_addr target{req.target, req.port ? req.port : cfg_.advertise.port};
    ack_handler h;
    h.k = ack_handler::kind::relay;
    h.sent = now;
    h.expires = now + cfg_.timing.probe_timeout;
    h.requester = from;
    if (!req.source_addr.empty() && req.source_port != 0)
        h.requester = {req.source_addr, req.source_port};
    h.requester_node = req.source_node;
    h.requester_seq = req.seq_no;
    h.want_nack = req.nack;
    acks_[seq] = h;
    ++stats_.indirect_probes;
    send_packet(target, req.node, wire::encode_message(p), true);
}

void memberlist::handle_ack(time_point now, const node_addr& from, const wire::ack_resp& a) {
    auto it = acks_.find(a.seq_no);
    if (it == acks_.end()) {
        ++stats_.ack_unknown_seq;
        return;
    }
    ack_handler h = it->second;
    acks_.erase(it);
    if (h.k == ack_handler::kind::relay) {
        wire::ack_resp fwd{h.requester_seq, {}};
        send_packet(h.requester, h.requester_node, wire::encode_message(fwd), true);
        return;
    }
    if (!probe_ || probe_->seq != a.seq_no) return;
    // A direct ack in time carries the peer's coordinate and a meaningful RTT.
    if (!probe_->indirect_sent) {
        if (auto* target = lookup(probe_->target))
            delegate_.notify_ping_complete(now, target->n, now - h.sent, a.payload);
    }
    adjust_awareness(-1);
    (void)from;
    probe_.reset();
}

void memberlist::handle_nack(time_point now, const wire::nack_resp& n) {
    (void)now;
    if (probe_ && probe_->seq == n.seq_no) ++probe_->nacks;
}

void memberlist::handle_alive(time_point now, const wire::alive& a, bool bootstrap,
                              bool from_merge) {
    (void)from_merge;
    bool is_local = a.node == cfg_.name;
    if (leaving_ && is_local) return;
    if (a.vsn.size() < 6) {
        ++stats_.alive_refused;
        log_->warn(
            "memberlist: ignoring alive message for '{}': missing protocol versions "
            "(Vsn has {} bytes)",
            a.node, a.vsn.size());
        return;
    }
    if (a.vsn[0] == 0 || a.vsn[1] == 0 || a.vsn[0] > a.vsn[1]) {
        ++stats_.alive_refused;
        log_->warn("memberlist: ignoring alive message for '{}': invalid protocol range {}..{}",
                   a.node, a.vsn[0], a.vsn[1]);
        return;
    }
    if (a.addr.size() != 4 && a.addr.size() != 16) {
        ++stats_.alive_refused;
        log_->warn("memberlist: ignoring alive message for '{}': address of {} bytes", a.node,
                   a.addr.size());
        return;
    }
    node candidate;
    candidate.name = a.node;
    candidate.addr = {a.addr, a.port};
    candidate.meta = a.meta;
    candidate.incarnation = a.incarnation;
    std::copy_n(a.vsn.begin(), 6, candidate.vsn.begin());
    if (!is_local) {
        if (auto veto = delegate_.notify_alive(candidate); !veto.empty()) {
            ++stats_.alive_refused;
            log_->warn("memberlist: ignoring alive message for '{}' ({}): {}", a.node,
                       candidate.addr.to_string(), veto);
            return;
        }
    }

    auto* e = lookup(a.node);
    bool is_new = false;
    bool updates_addr = false;
    if (!e) {
        auto owned = std::make_unique<node_entry>();
        owned->n = candidate;
        owned->n.incarnation = 0;
        owned->n.state = node_state::dead;
        owned->n.state_change = now;
        e = owned.get();
        by_name_[a.node] = e;
        // New nodes go to a random position so probes do not follow join order.
        std::size_t pos =
            nodes_.empty() ? 0 : std::uniform_int_distribution<std::size_t>(0, nodes_.size())(rng_);
        nodes_.insert(nodes_.begin() + static_cast<std::ptrdiff_t>(pos), std::move(owned));
        if (pos <= probe_index_ && !nodes_.empty() && nodes_.size() > 1) ++probe_index_;
        is_new = true;
    } else if (e->n.addr != candidate.addr) {
        bool reclaim = cfg_.timing.dead_node_reclaim_time.count() > 0 &&
                       e->n.state == node_state::dead &&
                       now - e->n.state_change > cfg_.timing.dead_node_reclaim_time;
        if (e->n.state == node_state::left || reclaim) {
            log_->info("memberlist: updating address for left or failed node {} from {} to {}",
                       a.node, e->n.addr.to_string(), candidate.addr.to_string());
            updates_addr = true;
        } else {
            ++stats_.alive_refused;
            log_->error("memberlist: Conflicting address for {}. Mine: {} Theirs: {} Old state: {}",
                        a.node, e->n.addr.to_string(), candidate.addr.to_string(),
                        to_string(e->n.state));
            return;
        }
    }

    if (!is_new && !is_local && a.incarnation <= e->n.incarnation && !updates_addr) {
        ++stats_.stale_messages;
        return;
    }
    if (!is_new && is_local && a.incarnation < e->n.incarnation) {
        ++stats_.stale_messages;
        return;
    }
    suspicions_.erase(a.node);

    if (is_local && !bootstrap) {
        const auto& self = e->n;
        if (a.incarnation == self.incarnation && a.meta == self.meta &&
            std::equal(a.vsn.begin(), a.vsn.begin() + 6, self.vsn.begin()))
            return;
        refute(now, a.incarnation);
        log_->warn(
            "memberlist: Refuting an alive message for '{}' ({}) meta differs: {}, vsn "
            "differs: {}",
            a.node, candidate.addr.to_string(), a.meta != self.meta,
            !std::equal(a.vsn.begin(), a.vsn.begin() + 6, self.vsn.begin()));
        return;
    }

    queue_broadcast(a.node, wire::encode_message(a));
    node_state old_state = e->n.state;
    bool meta_changed = e->n.meta != candidate.meta;
    e->n.incarnation = a.incarnation;
    e->n.meta = candidate.meta;
    e->n.addr = candidate.addr;
    e->n.vsn = candidate.vsn;
    if (e->n.state != node_state::alive) {
        e->n.state = node_state::alive;
        e->n.state_change = now;
    }
    if (is_new || old_state == node_state::dead || old_state == node_state::left) {
        if (!is_local) log_state_change(*e, "member");
        delegate_.notify_join(now, e->n);
    } else if (meta_changed) {
        delegate_.notify_update(now, e->n);
    }
}

void memberlist::handle_suspect(time_point now, const wire::suspect& s) {
    auto* e = lookup(s.node);
    if (!e) return;
    if (s.incarnation < e->n.incarnation) {
        ++stats_.stale_messages;
        return;
    }
    if (auto it = suspicions_.find(s.node); it != suspicions_.end()) {
        auto& sp = it->second;
        if (sp.confirmers.contains(s.from)) return;
        if (static_cast<int>(sp.confirmers.size()) - 1 >= sp.k) return;  // enough counted
        sp.confirmers.insert(s.from);
        int c = static_cast<int>(sp.confirmers.size()) - 1;
        if (sp.k > 0) {
            double frac = std::log(c + 1.0) / std::log(sp.k + 1.0);
            auto span = std::chrono::duration_cast<std::chrono::milliseconds>(sp.max - sp.min);
            auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
                sp.max - std::chrono::milliseconds(static_cast<long long>(frac * span.count())));
            if (timeout < sp.min)
                timeout = std::chrono::duration_cast<std::chrono::milliseconds>(sp.min);
            sp.deadline = sp.start + timeout;
        }
        queue_broadcast(s.node, wire::encode_message(s));
        return;
    }
    if (e->n.state != node_state::alive) return;
    if (s.node == cfg_.name) {
        if (leaving_) return;
        refute(now, s.incarnation);
        log_->warn("memberlist: Refuting a suspect message (from: {})", s.from);
        return;
    }
    queue_broadcast(s.node, wire::encode_message(s));
    e->n.incarnation = s.incarnation;
    e->n.state = node_state::suspect;
    e->n.state_change = now;
    ++stats_.suspects_raised;

    // Lifeguard suspicion timer (suspicion.go).
    const auto& t = cfg_.timing;
    double n = static_cast<double>(nodes_.size());
    int k = t.suspicion_mult - 2;
    if (n - 2 < k) k = 0;
    double scale = std::max(1.0, std::log10(std::max(1.0, n)));
    auto min = std::chrono::duration_cast<duration>(t.probe_interval * t.suspicion_mult * scale);
    auto max = min * t.suspicion_max_timeout_mult;
    suspicion sp;
    sp.start = now;
    sp.min = min;
    sp.max = max;
    sp.k = k;
    sp.confirmers.insert(s.from);
    sp.deadline = now + (k == 0 ? min : max);
    sp.incarnation = s.incarnation;
    suspicions_[s.node] = sp;
    log_->info(
        "memberlist: Suspect {} ({}) reported by {}; timeout {}ms unless {} more peers "
        "confirm",
        s.node, e->n.addr.to_string(), s.from,
        std::chrono::duration_cast<std::chrono::milliseconds>(sp.deadline - now).count(), k);
}

void memberlist::expire_suspicion(time_point now, const std::string& name) {
    auto it = suspicions_.find(name);
    if (it == suspicions_.end()) return;
    auto sp = it->second;
    suspicions_.erase(it);
    auto* e = lookup(name);
    if (!e || e->n.state != node_state::suspect) return;
    log_->info(
        "memberlist: Marking {} ({}) as failed, suspect timeout reached ({} peer "
        "confirmations)",
        name, e->n.addr.to_string(), sp.confirmers.size() - 1);
    ++stats_.dead_declared;
    handle_dead(now, wire::dead{e->n.incarnation, name, cfg_.name});
}

void memberlist::handle_dead(time_point now, const wire::dead& d) {
    auto* e = lookup(d.node);
    if (!e) return;
    if (d.incarnation < e->n.incarnation) {
        ++stats_.stale_messages;
        return;
    }
    suspicions_.erase(d.node);
    if (e->n.state == node_state::dead || e->n.state == node_state::left) return;
    if (d.node == cfg_.name) {
        if (!leaving_) {
            refute(now, d.incarnation);
            log_->warn("memberlist: Refuting a dead message (from: {})", d.from);
        }
        return;
    }
    queue_broadcast(d.node, wire::encode_message(d));
    e->n.incarnation = d.incarnation;
    e->n.state = d.node == d.from ? node_state::left : node_state::dead;
    e->n.state_change = now;
    log_state_change(*e, "member");
    delegate_.notify_leave(now, e->n);
}

// ---- probing
// -------------------------------------------------------------------------------------

void memberlist::probe(time_point now) {
    if (probe_) return;  // still running (its deadline schedules the next one)
    std::size_t checked = 0;
    while (checked < nodes_.size()) {
        if (probe_index_ >= nodes_.size()) {
            reap_dead(now);
            std::shuffle(nodes_.begin(), nodes_.end(), rng_);
            probe_index_ = 0;
            if (nodes_.empty()) return;
        }
        auto& e = *nodes_[probe_index_++];
        ++checked;
        if (e.n.name == cfg_.name) continue;
        if (e.n.state == node_state::dead || e.n.state == node_state::left) continue;
        probe_node(now, e);
        return;
    }
}

void memberlist::probe_node(time_point now, node_entry& target) {
    ++stats_.probes;
    std::uint32_t seq = ++seq_no_;
    probe_ = std::make_unique<probe_state>();
    probe_->target = target.n.name;
    probe_->seq = seq;
    probe_->start = now;
    probe_->timeout_at = now + cfg_.timing.probe_timeout;
    probe_->deadline = now + probe_interval();
    ack_handler h;
    h.k = ack_handler::kind::probe;
    h.sent = now;
    h.expires = probe_->deadline;
    acks_[seq] = h;
    wire::ping p{seq, target.n.name, cfg_.advertise.ip, cfg_.advertise.port, cfg_.name};
    if (target.n.state == node_state::suspect) {
        // Tell a suspect it is suspected so it can refute quickly.
        wire::suspect s{target.n.incarnation, target.n.name, cfg_.name};
        send_compound(target.n.addr, target.n.name,
                      {wire::encode_message(p), wire::encode_message(s)});
    } else {
        send_packet(target.n.addr, target.n.name, wire::encode_message(p), true);
    }
}

void memberlist::push_pull_random(time_point now) {
    std::vector<node_entry*> candidates;
    for (auto& e : nodes_) {
        if (e->n.name != cfg_.name && e->n.state == node_state::alive)
            candidates.push_back(e.get());
    }
    if (candidates.empty()) return;
    auto* pick =
        candidates[std::uniform_int_distribution<std::size_t>(0, candidates.size() - 1)(rng_)];
    start_push_pull(now, pick->n.addr, pick->n.name, false, nullptr);
}

bytes memberlist::local_state_bytes(bool join) {
    wire::push_pull pp;
    pp.join = join;
    for (const auto& e : nodes_) {
        wire::push_node_state s;
        s.name = e->n.name;
        s.addr = e->n.addr.ip;
        s.port = e->n.addr.port;
        s.meta = e->n.meta;
        s.incarnation = e->n.incarnation;
        s.state = static_cast<std::int64_t>(e->n.state);
        s.vsn.assign(e->n.vsn.begin(), e->n.vsn.end());
        pp.nodes.push_back(std::move(s));
    }
    pp.user_state = delegate_.local_state(join);
    return wire::encode_push_pull(pp);
}

void memberlist::start_push_pull(time_point now, const node_addr& to, const std::string& to_node,
                                 bool join, std::shared_ptr<pending_join> pj) {
    ++stats_.push_pulls;
    auto enc = encode_stream_message(local_state_bytes(join), true);
    std::uint64_t id = next_stream_id_++;
    if (!enc) {
        if (pj) {
            pj->errors.push_back(fmt::format("Failed to join {}: cannot encode state: {}",
                                             to.to_string(),
                                             wire::make_error_code(enc.error()).message()));
            if (--pj->outstanding == 0 && pj->done) pj->done(pj->joined, pj->errors);
        }
        return;
    }
    if (pj) stream_joins_[id] = pj;
    out_.streams.push_back(
        {id, stream_kind::push_pull, to, to_node, std::move(*enc), now + cfg_.timing.tcp_timeout});
}

void memberlist::join(time_point now, const std::vector<std::pair<std::string, node_addr>>& peers,
                      join_callback done) {
    auto pj = std::make_shared<pending_join>();
    pj->outstanding = static_cast<int>(peers.size());
    pj->done = std::move(done);
    if (peers.empty()) {
        if (pj->done) pj->done(0, {"no addresses to join"});
        return;
    }
    for (const auto& [name, addr] : peers) start_push_pull(now, addr, name, true, pj);
}

std::string memberlist::verify_protocol(const std::vector<wire::push_node_state>& remote) const {
    // Ranges over every alive node we know and every alive node the peer knows (state.go).
    int max_pmin = 0, min_pmax = 255, max_dmin = 0, min_dmax = 255;
    auto take = [&](const std::uint8_t* v) {
        max_pmin = std::max<int>(max_pmin, v[0]);
        min_pmax = std::min<int>(min_pmax, v[1]);
        max_dmin = std::max<int>(max_dmin, v[3]);
        min_dmax = std::min<int>(min_dmax, v[4]);
    };
    for (const auto& e : nodes_)
        if (e->n.state == node_state::alive) take(e->n.vsn.data());
    for (const auto& r : remote)
        if (r.state == static_cast<std::int64_t>(wire::node_state_type::alive) && r.vsn.size() >= 6)
            take(r.vsn.data());
    auto check = [&](const std::string& name, const std::uint8_t* v) -> std::string {
        if (v[2] < max_pmin || v[2] > min_pmax)
            return fmt::format("Node '{}' protocol version ({}) is incompatible: [{}, {}]", name,
                               v[2], max_pmin, min_pmax);
        if (v[5] < max_dmin || v[5] > min_dmax)
            return fmt::format("Node '{}' delegate protocol version ({}) is incompatible: [{}, {}]",
                               name, v[5], max_dmin, min_dmax);
        return {};
    };
    for (const auto& e : nodes_)
        if (e->n.state == node_state::alive)
            if (auto err = check(e->n.name, e->n.vsn.data()); !err.empty()) return err;
    for (const auto& r : remote)
        if (r.state == static_cast<std::int64_t>(wire::node_state_type::alive) && r.vsn.size() >= 6)
            if (auto err = check(r.name, r.vsn.data()); !err.empty()) return err;
    return {};
}

void memberlist::merge_remote(time_point now, const wire::push_pull& pp, const node_addr& from) {
    (void)from;
    for (const auto& r : pp.nodes) {
        std::uint16_t port = r.port ? r.port : cfg_.advertise.port;
        switch (static_cast<wire::node_state_type>(r.state)) {
            case wire::node_state_type::alive: {
                wire::alive a{r.incarnation, r.name, r.addr, port, r.meta, r.vsn};
                handle_alive(now, a, false, true);
                break;
            }
            case wire::node_state_type::left:
                handle_dead(now, wire::dead{r.incarnation, r.name, r.name});
                break;
            case wire::node_state_type::dead:
            case wire::node_state_type::suspect:
                // Never declare dead from a push/pull; suspect and let the timer decide.
                handle_suspect(now, wire::suspect{r.incarnation, r.name, cfg_.name});
                break;
            default:
                break;
        }
    }
    if (!pp.user_state.empty()) delegate_.merge_remote_state(now, pp.user_state, pp.join);
}

namespace {
// The veto checks shared by both sides of a push/pull.
std::vector<node> as_nodes(const wire::push_pull& pp, std::uint16_t default_port) {
    std::vector<node> out;
    for (const auto& r : pp.nodes) {
        node n;
        n.name = r.name;
        n.addr = {r.addr, r.port ? r.port : default_port};
        n.meta = r.meta;
        n.incarnation = r.incarnation;
        n.state = static_cast<node_state>(std::clamp<std::int64_t>(r.state, 0, 3));
        if (r.vsn.size() >= 6) std::copy_n(r.vsn.begin(), 6, n.vsn.begin());
        out.push_back(std::move(n));
    }
    return out;
}
}  // namespace

bytes memberlist::on_stream(time_point now, const node_addr& from,
                            const wire::stream_message& msg) {
    if (const auto* p = std::get_if<wire::ping>(&msg.body)) {
        if (!p->node.empty() && p->node != cfg_.name) {
            ++stats_.ping_wrong_node;
            log_->warn("memberlist: Got ping for unexpected node '{}' from {} (TCP)", p->node,
                       from.to_string());
            return {};
        }
        auto r = encode_stream_message(wire::encode_message(wire::ack_resp{p->seq_no, {}}), false);
        return r ? *r : bytes{};
    }
    if (const auto* pp = std::get_if<wire::push_pull>(&msg.body)) {
        // Reply first (as memberlist does), then merge.
        auto reply = encode_stream_message(local_state_bytes(pp->join), false);
        std::string err = verify_protocol(pp->nodes);
        if (err.empty()) {
            auto nodes = as_nodes(*pp, cfg_.advertise.port);
            err = delegate_.notify_merge(nodes);
        }
        if (!err.empty()) {
            ++stats_.streams_refused;
            log_->error("memberlist: Failed push/pull merge with {} (TCP): {}", from.to_string(),
                        err);
        } else {
            merge_remote(now, *pp, from);
        }
        return reply ? *reply : bytes{};
    }
    if (const auto* u = std::get_if<wire::user_stream>(&msg.body)) {
        delegate_.notify_user_msg(now, u->payload);
        return {};
    }
    ++stats_.streams_refused;
    log_->warn("memberlist: unexpected {} message on an inbound stream from {} (TCP)",
               wire::to_string(msg.type), from.to_string());
    return {};
}

void memberlist::on_stream_reply(time_point now, std::uint64_t id,
                                 std::expected<wire::stream_message, std::string> reply) {
    if (auto pit = stream_pings_.find(id); pit != stream_pings_.end()) {
        std::uint32_t seq = pit->second;
        stream_pings_.erase(pit);
        bool ok = false;
        std::string why;
        if (!reply) {
            why = reply.error();
        } else if (const auto* a = std::get_if<wire::ack_resp>(&reply->body)) {
            ok = a->seq_no == seq;
            if (!ok) why = fmt::format("ack with sequence {} (expected {})", a->seq_no, seq);
        } else {
            why = fmt::format("unexpected {} reply", wire::to_string(reply->type));
        }
        if (ok) {
            ++stats_.tcp_fallback_ok;
            if (probe_ && probe_->seq == seq) probe_->tcp_ok = true;
        } else {
            ++stats_.tcp_fallback_failed;
            log_->debug("memberlist: Failed fallback TCP ping: {}", why);
        }
        return;
    }
    std::shared_ptr<pending_join> pj;
    if (auto jit = stream_joins_.find(id); jit != stream_joins_.end()) {
        pj = jit->second;
        stream_joins_.erase(jit);
    }
    std::string err;
    if (!reply) {
        err = reply.error();
    } else if (const auto* e = std::get_if<wire::err_resp>(&reply->body)) {
        err = "remote error: " + e->error;
    } else if (const auto* pp = std::get_if<wire::push_pull>(&reply->body)) {
        err = verify_protocol(pp->nodes);
        if (err.empty()) err = delegate_.notify_merge(as_nodes(*pp, cfg_.advertise.port));
        if (err.empty()) {
            merge_remote(now, *pp, {});
        } else {
            err = "Merge canceled: " + err;
        }
    } else {
        err = fmt::format("unexpected {} reply to push/pull", wire::to_string(reply->type));
    }
    if (!err.empty()) log_->warn("memberlist: push/pull failed: {}", err);
    if (pj) {
        if (err.empty()) {
            ++pj->joined;
        } else {
            pj->errors.push_back(err);
        }
        if (--pj->outstanding == 0 && pj->done) pj->done(pj->joined, pj->errors);
    }
}

// ---- timers
// --------------------------------------------------------------------------------------

void memberlist::reap_dead(time_point now) {
    std::erase_if(nodes_, [&](const std::unique_ptr<node_entry>& e) {
        bool gone = (e->n.state == node_state::dead || e->n.state == node_state::left) &&
                    e->n.name != cfg_.name &&
                    now - e->n.state_change > cfg_.timing.gossip_to_the_dead_time;
        if (gone) by_name_.erase(e->n.name);
        return gone;
    });
}

void memberlist::gossip(time_point now) {
    std::vector<node_entry*> candidates;
    for (auto& e : nodes_) {
        if (e->n.name == cfg_.name) continue;
        bool recent_dead = (e->n.state == node_state::dead || e->n.state == node_state::left) &&
                           now - e->n.state_change < cfg_.timing.gossip_to_the_dead_time;
        if (e->n.state == node_state::alive || e->n.state == node_state::suspect || recent_dead)
            candidates.push_back(e.get());
    }
    std::shuffle(candidates.begin(), candidates.end(), rng_);
    if (candidates.size() > static_cast<std::size_t>(cfg_.timing.gossip_nodes))
        candidates.resize(static_cast<std::size_t>(cfg_.timing.gossip_nodes));
    for (auto* target : candidates) {
        auto opts = packet_encode_options(target->n.name);
        std::size_t budget = static_cast<std::size_t>(cfg_.timing.udp_buffer_size);
        std::size_t overhead = compound_header_overhead + wire::packet_overhead(opts);
        if (budget <= overhead) return;
        std::size_t limit = budget - overhead;
        auto msgs = broadcasts_.get(compound_part_overhead, limit, retransmit_limit());
        std::size_t used = 0;
        for (const auto& m : msgs) used += m.size() + compound_part_overhead;
        if (used < limit) {
            for (auto& e : delegate_.get_broadcasts(compound_part_overhead + user_msg_overhead,
                                                    limit - used)) {
                bytes m;
                m.push_back(static_cast<std::uint8_t>(wire::message_type::user));
                m.insert(m.end(), e.begin(), e.end());
                msgs.push_back(std::move(m));
            }
        }
        if (msgs.empty()) return;  // nothing to gossip to anyone
        send_compound(target->n.addr, target->n.name, std::move(msgs));
    }
}

void memberlist::tick(time_point now) {
    // Relay handlers: nack on timeout when the requester asked for one.
    for (auto it = acks_.begin(); it != acks_.end();) {
        if (it->second.expires > now) {
            ++it;
            continue;
        }
        if (it->second.k == ack_handler::kind::relay && it->second.want_nack) {
            wire::nack_resp n{it->second.requester_seq};
            send_packet(it->second.requester, it->second.requester_node, wire::encode_message(n),
                        false);
        }
        it = acks_.erase(it);
    }

    if (probe_ && !probe_->indirect_sent && now >= probe_->timeout_at) {
        probe_->indirect_sent = true;
        auto* target = lookup(probe_->target);
        if (target) {
            std::vector<node_entry*> peers;
            for (auto& e : nodes_) {
                if (e->n.name != cfg_.name && e->n.name != probe_->target &&
                    e->n.state == node_state::alive)
                    peers.push_back(e.get());
            }
            std::shuffle(peers.begin(), peers.end(), rng_);
            if (peers.size() > static_cast<std::size_t>(cfg_.timing.indirect_checks))
                peers.resize(static_cast<std::size_t>(cfg_.timing.indirect_checks));
            for (auto* peer : peers) {
                wire::indirect_ping_req req;
                req.seq_no = probe_->seq;
                req.target = target->n.addr.ip;
                req.port = target->n.addr.port;
                req.node = target->n.name;
                req.nack = peer->n.pmax() >= 4;
                req.source_addr = cfg_.advertise.ip;
                req.source_port = cfg_.advertise.port;
                req.source_node = cfg_.name;
                if (req.nack) ++probe_->expected_nacks;
                send_packet(peer->n.addr, peer->n.name, wire::encode_message(req), true);
            }
            bool tcp = target->n.pmax() >= 3 &&
                       (!cfg_.tcp_ping_allowed || cfg_.tcp_ping_allowed(target->n));
            if (tcp) {
                wire::ping p{probe_->seq, target->n.name, cfg_.advertise.ip, cfg_.advertise.port,
                             cfg_.name};
                auto enc = encode_stream_message(wire::encode_message(p), true);
                if (enc) {
                    std::uint64_t id = next_stream_id_++;
                    stream_pings_[id] = probe_->seq;
                    probe_->tcp_stream = id;
                    out_.streams.push_back({id, stream_kind::ping, target->n.addr, target->n.name,
                                            std::move(*enc), probe_->deadline});
                }
            }
        }
    }

    if (probe_ && now >= probe_->deadline) {
        auto p = std::move(probe_);
        acks_.erase(p->seq);
        auto* target = lookup(p->target);
        if (target && p->tcp_ok) {
            log_->warn(
                "memberlist: Was able to connect to {} ({}) over TCP but UDP probes failed, "
                "network may be misconfigured",
                target->n.name, target->n.addr.to_string());
        } else if (target) {
            ++stats_.probes_failed;
            if (p->expected_nacks > 0) {
                adjust_awareness(std::max(0, p->expected_nacks - p->nacks));
            } else {
                adjust_awareness(1);
            }
            log_->info("memberlist: Suspect {} ({}) has failed, no acks received (UDP)",
                       target->n.name, target->n.addr.to_string());
            handle_suspect(now, wire::suspect{target->n.incarnation, target->n.name, cfg_.name});
        }
    }

    for (auto it = suspicions_.begin(); it != suspicions_.end();) {
        if (it->second.deadline <= now) {
            std::string name = it->first;
            ++it;
            expire_suspicion(now, name);
        } else {
            ++it;
        }
    }

    if (now >= next_gossip_) {
        next_gossip_ = now + cfg_.timing.gossip_interval;
        gossip(now);
    }
    if (now >= next_probe_ && !probe_) {
        next_probe_ = now + probe_interval();
        probe(now);
    }
    if (now >= next_push_pull_) {
        auto interval = cfg_.timing.push_pull_interval;
        std::size_t n = nodes_.size();
        if (n > 32) {  // util.go pushPullScale
            double mult = std::ceil(std::log2(static_cast<double>(n)) - std::log2(32.0)) + 1.0;
            interval = std::chrono::duration_cast<std::chrono::milliseconds>(interval * mult);
        }
        next_push_pull_ = now + interval;
        push_pull_random(now);
    }
}

time_point memberlist::next_wakeup() const {
    time_point t = std::min({next_gossip_, next_push_pull_, next_probe_});
    if (probe_) {
        t = std::min(t, probe_->deadline);
        if (!probe_->indirect_sent) t = std::min(t, probe_->timeout_at);
    }
    for (const auto& [seq, h] : acks_) t = std::min(t, h.expires);
    for (const auto& [name, s] : suspicions_) t = std::min(t, s.deadline);
    return t;
}

}  // namespace meshfed::wan
