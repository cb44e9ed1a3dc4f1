#include "mesh/federation.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <optional>
#include <utility>

#include <fmt/format.h>
#include <spdlog/logger.h>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "common/asio_compat.hpp"
#include "common/log.hpp"

namespace meshfed::mesh {

bool same_federation_state(const rpc::federation_state& a, const rpc::federation_state& b) {
    if (a.datacenter != b.datacenter) return false;
    if (a.mesh_gateways.size() != b.mesh_gateways.size()) return false;
    for (std::size_t i = 0; i < a.mesh_gateways.size(); ++i) {
        const auto& x = a.mesh_gateways[i];
        const auto& y = b.mesh_gateways[i];
        if (x.node_.has_value() != y.node_.has_value()) return false;
        if (x.node_ && !rpc::same_node(*x.node_, *y.node_)) return false;
        if (x.service.has_value() != y.service.has_value()) return false;
        if (x.service && !rpc::same_service(*x.service, *y.service)) return false;
        if (x.checks.size() != y.checks.size()) return false;
        for (std::size_t j = 0; j < x.checks.size(); ++j) {
            if (!rpc::same_check(x.checks[j], y.checks[j])) return false;
        }
    }
    return true;
}

federation_state_diff diff_federation_states(std::vector<rpc::federation_state> local,
                                             std::vector<rpc::federation_state> remote,
                                             std::uint64_t last_remote_index) {
    auto by_dc = [](const rpc::federation_state& a, const rpc::federation_state& b) {
        return a.datacenter < b.datacenter;
    };
    std::sort(local.begin(), local.end(), by_dc);
    std::sort(remote.begin(), remote.end(), by_dc);
    federation_state_diff out;
    std::size_t li = 0, ri = 0;
    while (li < local.size() && ri < remote.size()) {
        if (local[li].datacenter == remote[ri].datacenter) {
            if (remote[ri].modify_index > last_remote_index) {
                out.updates.push_back(std::move(remote[ri]));
            }
            ++li;
            ++ri;
        } else if (local[li].datacenter < remote[ri].datacenter) {
            out.deletions.push_back(std::move(local[li++]));  // gone from the primary
        } else {
            out.updates.push_back(std::move(remote[ri++]));  // new in the primary
        }
    }
    for (; li < local.size(); ++li) out.deletions.push_back(std::move(local[li]));
    for (; ri < remote.size(); ++ri) out.updates.push_back(std::move(remote[ri]));
    return out;
}

namespace {

using bytes = std::vector<std::uint8_t>;
using steady = std::chrono::steady_clock;

constexpr std::string_view kind_mesh_gateway = "mesh-gateway";
constexpr const char* method_list = "FederationState.List";
constexpr const char* method_get = "FederationState.Get";
constexpr const char* method_apply = "FederationState.Apply";
constexpr const char* method_dump = "Internal.ServiceDump";

// One routine's lifetime. stop sets `stopped` and ends the current suspension (a pending call or
// a pause) through `end_wait`; a poke ends it only while `pokeable` (anti-entropy's blocking
// dump).
struct routine {
    bool stopped = false;
    bool pokeable = false;
    std::function<void()> end_wait;
    void interrupt() {
        if (!end_wait) return;
        auto f = std::move(end_wait);
        end_wait = nullptr;
        f();
    }
};

// Go's rate.Limiter (token bucket, Wait reserves a token) plus the doubling error backoff of
// Consul's retryLoopBackoff / RetryWaiter.
class pacer {
  public:
    pacer(double rate, int burst, std::chrono::milliseconds base, std::chrono::milliseconds max)
        : rate_(rate),
          burst_(std::max(1, burst)),
          tokens_(std::max(1, burst)),
          base_(base),
          max_(max) {}

    steady::duration next_wait(steady::time_point now) {
        if (rate_ <= 0) return steady::duration::zero();
        if (last_ != steady::time_point{}) {
            const double elapsed = std::chrono::duration<double>(now - last_).count();
            tokens_ = std::min<double>(burst_, tokens_ + elapsed * rate_);
        }
        last_ = now;
        tokens_ -= 1.0;
        if (tokens_ >= 0) return steady::duration::zero();
        return std::chrono::duration_cast<steady::duration>(
            std::chrono::duration<double>(-tokens_ / rate_));
    }
    steady::duration failed() {
        ++failures_;
        const unsigned shift = std::min<std::uint64_t>(failures_ - 1, 30);
        auto wait = base_ * (std::int64_t{1} << shift);
        return std::min(wait, max_);
    }
    void succeeded() { failures_ = 0; }

