// The memberlist state machine over a fake network with a virtual clock.
#include "wan/memberlist.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/wan/memberlist_sim.hpp"
#include "wan/broadcast_queue.hpp"

using namespace std::chrono_literals;
using meshfed::test::fast_timing;
using meshfed::test::sim_network;
using meshfed::wan::node_state;
using ::testing::Contains;

namespace {

bool all_see(sim_network& net, const std::vector<std::string>& names, node_state st) {
    for (const auto& a : names)
        for (const auto& b : names)
            if (net.state_of(a, b) != st) return false;
    return true;
}

}  // namespace

TEST(BroadcastQueue, RetransmitLimitAndReplacement) {
    meshfed::wan::broadcast_queue q;
    q.queue("a", {1, 2, 3});
    q.queue("a", {4});  // replaces the first
    q.queue("", {5, 5});
    auto got = q.get(2, 1000, 2);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0], (std::vector<std::uint8_t>{5, 5}));  // larger first among equals
    EXPECT_EQ(got[1], (std::vector<std::uint8_t>{4}));
    EXPECT_EQ(q.get(2, 1000, 2).size(), 2u);
    EXPECT_EQ(q.size(), 0u);  // both reached the limit of 2 transmits
    q.queue("", std::vector<std::uint8_t>(100, 1));
    EXPECT_TRUE(q.get(2, 50, 2).empty());  // does not fit
    EXPECT_EQ(meshfed::wan::retransmit_limit(4, 1), 4);
    EXPECT_EQ(meshfed::wan::retransmit_limit(4, 9), 4);
    EXPECT_EQ(meshfed::wan::retransmit_limit(4, 10), 8);
}

TEST(Memberlist, ThreeNodesJoinAndConverge) {
    sim_network net(fast_timing());
    net.add("a.dc1");
    net.add("b.dc1");
    net.add("c.dc2");
    net.join("b.dc1", "a.dc1");
    net.join("c.dc2", "b.dc1");
    auto took = net.run_until(
        [&] {
            return all_see(net, {"a.dc1", "b.dc1", "c.dc2"}, node_state::alive);
        },
        10s);
    EXPECT_LT(took, 3s);
    EXPECT_EQ(net.join_results_["b.dc1"].first, 1);
    EXPECT_THAT(net["a.dc1"].del->joins, Contains("c.dc2"));
    // Stays healthy: probes succeed, nobody is suspected.
    net.run_for(5s);
    EXPECT_TRUE(all_see(net, {"a.dc1", "b.dc1", "c.dc2"}, node_state::alive));
    EXPECT_EQ(net["a.dc1"].ml->stats().probes_failed, 0u);
    EXPECT_GT(net["a.dc1"].ml->stats().probes, 10u);
}

TEST(Memberlist, CrashedNodeIsSuspectedThenDeclaredDead) {
    sim_network net(fast_timing());
    for (auto n : {"a", "b", "c", "d"}) net.add(n);
    net.join("b", "a");
    net.join("c", "a");
    net.join("d", "a");
    ASSERT_LT(net.run_until(
                  [&] {
                      return all_see(net, {"a", "b", "c", "d"}, node_state::alive);
                  },
                  10s),
              10s);
    net["d"].down = true;
    // SuspicionMult 4 x max(1, log10(4)) x 100ms = 400ms minimum; k = 2 confirmations.
    auto took = net.run_until(
        [&] {
            return net.state_of("a", "d") == node_state::dead &&
                   net.state_of("b", "d") == node_state::dead &&
                   net.state_of("c", "d") == node_state::dead;
        },
        20s);
    EXPECT_LT(took, 5s);
    EXPECT_THAT(net["a"].del->leaves, Contains("d"));
    EXPECT_GE(net["a"].ml->stats().suspects_raised + net["b"].ml->stats().suspects_raised +
                  net["c"].ml->stats().suspects_raised,
              1u);
}

TEST(Memberlist, GracefulLeaveIsSeenAsLeft) {
    sim_network net(fast_timing());
    for (auto n : {"a", "b", "c"}) net.add(n);
    net.join("b", "a");
    net.join("c", "a");
    ASSERT_LT(net.run_until(
                  [&] {
                      return all_see(net, {"a", "b", "c"}, node_state::alive);
                  },
                  10s),
              10s);
    net["c"].ml->leave(net.now());
    auto took = net.run_until(
        [&] {
            return net.state_of("a", "c") == node_state::left &&
                   net.state_of("b", "c") == node_state::left;
        },
        5s);
    EXPECT_LT(took, 2s);
}

