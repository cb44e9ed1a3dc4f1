// Typed config: defaults, merging across files, unknown keys, type mismatches and Consul's
// validation texts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/config/config.hpp"
#include "agent/config/decode.hpp"
#include "agent/config/validate.hpp"
#include "tests/support/process.hpp"

using namespace std::chrono_literals;
using meshfed::config::load_config;
using meshfed::config::load_config_sources;
using meshfed::config::load_options;
using meshfed::config::load_result;
using meshfed::config::source;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;

namespace {

load_options test_opts() {
    load_options o;
    o.default_node_name = "testhost";
    return o;
}

load_result load_hcl(const std::string& text) {
    return load_config_sources({{"server.hcl", "data_dir = \"/tmp/x\"\n" + text}}, test_opts());
}

load_result load_json(const std::string& text) {
    return load_config_sources({{"server.json", text}}, test_opts());
}

// True if some error contains every fragment.
::testing::Matcher<std::vector<std::string>> has_error(const std::string& fragment) {
    return Contains(HasSubstr(fragment));
}

const std::string good_key = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=";  // 32 bytes

}  // namespace

TEST(ConfigDefaults, MatchConsul) {
    auto r = load_hcl("");
    ASSERT_TRUE(r.ok()) << testing::PrintToString(r.errors);
    const auto& c = r.config;
    EXPECT_EQ(c.node_name, "testhost");
    EXPECT_EQ(c.datacenter, "dc1");
    EXPECT_EQ(c.primary_datacenter, "dc1");
    EXPECT_EQ(c.domain, "consul");
    EXPECT_EQ(c.ports.server, 8300);
    EXPECT_EQ(c.ports.serf_lan, 8301);
    EXPECT_EQ(c.ports.serf_wan, 8302);
    EXPECT_EQ(c.ports.http, 8500);
    EXPECT_EQ(c.client_addr, "127.0.0.1");
    EXPECT_TRUE(c.connect_enabled);
    EXPECT_FALSE(c.enable_mesh_gateway_wan_federation);
    EXPECT_EQ(c.primary_gateways_interval, 30s);
    EXPECT_EQ(c.retry_interval_wan, 30s);
    EXPECT_EQ(c.tls.min_version, "TLSv1_2");
    EXPECT_TRUE(c.encrypt_verify_incoming);
    EXPECT_TRUE(c.encrypt_verify_outgoing);
    // WAN gossip: memberlist's WAN profile with Consul's gossip_nodes/retransmit_mult quirk.
    EXPECT_EQ(c.gossip_wan.gossip_nodes, 3);
    EXPECT_EQ(c.gossip_wan.gossip_interval, 500ms);
    EXPECT_EQ(c.gossip_wan.probe_interval, 5s);
    EXPECT_EQ(c.gossip_wan.probe_timeout, 3s);
    EXPECT_EQ(c.gossip_wan.suspicion_mult, 6);
    EXPECT_EQ(c.gossip_wan.retransmit_mult, 4);
    EXPECT_EQ(c.gossip_wan.push_pull_interval, 60s);
    EXPECT_EQ(c.gossip_wan.reconnect_timeout, 72h);
    EXPECT_EQ(c.limits.handshake_timeout, 5s);
    EXPECT_EQ(c.limits.max_conns_per_client, 100);
    EXPECT_EQ(c.limits.client_timeout, 60s);
    EXPECT_EQ(c.rpc_busy_poll, 200us);
}