  private:
    double rate_;
    int burst_;
    double tokens_;
    steady::time_point last_{};
    std::chrono::milliseconds base_, max_;
    std::uint64_t failures_ = 0;
};

struct call_outcome {
    bool interrupted = false;
    std::string error;
    bytes body;
};

// nullopt: the wait was interrupted (stop or poke); else the decoded reply or an error text.
template <class T>
using rpc_result = std::optional<std::expected<T, std::string>>;

std::string list_dcs(const std::vector<rpc::federation_state>& states) {
    std::string out = "[";
    for (std::size_t i = 0; i < states.size(); ++i) {
        if (i) out += ' ';
        out += states[i].datacenter;
    }
    return out + "]";
}

}  // namespace

struct federation_states::impl {
    asio::any_io_executor ex;
    federation_config cfg;
    call_fn call;
    apply_fn apply_local;
    datacenters_fn known_datacenters;
    gateway_locator* locator;
    now_fn now;
    std::shared_ptr<spdlog::logger> log = get_logger("agent.server");
    std::shared_ptr<spdlog::logger> repl_log =
        get_logger("agent.server.replication.federation_state");
    std::shared_ptr<spdlog::logger> loc_log = get_logger("agent.server.gateway_locator");
    federation_stats stats;

    std::shared_ptr<routine> locator_r, ae_r, repl_r, prune_r;
    // What anti-entropy last made sure is stored for our DC, and the ModifyIndex of our DC's
    // state the locator refresh last saw (nullopt: absent), to wake anti-entropy early when our
    // stored state changes under it (Consul's blocking query watches both).
    std::optional<rpc::federation_state> ae_last_dump;
    bool own_seen = false;
    std::optional<std::uint64_t> own_modify_index;

    bool primary() const { return cfg.datacenter == cfg.primary_datacenter; }

    // ---- suspensions -----------------------------------------------------------------------
    template <class Token>
    static auto async_call(std::shared_ptr<impl> self, std::shared_ptr<routine> r, std::string dc,
                           std::string method, bytes body, Token token) {
        return asio::async_initiate<Token, void(call_outcome)>(
            [](auto handler, std::shared_ptr<impl> self, std::shared_ptr<routine> r, std::string dc,
               std::string method, bytes body) {
                using handler_t = std::decay_t<decltype(handler)>;
                auto slot = std::make_shared<std::optional<handler_t>>(std::move(handler));
                auto ex = self->ex;
                // Completes the wait once, always through the executor (replies may come
                // synchronously from inside `call`).
                auto finish = [slot, ex](call_outcome out) {
                    if (!slot->has_value()) return;
                    auto h = std::move(**slot);
                    slot->reset();
                    asio::post(ex, [h = std::move(h), out = std::move(out)]() mutable {
                        std::move(h)(std::move(out));
                    });
                };
                r->end_wait = [finish] { finish(call_outcome{true, {}, {}}); };
                self->call(std::move(dc), std::move(method), std::move(body),
                           [finish](std::string err, bytes b) {
                               finish(call_outcome{false, std::move(err), std::move(b)});
                           });
            },
            token, std::move(self), std::move(r), std::move(dc), std::move(method),
            std::move(body));
    }

    static asio::awaitable<call_outcome> raw_call(std::shared_ptr<impl> self,
                                                  std::shared_ptr<routine> r, std::string dc,
                                                  std::string method, bytes body, bool pokeable) {
        if (r->stopped) co_return call_outcome{true, {}, {}};
        r->pokeable = pokeable;
        auto out = co_await async_call(self, r, std::move(dc), std::move(method), std::move(body),
                                       asio::use_awaitable);
        r->pokeable = false;
        r->end_wait = nullptr;
        co_return out;
    }

    template <class Reply, class Request>
    static asio::awaitable<rpc_result<Reply>> typed_call(std::shared_ptr<impl> self,
                                                         std::shared_ptr<routine> r, std::string dc,
                                                         std::string method, Request req,
                                                         bool pokeable = false) {
        auto body = rpc::encode_to_bytes(req);
        auto out = co_await raw_call(self, r, dc, method, std::move(body), pokeable);
        if (out.interrupted) co_return std::nullopt;
        if (!out.error.empty()) co_return std::unexpected(std::move(out.error));
        auto v = rpc::decode_from_bytes<Reply>(out.body);
        if (!v) {
            ++self->stats.decode_errors;
            co_return std::unexpected(
                fmt::format("cannot decode {} reply from {}: {}", method, dc, v.error().message()));
        }
        co_return std::move(*v);
    }

