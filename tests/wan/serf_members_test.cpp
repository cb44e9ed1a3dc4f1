// serf members: tags in meta, memberlist callbacks, join/leave intents and Lamport clocks,
// graceful leave, force-leave, push/pull user state, reaping and reconnect on a virtual clock,
// Consul's WAN merge rule, the ping delegate (coordinates).
#include <gtest/gtest.h>

#include "tests/wan/serf_fixture.hpp"

namespace meshfed::wan {
namespace {

using namespace std::chrono_literals;
using serf_testing::consul_tags;
using serf_testing::hex;
using serf_testing::make_node;
using serf_testing::to_hex;
using fixture = serf_testing::serf_fixture;

using SerfMembers = fixture;

TEST_F(SerfMembers, NodeMetaIsTagsAndSetTagsEnforcesLimit) {
    EXPECT_EQ(s->node_meta(512), encode_tags(consul_tags("dc1")));
    tag_map huge = consul_tags("dc1");
    huge["big"] = std::string(600, 'x');
    auto r = s->set_tags(clock.now, huge);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), "Encoded length of tags exceeds limit of 512 bytes");
    EXPECT_EQ(host->update_meta_calls, 0);
    tag_map t = consul_tags("dc1");
    t["ft_new"] = "1";
    ASSERT_TRUE(s->set_tags(clock.now, t));
    EXPECT_EQ(host->update_meta_calls, 1);
    EXPECT_EQ(decode_tags(s->node_meta(512)).value(), t);
}

TEST_F(SerfMembers, LocalMemberAndJoinEvent) {
    auto local = s->local_member();
    EXPECT_EQ(local.name, "self.dc1");
    EXPECT_EQ(local.status, member_status::alive);
    EXPECT_EQ(local.tags.at("role"), "consul");
    add_peer("a.dc2", 2);
    ASSERT_EQ(member_events.size(), 1u);
    EXPECT_EQ(member_events[0].type, member_event_type::join);
    const member& m = member_events[0].m;
    EXPECT_EQ(m.name, "a.dc2");
    EXPECT_EQ(m.addr, (node_addr{{10, 0, 0, 2}, 8302}));
    EXPECT_EQ(m.tags.at("dc"), "dc1");
    EXPECT_EQ(m.protocol_max, 5);
    EXPECT_EQ(m.delegate_cur, 4);
    EXPECT_EQ(s->members().size(), 2u);
    EXPECT_EQ(s->stats().member_joins, 2u);  // self + a
}

TEST_F(SerfMembers, MemberlistLeaveWithoutIntentMeansFailed) {
    node a = add_peer("a.dc2", 2);
    a.state = node_state::dead;
    s->notify_leave(clock.now, a);
    EXPECT_EQ(status_of("a.dc2"), member_status::failed);
    ASSERT_EQ(member_events.size(), 2u);
    EXPECT_EQ(member_events[1].type, member_event_type::failed);
}

TEST_F(SerfMembers, LeaveIntentThenMemberlistDeadMeansLeft) {
    node a = add_peer("a.dc2", 2);
    receive(encode(msg_leave{5, "a.dc2", false}));
    EXPECT_EQ(status_of("a.dc2"), member_status::leaving);
    EXPECT_EQ(s->member_clock(), 6u);  // witnessed 5
    auto b = drain();
    ASSERT_EQ(b.size(), 1u);  // re-broadcast because it changed state
    EXPECT_EQ(decode_leave(b[0]).value(), (msg_leave{5, "a.dc2", false}));
    s->notify_leave(clock.now, a);
    EXPECT_EQ(status_of("a.dc2"), member_status::left);
    EXPECT_EQ(member_events.back().type, member_event_type::leave);
    // the same intent again: old news, not re-broadcast
    receive(encode(msg_leave{5, "a.dc2", false}));
    EXPECT_TRUE(drain().empty());
}

