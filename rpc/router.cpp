#include "rpc/router.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace meshfed::rpc {

std::string server_info::addr() const {
    if (ip.find(':') != std::string::npos) return fmt::format("[{}]:{}", ip, port);
    return fmt::format("{}:{}", ip, port);
}

router::router(std::string local_dc, std::uint64_t seed)
    : local_dc_(std::move(local_dc)), rng_(seed ? seed : std::random_device{}()) {}

void router::set_servers(const std::vector<server_info>& servers) {
    std::map<std::string, std::vector<server_info>> next;
    for (const auto& s : servers) next[s.dc];  // every DC mentioned
    for (auto& [dc, list] : next) {
        // Keep the current order of servers that remain, then append new ones.
        if (auto it = by_dc_.find(dc); it != by_dc_.end()) {
            for (const auto& old : it->second) {
                auto found = std::find_if(
                    servers.begin(), servers.end(),
                    [&](const server_info& s) { return s.dc == dc && s.name == old.name; });
                if (found != servers.end()) list.push_back(*found);
            }
        }
        for (const auto& s : servers) {
            if (s.dc != dc) continue;
            bool have = std::any_of(list.begin(), list.end(),
                                    [&](const server_info& x) { return x.name == s.name; });
            if (!have) list.push_back(s);
        }
        std::stable_partition(list.begin(), list.end(),
                              [](const server_info& s) { return s.alive; });
    }
    by_dc_ = std::move(next);
}

std::expected<server_info, std::string> router::route(const std::string& dc) const {
    auto it = by_dc_.find(dc);
    if (it == by_dc_.end()) return std::unexpected(std::string(err_no_dc_path));
    if (it->second.empty()) return std::unexpected(std::string(err_dc_not_available));
    return it->second.front();
}

void router::failed(const server_info& s) {
    auto it = by_dc_.find(s.dc);
    if (it == by_dc_.end()) return;
    auto& list = it->second;
    auto pos = std::find_if(list.begin(), list.end(),
                            [&](const server_info& x) { return x.name == s.name; });
    if (pos == list.end()) return;
    std::rotate(pos, pos + 1, list.end());
}

void router::rebalance() {
    for (auto& [dc, list] : by_dc_) std::shuffle(list.begin(), list.end(), rng_);
}

std::vector<server_info> router::servers(const std::string& dc) const {
    auto it = by_dc_.find(dc);
    return it == by_dc_.end() ? std::vector<server_info>{} : it->second;
}

std::vector<std::string> router::datacenters(const rtt_fn& rtt) const {
    struct entry {
        std::string dc;
        std::optional<double> median;
    };
    std::vector<entry> dcs;
    for (const auto& [dc, list] : by_dc_) {
        entry e{dc, std::nullopt};
        if (rtt) {
            std::vector<double> v;
            for (const auto& s : list)
                if (auto d = rtt(s)) v.push_back(d->count());
            if (!v.empty()) {
                std::sort(v.begin(), v.end());
                e.median = v[v.size() / 2];
            }
        }
        dcs.push_back(std::move(e));
    }
    std::sort(dcs.begin(), dcs.end(), [&](const entry& a, const entry& b) {
        if ((a.dc == local_dc_) != (b.dc == local_dc_)) return a.dc == local_dc_;
        if (a.median.has_value() != b.median.has_value()) return a.median.has_value();
        if (a.median && b.median && *a.median != *b.median) return *a.median < *b.median;
        return a.dc < b.dc;
    });
    std::vector<std::string> out;
    for (auto& e : dcs) out.push_back(std::move(e.dc));
    if (std::find(out.begin(), out.end(), local_dc_) == out.end())
        out.insert(out.begin(), local_dc_);
    return out;
}

}  // namespace meshfed::rpc