    // false when the routine was stopped.
    static asio::awaitable<bool> pause(std::shared_ptr<impl> self, std::shared_ptr<routine> r,
                                       steady::duration d) {
        if (r->stopped) co_return false;
        if (d <= steady::duration::zero()) co_return true;
        auto timer = std::make_shared<asio::steady_timer>(self->ex, d);
        r->end_wait = [timer] { timer->cancel(); };
        co_await timer->async_wait(nothrow_awaitable);
        r->end_wait = nullptr;
        co_return !r->stopped;
    }

    rpc::query_options blocking(std::uint64_t min_index) const {
        rpc::query_options o;
        o.min_query_index = min_index;
        o.max_query_time = cfg.timing.query_wait;
        return o;
    }

    pacer loop_pacer() const {
        const auto& t = cfg.timing;
        return pacer(t.loop_rate, t.loop_burst, t.loop_backoff_base, t.loop_backoff_max);
    }

    // ---- locator refresh (Consul's GatewayLocator.Run) ---------------------------------------
    static asio::awaitable<void> locator_loop(std::shared_ptr<impl> self,
                                              std::shared_ptr<routine> r) {
        auto pace = self->loop_pacer();
        std::uint64_t index = 0;
        for (;;) {
            if (!co_await pause(self, r, pace.next_wait(steady::now()))) co_return;
            rpc::dc_specific_request req;
            req.datacenter = self->cfg.datacenter;
            req.options = self->blocking(index);
            auto res = co_await typed_call<rpc::indexed_federation_states>(
                self, r, self->cfg.datacenter, method_list, std::move(req));
            if (!res || r->stopped) co_return;
            if (!*res) {
                ++self->stats.locator_errors;
                self->loc_log->error(
                    "error tracking primary and local mesh gateways: datacenter={} rpc={} "
                    "error={}",
                    self->cfg.datacenter, method_list, res->error());
                if (!co_await pause(self, r, pace.failed())) co_return;
                continue;
            }
            pace.succeeded();
            ++self->stats.locator_refreshes;
            auto& reply = **res;
            self->locator->update(reply.states);
            self->notice_own_state(reply.states);
            index = reply.meta.index;
        }
    }

    void notice_own_state(const std::vector<rpc::federation_state>& states) {
        const rpc::federation_state* own = nullptr;
        for (const auto& st : states) {
            if (st.datacenter == cfg.datacenter) own = &st;
        }
        std::optional<std::uint64_t> marker;
        if (own) marker = own->modify_index;
        if (own_seen && marker == own_modify_index) return;
        own_seen = true;
        own_modify_index = marker;
        if (!ae_r || !ae_r->pokeable || !ae_last_dump) return;
        if (own && same_federation_state(*own, *ae_last_dump)) return;
        ++stats.ae_woken;
        log->debug(
            "federation state of datacenter {} changed in the store; re-running anti-entropy",
            cfg.datacenter);
        ae_r->interrupt();
    }

    // ---- anti-entropy (Consul's federationStateAntiEntropySync) ------------------------------
    static asio::awaitable<void> ae_loop(std::shared_ptr<impl> self, std::shared_ptr<routine> r) {
        auto pace = self->loop_pacer();
        std::uint64_t index = 0;
        for (;;) {
            if (!co_await pause(self, r, pace.next_wait(steady::now()))) co_return;
            ++self->stats.ae_runs;
            auto res = co_await ae_once(self, r, index);
            if (r->stopped) co_return;
            if (!res) {  // woken: our stored state changed; look again without blocking
                index = 0;
                continue;
            }
            if (!*res) {
                ++self->stats.ae_errors;
                self->log->error(
                    "error performing anti-entropy sync of federation state: datacenter={} "
                    "primary_datacenter={} {}",
                    self->cfg.datacenter, self->cfg.primary_datacenter, res->error());
                if (!co_await pause(self, r, pace.failed())) co_return;
                continue;
            }
            pace.succeeded();
            index = **res;
        }
    }