TEST(ConfigDecode, AllOptionsFromHcl) {
    auto r = load_hcl(R"(
node_name = "s1"
datacenter = "DC2"
primary_datacenter = "dc1"
primary_gateways = ["127.0.0.1:8443", "gw.example:443"]
primary_gateways_interval = "5s"
server = true
bootstrap = true
bind_addr = "127.0.0.2"
advertise_addr = "127.0.0.3"
client_addr = "127.0.0.1 127.0.0.2"
domain = "mesh"
ports { http = 18500  server = 18300  serf_wan = 18302  serf_lan = -1 }
encrypt = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="
encrypt_verify_incoming = false
connect { enabled = true  enable_mesh_gateway_wan_federation = true }
tls {
  defaults {
    ca_file = "/c/ca.pem"
    cert_file = "/c/s.pem"
    key_file = "/c/s-key.pem"
    verify_incoming = true
    verify_outgoing = true
    tls_min_version = "TLSv1_3"
  }
  internal_rpc { verify_server_hostname = true }
}
gossip_wan { gossip_nodes = 4  gossip_interval = "100ms"  probe_interval = "200ms"
             probe_timeout = "100ms"  suspicion_mult = 3  retransmit_mult = 2 }
limits { rpc_handshake_timeout = "2s"  rpc_max_conns_per_client = 10  rpc_client_timeout = "9s" }
log_level = "debug"
log_json = true
)");
    ASSERT_TRUE(r.ok()) << testing::PrintToString(r.errors);
    const auto& c = r.config;
    EXPECT_EQ(c.node_name, "s1");
    EXPECT_EQ(c.datacenter, "dc2");  // lower-cased like Consul
    EXPECT_EQ(c.primary_gateways, (std::vector<std::string>{"127.0.0.1:8443", "gw.example:443"}));
    EXPECT_EQ(c.primary_gateways_interval, 5s);
    EXPECT_TRUE(c.server);
    EXPECT_EQ(c.advertise_addr, "127.0.0.3");
    EXPECT_EQ(c.advertise_addr_wan, "127.0.0.3");  // defaults to advertise_addr
    EXPECT_EQ(c.domain, "mesh");
    EXPECT_EQ(c.ports.http, 18500);
    EXPECT_EQ(c.ports.serf_lan, -1);
    EXPECT_FALSE(c.encrypt_verify_incoming);
    EXPECT_TRUE(c.enable_mesh_gateway_wan_federation);
    EXPECT_EQ(c.tls.ca_file, "/c/ca.pem");
    EXPECT_TRUE(c.tls.verify_server_hostname);
    EXPECT_EQ(c.tls.min_version, "TLSv1_3");
    EXPECT_EQ(c.gossip_wan.gossip_nodes, 4);
    EXPECT_EQ(c.gossip_wan.probe_interval, 200ms);
    EXPECT_EQ(c.gossip_wan.retransmit_mult, 2);
    EXPECT_EQ(c.limits.handshake_timeout, 2s);
    EXPECT_EQ(c.limits.max_conns_per_client, 10);
    EXPECT_EQ(c.log_level, "debug");
    EXPECT_TRUE(c.log_json);
}

TEST(ConfigDecode, GossipLabelAndReconnectTimeout) {
    auto r = load_hcl("gossip_wan { label = \"dc-pool\" }\nreconnect_timeout_wan = \"12h\"\n");
    ASSERT_TRUE(r.ok()) << testing::PrintToString(r.errors);
    EXPECT_EQ(r.config.gossip_wan.label, "dc-pool");
    EXPECT_EQ(r.config.gossip_wan.reconnect_timeout, 12h);
    auto bad = load_hcl("reconnect_timeout_wan = \"1h\"\n");
    EXPECT_THAT(bad.errors, has_error("reconnect_timeout_wan must be >= 8h"));
}

// A meshfed extension in Consul's performance block, with microsecond resolution.
TEST(ConfigDecode, RpcBusyPoll) {
    auto r = load_hcl("performance { rpc_busy_poll = \"350us\" }\n");
    ASSERT_TRUE(r.ok()) << testing::PrintToString(r.errors);
    EXPECT_EQ(r.config.rpc_busy_poll, 350us);
    auto off = load_hcl("performance { rpc_busy_poll = \"0s\" }\n");
    ASSERT_TRUE(off.ok()) << testing::PrintToString(off.errors);
    EXPECT_EQ(off.config.rpc_busy_poll, 0us);
    auto big = load_hcl("performance { rpc_busy_poll = \"1s\" }\n");
    EXPECT_THAT(big.errors,
                has_error("performance.rpc_busy_poll must be between 0 (off) and 10ms"));
    auto neg = load_hcl("performance { rpc_busy_poll = \"-5us\" }\n");
    EXPECT_FALSE(neg.ok());
    auto num = load_hcl("performance { rpc_busy_poll = 200 }\n");
    EXPECT_THAT(num.errors, has_error("expected a duration string"));
}

