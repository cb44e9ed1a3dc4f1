#include "mesh/gateway_locator.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>
#include <spdlog/logger.h>

#include "common/log.hpp"

namespace meshfed::mesh {
namespace {

// hclog renders a []string value as [a b c].
std::string list_text(const std::vector<std::string>& v) {
    std::string out = "[";
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (i) out += ' ';
        out += v[i];
    }
    out += ']';
    return out;
}

std::vector<std::string> merge_sorted_union(const std::vector<std::string>& a,
                                            const std::vector<std::string>& b) {
    std::vector<std::string> out;
    out.reserve(a.size() + b.size());
    std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
    return out;
}

}  // namespace

bool healthy_wanfed_gateway(const rpc::check_service_node& csn) {
    if (!csn.service) return false;
    auto it = csn.service->meta.find(std::string(meta_wan_federation_key));
    if (it == csn.service->meta.end() || it->second != "1") return false;
    return std::none_of(csn.checks.begin(), csn.checks.end(), [](const rpc::health_check& c) {
        return c.status == rpc::health_critical;
    });
}

std::optional<std::string> gateway_address(const rpc::check_service_node& csn, bool wan) {
    if (!csn.service || !csn.node_) return std::nullopt;
    const auto& svc = *csn.service;
    std::string host = svc.address;
    std::int64_t port = svc.port;
    if (wan) {
        if (auto it = svc.tagged_addresses.find("wan"); it != svc.tagged_addresses.end()) {
            host = it->second.address;
            if (it->second.port != 0) port = it->second.port;
        }
    }
    if (host.empty()) {
        const auto& n = *csn.node_;
        auto it = wan ? n.tagged_addresses.find("wan") : n.tagged_addresses.end();
        host = it != n.tagged_addresses.end() ? it->second : n.address;
    }
    if (host.empty() || port <= 0 || port > 65535) return std::nullopt;
    if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
    return fmt::format("{}:{}", host, port);
}

gateway_locator::gateway_locator(std::string datacenter, std::string primary_datacenter,
                                 std::uint64_t seed, std::shared_ptr<spdlog::logger> log)
    : datacenter_(std::move(datacenter)),
      primary_datacenter_(std::move(primary_datacenter)),
      log_(log ? std::move(log) : get_logger("agent.server.gateway_locator")),
      rng_(seed) {
    std::lock_guard lock(mu_);
    log_dial_mode_locked(through_local_locked());
    // As Consul's constructor: a synthetic success, so a new leader starts on local gateways.
    last_success_seq_ = ++event_seq_;
}

void gateway_locator::update(const std::vector<rpc::federation_state>& states) {
    std::vector<std::string> primary, local;
    std::uint64_t unusable = 0;
    for (const auto& st : states) {
        const bool is_local = st.datacenter == datacenter_;
        const bool is_primary = st.datacenter == primary_datacenter_;  // both in the primary
        if (!is_local && !is_primary) continue;
        for (const auto& csn : st.mesh_gateways) {
            if (!healthy_wanfed_gateway(csn)) continue;
            if (is_primary) {
                if (auto a = gateway_address(csn, true)) {
                    primary.push_back(std::move(*a));
                } else {
                    ++unusable;
                }
            }
            if (is_local) {
                if (auto a = gateway_address(csn, false)) {
                    local.push_back(std::move(*a));
                } else {
                    ++unusable;
                }
            }
        }
    }
    std::sort(primary.begin(), primary.end());
    std::sort(local.begin(), local.end());

    std::function<void()> ready;
    {
        std::lock_guard lock(mu_);
        ++stats_.updates;
        stats_.unusable += unusable;
        if (!states.empty()) seen_states_ = true;
        populated_ = true;
        bool changed = false;
        if (primary != primary_) {
            primary_ = std::move(primary);
            changed = true;
        }
        if (local != local_) {
            local_ = std::move(local);
            changed = true;
        }
        if (changed) {
            log_->info(
                "new cached locations of mesh gateways: datacenter={} primary_datacenter={} "
                "primary={} local={}",
                datacenter_, primary_datacenter_, list_text(primary_), list_text(local_));
        }
        if (!primary_ready_ && !primary_.empty()) {
            primary_ready_ = true;
            ready = std::move(ready_cb_);
            ready_cb_ = nullptr;
        }
    }
    if (ready) ready();
}

void gateway_locator::refresh_primary_fallback(std::vector<std::string> addrs) {
    std::sort(addrs.begin(), addrs.end());
    std::lock_guard lock(mu_);
    if (addrs == fallback_) return;
    fallback_ = std::move(addrs);
    log_->info(
        "updated fallback list of primary mesh gateways: primary_datacenter={} "
        "mesh_gateways={}",
        primary_datacenter_, list_text(fallback_));
}