    static asio::awaitable<rpc_result<std::uint64_t>> ae_once(std::shared_ptr<impl> self,
                                                              std::shared_ptr<routine> r,
                                                              std::uint64_t index) {
        const auto& local = self->cfg.datacenter;
        rpc::service_dump_request dq;
        dq.datacenter = local;
        dq.service_kind = std::string(kind_mesh_gateway);
        dq.use_service_kind = true;
        dq.options = self->blocking(index);
        dq.options.require_consistent = true;
        auto dump = co_await typed_call<rpc::indexed_nodes_with_gateways>(
            self, r, local, method_dump, std::move(dq), /*pokeable=*/true);
        if (!dump) co_return std::nullopt;
        if (!*dump)
            co_return std::unexpected(fmt::format("rpc={} error={}", method_dump, dump->error()));

        rpc::federation_state_query gq;
        gq.datacenter = local;
        gq.target_datacenter = local;
        gq.options.require_consistent = true;
        auto got =
            co_await typed_call<rpc::federation_state_response>(self, r, local, method_get, gq);
        if (!got) co_return std::nullopt;
        if (!*got)
            co_return std::unexpected(fmt::format("rpc={} error={}", method_get, got->error()));

        const std::uint64_t next_index = (*dump)->meta.index;
        rpc::federation_state curr;
        curr.datacenter = local;
        curr.mesh_gateways = std::move((*dump)->nodes);
        self->ae_last_dump = curr;
        if ((*got)->state && same_federation_state(*(*got)->state, curr)) {
            ++self->stats.ae_skipped;
            self->log->trace(
                "federation state anti-entropy sync skipped; already up to date: datacenter={}",
                local);
            co_return next_index;
        }

        curr.updated_at =
            rpc::go_time::from(self->now ? self->now() : std::chrono::system_clock::now());
        const std::size_t gateways = curr.mesh_gateways.size();
        rpc::federation_state_request req;
        req.datacenter = self->cfg.primary_datacenter;
        req.op = std::string(rpc::federation_state_upsert);
        req.state = std::move(curr);
        auto applied = co_await raw_call(self, r, self->cfg.primary_datacenter, method_apply,
                                         rpc::encode_to_bytes(req), false);
        if (applied.interrupted) co_return std::nullopt;
        if (!applied.error.empty()) {
            co_return std::unexpected(fmt::format(
                "error performing federation state anti-entropy sync: rpc={} datacenter={} "
                "error={}",
                method_apply, self->cfg.primary_datacenter, applied.error));
        }
        ++self->stats.ae_synced;
        self->log->info(
            "federation state anti-entropy synced: datacenter={} primary_datacenter={} "
            "mesh_gateways={}",
            local, self->cfg.primary_datacenter, gateways);
        co_return next_index;
    }

    // ---- replication (Consul's Replicator + FederationStateReplicator) -----------------------
    static asio::awaitable<void> replication_loop(std::shared_ptr<impl> self,
                                                  std::shared_ptr<routine> r) {
        const auto& t = self->cfg.timing;
        pacer pace(t.replication_rate, t.replication_burst, t.replication_backoff_base,
                   t.replication_backoff_max);
        std::uint64_t last_remote = 0;
        for (;;) {
            if (!co_await pause(self, r, pace.next_wait(steady::now()))) co_return;
            ++self->stats.replication_rounds;
            auto res = co_await replicate_once(self, r, last_remote);
            if (!res || r->stopped) co_return;
            if (!*res) {
                ++self->stats.replication_errors;
                // The next round is a full sync.
                last_remote = 0;
                self->stats.last_remote_index = 0;
                self->repl_log->warn(
                    "replication: federation state replication error (will retry if still "
                    "leader): datacenter={} primary_datacenter={} {}",
                    self->cfg.datacenter, self->cfg.primary_datacenter, res->error());
                if (!co_await pause(self, r, pace.failed())) co_return;
                continue;
            }
            pace.succeeded();
            last_remote = **res;
            self->stats.last_remote_index = last_remote;
            self->repl_log->debug(
                "replication: federation state replication completed through remote index {}",
                last_remote);
        }
    }

