#include "wan/broadcast_queue.hpp"

#include <algorithm>
#include <cmath>

namespace meshfed::wan {

int retransmit_limit(int retransmit_mult, std::size_t n) {
    double scale = std::ceil(std::log10(static_cast<double>(n) + 1.0));
    return retransmit_mult * static_cast<int>(scale);
}

void broadcast_queue::queue(std::string name, std::vector<std::uint8_t> msg) {
    if (!name.empty()) {
        std::erase_if(items_, [&](const item& i) { return i.name == name; });
    }
    items_.push_back({std::move(name), std::move(msg), 0, next_id_++});
}

std::vector<std::vector<std::uint8_t>> broadcast_queue::get(std::size_t overhead, std::size_t limit,
                                                            int retransmit_limit) {
    std::vector<std::vector<std::uint8_t>> out;
    if (items_.empty()) return out;
    // Least transmitted first; among equals the larger (then the newer) first.
    std::sort(items_.begin(), items_.end(), [](const item& a, const item& b) {
        if (a.transmits != b.transmits) return a.transmits < b.transmits;
        if (a.msg.size() != b.msg.size()) return a.msg.size() > b.msg.size();
        return a.id > b.id;
    });
    std::size_t used = 0;
    for (auto& i : items_) {
        std::size_t cost = i.msg.size() + overhead;
        if (used + cost > limit) continue;
        used += cost;
        out.push_back(i.msg);
        ++i.transmits;
    }
    std::erase_if(items_, [&](const item& i) { return i.transmits >= retransmit_limit; });
    return out;
}

void broadcast_queue::prune(std::size_t max) {
    if (items_.size() <= max) return;
    std::sort(items_.begin(), items_.end(),
              [](const item& a, const item& b) { return a.transmits < b.transmits; });
    items_.resize(max);
}

}  // namespace meshfed::wan
