#pragma once
// Vocabulary shared by memberlist, serf and the transport: addresses, node records, the
// delegate interface memberlist calls upward. Plain data; no threading concerns.
#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "wan/wire/errors.hpp"

namespace meshfed::wan {

using clock = std::chrono::steady_clock;
using time_point = clock::time_point;
using duration = clock::duration;
using wire::bytes;

// An IP (4 or 16 bytes, as on the wire) and a port.
struct node_addr {
    bytes ip;
    std::uint16_t port = 0;
    std::string to_string() const;  // "1.2.3.4:8302" / "[::1]:8302"
    bool operator==(const node_addr&) const = default;
    auto operator<=>(const node_addr&) const = default;
    static std::optional<node_addr> parse(std::string_view ip, std::uint16_t port);
};

enum class node_state : std::uint8_t { alive = 0, suspect = 1, dead = 2, left = 3 };
const char* to_string(node_state s);

// memberlist protocol range we speak and the delegate (serf) range; see gossip-protocol.md §10.
inline constexpr std::uint8_t protocol_min = 1;
inline constexpr std::uint8_t protocol_max = 5;
inline constexpr std::uint8_t protocol_cur = 2;
inline constexpr std::size_t meta_max_size = 512;

struct node {
    std::string name;
    node_addr addr;
    bytes meta;
    std::uint32_t incarnation = 0;
    node_state state = node_state::alive;
    time_point state_change{};
    std::array<std::uint8_t, 6> vsn{};  // pmin pmax pcur dmin dmax dcur
    std::uint8_t pmax() const { return vsn[1]; }
};

// What memberlist asks of the layer above (serf). Every callback runs inside a memberlist call
// and gets that call's `now`.
class delegate {
  public:
    virtual ~delegate() = default;
    virtual bytes node_meta(std::size_t limit) = 0;
    // A UDP user message (the bytes after memberlist's 0x08 type byte).
    virtual void notify_user_msg(time_point now, std::span<const std::uint8_t> msg) = 0;
    // Up to `limit` bytes of the layer's own broadcasts, each costing `overhead` extra bytes.
    virtual std::vector<bytes> get_broadcasts(std::size_t overhead, std::size_t limit) = 0;
    virtual bytes local_state(bool join) = 0;
    virtual void merge_remote_state(time_point now, std::span<const std::uint8_t> state,
                                    bool join) = 0;
    virtual void notify_join(time_point now, const node& n) = 0;
    virtual void notify_leave(time_point now, const node& n) = 0;
    virtual void notify_update(time_point now, const node& n) = 0;
    // Vetoes: a non-empty text refuses the merge (join) or ignores the alive message.
    virtual std::string notify_merge(std::span<const node> peers) = 0;
    virtual std::string notify_alive(const node& peer) = 0;
    // Ping delegate (serf: Vivaldi coordinates in direct acks).
    virtual bytes ack_payload() = 0;
    virtual void notify_ping_complete(time_point now, const node& peer, duration rtt,
                                      std::span<const std::uint8_t> payload) = 0;
};

}  // namespace meshfed::wan