// Unset means the role's default (a server keeps its membership when signalled).
TEST(ConfigDecode, LeaveOnSignalsOptions) {
    auto none = load_hcl("server = true\n");
    ASSERT_TRUE(none.ok()) << testing::PrintToString(none.errors);
    EXPECT_FALSE(none.config.leave_on_terminate.has_value());
    EXPECT_FALSE(none.config.skip_leave_on_interrupt.has_value());
    auto r = load_hcl("leave_on_terminate = true\nskip_leave_on_interrupt = false\n");
    ASSERT_TRUE(r.ok()) << testing::PrintToString(r.errors);
    EXPECT_EQ(r.config.leave_on_terminate, true);
    EXPECT_EQ(r.config.skip_leave_on_interrupt, false);
    EXPECT_THAT(load_hcl("leave_on_terminate = \"maybe\"\n").errors,
                has_error("leave_on_terminate"));
}

// meshfed's gossip_wan extensions: serf's reconnect interval, memberlist's push/pull and TCP
// timeout.
TEST(ConfigDecode, GossipPushPullAndReconnectIntervals) {
    auto d = load_hcl("");
    EXPECT_EQ(d.config.gossip_wan.push_pull_interval, 60s);
    EXPECT_EQ(d.config.gossip_wan.reconnect_interval, 30s);
    auto r =
        load_hcl("gossip_wan {\n push_pull_interval = \"15s\"\n reconnect_interval = \"2s\"\n}\n");
    ASSERT_TRUE(r.ok()) << testing::PrintToString(r.errors);
    EXPECT_EQ(r.config.gossip_wan.push_pull_interval, 15s);
    EXPECT_EQ(r.config.gossip_wan.reconnect_interval, 2s);
    EXPECT_THAT(load_hcl("gossip_wan {\n reconnect_interval = \"0s\"\n}\n").errors,
                has_error("gossip_wan.reconnect_interval must be positive"));
    // memberlist's TCPTimeout: also the deadline of an inbound stream.
    EXPECT_EQ(d.config.gossip_wan.tcp_timeout, 30s);
    auto t = load_hcl("gossip_wan {\n tcp_timeout = \"4s\"\n}\n");
    ASSERT_TRUE(t.ok()) << testing::PrintToString(t.errors);
    EXPECT_EQ(t.config.gossip_wan.tcp_timeout, 4s);
    EXPECT_THAT(load_hcl("gossip_wan {\n tcp_timeout = \"0s\"\n}\n").errors,
                has_error("gossip_wan.tcp_timeout must be positive"));
}

TEST(ConfigDecode, JsonAndHclGiveTheSameConfig) {
    auto h = load_hcl(R"(node_name = "a"
ports { server = 9300 }
retry_join_wan = ["1.2.3.4"]
gossip_wan { probe_timeout = "1s" })");
    auto j = load_json(R"({"data_dir": "/tmp/x", "node_name": "a", "ports": {"server": 9300},
                           "retry_join_wan": ["1.2.3.4"], "gossip_wan": {"probe_timeout": "1s"}})");
    ASSERT_TRUE(h.ok()) << testing::PrintToString(h.errors);
    ASSERT_TRUE(j.ok()) << testing::PrintToString(j.errors);
    EXPECT_EQ(h.config.node_name, j.config.node_name);
    EXPECT_EQ(h.config.ports.server, j.config.ports.server);
    EXPECT_EQ(h.config.retry_join_wan, j.config.retry_join_wan);
    EXPECT_EQ(h.config.gossip_wan.probe_timeout, j.config.gossip_wan.probe_timeout);
}

TEST(ConfigDecode, WeakScalarConversionsLikeMapstructure) {
    auto r = load_json(R"({"data_dir": "/d", "server": "true", "ports": {"server": "9300"}})");
    ASSERT_TRUE(r.ok()) << testing::PrintToString(r.errors);
    EXPECT_TRUE(r.config.server);
    EXPECT_EQ(r.config.ports.server, 9300);
}

TEST(ConfigDecode, UnknownKeyNamesKeyFileLineAndSuggestion) {
    auto r = load_config_sources({{"a.hcl", "data_dir = \"/d\"\n\nbind_adr = \"127.0.0.1\"\n"}},
                                 test_opts());
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.errors, has_error("a.hcl:3"));
    EXPECT_THAT(r.errors,
                has_error("unknown configuration key 'bind_adr' (did you mean 'bind_addr'?)"));
}