TEST_F(SerfMembers, JoinIntentRevivesLeavingMember) {
    add_peer("a.dc2", 2);
    receive(encode(msg_leave{3, "a.dc2", false}));
    EXPECT_EQ(status_of("a.dc2"), member_status::leaving);
    receive(encode(msg_join{2, "a.dc2"}));  // older: ignored
    EXPECT_EQ(status_of("a.dc2"), member_status::leaving);
    receive(encode(msg_join{4, "a.dc2"}));
    EXPECT_EQ(status_of("a.dc2"), member_status::alive);
    EXPECT_EQ(s->stats().join_intents, 2u);
}

TEST_F(SerfMembers, IntentsAboutUnknownNodesAreBuffered) {
    receive(encode(msg_join{7, "b.dc3"}));
    receive(encode(msg_leave{9, "b.dc3", false}));
    receive(encode(msg_leave{8, "b.dc3", false}));  // older than the buffered one
    EXPECT_EQ(s->stats().intents_buffered, 2u);
    EXPECT_EQ(drain().size(), 2u);  // only the two new intents were re-broadcast
    s->notify_join(clock.now, make_node("b.dc3", 3));
    EXPECT_EQ(status_of("b.dc3"), member_status::leaving);  // newest buffered intent: leave
    // Buffered intents expire after RecentIntentTimeout on the reap timer.
    receive(encode(msg_join{20, "c.dc3"}));
    clock.advance(5min + 16s);
    s->tick(clock.now);
    s->notify_join(clock.now, make_node("c.dc3", 4));
    receive(encode(msg_join{20, "c.dc3"}));  // applies to the member now: newer than 0
    EXPECT_EQ(status_of("c.dc3"), member_status::alive);
}

TEST_F(SerfMembers, LamportClockRules) {
    EXPECT_EQ(s->member_clock(), 1u);
    EXPECT_EQ(s->event_clock(), 1u);
    EXPECT_EQ(s->query_clock(), 1u);
    add_peer("a.dc2", 2);
    receive(encode(msg_join{10, "a.dc2"}));
    EXPECT_EQ(s->member_clock(), 11u);
    receive(encode(msg_join{3, "a.dc2"}));
    EXPECT_EQ(s->member_clock(), 11u);
    receive(encode(msg_join{11, "a.dc2"}));  // witnessing the current value increments
    EXPECT_EQ(s->member_clock(), 12u);
    // user event: LTime = clock, then increment
    ASSERT_TRUE(s->user_event(clock.now, "deploy", {'1'}, false));
    EXPECT_EQ(s->event_clock(), 2u);
    // push/pull witnesses LTime - 1
    msg_push_pull pp;
    pp.ltime = 50;
    pp.event_ltime = 30;
    pp.query_ltime = 20;
    s->merge_remote_state(clock.now, encode(pp), false);
    EXPECT_EQ(s->member_clock(), 50u);
    EXPECT_EQ(s->event_clock(), 30u);
    EXPECT_EQ(s->query_clock(), 20u);
    // A hostile maximum saturates instead of wrapping to 0.
    receive(encode(msg_join{UINT64_MAX, "a.dc2"}));
    EXPECT_EQ(s->member_clock(), UINT64_MAX);
}

TEST_F(SerfMembers, RefutesLeaveIntentAboutItself) {
    add_peer("a.dc2", 2);
    receive(encode(msg_leave{4, "self.dc1", false}));
    EXPECT_EQ(status_of("self.dc1"), member_status::alive);
    EXPECT_EQ(s->stats().refutes, 1u);
    auto b = drain();
    ASSERT_EQ(b.size(), 1u);
    auto j = decode_join(b[0]);
    ASSERT_TRUE(j);
    EXPECT_EQ(j->node, "self.dc1");
    EXPECT_EQ(j->ltime, 5u);
}