    static asio::awaitable<rpc_result<std::uint64_t>> replicate_once(std::shared_ptr<impl> self,
                                                                     std::shared_ptr<routine> r,
                                                                     std::uint64_t last_remote) {
        const auto& primary = self->cfg.primary_datacenter;
        const auto& local = self->cfg.datacenter;
        rpc::dc_specific_request rq;
        rq.datacenter = primary;
        rq.options = self->blocking(last_remote);
        rq.options.allow_stale = true;
        auto remote =
            co_await typed_call<rpc::indexed_federation_states>(self, r, primary, method_list, rq);
        if (!remote) co_return std::nullopt;
        // The fetch's outcome is the locator's signal of whether the primary is reachable.
        self->locator->report_replication(*remote ? std::string() : remote->error(), true);
        if (!*remote) {
            co_return std::unexpected(
                fmt::format("failed to retrieve federation states: rpc={} datacenter={} error={}",
                            method_list, primary, remote->error()));
        }
        const std::uint64_t remote_index = (*remote)->meta.index;
        self->repl_log->debug("replication: finished fetching federation states: {}",
                              (*remote)->states.size());

        rpc::dc_specific_request lq;
        lq.datacenter = local;
        auto mine =
            co_await typed_call<rpc::indexed_federation_states>(self, r, local, method_list, lq);
        if (!mine) co_return std::nullopt;
        if (!*mine) {
            co_return std::unexpected(fmt::format(
                "failed to retrieve local federation states: rpc={} datacenter={} error={}",
                method_list, local, mine->error()));
        }

        // A primary that went back (rebuilt, restored) gets a full sync.
        if (remote_index < last_remote) {
            ++self->stats.replication_full_syncs;
            self->repl_log->warn(
                "replication: federation state replication remote index moved backwards ({} to "
                "{}), forcing a full federation state sync: primary_datacenter={}",
                last_remote, remote_index, primary);
            last_remote = 0;
        }
        auto diff = diff_federation_states(std::move((*mine)->states), std::move((*remote)->states),
                                           last_remote);
        self->repl_log->debug(
            "replication: federation state replication - deletions: {} {}, updates: {} {}",
            diff.deletions.size(), list_dcs(diff.deletions), diff.updates.size(),
            list_dcs(diff.updates));

        auto deleted =
            co_await apply_batch(self, r, std::move(diff.deletions), rpc::federation_state_delete);
        if (!deleted) co_return std::nullopt;
        if (!*deleted) co_return std::unexpected(deleted->error());
        auto updated =
            co_await apply_batch(self, r, std::move(diff.updates), rpc::federation_state_upsert);
        if (!updated) co_return std::nullopt;
        if (!*updated) co_return std::unexpected(updated->error());
        co_return remote_index;
    }

    // Writes `states` to the local store one by one, spaced by apply_interval (Consul's
    // FederationStateReplicationApplyLimit).
    static asio::awaitable<rpc_result<std::size_t>> apply_batch(
        std::shared_ptr<impl> self, std::shared_ptr<routine> r,
        std::vector<rpc::federation_state> states, std::string_view op) {
        const bool upsert = op == rpc::federation_state_upsert;
        for (std::size_t i = 0; i < states.size(); ++i) {
            rpc::federation_state_request req;
            req.datacenter = self->cfg.datacenter;
            req.op = std::string(op);
            req.state = std::move(states[i]);
            // Keep the primary's raft index; the local one is assigned by the local write.
            if (upsert) req.state->primary_modify_index = req.state->modify_index;
            const std::string dc = req.state->datacenter;
            if (auto ok = self->apply_local(std::move(req)); !ok) {
                co_return std::unexpected(
                    fmt::format("failed to apply local federation state {}: datacenter={} error={}",
                                upsert ? "updates" : "deletions", dc, ok.error()));
            }
            ++(upsert ? self->stats.replicated_updates : self->stats.replicated_deletions);
            if (i + 1 < states.size() &&
                !co_await pause(self, r, self->cfg.timing.apply_interval)) {
                co_return std::nullopt;
            }
        }
        co_return states.size();
    }

    // ---- pruning (primary; Consul's federationStatePruning) ----------------------------------
    static asio::awaitable<void> prune_loop(std::shared_ptr<impl> self,
                                            std::shared_ptr<routine> r) {
        for (;;) {
            if (!co_await pause(self, r, self->cfg.timing.prune_interval)) co_return;
            auto err = co_await prune_once(self, r);
            if (r->stopped) co_return;
            if (!err.empty()) {
                ++self->stats.prune_errors;
                self->log->error("error pruning stale federation states: datacenter={} {}",
                                 self->cfg.datacenter, err);
            }
        }
    }