TEST(ConfigDecode, UnknownNestedKeySuggestsWithinBlock) {
    auto r = load_hcl("ports {\n  servr = 1\n}\n");
    EXPECT_THAT(
        r.errors,
        has_error("unknown configuration key 'ports.servr' (did you mean 'ports.server'?)"));
}

TEST(ConfigDecode, KeyAtWrongLevelSuggestsItsPath) {
    auto r = load_hcl("tls { defaults { verify_server_hostname = true } }\n");
    EXPECT_THAT(r.errors, has_error("did you mean 'tls.internal_rpc.verify_server_hostname'?"));
}

TEST(ConfigDecode, UnknownKeyInJsonHasLine) {
    auto r = load_json("{\n  \"data_dir\": \"/d\",\n  \"nope\": 1\n}\n");
    EXPECT_THAT(r.errors, has_error("server.json:3"));
    EXPECT_THAT(r.errors, has_error("unknown configuration key 'nope'"));
}

TEST(ConfigDecode, TypeMismatches) {
    auto r = load_hcl(R"(server = ["yes"]
ports = "8300"
bootstrap_expect = "many"
retry_interval_wan = 30
node_name = { a = 1 })");
    EXPECT_THAT(r.errors, has_error("'server' expected a bool, got list"));
    EXPECT_THAT(r.errors, has_error("'ports' must be a block (an object), got string"));
    EXPECT_THAT(r.errors, has_error("'bootstrap_expect' expected an integer, got string \"many\""));
    EXPECT_THAT(r.errors,
                has_error("'retry_interval_wan' expected a duration string such as \"30s\""));
    EXPECT_THAT(r.errors, has_error("'node_name' expected a string, got object"));
    EXPECT_EQ(r.errors.size(), 5u) << testing::PrintToString(r.errors);
}

TEST(ConfigDecode, BadDurationUsesGoText) {
    auto r = load_hcl("gossip_wan { probe_interval = \"5 seconds\" }\n");
    EXPECT_THAT(r.errors, has_error("'gossip_wan.probe_interval': time: unknown unit"));
}

TEST(ConfigDecode, DuplicateBlockInOneFileIsAnError) {
    auto r = load_hcl("ports { server = 1 }\nports { http = 2 }\n");
    EXPECT_THAT(r.errors, has_error("duplicate block 'ports' (first defined at line 2)"));
}

TEST(ConfigDecode, DuplicateAttributeInOneFileIsAnError) {
    auto r = load_hcl("node_name = \"a\"\nnode_name = \"b\"\n");
    EXPECT_THAT(r.errors, has_error("duplicate key 'node_name'"));
}

TEST(ConfigMerge, LaterFilesOverrideScalarsMergeBlocksAndAppendLists) {
    auto r = load_config_sources(
        {
            {"00-base.hcl", R"(data_dir = "/d"
node_name = "first"
ports { server = 1111  http = 2222 }
retry_join_wan = ["a"]
tls { defaults { ca_file = "/ca" } })"},
            {"10-override.json", R"({"node_name": "second", "ports": {"http": 3333},
                                     "retry_join_wan": ["b"],
                                     "tls": {"defaults": {"cert_file": "/c", "key_file": "/k"}}})"},
        },
        test_opts());
    ASSERT_TRUE(r.ok()) << testing::PrintToString(r.errors);
    EXPECT_EQ(r.config.node_name, "second");
    EXPECT_EQ(r.config.ports.server, 1111);
    EXPECT_EQ(r.config.ports.http, 3333);
    EXPECT_EQ(r.config.retry_join_wan, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(r.config.tls.ca_file, "/ca");
    EXPECT_EQ(r.config.tls.cert_file, "/c");
}

TEST(ConfigMerge, DirectoryLoadsHclAndJsonInLexicalOrder) {
    meshfed::test::temp_dir dir;
    dir.write("b.json", R"({"node_name": "from-b"})");
    dir.write("a.hcl", "node_name = \"from-a\"\ndata_dir = \"/d\"\n");
    dir.write("c.hcl", "datacenter = \"dc7\"\n");
    dir.write("notes.txt", "not config");
    auto r = load_config({dir.path().string()}, test_opts());
    ASSERT_TRUE(r.ok()) << testing::PrintToString(r.errors);
    EXPECT_EQ(r.config.node_name, "from-b");
    EXPECT_EQ(r.config.datacenter, "dc7");
    ASSERT_EQ(r.config.sources.size(), 3u);
    EXPECT_THAT(r.config.sources[0], HasSubstr("a.hcl"));
    EXPECT_THAT(r.warnings, Contains(HasSubstr("skipping file")));
}