TEST_F(SerfMembers, GracefulLeaveSequence) {
    add_peer("a.dc2", 2);
    ASSERT_TRUE(s->leave(clock.now));
    EXPECT_EQ(s->state(), serf_state::leaving);
    EXPECT_EQ(status_of("self.dc1"), member_status::leaving);
    EXPECT_EQ(s->pending_broadcasts(), 1u);
    auto again = s->leave(clock.now);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error(), "Leave already in progress");
    auto b = s->get_broadcasts(2, 1400);
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(decode_leave(b[0]).value(), (msg_leave{1, "self.dc1", false}));
    while (s->pending_broadcasts() > 0) s->get_broadcasts(2, 1400);
    host->leave(clock.now);
    s->finish_leave();
    EXPECT_EQ(s->state(), serf_state::left);
    EXPECT_TRUE(s->leave(clock.now));  // already left: no-op
    // A join after leave is refused.
    std::string err;
    s->join(clock.now, {}, false, [&](int, std::vector<std::string> e) { err = e.at(0); });
    EXPECT_EQ(err, "Serf can't Join after Leave or Shutdown");
}

TEST_F(SerfMembers, LeaveWithoutAlivePeersQueuesNothing) {
    ASSERT_TRUE(s->leave(clock.now));
    EXPECT_EQ(s->pending_broadcasts(), 0u);
}

TEST_F(SerfMembers, ForceLeaveFailedMemberBecomesLeft) {
    node a = add_peer("a.dc2", 2);
    add_peer("b.dc2", 3);
    s->notify_leave(clock.now, a);
    ASSERT_EQ(status_of("a.dc2"), member_status::failed);
    ASSERT_TRUE(s->force_leave(clock.now, "a.dc2"));
    EXPECT_EQ(status_of("a.dc2"), member_status::left);
    EXPECT_EQ(member_events.back().type, member_event_type::leave);
    auto b = drain();
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(decode_leave(b[0])->node, "a.dc2");
    // prune: erased right away (reap event)
    ASSERT_TRUE(s->force_leave(clock.now, "a.dc2", true));
    EXPECT_EQ(status_of("a.dc2"), member_status::none);
    EXPECT_EQ(member_events.back().type, member_event_type::reap);
}

TEST_F(SerfMembers, LocalStateCarriesStatusTimesLeftMembersAndEventRing) {
    node a = add_peer("a.dc2", 2);
    add_peer("b.dc2", 3);
    receive(encode(msg_leave{6, "a.dc2", false}));
    s->notify_leave(clock.now, a);
    ASSERT_TRUE(s->user_event(clock.now, "deploy", {'v'}, true));
    auto pp = decode_push_pull(s->local_state(false));
    ASSERT_TRUE(pp);
    EXPECT_EQ(pp->ltime, s->member_clock());
    EXPECT_EQ(pp->status_ltimes,
              (std::map<std::string, std::uint64_t>{{"a.dc2", 6}, {"b.dc2", 0}, {"self.dc1", 0}}));
    EXPECT_EQ(pp->left_members, (std::vector<std::string>{"a.dc2"}));
    EXPECT_EQ(pp->events.size(), 512u);
    ASSERT_TRUE(pp->events[1].has_value());
    EXPECT_EQ(pp->events[1]->events.at(0).name, "deploy");
    EXPECT_EQ(pp->event_ltime, 2u);
}

TEST_F(SerfMembers, MergeRemoteStateAppliesIntentsAndReplaysEvents) {
    node a = add_peer("a.dc2", 2);
    add_peer("b.dc2", 3);
    s->notify_leave(clock.now, a);  // failed locally
    msg_push_pull pp;
    pp.ltime = 10;
    pp.status_ltimes = {{"a.dc2", 4}, {"b.dc2", 5}, {"new.dc9", 2}};
    pp.left_members = {"a.dc2"};
    pp.event_ltime = 3;
    pp.events.resize(8);
    pp.events[2] = user_events_slot{2, {{"deploy", {'x'}}}};
    pp.query_ltime = 1;
    s->merge_remote_state(clock.now, encode(pp), true);
    EXPECT_EQ(status_of("a.dc2"), member_status::left);  // leave intent LTime 5 > 0
    EXPECT_EQ(member_events.back().type, member_event_type::leave);
    ASSERT_EQ(user_events.size(), 1u);
    EXPECT_EQ(user_events[0].name, "deploy");
    EXPECT_EQ(user_events[0].ltime, 2u);
    EXPECT_EQ(s->stats().intents_buffered, 1u);  // new.dc9 unknown
    // Replaying the same state delivers nothing new.
    s->merge_remote_state(clock.now, encode(pp), false);
    EXPECT_EQ(user_events.size(), 1u);
    EXPECT_EQ(s->stats().push_pull_merged, 2u);
}