TEST(Memberlist, SuspectedLiveNodeRefutes) {
    sim_network net(fast_timing());
    for (auto n : {"a", "b", "c"}) net.add(n);
    net.join("b", "a");
    net.join("c", "a");
    ASSERT_LT(net.run_until(
                  [&] {
                      return all_see(net, {"a", "b", "c"}, node_state::alive);
                  },
                  10s),
              10s);
    // b cannot reach c over UDP at all, and nobody relays (a is cut too) for a while: c gets
    // suspected, but c hears the suspicion through gossip and refutes with a higher incarnation.
    auto inc_before = net["c"].ml->incarnation();
    net.block_udp("b", "c");
    net.block_tcp("b", "c");
    net.block_udp("a", "c");
    net.block_tcp("a", "c");
    net.run_for(2s);
    EXPECT_GT(net["c"].ml->incarnation(), inc_before);
    EXPECT_GE(net["c"].ml->stats().refutes, 1u);
}

TEST(Memberlist, IndirectProbeKeepsNodeAliveWhenDirectPathFails) {
    sim_network net(fast_timing());
    for (auto n : {"a", "b", "c"}) net.add(n);
    net.join("b", "a");
    net.join("c", "a");
    ASSERT_LT(net.run_until(
                  [&] {
                      return all_see(net, {"a", "b", "c"}, node_state::alive);
                  },
                  10s),
              10s);
    net.block_udp("a", "c");
    net.block_tcp("a", "c");
    net.run_for(5s);
    EXPECT_EQ(net.state_of("a", "c"), node_state::alive);
    EXPECT_GT(net["b"].ml->stats().indirect_probes, 0u);
}

TEST(Memberlist, TcpFallbackPreventsSuspicionAndCounts) {
    sim_network net(fast_timing());
    for (auto n : {"a", "b"}) net.add(n);
    net.join("b", "a");
    ASSERT_LT(net.run_until([&] { return all_see(net, {"a", "b"}, node_state::alive); }, 10s), 10s);
    net.block_udp("a", "b");
    net.run_for(3s);
    EXPECT_EQ(net.state_of("a", "b"), node_state::alive);
    EXPECT_GT(net["a"].ml->stats().tcp_fallback_ok, 0u);
    EXPECT_EQ(net["a"].ml->stats().probes_failed, 0u);
}

TEST(Memberlist, EncryptedPoolRefusesWrongKey) {
    auto key = [](std::uint8_t fill) {
        auto k = std::make_shared<meshfed::wan::wire::keyring>();
        EXPECT_TRUE(k->add_key(std::vector<std::uint8_t>(32, fill)));
        return k;
    };
    sim_network net(fast_timing());
    net.add("a", key(1));
    net.add("b", key(1));
    net.add("c", key(2));
    net.join("b", "a");
    net.join("c", "a");
    net.run_for(3s);
    EXPECT_EQ(net.state_of("a", "b"), node_state::alive);
    EXPECT_EQ(net.state_of("a", "c"), std::nullopt);
    EXPECT_EQ(net.join_results_["c"].first, 0);
    EXPECT_EQ(net.join_results_["b"].first, 1);
}

TEST(Memberlist, MergeVetoRefusesJoin) {
    sim_network net(fast_timing());
    net.add("a");
    net.add("b");
    net["b"].del->merge_veto = "Member 'a' is not a server";
    net.join("b", "a");
    net.run_for(1s);
    ASSERT_EQ(net.join_results_["b"].first, 0);
    EXPECT_THAT(net.join_results_["b"].second,
                Contains("Merge canceled: Member 'a' is not a server"));
}

TEST(Memberlist, LabelsSeparatePools) {
    sim_network net(fast_timing());
    net.add("a", nullptr, "wan-pool-1");
    net.add("b", nullptr, "wan-pool-1");
    net.add("c", nullptr, "other-pool");
    net.join("b", "a");
    net.join("c", "a");
    net.run_for(2s);
    EXPECT_EQ(net.state_of("a", "b"), node_state::alive);
    EXPECT_EQ(net.state_of("a", "c"), std::nullopt);
    EXPECT_EQ(net.join_results_["c"].first, 0);
}
