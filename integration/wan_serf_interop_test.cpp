// WAN gossip interop with Debian's real `serf` agent (serf 0.9.4): joins both ways, tags,
// encryption, keyring rotation, failure detection, graceful leave, and a mixed 8-node pool.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "integration/support.hpp"

using namespace meshfed::it;
using ::testing::HasSubstr;

namespace {

const std::string key1 = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=";
const std::string key2 = "KOWB8Zk0rUcq9/MBuJqG+9I8HRy9S2IzC6iDjOLuD0A=";

class WanSerfInterop : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!have_serf()) GTEST_SKIP() << "/usr/bin/serf not installed (scripts/setup installs it)";
    }
    temp_dir root;
};

bool running(meshfed_agent& a) {
    return a.proc->wait_for_output("meshfed agent running", 10s);
}

}  // namespace

TEST_F(WanSerfInterop, SerfJoinsMeshfedAndBothSeeEachOtherAliveWithTags) {
    auto m = start_meshfed(root, "m1", "dc1");
    ASSERT_TRUE(running(m)) << m.log();
    auto s = start_serf(root, "s1.dc9");
    ASSERT_TRUE(s.proc->wait_for_output("Serf agent running", 10s)) << s.proc->output();
    auto j = s.cmd("join " + m.addr());
    ASSERT_EQ(j.status, 0) << j.output << m.log();
    EXPECT_TRUE(eventually([&] { return serf_status_of(s, "m1.dc1") == "alive"; }, 10s))
        << s.members().output;
    auto mem = s.members().output;
    EXPECT_THAT(mem, HasSubstr("role=consul"));
    EXPECT_THAT(mem, HasSubstr("dc=dc1"));
    EXPECT_THAT(mem, HasSubstr("port=" + std::to_string(m.rpc_port)));
    EXPECT_THAT(mem, HasSubstr("build=0.1.0:meshfed"));
    EXPECT_THAT(mem, HasSubstr("Protocol Version: 4"));  // Consul's serf protocol
    EXPECT_TRUE(eventually([&] { return m.joined_names().contains("s1.dc9"); }, 10s)) << m.log();
}

TEST_F(WanSerfInterop, MeshfedJoinsSerfWithRetryJoinWan) {
    auto s = start_serf(root, "s2.dc9");
    ASSERT_TRUE(s.proc->wait_for_output("Serf agent running", 10s)) << s.proc->output();
    auto m = start_meshfed(root, "m2", "dc1", "retry_join_wan = [\"" + s.addr() + "\"]\n");
    ASSERT_TRUE(running(m)) << m.log();
    EXPECT_TRUE(m.proc->wait_for_output("(WAN) joined: number_of_nodes=1", 15s)) << m.log();
    EXPECT_TRUE(eventually([&] { return serf_status_of(s, "m2.dc1") == "alive"; }, 10s))
        << s.members().output;
    EXPECT_TRUE(m.joined_names().contains("s2.dc9")) << m.log();
}

TEST_F(WanSerfInterop, NonServerMemberIsRefusedWithAReason) {
    auto m = start_meshfed(root, "m3", "dc1");
    ASSERT_TRUE(running(m)) << m.log();
    // A plain serf node without Consul's server tags.
    meshfed::it::serf_agent plain;
    plain.bind_port = meshfed::test::free_tcp_port();
    plain.rpc_port = meshfed::test::free_tcp_port();
    plain.proc = std::make_unique<child_process>(
        "/usr/bin/serf",
        std::vector<std::string>{"agent", "-node=plain", "-bind=" + plain.addr(),
                                 "-rpc-addr=127.0.0.1:" + std::to_string(plain.rpc_port),
                                 "-profile=lan"},
        root.path() / "plain.log");
    ASSERT_TRUE(plain.proc->wait_for_output("Serf agent running", 10s));
    plain.cmd("join " + m.addr());
    EXPECT_TRUE(m.proc->wait_for_output("plain", 10s)) << m.log();
    EXPECT_THAT(m.log(), HasSubstr("not a server"));
    EXPECT_FALSE(m.joined_names().contains("plain"));
}