std::string gateway_locator::pick_gateway(std::string_view dc) {
    std::lock_guard lock(mu_);
    ++stats_.picks;
    const auto addrs = candidates_locked(dc == primary_datacenter_);
    std::string item;
    if (addrs.size() == 1) {
        item = addrs.front();
    } else if (addrs.size() > 1) {
        std::uniform_int_distribution<std::size_t> pick(0, addrs.size() - 1);
        item = addrs[pick(rng_)];
    }
    if (item.empty()) ++stats_.empty_picks;
    log_->trace("picking gateway for transit: gateway={} source_datacenter={} dest_datacenter={}",
                item, datacenter_, dc);
    return item;
}

std::vector<std::string> gateway_locator::candidates(std::string_view dc) const {
    std::lock_guard lock(mu_);
    return candidates_locked(dc == primary_datacenter_);
}

std::vector<std::string> gateway_locator::candidates_locked(bool primary) const {
    if (!populated_) return {};
    if (!primary) return local_;
    if (datacenter_ == primary_datacenter_) return primary_;
    if (through_local_locked() && !local_.empty()) return local_;
    return merge_sorted_union(primary_, fallback_);
}

void gateway_locator::report_replication(const std::string& error, bool from_replication) {
    std::lock_guard lock(mu_);
    const bool before = through_local_locked();
    if (error.empty()) {
        ++stats_.replication_ok;
        last_success_seq_ = ++event_seq_;
        consecutive_failures_ = 0;
        // Data from the replicator means replication runs here: trust its signal.
        if (from_replication) use_replication_signal_ = true;
    } else {
        ++stats_.replication_err;
        last_failure_seq_ = ++event_seq_;
        ++consecutive_failures_;
    }
    const bool after = through_local_locked();
    if (before != after) {
        ++stats_.mode_flips;
        log_dial_mode_locked(after);
    }
}

void gateway_locator::set_use_replication_signal(bool on) {
    std::lock_guard lock(mu_);
    const bool before = through_local_locked();
    use_replication_signal_ = on;
    if (before != through_local_locked()) {
        ++stats_.mode_flips;
        log_dial_mode_locked(!before);
    }
}

bool gateway_locator::dial_primary_through_local_gateway() const {
    if (datacenter_ == primary_datacenter_) return false;  // not used in the primary
    std::lock_guard lock(mu_);
    return through_local_locked();
}

bool gateway_locator::through_local_locked() const {
    if (!use_replication_signal_) return true;  // followers trust the local gateways blindly
    if (last_success_seq_ == 0 && last_failure_seq_ == 0) return false;  // no data yet
    if (last_success_seq_ > last_failure_seq_) return true;
    return consecutive_failures_ < replication_failures_before_dialing_directly;
}

void gateway_locator::log_dial_mode_locked(bool through_local) const {
    if (datacenter_ == primary_datacenter_) return;  // meaningless in the primary
    if (through_local) {
        log_->info(
            "will dial the primary datacenter using our local mesh gateways if possible: "
            "datacenter={} primary_datacenter={} local_gateways={}",
            datacenter_, primary_datacenter_, list_text(local_));
    } else {
        log_->info(
            "will dial the primary datacenter through its mesh gateways: datacenter={} "
            "primary_datacenter={} primary_gateways={} fallback={} consecutive_failures={}",
            datacenter_, primary_datacenter_, list_text(primary_), list_text(fallback_),
            consecutive_failures_);
    }
}

std::vector<std::string> gateway_locator::primary_gateways() const {
    std::lock_guard lock(mu_);
    return primary_;
}
std::vector<std::string> gateway_locator::local_gateways() const {
    std::lock_guard lock(mu_);
    return local_;
}
std::vector<std::string> gateway_locator::primary_fallback() const {
    std::lock_guard lock(mu_);
    return fallback_;
}
bool gateway_locator::populated() const {
    std::lock_guard lock(mu_);
    return populated_;
}
bool gateway_locator::primary_gateways_ready() const {
    std::lock_guard lock(mu_);
    return primary_ready_;
}
bool gateway_locator::seen_federation_states() const {
    std::lock_guard lock(mu_);
    return seen_states_;
}
gateway_locator_stats gateway_locator::stats() const {
    std::lock_guard lock(mu_);
    return stats_;
}

void gateway_locator::on_primary_gateways_ready(std::function<void()> cb) {
    {
        std::lock_guard lock(mu_);
        if (!primary_ready_) {
            ready_cb_ = std::move(cb);
            return;
        }
    }
    if (cb) cb();
}

}  // namespace meshfed::mesh