TEST_F(SerfMembers, MergeCapturedUserState14_5) {
    std::string h = "0286aa4576656e744c54696d6501a64576656e7473dc0200";
    for (int i = 0; i < 512; ++i) h += "c0";
    h += "a54c54696d6501ab4c6566744d656d6265727390aa51756572794c54696d6501ac5374617475734c54696d65"
         "7381a2733200";
    s->merge_remote_state(clock.now, hex(h), true);
    EXPECT_EQ(s->stats().push_pull_merged, 1u);
    EXPECT_EQ(s->member_clock(), 1u);
    EXPECT_EQ(s->stats().intents_buffered, 1u);  // s2 is not a member yet
}

TEST_F(SerfMembers, MergeRemoteStateDropsBadInput) {
    s->merge_remote_state(clock.now, {}, false);
    s->merge_remote_state(clock.now, hex("0080"), false);
    s->merge_remote_state(clock.now, hex("0286aa"), false);
    s->merge_remote_state(clock.now, hex("ee"), false);
    auto st = s->stats();
    EXPECT_EQ(st.drops(serf_errc::empty), 1u);
    EXPECT_EQ(st.drops(serf_errc::wrong_type), 1u);
    EXPECT_EQ(st.drops(serf_errc::truncated), 1u);
    EXPECT_EQ(st.drops(serf_errc::unknown_type), 1u);
    EXPECT_EQ(st.push_pull_merged, 0u);
}

TEST_F(SerfMembers, ReapsFailedAfterReconnectTimeoutAndLeftAfterTombstone) {
    node a = add_peer("a.dc2", 2);
    node b = add_peer("b.dc2", 3);
    s->notify_leave(clock.now, a);  // failed
    receive(encode(msg_leave{3, "b.dc2", false}));
    s->notify_leave(clock.now, b);  // left
    clock.advance(24h + 30s);
    s->tick(clock.now);
    EXPECT_EQ(status_of("b.dc2"), member_status::none);    // tombstone 24 h
    EXPECT_EQ(status_of("a.dc2"), member_status::failed);  // Consul WAN reconnect 72 h
    EXPECT_EQ(member_events.back().type, member_event_type::reap);
    EXPECT_EQ(member_events.back().m.name, "b.dc2");
    clock.advance(48h);
    s->tick(clock.now);
    EXPECT_EQ(status_of("a.dc2"), member_status::none);
    EXPECT_EQ(s->stats().member_reaps, 2u);
    EXPECT_LE(s->next_wakeup(), clock.now + 15s);
}

TEST_F(SerfMembers, ReconnectJoinsAFailedMemberByName) {
    node a = add_peer("a.dc2", 2);
    s->notify_leave(clock.now, a);
    clock.advance(29s);
    s->tick(clock.now);
    EXPECT_TRUE(host->joins.empty());
    clock.advance(2s);
    s->tick(clock.now);  // failed 1 / alive 1: probability 1
    ASSERT_EQ(host->joins.size(), 1u);
    ASSERT_EQ(host->joins[0].peers.size(), 1u);
    EXPECT_EQ(host->joins[0].peers[0].first, "a.dc2");
    EXPECT_EQ(host->joins[0].peers[0].second, a.addr);
    EXPECT_EQ(s->stats().reconnect_attempts, 1u);
    // memberlist brings it back: alive again, flap counted (within FlapTimeout)
    s->notify_join(clock.now, a);
    EXPECT_EQ(status_of("a.dc2"), member_status::alive);
    EXPECT_EQ(s->stats().flaps, 1u);
}

