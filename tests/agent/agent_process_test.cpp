// End to end: the real `meshfed agent` binary, started and stopped by signal.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/support/process.hpp"

using namespace std::chrono_literals;
using meshfed::test::child_process;
using meshfed::test::temp_dir;
using ::testing::HasSubstr;

namespace {

std::string write_config(const temp_dir& dir, const std::string& extra = "") {
    dir.write("server.hcl",
              "node_name = \"n1\"\ndatacenter = \"dc1\"\nserver = true\n"
              "bootstrap = true\nbind_addr = \"127.0.0.1\"\nports { serf_wan = 0 server = 0 http = 0 }\n"
              "data_dir = \"" +
                  (dir / "data").string() + "\"\n" + extra);
    return (dir / "server.hcl").string();
}

}  // namespace

TEST(AgentProcess, StartsLogsAndStopsOnSigterm) {
    temp_dir dir;
    auto cfg = write_config(dir);
    child_process p(MESHFED_BINARY, {"agent", "-config", cfg}, dir / "agent.log");
    ASSERT_TRUE(p.wait_for_output("meshfed agent running", 10s)) << p.output();
    auto out = p.output();
    EXPECT_THAT(out, HasSubstr("[INFO]  agent: meshfed agent running: version="));
    EXPECT_THAT(out, HasSubstr("node=n1 datacenter=dc1"));
    EXPECT_THAT(out, HasSubstr("Datacenter: 'dc1'"));
    // data_dir is created private.
    struct stat st {};
    ASSERT_EQ(::stat((dir / "data").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    p.signal(SIGTERM);
    auto code = p.wait_exit(10s);
    ASSERT_TRUE(code.has_value()) << "agent did not exit on SIGTERM";
    EXPECT_EQ(*code, 0);
    EXPECT_THAT(p.output(), HasSubstr("caught signal: terminated"));
    EXPECT_THAT(p.output(), HasSubstr("agent stopped"));
}

TEST(AgentProcess, StopsOnSigint) {
    temp_dir dir;
    child_process p(MESHFED_BINARY, {"agent", "-config", write_config(dir)}, dir / "agent.log");
    ASSERT_TRUE(p.wait_for_output("meshfed agent running", 10s)) << p.output();
    p.signal(SIGINT);
    auto code = p.wait_exit(10s);
    ASSERT_TRUE(code.has_value());
    EXPECT_EQ(*code, 0);
    EXPECT_THAT(p.output(), HasSubstr("caught signal: interrupt"));
}

TEST(AgentProcess, SecondAgentOnSameDataDirIsRefused) {
    temp_dir dir;
    auto cfg = write_config(dir);
    child_process first(MESHFED_BINARY, {"agent", "-config", cfg}, dir / "first.log");
    ASSERT_TRUE(first.wait_for_output("meshfed agent running", 10s)) << first.output();
    child_process second(MESHFED_BINARY, {"agent", "-config", cfg}, dir / "second.log");
    auto code = second.wait_exit(10s);
    ASSERT_TRUE(code.has_value());
    EXPECT_EQ(*code, 1);
    EXPECT_THAT(second.output(),
                HasSubstr("is in use by another agent (pid " + std::to_string(first.pid())));
    first.signal(SIGTERM);
    EXPECT_EQ(first.wait_exit(10s).value_or(-1), 0);
}

TEST(AgentProcess, JsonLogsWhenConfigured) {
    temp_dir dir;
    child_process p(MESHFED_BINARY, {"agent", "-config", write_config(dir, "log_json = true\n")},
                    dir / "agent.log");
    ASSERT_TRUE(p.wait_for_output("meshfed agent running", 10s)) << p.output();
    EXPECT_THAT(p.output(), HasSubstr("{\"@level\":\"info\",\"@message\":\"meshfed agent running"));
    EXPECT_THAT(p.output(), HasSubstr("\"@module\":\"agent\""));
    p.signal(SIGTERM);
    EXPECT_EQ(p.wait_exit(10s).value_or(-1), 0);
}

TEST(AgentProcess, SighupReloadsLogLevelAndKeepsRunningOnBadConfig) {
    temp_dir dir;
    auto cfg = write_config(dir);
    child_process p(MESHFED_BINARY, {"agent", "-config", cfg}, dir / "agent.log");
    ASSERT_TRUE(p.wait_for_output("meshfed agent running", 10s)) << p.output();
    write_config(dir, "log_level = \"debug\"\n");
    p.signal(SIGHUP);
    ASSERT_TRUE(p.wait_for_output("configuration reloaded (log_level=debug)", 10s)) << p.output();
    write_config(dir, "log_level = \"loud\"\n");
    p.signal(SIGHUP);
    ASSERT_TRUE(p.wait_for_output("keeping the running configuration", 10s)) << p.output();
    EXPECT_THAT(p.output(), HasSubstr("log_level: invalid value \"loud\""));
    EXPECT_TRUE(p.running());
    p.signal(SIGTERM);
    EXPECT_EQ(p.wait_exit(10s).value_or(-1), 0);
}

TEST(AgentProcess, TlsCertificatesAreCheckedAtStartupAndReloadedOnSighup) {
    temp_dir dir;
    auto run_cli = [&](const std::string& args) {
        return meshfed::test::run_command("cd " + dir.path().string() + " && " + MESHFED_BINARY +
                                          " " + args);
    };
    ASSERT_EQ(run_cli("tls ca create").status, 0);
    ASSERT_EQ(run_cli("tls cert create -server -dc dc1 -node n1").status, 0);
    ASSERT_EQ(run_cli("tls cert create -client -dc dc1").status, 0);
    std::string tls_block = "tls { defaults { ca_file = \"" +
                            (dir / "consul-agent-ca.pem").string() + "\"\n cert_file = \"" +
                            (dir / "dc1-server-consul-0.pem").string() + "\"\n key_file = \"" +
                            (dir / "dc1-server-consul-0-key.pem").string() +
                            "\"\n verify_incoming = true\n verify_outgoing = true } }\n";
    // A client certificate where the server's belongs: refused, naming the file and the name.
    std::string bad = tls_block;
    bad.replace(bad.find("dc1-server-consul-0.pem"), 23, "dc1-client-consul-0.pem");
    bad.replace(bad.find("dc1-server-consul-0-key.pem"), 27, "dc1-client-consul-0-key.pem");
    child_process refused(MESHFED_BINARY, {"agent", "-config", write_config(dir, bad)},
                          dir / "refused.log");
    ASSERT_EQ(refused.wait_exit(10s).value_or(-1), 1) << refused.output();
    EXPECT_THAT(refused.output(), HasSubstr("TLS configuration is invalid"));
    EXPECT_THAT(refused.output(), HasSubstr("dc1-client-consul-0.pem: a server certificate must "
                                            "carry the DNS name server.dc1.consul"));

    child_process p(MESHFED_BINARY, {"agent", "-config", write_config(dir, tls_block)},
                    dir / "agent.log");
    ASSERT_TRUE(p.wait_for_output("meshfed agent running", 10s)) << p.output();
    EXPECT_THAT(p.output(), HasSubstr("TLS: true"));
    p.signal(SIGHUP);
    ASSERT_TRUE(p.wait_for_output("TLS certificates reloaded", 10s)) << p.output();
    // Break the key file: the reload is refused and the running certificates kept.
    dir.write("dc1-server-consul-0-key.pem", "garbage");
    p.signal(SIGHUP);
    ASSERT_TRUE(p.wait_for_output("TLS reload failed; new connections keep using", 10s))
        << p.output();
    EXPECT_THAT(p.output(), HasSubstr("dc1-server-consul-0-key.pem"));
    p.signal(SIGTERM);
    EXPECT_EQ(p.wait_exit(10s).value_or(-1), 0);
}