TEST(ConfigMerge, FilesAndDirectoriesInArgumentOrder) {
    meshfed::test::temp_dir dir;
    std::filesystem::create_directory(dir / "conf.d");
    dir.write("conf.d/x.hcl", "node_name = \"dir\"\n");
    dir.write("main.hcl", "node_name = \"file\"\ndata_dir = \"/d\"\n");
    auto r = load_config({(dir / "main.hcl").string(), (dir / "conf.d").string()}, test_opts());
    ASSERT_TRUE(r.ok()) << testing::PrintToString(r.errors);
    EXPECT_EQ(r.config.node_name, "dir");
}

TEST(ConfigMerge, CommandLineOverridesComeLast) {
    meshfed::test::temp_dir dir;
    dir.write("main.hcl", "node_name = \"file\"\ndata_dir = \"/d\"\n");
    auto opts = test_opts();
    opts.overrides.push_back({"flags.json", R"({"node_name": "flag"})"});
    auto r = load_config({(dir / "main.hcl").string()}, opts);
    ASSERT_TRUE(r.ok()) << testing::PrintToString(r.errors);
    EXPECT_EQ(r.config.node_name, "flag");
}

TEST(ConfigLoad, MissingFileAndBadExtensionAreReported) {
    meshfed::test::temp_dir dir;
    dir.write("x.yaml", "a: 1");
    auto r = load_config({(dir / "nope.hcl").string(), (dir / "x.yaml").string()}, test_opts());
    EXPECT_THAT(r.errors, has_error("nope.hcl: no such file or directory"));
    EXPECT_THAT(r.errors, has_error("x.yaml: unsupported config file extension"));
}

TEST(ConfigLoad, ReportsEveryProblemNotJustTheFirst) {
    auto r = load_config_sources({{"a.hcl", "bind_adr = \"x\"\n"},
                                  {"b.hcl", "ports { server = 99999 }\nencrypt = \"zz\"\n"}},
                                 test_opts());
    EXPECT_THAT(r.errors, has_error("unknown configuration key 'bind_adr'"));
    EXPECT_THAT(r.errors, has_error("ports.server: invalid port 99999"));
    EXPECT_THAT(r.errors, has_error("encrypt has invalid key"));
    EXPECT_THAT(r.errors, has_error("data_dir cannot be empty"));
}

TEST(ConfigLegacyTls, TopLevelKeysMapWithWarningAndNewFormWins) {
    auto r = load_hcl(R"(ca_file = "/old-ca"
verify_server_hostname = true
tls { defaults { ca_file = "/new-ca" } })");
    ASSERT_TRUE(r.ok()) << testing::PrintToString(r.errors);
    EXPECT_EQ(r.config.tls.ca_file, "/new-ca");
    EXPECT_TRUE(r.config.tls.verify_server_hostname);
    EXPECT_THAT(r.warnings, Contains(HasSubstr(
                                "The 'ca_file' field is deprecated. Use the 'tls.defaults.ca_file' "
                                "field instead.")));
}

// Validation texts (Consul's own where Consul has one).
struct validation_case {
    const char* name;
    const char* hcl;
    const char* error;
};

class ConfigValidation : public ::testing::TestWithParam<validation_case> {};

TEST_P(ConfigValidation, RejectsWithText) {
    auto r = load_hcl(GetParam().hcl);
    EXPECT_THAT(r.errors, has_error(GetParam().error)) << testing::PrintToString(r.errors);
}

