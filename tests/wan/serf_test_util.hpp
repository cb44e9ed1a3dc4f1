#pragma once
// Helpers for tests/wan/serf_*_test.cpp and coordinate_test.cpp: hex conversion, a fake
// gossip_host that records what serf asks of memberlist, node builders, a virtual clock.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/support/hex.hpp"

#include "wan/host.hpp"
#include "wan/node.hpp"
#include "wan/serf_messages.hpp"

namespace meshfed::wan::serf_testing {

inline std::vector<std::uint8_t> hex(std::string_view h) { return meshfed::test::from_hex(h); }
using meshfed::test::to_hex;

// A Consul server's WAN tags (pass consul_server_problem()).
inline tag_map consul_tags(std::string dc = "dc1") {
    return {{"role", "consul"}, {"dc", std::move(dc)},
            {"port", "8300"},   {"vsn", "2"},
            {"vsn_min", "2"},   {"vsn_max", "3"},
            {"raft_vsn", "3"},  {"build", "1.17.0:abcd1234"},
            {"segment", ""},    {"id", "0f3c2c2e-1111-2222-3333-444455556666"},
            {"ft_fs", "1"},     {"ft_si", "1"}};
}

inline node make_node(const std::string& name, std::uint8_t last_octet, std::uint16_t port = 8302,
                      const tag_map& tags = consul_tags()) {
    node n;
    n.name = name;
    n.addr = node_addr{{10, 0, 0, last_octet}, port};
    n.meta = encode_tags(tags);
    n.incarnation = 1;
    n.state = node_state::alive;
    n.vsn = {1, 5, 2, 2, 5, 4};
    return n;
}

struct sent_packet {
    node_addr to;
    std::string to_node;
    std::vector<std::uint8_t> msg;
};

struct join_call {
    std::vector<std::pair<std::string, node_addr>> peers;
    gossip_host::join_callback done;
};

class fake_host final : public gossip_host {
  public:
    explicit fake_host(node self) : self_(std::move(self)) { nodes.push_back(self_); }
    const node& local() const override { return self_; }
    std::vector<node> members() const override { return nodes; }
    std::size_t num_nodes() const override { return nodes.size(); }
    int retransmit_mult() const override { return mult; }
    void update_meta(time_point) override { ++update_meta_calls; }
    void send_user_packet(const node_addr& to, const std::string& to_node,
                          std::span<const std::uint8_t> serf_msg) override {
        packets.push_back({to, to_node, {serf_msg.begin(), serf_msg.end()}});
    }
    void join(time_point, const std::vector<std::pair<std::string, node_addr>>& peers,
              join_callback done) override {
        joins.push_back({peers, std::move(done)});
    }
    void leave(time_point) override { ++leave_calls; }

    node self_;
    std::vector<node> nodes;
    int mult = 4;
    int update_meta_calls = 0;
    int leave_calls = 0;
    std::vector<sent_packet> packets;
    std::vector<join_call> joins;
};

// A virtual clock starting at an arbitrary epoch.
struct virtual_clock {
    time_point now = time_point{} + std::chrono::hours(1000);
    time_point advance(duration d) { return now += d; }
};

}  // namespace meshfed::wan::serf_testing
