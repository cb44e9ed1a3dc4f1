#pragma once
// A virtual clock and a fake network for memberlist state machines: packets and streams are
// delivered in memory after a fixed latency, links can be cut per direction and per transport.
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "wan/memberlist.hpp"

namespace meshfed::test {

using namespace std::chrono_literals;
using wan::time_point;

// Records what memberlist tells its delegate; meta and user state are empty (no serf).
struct recording_delegate : wan::delegate {
    std::vector<std::string> joins, leaves, updates;
    std::string merge_veto;
    wan::bytes meta;
    wan::bytes node_meta(std::size_t) override { return meta; }
    void notify_user_msg(time_point, std::span<const std::uint8_t>) override {}
    std::vector<wan::bytes> get_broadcasts(std::size_t, std::size_t) override { return {}; }
    wan::bytes local_state(bool) override { return {}; }
    void merge_remote_state(time_point, std::span<const std::uint8_t>, bool) override {}
    void notify_join(time_point, const wan::node& n) override { joins.push_back(n.name); }
    void notify_leave(time_point, const wan::node& n) override { leaves.push_back(n.name); }
    void notify_update(time_point, const wan::node& n) override { updates.push_back(n.name); }
    std::string notify_merge(std::span<const wan::node>) override { return merge_veto; }
    std::string notify_alive(const wan::node&) override { return {}; }
    wan::bytes ack_payload() override { return {}; }
    void notify_ping_complete(time_point, const wan::node&, wan::duration,
                              std::span<const std::uint8_t>) override {}
};

class sim_network {
  public:
    struct member {
        std::string name;
        wan::node_addr addr;
        std::unique_ptr<recording_delegate> del;
        std::unique_ptr<wan::memberlist> ml;
        bool down = false;  // crashed: receives and sends nothing
    };

    explicit sim_network(wan::gossip_config timing) : timing_(timing) {}

    member& add(const std::string& name, std::shared_ptr<wan::wire::keyring> keys = nullptr,
                const std::string& label = "") {
        auto m = std::make_unique<member>();
        m->name = name;
        m->addr = *wan::node_addr::parse("127.0.0." + std::to_string(members_.size() + 1), 8302);
        m->del = std::make_unique<recording_delegate>();
        wan::memberlist_config cfg;
        cfg.name = name;
        cfg.advertise = m->addr;
        cfg.timing = timing_;
        cfg.keys = std::move(keys);
        cfg.label = label;
        cfg.seed = 1000 + members_.size();
        m->ml = std::make_unique<wan::memberlist>(cfg, *m->del, now_);
        members_.push_back(std::move(m));
        return *members_.back();
    }

    member* by_addr(const wan::node_addr& a) {
        for (auto& m : members_)
            if (m->addr == a) return m.get();
        return nullptr;
    }
    member& operator[](const std::string& name) {
        for (auto& m : members_)
            if (m->name == name) return *m;
        throw std::out_of_range(name);
    }

    // Cut UDP (or TCP) from a to b.
    void block_udp(const std::string& a, const std::string& b) { udp_blocked_.insert({a, b}); }
    void block_tcp(const std::string& a, const std::string& b) { tcp_blocked_.insert({a, b}); }

    void join(const std::string& who, const std::string& target) {
        auto& w = (*this)[who];
        auto& t = (*this)[target];
        w.ml->join(now_, {{t.name, t.addr}}, [this, who](int n, std::vector<std::string> errs) {
            join_results_[who] = {n, errs};
        });
        flush();
    }

    // Runs the virtual clock forward, delivering everything on the way.
    void run_for(wan::duration d) {
        time_point end = now_ + d;
        int guard = 0;
        while (now_ < end && ++guard < 10'000'000) {
            time_point next = end;
            for (auto& m : members_)
                if (!m->down) next = std::min(next, m->ml->next_wakeup());
            if (!pending_.empty()) next = std::min(next, pending_.begin()->first);
            now_ = std::max(now_, next);
            deliver_due();
            for (auto& m : members_)
                if (!m->down && m->ml->next_wakeup() <= now_) m->ml->tick(now_);
            flush();
        }
    }

    // Runs until `done()` or `limit`; returns the virtual time it took (or limit + 1s).
    wan::duration run_until(const std::function<bool()>& done, wan::duration limit) {
        time_point start = now_;
        while (now_ - start < limit) {
            if (done()) return now_ - start;
            run_for(100ms);
        }
        return limit + 1s;
    }

    time_point now() const { return now_; }
    std::map<std::string, std::pair<int, std::vector<std::string>>> join_results_;

    // The state `observer` has for `subject` (nullopt: unknown).
    std::optional<wan::node_state> state_of(const std::string& observer,
                                            const std::string& subject) {
        const auto* n = (*this)[observer].ml->find(subject);
        if (!n) return std::nullopt;
        return n->state;
    }

  private:
    void flush() {
        for (auto& m : members_) {
            auto out = m->ml->take_outbox();
            if (m->down) continue;
            for (auto& p : out.packets) {
                auto* dst = by_addr(p.to);
                if (!dst || udp_blocked_.contains({m->name, dst->name})) continue;
                pending_.emplace(now_ + latency_,
                                 [this, dst, from = m->addr, data = std::move(p.data)] {
                                     if (!dst->down) dst->ml->on_packet(now_, from, data);
                                 });
            }
            for (auto& s : out.streams) {
                auto* dst = by_addr(s.to);
                member* src = m.get();
                pending_.emplace(now_ + latency_, [this, src, dst, s = std::move(s)] {
                    std::expected<wan::wire::stream_message, std::string> reply =
                        std::unexpected(std::string("connection refused"));
                    if (dst && !dst->down && !tcp_blocked_.contains({src->name, dst->name})) {
                        wan::wire::wire_stats stats;
                        auto req = wan::wire::decode_stream(
                            s.data, dst->ml->stream_decode_options(), true, stats);
                        if (!req) {
                            reply = std::unexpected(std::string("remote rejected the stream"));
                        } else {
                            auto bytes = dst->ml->on_stream(now_, src->addr, *req);
                            auto opts = src->ml->stream_decode_options();
                            opts.accept_label_header = false;
                            auto dec = wan::wire::decode_stream(bytes, opts, true, stats);
                            if (dec) {
                                reply = std::move(*dec);
                            } else {
                                reply = std::unexpected(std::string("EOF"));
                            }
                        }
                        flush();
                    }
                    if (!src->down) src->ml->on_stream_reply(now_, s.id, std::move(reply));
                });
            }
        }
    }

    void deliver_due() {
        while (!pending_.empty() && pending_.begin()->first <= now_) {
            auto fn = std::move(pending_.begin()->second);
            pending_.erase(pending_.begin());
            fn();
            flush();
        }
    }

    wan::gossip_config timing_;
    time_point now_{std::chrono::seconds(1000)};
    wan::duration latency_ = 1ms;
    std::vector<std::unique_ptr<member>> members_;
    std::multimap<time_point, std::function<void()>> pending_;
    std::set<std::pair<std::string, std::string>> udp_blocked_, tcp_blocked_;
};

inline wan::gossip_config fast_timing() {
    wan::gossip_config t;
    t.gossip_interval = 20ms;
    t.probe_interval = 100ms;
    t.probe_timeout = 50ms;
    t.suspicion_mult = 4;
    t.push_pull_interval = 1s;
    t.gossip_to_the_dead_time = 2s;
    t.tcp_timeout = 500ms;
    return t;
}

}  // namespace meshfed::test