INSTANTIATE_TEST_SUITE_P(
    Texts, ConfigValidation,
    ::testing::Values(
        validation_case{"retry_join_wan_with_wanfed",
                        R"(server = true
retry_join_wan = ["1.2.3.4"]
connect { enable_mesh_gateway_wan_federation = true })",
                        "'retry_join_wan' is incompatible with "
                        "'connect.enable_mesh_gateway_wan_federation = true'"},
        validation_case{"primary_gateways_in_primary",
                        "server = true\nprimary_gateways = [\"127.0.0.1:443\"]\n",
                        "'primary_gateways' should only be configured in a secondary datacenter"},
        validation_case{"primary_gateways_needs_server",
                        "primary_datacenter = \"dc1\"\ndatacenter = \"dc2\"\n"
                        "primary_gateways = [\"127.0.0.1:443\"]\n",
                        "'primary_gateways' requires 'server = true'"},
        validation_case{"wanfed_needs_connect",
                        "server = true\nconnect { enabled = false "
                        "enable_mesh_gateway_wan_federation = true }\n",
                        "'connect.enable_mesh_gateway_wan_federation=true' requires "
                        "'connect.enabled=true'"},
        validation_case{"wanfed_needs_server",
                        "connect { enable_mesh_gateway_wan_federation = true }\n",
                        "'connect.enable_mesh_gateway_wan_federation = true' requires 'server = "
                        "true'"},
        validation_case{"wanfed_node_slash",
                        "server = true\nnode_name = \"a/b\"\n"
                        "connect { enable_mesh_gateway_wan_federation = true }\n",
                        "requires that 'node_name' not contain '/' characters"},
        validation_case{"wanfed_needs_tls",
                        "server = true\nconnect { enable_mesh_gateway_wan_federation = true }\n",
                        "'connect.enable_mesh_gateway_wan_federation = true' requires TLS"},
        validation_case{"encrypt_bad_base64", "encrypt = \"not base64!\"\n",
                        "encrypt has invalid key: illegal base64 data at input byte"},
        validation_case{"encrypt_bad_size", "encrypt = \"AAAA\"\n",
                        "encrypt has invalid key: key size must be 16, 24 or 32 bytes"},
        validation_case{"node_with_dot", "node_name = \"a.b\"\n",
                        "node_name \"a.b\" must not contain '.'"},
        validation_case{"empty_node", "node_name = \"\"\n", "node_name cannot be empty"},
        validation_case{"dc_with_dot", "datacenter = \"dc.1\"\n",
                        "can only contain lowercase alphanumeric, - or _ characters."},
        validation_case{"empty_dc", "datacenter = \"\"\n", "datacenter cannot be empty"},
        validation_case{"port_range", "ports { http = 70000 }\n", "ports.http: invalid port 70000"},
        validation_case{"server_port_cannot_disable", "ports { server = -1 }\n",
                        "ports.server: invalid port -1"},
        validation_case{"bootstrap_needs_server", "bootstrap = true\n",
                        "'bootstrap = true' requires 'server = true'"},
        validation_case{"bootstrap_exclusive",
                        "server = true\nbootstrap = true\nbootstrap_expect = 1\n",
                        "'bootstrap_expect > 0' and 'bootstrap = true' are mutually exclusive"},
        validation_case{"multi_server_not_yet", "server = true\nbootstrap_expect = 3\n",
                        "multi-server datacenters are not supported yet"},
        validation_case{"bad_bind", "bind_addr = \"localhost\"\n",
                        "bind_addr: \"localhost\" is not a valid IP address"},
        validation_case{"bad_tls_version", "tls { defaults { tls_min_version = \"SSLv3\" } }\n",
                        "tls.defaults.tls_min_version: invalid value \"SSLv3\""},
        validation_case{"verify_incoming_needs_ca", "tls { defaults { verify_incoming = true } }\n",
                        "VerifyIncoming set, and no CA certificate provided!"},
        validation_case{"bad_log_level", "log_level = \"loud\"\n",
                        "log_level: invalid value \"loud\""},
        validation_case{"probe_timeout_gt_interval", "gossip_wan { probe_timeout = \"10s\" }\n",
                        "gossip_wan.probe_timeout (10000ms) must not be longer than "
                        "gossip_wan.probe_interval (5000ms)"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(GossipKey, DecodesValidKeys) {
    auto k = meshfed::config::decode_gossip_key(good_key);
    ASSERT_TRUE(k);
    EXPECT_EQ(k->size(), 32u);
    EXPECT_TRUE(meshfed::config::decode_gossip_key("AAAAAAAAAAAAAAAAAAAAAA=="));  // 16 bytes
}

TEST(EditDistance, Basics) {
    EXPECT_EQ(meshfed::config::edit_distance("bind_adr", "bind_addr"), 1u);
    EXPECT_EQ(meshfed::config::edit_distance("", "abc"), 3u);
    EXPECT_EQ(meshfed::config::edit_distance("same", "same"), 0u);
}