TEST_F(SerfMembers, JoinBroadcastsJoinIntentWhenPeersAnswer) {
    int joined = -1;
    s->join(clock.now, {{"", node_addr{{10, 0, 0, 9}, 8302}}}, false,
            [&](int n, std::vector<std::string>) { joined = n; });
    ASSERT_EQ(host->joins.size(), 1u);
    add_peer("a.dc2", 2);
    host->joins[0].done(1, {});
    EXPECT_EQ(joined, 1);
    auto b = drain();
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(decode_join(b[0]).value(), (msg_join{1, "self.dc1"}));
    EXPECT_EQ(s->member_clock(), 2u);
}

TEST_F(SerfMembers, ConsulMergeRuleAcceptsServers) {
    std::vector<node> peers = {make_node("a.dc2", 2), make_node("b.dc3", 3)};
    EXPECT_EQ(s->notify_merge(peers), "");
    EXPECT_EQ(s->notify_alive(peers[0]), "");
    tag_map t = consul_tags();
    t["expect"] = "3";
    t["wan_join_port"] = "8302";
    t["grpc_port"] = "8502";
    t["sl_alpha"] = "10.0.0.1:8303";
    EXPECT_EQ(consul_server_problem(t), "");
}

TEST_F(SerfMembers, ConsulMergeRuleRefusesNonServersWithText) {
    auto with = [](std::string k, std::string v) {
        tag_map t = consul_tags();
        t[std::move(k)] = std::move(v);
        return t;
    };
    auto without = [](const std::string& k) {
        tag_map t = consul_tags();
        t.erase(k);
        return t;
    };
    std::vector<node> peers = {make_node("a.dc2", 2),
                               make_node("bad.dc2", 3, 8302, with("port", "abc"))};
    EXPECT_EQ(s->notify_merge(peers),
              "Member 'bad.dc2' is not a server: tag \"port\"=\"abc\" is not an integer");
    EXPECT_EQ(s->stats().merges_refused, 1u);
    EXPECT_EQ(s->notify_alive(make_node("c.dc2", 4, 8302, with("role", "node"))),
              "Member 'c.dc2' is not a server: tag \"role\"=\"node\" is not \"consul\"");
    EXPECT_EQ(s->stats().alives_refused, 1u);
    EXPECT_EQ(consul_server_problem(without("role")), "tag \"role\" is missing");
    EXPECT_EQ(consul_server_problem(without("port")), "tag \"port\" is missing");
    EXPECT_EQ(consul_server_problem(without("vsn")), "tag \"vsn\" is missing");
    EXPECT_EQ(consul_server_problem(with("vsn", "2.0")), "tag \"vsn\"=\"2.0\" is not an integer");
    EXPECT_EQ(consul_server_problem(with("build", "dev")),
              "tag \"build\"=\"dev\" has no version (\\d+.\\d+.\\d+)");
    EXPECT_EQ(consul_server_problem(without("build")), "tag \"build\" is missing");
    EXPECT_EQ(consul_server_problem(with("expect", "x")), "tag \"expect\"=\"x\" is not an integer");
    EXPECT_EQ(consul_server_problem(with("raft_vsn", "")),
              "tag \"raft_vsn\"=\"\" is not an integer");
    EXPECT_EQ(consul_server_problem(with("wan_join_port", "8302a")),
              "tag \"wan_join_port\"=\"8302a\" is not an integer");
    EXPECT_EQ(consul_server_problem(with("grpc_port", "0")),
              "tag \"grpc_port\"=\"0\" is not positive");
    EXPECT_EQ(consul_server_problem(with("ft_fs", "yes")),
              "tag \"ft_fs\"=\"yes\" is not an integer");
    EXPECT_EQ(consul_server_problem(with("sl_x", "nohost")),
              "tag \"sl_x\"=\"nohost\" is not host:port");
    EXPECT_EQ(consul_server_problem(with("port", "+8300")), "");  // Go's Atoi takes a sign
    // Protocol-2 meta (raw role string) is not a server either.
    node raw = make_node("d.dc2", 5);
    raw.meta = {'c', 'o', 'n', 's', 'u', 'l'};
    EXPECT_EQ(s->notify_alive(raw), "Member 'd.dc2' is not a server: tag \"port\" is missing");
    // Bad IP length is refused even with the rule off.
    node bad_ip = make_node("e.dc2", 6);
    bad_ip.addr.ip = {1, 2, 3};
    EXPECT_NE(s->notify_alive(bad_ip), "");
}

