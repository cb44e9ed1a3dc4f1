#pragma once
// What the serf layer needs from memberlist, as an interface so serf can be tested against a
// fake (memberlist implements it). Same threading as memberlist: one owner, no locking.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "wan/node.hpp"

namespace meshfed::wan {

class gossip_host {
  public:
    virtual ~gossip_host() = default;
    virtual const node& local() const = 0;
    virtual std::vector<node> members() const = 0;  // every known node, any state
    virtual std::size_t num_nodes() const = 0;      // list length incl. dead/left not yet reaped
    virtual int retransmit_mult() const = 0;
    // Re-advertise our meta (tags changed): alive with incarnation + 1.
    virtual void update_meta(time_point now) = 0;
    // A UDP user message (serf bytes, without memberlist's 0x08) straight to an address.
    virtual void send_user_packet(const node_addr& to, const std::string& to_node,
                                  std::span<const std::uint8_t> serf_msg) = 0;
    using join_callback = std::function<void(int joined, std::vector<std::string> errors)>;
    virtual void join(time_point now, const std::vector<std::pair<std::string, node_addr>>& peers,
                      join_callback done) = 0;
    virtual void leave(time_point now) = 0;
};

}  // namespace meshfed::wan
