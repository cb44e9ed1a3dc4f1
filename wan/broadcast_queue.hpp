#pragma once
// memberlist's TransmitLimitedQueue (queue.go): gossip messages retransmitted up to
// RetransmitMult × ceil(log10(n+1)) times, least-transmitted first (then larger first), a new
// message about the same name replacing a queued one. Used by memberlist for alive/suspect/
// dead and by serf for its intents, events and queries.
// Threading: not thread-safe (owned by one state machine). Errors: none.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace meshfed::wan {

class broadcast_queue {
  public:
    // `name` identifies what the message is about ("" = unique, never replaced).
    void queue(std::string name, std::vector<std::uint8_t> msg);
    // Messages whose size + `overhead` each fit in `limit` bytes in total; each returned
    // message counts one transmit and leaves the queue after `retransmit_limit` transmits.
    std::vector<std::vector<std::uint8_t>> get(std::size_t overhead, std::size_t limit,
                                               int retransmit_limit);
    std::size_t size() const { return items_.size(); }
    // Drops the most-transmitted messages until at most `max` remain (memberlist Prune).
    void prune(std::size_t max);
    void clear() { items_.clear(); }

  private:
    struct item {
        std::string name;
        std::vector<std::uint8_t> msg;
        int transmits = 0;
        std::uint64_t id = 0;  // insertion order, newer = larger
    };
    std::vector<item> items_;
    std::uint64_t next_id_ = 1;
};

// RetransmitMult × ceil(log10(n + 1)) (memberlist util.go retransmitLimit).
int retransmit_limit(int retransmit_mult, std::size_t n);

}  // namespace meshfed::wan