TEST_F(WanSerfInterop, EncryptedPoolAndWrongKeyRefused) {
    auto m = start_meshfed(root, "m4", "dc1", "encrypt = \"" + key1 + "\"\n");
    ASSERT_TRUE(running(m)) << m.log();
    auto good = start_serf(root, "s4.dc9", {"-encrypt=" + key1});
    ASSERT_TRUE(good.proc->wait_for_output("Serf agent running", 10s));
    ASSERT_EQ(good.cmd("join " + m.addr()).status, 0) << good.proc->output();
    EXPECT_TRUE(eventually([&] { return serf_status_of(good, "m4.dc1") == "alive"; }, 10s));
    auto bad = start_serf(root, "s5.dc9", {"-encrypt=" + key2});
    ASSERT_TRUE(bad.proc->wait_for_output("Serf agent running", 10s));
    auto j = bad.cmd("join " + m.addr());
    EXPECT_NE(j.status, 0) << j.output;
    EXPECT_TRUE(m.proc->wait_for_output("decrypt", 10s) ||
                m.proc->wait_for_output("failed to read stream", 1s))
        << m.log();
    EXPECT_FALSE(m.joined_names().contains("s5.dc9"));
}

TEST_F(WanSerfInterop, SerfKeysRotationReachesMeshfedKeyring) {
    auto m = start_meshfed(root, "m5", "dc1", "encrypt = \"" + key1 + "\"\n");
    ASSERT_TRUE(running(m)) << m.log();
    auto s = start_serf(root, "s6.dc9", {"-encrypt=" + key1});
    ASSERT_TRUE(s.proc->wait_for_output("Serf agent running", 10s));
    ASSERT_EQ(s.cmd("join " + m.addr()).status, 0);
    ASSERT_TRUE(eventually([&] { return serf_status_of(s, "m5.dc1") == "alive"; }, 10s));
    auto install = s.cmd("keys -install=" + key2);
    EXPECT_EQ(install.status, 0) << install.output << m.log();
    EXPECT_TRUE(eventually(
        [&] { return meshfed::test::read_text(m.keyring_file()).find(key2) != std::string::npos; },
        5s))
        << meshfed::test::read_text(m.keyring_file());
    auto list = s.cmd("keys -list");
    EXPECT_THAT(list.output, HasSubstr(key2 + "  [2/2]")) << list.output;
    EXPECT_EQ(s.cmd("keys -use=" + key2).status, 0) << m.log();
    EXPECT_TRUE(eventually(
        [&] {
            auto text = meshfed::test::read_text(m.keyring_file());
            return text.find(key2) < text.find(key1);  // primary first
        },
        5s))
        << meshfed::test::read_text(m.keyring_file());
    auto remove = s.cmd("keys -remove=" + key1);
    EXPECT_EQ(remove.status, 0) << remove.output << m.log();
    EXPECT_TRUE(eventually(
        [&] { return meshfed::test::read_text(m.keyring_file()).find(key1) == std::string::npos; },
        5s));
    // Still talking with the new key.
    EXPECT_EQ(serf_status_of(s, "m5.dc1"), "alive");
}

TEST_F(WanSerfInterop, CrashesAreSeenAsFailedBothWays) {
    auto m = start_meshfed(root, "m6", "dc1");
    ASSERT_TRUE(running(m)) << m.log();
    auto s1 = start_serf(root, "s7.dc9");
    auto s2 = start_serf(root, "s8.dc9");
    ASSERT_TRUE(s1.proc->wait_for_output("Serf agent running", 10s));
    ASSERT_TRUE(s2.proc->wait_for_output("Serf agent running", 10s));
    ASSERT_EQ(s1.cmd("join " + m.addr()).status, 0);
    ASSERT_EQ(s2.cmd("join " + m.addr()).status, 0);
    ASSERT_TRUE(eventually([&] { return serf_status_of(s1, "s8.dc9") == "alive"; }, 10s));
    // kill -9 of a serf node: meshfed marks it failed.
    s2.proc->signal(SIGKILL);
    EXPECT_TRUE(m.proc->wait_for_output("EventMemberFailed: s8.dc9", 30s)) << m.log();
    // kill -9 of meshfed: serf marks it failed.
    m.proc->signal(SIGKILL);
    EXPECT_TRUE(eventually([&] { return serf_status_of(s1, "m6.dc1") == "failed"; }, 30s))
        << s1.members().output;
}

TEST_F(WanSerfInterop, GracefulLeaveIsSeenAsLeftBothWays) {
    auto m = start_meshfed(root, "m7", "dc1", "leave_on_terminate = true\n");
    ASSERT_TRUE(running(m)) << m.log();
    auto s1 = start_serf(root, "s9.dc9");
    auto s2 = start_serf(root, "s10.dc9");
    ASSERT_TRUE(s1.proc->wait_for_output("Serf agent running", 10s));
    ASSERT_TRUE(s2.proc->wait_for_output("Serf agent running", 10s));
    ASSERT_EQ(s1.cmd("join " + m.addr()).status, 0);
    ASSERT_EQ(s2.cmd("join " + m.addr()).status, 0);
    ASSERT_TRUE(eventually([&] { return serf_status_of(s1, "s10.dc9") == "alive"; }, 10s));
    // serf leaves: meshfed records a leave.
    ASSERT_EQ(s2.cmd("leave").status, 0);
    EXPECT_TRUE(m.proc->wait_for_output("EventMemberLeave: s10.dc9", 15s)) << m.log();
    // With leave_on_terminate, meshfed leaves on SIGTERM: serf records it as left, not failed.
    m.proc->signal(SIGTERM);
    EXPECT_EQ(m.proc->wait_exit(20s).value_or(-1), 0) << m.log();
    EXPECT_TRUE(eventually([&] { return serf_status_of(s1, "m7.dc1") == "left"; }, 10s))
        << s1.members().output;
}