TEST_F(SerfMembers, ConsulMergeRuleCanBeDisabled) {
    auto cfg = default_config();
    cfg.consul_wan_rules = false;
    make(std::move(cfg));
    EXPECT_EQ(s->notify_alive(make_node("x", 2, 8302, {{"role", "node"}})), "");
}

TEST_F(SerfMembers, PingDelegateCoordinates) {
    EXPECT_EQ(s->ack_payload(), encode_ack_payload(coordinate::origin({})));
    node a = add_peer("a.dc2", 2);
    coordinate peer = coordinate::origin({});
    peer.vec[0] = 0.02;
    peer.error = 0.5;
    s->notify_ping_complete(clock.now, a, 25ms, encode_ack_payload(peer));
    ASSERT_TRUE(s->coordinate_of("a.dc2"));
    EXPECT_EQ(*s->coordinate_of("a.dc2"), peer);
    EXPECT_NE(*s->coordinate_of("self.dc1"), coordinate::origin({}));
    EXPECT_EQ(s->coordinates().stats().updates, 1u);
    // ignored / rejected payloads
    s->notify_ping_complete(clock.now, a, 25ms, {});
    s->notify_ping_complete(clock.now, a, 25ms, hex("0281"));
    coordinate nan = peer;
    nan.vec[1] = std::nan("");
    s->notify_ping_complete(clock.now, a, 25ms, encode_ack_payload(nan));
    coordinate short_vec = peer;
    short_vec.vec.resize(2);
    s->notify_ping_complete(clock.now, a, 25ms, encode_ack_payload(short_vec));
    const auto& st = s->coordinates().stats();
    EXPECT_EQ(st.count(coordinate_errc::bad_version), 1u);
    EXPECT_EQ(st.count(coordinate_errc::invalid_value), 1u);
    EXPECT_EQ(st.count(coordinate_errc::wrong_dimensions), 1u);
    EXPECT_EQ(st.updates, 1u);
    // reaping forgets the coordinate
    s->notify_leave(clock.now, a);
    ASSERT_TRUE(s->force_leave(clock.now, "a.dc2", true));
    EXPECT_FALSE(s->coordinate_of("a.dc2"));
}

TEST_F(SerfMembers, UserMessagesOfUnknownOrWrongTypeAreCounted) {
    receive({});
    receive(hex("0a"));
    receive(hex("02c0"));
    receive(hex("0081"));  // truncated leave
    receive(hex("01c1"));  // malformed join
    auto st = s->stats();
    EXPECT_EQ(st.drops(serf_errc::empty), 1u);
    EXPECT_EQ(st.drops(serf_errc::unknown_type), 1u);
    EXPECT_EQ(st.drops(serf_errc::wrong_type), 1u);
    EXPECT_EQ(st.drops(serf_errc::truncated), 1u);
    EXPECT_EQ(st.drops(serf_errc::malformed), 1u);
    EXPECT_EQ(st.unknown_type, 2u);
}

TEST_F(SerfMembers, RecentIntentBufferIsBounded) {
    auto cfg = default_config();
    cfg.max_recent_intents = 3;
    make(std::move(cfg));
    for (int i = 0; i < 10; ++i) receive(encode(msg_join{5, "n" + std::to_string(i)}));
    EXPECT_EQ(s->stats().intents_buffered, 3u);
    EXPECT_EQ(s->stats().drops(serf_errc::oversized), 7u);
}

}  // namespace
}  // namespace meshfed::wan