    static asio::awaitable<std::string> prune_once(std::shared_ptr<impl> self,
                                                   std::shared_ptr<routine> r) {
        auto known =
            self->known_datacenters ? self->known_datacenters() : std::vector<std::string>{};
        // An empty list means the router knows nothing yet, not that every DC left.
        if (known.empty()) co_return std::string();
        rpc::dc_specific_request lq;
        lq.datacenter = self->cfg.datacenter;
        auto mine = co_await typed_call<rpc::indexed_federation_states>(
            self, r, self->cfg.datacenter, method_list, lq);
        if (!mine) co_return std::string();
        if (!*mine) co_return fmt::format("rpc={} error={}", method_list, mine->error());
        for (const auto& st : (*mine)->states) {
            const auto& dc = st.datacenter;
            if (dc == self->cfg.datacenter ||
                std::find(known.begin(), known.end(), dc) != known.end()) {
                continue;
            }
            self->log->info("pruning stale federation state: datacenter={}", dc);
            rpc::federation_state_request req;
            req.datacenter = self->cfg.datacenter;
            req.op = std::string(rpc::federation_state_delete);
            req.state = rpc::federation_state{};
            req.state->datacenter = dc;
            if (auto ok = self->apply_local(std::move(req)); !ok) {
                co_return fmt::format("Failed to delete federation state {}: {}", dc, ok.error());
            }
            ++self->stats.pruned;
        }
        co_return std::string();
    }

    // ---- lifetime --------------------------------------------------------------------------
    void spawn(asio::awaitable<void> a, const char* name) {
        auto l = log;
        asio::co_spawn(ex, std::move(a), [l, name](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                l->error("federation state routine {} ended: {}", name, ex.what());
            } catch (...) {
                l->error("federation state routine {} ended", name);
            }
        });
    }

    static void end(std::shared_ptr<routine>& r) {
        if (!r) return;
        r->stopped = true;
        r->interrupt();
        r.reset();
    }
};

federation_states::federation_states(asio::any_io_executor ex, federation_config cfg, call_fn call,
                                     apply_fn apply_local, datacenters_fn known_datacenters,
                                     gateway_locator& locator, now_fn now)
    : impl_(std::make_shared<impl>()) {
    impl_->ex = std::move(ex);
    impl_->cfg = std::move(cfg);
    if (impl_->cfg.primary_datacenter.empty())
        impl_->cfg.primary_datacenter = impl_->cfg.datacenter;
    impl_->call = std::move(call);
    impl_->apply_local = std::move(apply_local);
    impl_->known_datacenters = std::move(known_datacenters);
    impl_->locator = &locator;
    impl_->now = std::move(now);
}

federation_states::~federation_states() {
    stop();
}

void federation_states::start_locator_refresh() {
    auto& s = *impl_;
    if (s.locator_r) return;
    s.locator_r = std::make_shared<routine>();
    s.spawn(impl::locator_loop(impl_, s.locator_r), "gateway locator");
}

void federation_states::start_leader_routines() {
    auto& s = *impl_;
    if (s.ae_r) return;
    s.log->info("starting federation state routines: datacenter={} primary_datacenter={}",
                s.cfg.datacenter, s.cfg.primary_datacenter);
    s.ae_r = std::make_shared<routine>();
    s.spawn(impl::ae_loop(impl_, s.ae_r), "anti-entropy");
    if (s.primary()) {
        s.prune_r = std::make_shared<routine>();
        s.spawn(impl::prune_loop(impl_, s.prune_r), "pruning");
    } else {
        // As Consul's startFederationStateReplication: trust the replication signal, starting
        // from a success so the local gateways are used first.
        s.locator->set_use_replication_signal(true);
        s.locator->report_replication({}, false);
        s.repl_r = std::make_shared<routine>();
        s.spawn(impl::replication_loop(impl_, s.repl_r), "replication");
    }
}

void federation_states::stop_leader_routines() {
    auto& s = *impl_;
    if (!s.ae_r) return;
    impl::end(s.ae_r);
    impl::end(s.prune_r);
    if (s.repl_r) {
        impl::end(s.repl_r);
        s.locator->set_use_replication_signal(false);
    }
    s.ae_last_dump.reset();
}

void federation_states::stop() {
    stop_leader_routines();
    impl::end(impl_->locator_r);
}

bool federation_states::leader_routines_running() const {
    return impl_->ae_r != nullptr;
}

const federation_stats& federation_states::stats() const {
    return impl_->stats;
}

}  // namespace meshfed::mesh