// Consul's server default: SIGTERM stops the server without leaving, so its peers see it
// failed (and reconnect when it returns) rather than left.
TEST_F(WanSerfInterop, ServerStoppedBySigtermStaysAMemberAndIsSeenFailed) {
    if (!have_serf()) GTEST_SKIP() << "serf not installed";
    auto m = start_meshfed(root, "m8", "dc1");
    ASSERT_TRUE(m.proc->wait_for_output("WAN gossip pool serving", 10s)) << m.log();
    auto s1 = start_serf(root, "s11.dc9");
    ASSERT_TRUE(s1.proc->wait_for_output("Serf agent running", 10s));
    ASSERT_EQ(s1.cmd("join " + m.addr()).status, 0);
    ASSERT_TRUE(eventually([&] { return serf_status_of(s1, "m8.dc1") == "alive"; }, 10s));
    m.proc->signal(SIGTERM);
    EXPECT_EQ(m.proc->wait_exit(20s).value_or(-1), 0) << m.log();
    EXPECT_NE(m.log().find("without leaving the WAN pool"), std::string::npos) << m.log();
    EXPECT_TRUE(eventually([&] { return serf_status_of(s1, "m8.dc1") == "failed"; }, 30s))
        << s1.members().output;
}

TEST_F(WanSerfInterop, MixedPoolOfEightConverges) {
    std::vector<meshfed_agent> ms;
    std::vector<serf_agent> ss;
    for (int i = 0; i < 4; ++i) {
        ms.push_back(start_meshfed(root, "mx" + std::to_string(i), "dc" + std::to_string(i + 1)));
        ASSERT_TRUE(running(ms.back())) << ms.back().log();
    }
    for (int i = 0; i < 4; ++i) {
        ss.push_back(start_serf(root, "sx" + std::to_string(i) + ".dc9"));
        ASSERT_TRUE(ss.back().proc->wait_for_output("Serf agent running", 10s));
    }
    // Chain joins: every serf node joins a different meshfed node; meshfed nodes join via serf.
    for (int i = 0; i < 4; ++i) ASSERT_EQ(ss[i].cmd("join " + ms[i].addr()).status, 0);
    ASSERT_EQ(ss[0].cmd("join " + ss[1].addr() + " " + ss[2].addr() + " " + ss[3].addr()).status,
              0);
    std::set<std::string> all;
    for (auto& m : ms) all.insert(m.wan_name());
    for (auto& s : ss) all.insert(s.node);
    std::string missing;
    auto converged = [&] {
        missing.clear();
        for (auto& s : ss)
            for (const auto& n : all)
                if (serf_status_of(s, n) != "alive") missing += s.node + " lacks " + n + "; ";
        for (auto& m : ms) {
            auto seen = m.joined_names();
            for (const auto& n : all)
                if (n != m.wan_name() && !seen.contains(n))
                    missing += m.wan_name() + " lacks " + n + "; ";
        }
        return missing.empty();
    };
    // Converges in about a second on an idle machine. Gossip is probabilistic: with this join
    // pattern an alive announcement sometimes reaches every node but one before its transmit
    // limit runs out, and push/pull repairs it. Real serf does the same: 8 serf 0.9.4 agents
    // joined this way on a loaded 2-core machine needed their 30 s push/pull in 5 of 30 runs
    // (and 1 run took longer than 45 s). MESHFED_DIAG=1 prints what was missing after 5 s.
    if (!eventually(converged, 5s) && std::getenv("MESHFED_DIAG")) {
        std::fprintf(stderr, "DIAG missing after 5s: %s\n", missing.c_str());
        for (auto& m : ms)
            std::fprintf(stderr, "DIAG log %s:\n%s\n", m.wan_name().c_str(), m.log().c_str());
        for (auto& s : ss)
            std::fprintf(stderr, "DIAG members %s:\n%s\n", s.node.c_str(),
                         s.members().output.c_str());
    }
    EXPECT_TRUE(eventually(converged, 90s)) << missing;
}
