// The HTTP-client CLI verbs: formatters against fixtures shaped like Consul's API responses
// (api.AgentMember, api.Node, api.KeyringResponse, /v1/agent/self), flag and address handling,
// and the runners against a small httplib::Server standing in for the agent's HTTP API.
#include "agent/cli_verbs.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <mutex>
#include <sstream>
#include <thread>

#include "agent/cli.hpp"
#include "agent/httplib.hpp"
#include "tests/support/certs.hpp"
#include "tests/support/process.hpp"

namespace {

using namespace meshfed::agent::cli;
using json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Members of a WAN pool as Consul's /v1/agent/members?wan=1 returns them (serf tags of servers).
json wan_members() {
    auto server = [](const char* name, const char* addr, int port, const char* dc, int status) {
        return json{{"Name", name},
                    {"Addr", addr},
                    {"Port", port},
                    {"Tags",
                     {{"build", "1.17.0:abcd1234"},
                      {"dc", dc},
                      {"port", "8300"},
                      {"role", "consul"},
                      {"vsn", "2"},
                      {"vsn_max", "3"},
                      {"vsn_min", "2"}}},
                    {"Status", status},
                    {"ProtocolMin", 1},
                    {"ProtocolMax", 5},
                    {"ProtocolCur", 2},
                    {"DelegateMin", 2},
                    {"DelegateMax", 5},
                    {"DelegateCur", 4}};
    };
    return json::array({server("s2.dc1", "10.0.0.2", 8302, "dc1", 4),
                        server("s1.dc2", "127.0.0.1", 8702, "dc2", 1),
                        server("s1.dc1", "10.0.0.1", 8302, "dc1", 1)});
}

const char* const wan_members_table =
    "Node    Address         Status  Type    Build   Protocol  DC   Partition  Segment\n"
    "s1.dc1  10.0.0.1:8302   alive   server  1.17.0  2         dc1  default    <all>\n"
    "s1.dc2  127.0.0.1:8702  alive   server  1.17.0  2         dc2  default    <all>\n"
    "s2.dc1  10.0.0.2:8302   failed  server  1.17.0  2         dc1  default    <all>\n";

// ---- formatters ------------------------------------------------------------------------------

TEST(CliColumnize, PadsEveryColumnButTheLastToItsWidestFieldPlusTwo) {
    EXPECT_EQ(columnize({"a\x1f"
                         "bb\x1f"
                         "c",
                         " ddd \x1f"
                         "e\x1f"
                         "f"}),
              "a    bb  c\n"
              "ddd  e   f");
    // Rows with fewer fields stop early; a trailing empty field still gets its padding.
    EXPECT_EQ(columnize({"x\x1fy", "long\x1f"}), "x     y\nlong  ");
    EXPECT_EQ(columnize({}), "");
}

TEST(CliMembers, StandardTableSortsServersByNameWithConsulColumns) {
    auto v = format_members(wan_members(), {});
    EXPECT_EQ(v.code, 0);
    EXPECT_EQ(v.err, "");
    EXPECT_EQ(v.out, wan_members_table);
}

TEST(CliMembers, ServersComeFirstClientsGetDefaultSegmentUnknownRoleHasEmptyColumns) {
    json members = wan_members();
    members.push_back(
        {{"Name", "a-client"},
         {"Addr", "10.0.0.9"},
         {"Port", 8301},
         {"Tags", {{"role", "node"}, {"dc", "dc1"}, {"vsn", "2"}, {"build", "1.16.2"}}},
         {"Status", 1}});
    members.push_back({{"Name", "b-serf"},
                       {"Addr", "::1"},
                       {"Port", 7946},
                       {"Tags", json::object()},
                       {"Status", 3}});
    auto v = format_members(members, {});
    EXPECT_EQ(v.code, 0);
    EXPECT_EQ(
        v.out,
        "Node      Address         Status  Type     Build   Protocol  DC   Partition  Segment\n"
        "s1.dc1    10.0.0.1:8302   alive   server   1.17.0  2         dc1  default    <all>\n"
        "s1.dc2    127.0.0.1:8702  alive   server   1.17.0  2         dc2  default    <all>\n"
        "s2.dc1    10.0.0.2:8302   failed  server   1.17.0  2         dc1  default    <all>\n"
        "a-client  10.0.0.9:8301   alive   client   1.16.2  2         dc1  default    <default>\n"
        "b-serf    [::1]:7946      left    unknown" +
            std::string(36, ' ') + "\n");
}

TEST(CliMembers, DetailedPrintsSortedTagsIncludingFilledPartitionAndSegment) {
    members_options opts;
    opts.detailed = true;
    opts.status = "alive";
    auto v = format_members(wan_members(), opts);
    EXPECT_EQ(v.code, 0);
    EXPECT_EQ(v.out,
              "Node    Address         Status  Tags\n"
              "s1.dc1  10.0.0.1:8302   alive   ap=default,build=1.17.0:abcd1234,dc=dc1,port=8300,"
              "role=consul,segment=<all>,vsn=2,vsn_max=3,vsn_min=2\n"
              "s1.dc2  127.0.0.1:8702  alive   ap=default,build=1.17.0:abcd1234,dc=dc2,port=8300,"
              "role=consul,segment=<all>,vsn=2,vsn_max=3,vsn_min=2\n");
}

TEST(CliMembers, StatusFilterAndNoMatchExitTwoWithoutOutput) {
    members_options opts;
    opts.status = "fail";
    auto v = format_members(wan_members(), opts);
    EXPECT_EQ(v.code, 0);
    EXPECT_EQ(v.out,
              "Node    Address        Status  Type    Build   Protocol  DC   Partition  Segment\n"
              "s2.dc1  10.0.0.2:8302  failed  server  1.17.0  2         dc1  default    <all>\n");
    opts.status = "^left$";
    v = format_members(wan_members(), opts);
    EXPECT_EQ(v.code, 2);
    EXPECT_EQ(v.out, "");
    EXPECT_EQ(v.err, "");
    EXPECT_EQ(format_members(json(nullptr), {}).code, 2);
}

TEST(CliMembers, BadRegexAndWrongShapeAreErrors) {
    members_options opts;
    opts.status = "(";
    auto v = format_members(wan_members(), opts);
    EXPECT_EQ(v.code, 1);
    EXPECT_THAT(v.err, StartsWith("Failed to compile status regexp: "));
    v = format_members(json{{"Name", "x"}}, {});
    EXPECT_EQ(v.code, 1);
    EXPECT_EQ(v.err,
              "Error retrieving members: json: cannot unmarshal object into "
              "[]*api.AgentMember\n");
    // Fields of the wrong type read as empty instead of throwing.
    v = format_members(json::array({{{"Name", 5}, {"Addr", true}, {"Port", "x"}, {"Tags", 3}}}),
                       {});
    EXPECT_EQ(v.code, 0);
    EXPECT_EQ(v.out,
              "Node  Address  Status  Type     Build  Protocol  DC  Partition  Segment\n"
              "      :0       none    unknown                                  \n");
}

TEST(CliCatalog, DatacentersOnePerLine) {
    EXPECT_EQ(format_datacenters(json{"dc1", "dc2"}).out, "dc1\ndc2\n");
    EXPECT_EQ(format_datacenters(json::object()).code, 1);
}

TEST(CliCatalog, ServicesSortedAndWithTagsInATabwriterColumn) {
    json services = {{"web", {"v2", "primary"}}, {"consul", json::array()}, {"db", nullptr}};
    EXPECT_EQ(format_services(services, false).out, "consul\ndb\nweb\n");
    // The name column is the widest name plus six; lines without tags keep their padding
    // except the last line of the output (Consul trims the whole text).
    EXPECT_EQ(format_services(services, true).out,
              "consul      \n"
              "db          \n"
              "web         primary,v2\n");
    json no_tags_last = {{"web", {"a"}}, {"zz", json::array()}};
    EXPECT_EQ(format_services(no_tags_last, true).out, "web      a\nzz\n");
}

TEST(CliCatalog, NoServicesIsAMessageOnStderrAndExitZero) {
    for (const auto& empty : {json::object(), json(nullptr)}) {
        auto v = format_services(empty, false);
        EXPECT_EQ(v.code, 0);
        EXPECT_EQ(v.out, "");
        EXPECT_EQ(v.err, "No services match the given query - try expanding your search.\n");
    }
}

TEST(CliCatalog, ServicesOfANodeMergeInstancesTags) {
    json node = {
        {"Node", {{"ID", "40e4a748-2192-161a-0510-9bf59fe950b5"}, {"Node", "s1"}}},
        {"Services",
         {{"web1", {{"ID", "web1"}, {"Service", "web"}, {"Tags", {"b"}}, {"Port", 80}}},
          {"web2", {{"ID", "web2"}, {"Service", "web"}, {"Tags", {"a"}}, {"Port", 81}}},
          {"consul", {{"ID", "consul"}, {"Service", "consul"}, {"Tags", json::array()}}}}}};
    json services = services_of_node(node);
    EXPECT_EQ(services, (json{{"consul", json::array()}, {"web", {"b", "a"}}}));
    EXPECT_EQ(format_services(services, true).out, "consul      \nweb         a,b\n");
    EXPECT_TRUE(services_of_node(json(nullptr)).is_null());
}

json catalog_nodes() {
    return json::array({{{"ID", "40e4a748-2192-161a-0510-9bf59fe950b5"},
                         {"Node", "s1"},
                         {"Address", "127.0.0.1"},
                         {"Datacenter", "dc1"},
                         {"TaggedAddresses", {{"wan", "10.1.0.1"}, {"lan", "127.0.0.1"}}},
                         {"Meta", {{"consul-network-segment", ""}}},
                         {"CreateIndex", 5},
                         {"ModifyIndex", 6}},
                        {{"ID", ""},
                         {"Node", "external-db"},
                         {"Address", "10.9.9.9"},
                         {"Datacenter", "dc1"},
                         {"TaggedAddresses", nullptr},
                         {"Meta", {{"env", "prod"}, {"external", "true"}}}}});
}

TEST(CliCatalog, NodesTableShortensIds) {
    auto v = format_nodes(catalog_nodes(), false);
    EXPECT_EQ(v.code, 0);
    EXPECT_EQ(v.out,
              "Node         ID        Address    DC\n"
              "s1           40e4a748  127.0.0.1  dc1\n"
              "external-db            10.9.9.9   dc1\n");
}

TEST(CliCatalog, NodesDetailedAddsTaggedAddressesAndMeta) {
    auto v = format_nodes(catalog_nodes(), true);
    EXPECT_EQ(v.out,
              "Node         ID                                    Address    DC   "
              "TaggedAddresses              Meta\n"
              "s1           40e4a748-2192-161a-0510-9bf59fe950b5  127.0.0.1  dc1  "
              "lan=127.0.0.1, wan=10.1.0.1  consul-network-segment=\n"
              "external-db                                        10.9.9.9   dc1  "
              "                             env=prod, external=true\n");
}

TEST(CliCatalog, NodesOfAServiceUseNodeMetaAndEmptyIsAMessage) {
    json service_nodes = json::array({{{"ID", "40e4a748-2192-161a-0510-9bf59fe950b5"},
                                       {"Node", "s1"},
                                       {"Address", "127.0.0.1"},
                                       {"Datacenter", "dc2"},
                                       {"TaggedAddresses", {{"lan", "127.0.0.1"}}},
                                       {"NodeMeta", {{"rack", "r1"}}},
                                       {"ServiceID", "web"},
                                       {"ServiceName", "web"},
                                       {"ServicePort", 80}}});
    auto v = format_nodes(nodes_of_service(service_nodes), true);
    EXPECT_EQ(v.out,
              "Node  ID                                    Address    DC   TaggedAddresses  Meta\n"
              "s1    40e4a748-2192-161a-0510-9bf59fe950b5  127.0.0.1  dc2  lan=127.0.0.1    "
              "rack=r1\n");
    v = format_nodes(nodes_of_service(json::array()), false);
    EXPECT_EQ(v.code, 0);
    EXPECT_EQ(v.err, "No nodes match the given query - try expanding your search.\n");
}

json keyring_responses() {
    return json::array(
        {{{"WAN", true},
          {"Datacenter", "dc1"},
          {"Segment", ""},
          {"Keys",
           {{"pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=", 2}, {"HS5lJ+XuTlYKWaeGYyG+/A==", 1}}},
          {"PrimaryKeys", {{"pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=", 2}}},
          {"NumNodes", 2}},
         {{"WAN", false},
          {"Datacenter", "dc1"},
          {"Segment", ""},
          {"Partition", "team-a"},
          {"Messages", {{"s2.dc1", "key not installed"}}},
          {"Keys", {{"pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=", 1}}},
          {"PrimaryKeys", {{"pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=", 1}}},
          {"NumNodes", 1}}});
}

TEST(CliKeyring, ListShowsEachPoolWithKeyCounts) {
    auto v = format_keyring(keyring_responses(), false);
    EXPECT_EQ(v.code, 0);
    EXPECT_EQ(v.out,
              "\n"
              "WAN:\n"
              "  HS5lJ+XuTlYKWaeGYyG+/A== [1/2]\n"
              "  pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s= [2/2]\n"
              "\n"
              "dc1 (LAN) [partition: team-a]:\n"
              "  ===> s2.dc1: key not installed\n"
              "  pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s= [1/1]\n");
    v = format_keyring(keyring_responses(), true);
    EXPECT_THAT(v.out,
                StartsWith("\nWAN:\n  pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s= [2/2]\n\n"));
}

TEST(CliInfo, StatsSectionsAndKeysSorted) {
    json self = {{"Config", {{"Datacenter", "dc1"}}},
                 {"Stats",
                  {{"consul", {{"server", "true"}, {"leader", "true"}}},
                   {"agent", {{"services", "1"}, {"check_monitors", "0"}}},
                   {"runtime", {{"goroutines", 7}}}}}};
    auto v = format_info(self);
    EXPECT_EQ(v.code, 0);
    EXPECT_EQ(v.out,
              "agent:\n\tcheck_monitors = 0\n\tservices = 1\n"
              "consul:\n\tleader = true\n\tserver = true\n"
              "runtime:\n\tgoroutines = 7\n");
    v = format_info(json{{"Config", json::object()}});
    EXPECT_EQ(v.code, 1);
    EXPECT_THAT(v.err, StartsWith("Agent response did not contain 'Stats' key: "));
}

// ---- address, flags, URL encoding ------------------------------------------------------------

env_lookup env_of(std::map<std::string, std::string> vars) {
    return [vars](const std::string& k) -> std::optional<std::string> {
        auto it = vars.find(k);
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

TEST(CliHttpConfig, DefaultsFlagsAndEnvironment) {
    auto c = resolve_http_config({}, env_of({}));
    ASSERT_TRUE(c);
    EXPECT_EQ(c->scheme, "http");
    EXPECT_EQ(c->host_port(), "127.0.0.1:8500");

    c = resolve_http_config({}, env_of({{"CONSUL_HTTP_ADDR", "http://10.0.0.5:9500"},
                                        {"CONSUL_HTTP_TOKEN", "env-token"}}));
    ASSERT_TRUE(c);
    EXPECT_EQ(c->host_port(), "10.0.0.5:9500");
    EXPECT_EQ(c->token, "env-token");

    c = resolve_http_config({}, env_of({{"CONSUL_HTTP_ADDR", "10.0.0.5:9500"},
                                        {"MESHFED_HTTP_ADDR", "https://meshfed.local:8501"}}));
    ASSERT_TRUE(c);
    EXPECT_EQ(c->scheme, "https");
    EXPECT_EQ(c->host_port(), "meshfed.local:8501");

    http_flags f;
    f.http_addr = "[::1]:8600";
    f.token = "flag-token";
    f.datacenter = "dc2";
    c = resolve_http_config(
        f, env_of({{"CONSUL_HTTP_ADDR", "10.0.0.5:9500"}, {"CONSUL_HTTP_TOKEN", "env-token"}}));
    ASSERT_TRUE(c);
    EXPECT_EQ(c->host, "::1");
    EXPECT_EQ(c->host_port(), "[::1]:8600");
    EXPECT_EQ(c->token, "flag-token");
    EXPECT_EQ(c->datacenter, "dc2");

    // CONSUL_HTTP_SSL selects https; a bare host uses the scheme's port.
    f = {};
    f.http_addr = "consul.example";
    c = resolve_http_config(
        f, env_of({{"CONSUL_HTTP_SSL", "true"}, {"CONSUL_HTTP_SSL_VERIFY", "false"}}));
    ASSERT_TRUE(c);
    EXPECT_EQ(c->scheme, "https");
    EXPECT_EQ(c->port, 443);
    EXPECT_FALSE(c->verify_tls);
}

TEST(CliHttpConfig, BadAddressesAndFilesAreConnectErrors) {
    http_flags f;
    f.http_addr = "ftp://x:1";
    auto c = resolve_http_config(f, env_of({}));
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error(), "Unknown protocol scheme: ftp");
    f.http_addr = "127.0.0.1:99999";
    EXPECT_FALSE(resolve_http_config(f, env_of({})));
    f = {};
    f.token_file = "/nonexistent/token";
    c = resolve_http_config(f, env_of({}));
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error(),
              "Error loading token file: open /nonexistent/token: no such file or directory");

    meshfed::test::temp_dir dir;
    std::ofstream(dir.path() / "token") << "  file-token\n";
    f.token_file = (dir.path() / "token").string();
    f.token = "flag-token";
    c = resolve_http_config(f, env_of({}));
    ASSERT_TRUE(c);
    EXPECT_EQ(c->token, "file-token");  // a token file replaces -token, as in Consul's client
}

TEST(CliHttpConfig, QueryAndPathEncodingFollowGo) {
    EXPECT_EQ(encode_query({{"wan", "1"}, {"segment", "_all"}, {"filter", "a b&c=\"d\""}}),
              "filter=a+b%26c%3D%22d%22&segment=_all&wan=1");
    EXPECT_EQ(escape_path("/v1/agent/join/127.0.0.1:8302"), "/v1/agent/join/127.0.0.1:8302");
    EXPECT_EQ(escape_path("/v1/agent/join/[::1]:8302"), "/v1/agent/join/%5B::1%5D:8302");
    EXPECT_EQ(escape_path("/v1/catalog/node/a b?"), "/v1/catalog/node/a%20b%3F");
    EXPECT_EQ(unexpected_response_text(500, "No path to datacenter\n"),
              "Unexpected response code: 500 (No path to datacenter)");
}

// ---- runners against a stand-in for the agent's HTTP API --------------------------------------

// httplib::Server on a free loopback port; records "METHOD /path?sorted&params" per request.
class fake_agent {
  public:
    fake_agent() {
        port_ = server_.bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ~fake_agent() {
        server_.stop();
        thread_.join();
    }
    // Serves `method pattern` with `handler`, recording each request before it is answered
    // (so the log is complete when the client has its reply).
    void on(const std::string& method, const std::string& pattern,
            httplib::Server::Handler handler) {
        auto logged = [this, handler](const httplib::Request& req, httplib::Response& res) {
            record(req);
            handler(req, res);
        };
        if (method == "GET") server_.Get(pattern, logged);
        if (method == "PUT") server_.Put(pattern, logged);
        if (method == "POST") server_.Post(pattern, logged);
        if (method == "DELETE") server_.Delete(pattern, logged);
    }
    int port() const { return port_; }
    http_config config() const {
        http_config c;
        c.host = "127.0.0.1";
        c.port = port_;
        return c;
    }
    std::vector<std::string> log() {
        std::lock_guard lock(mu_);
        return log_;
    }

  private:
    void record(const httplib::Request& req) {
        std::string line = req.method + " " + req.path;
        char sep = '?';
        for (const auto& [k, v] : req.params) {
            line += sep + k + "=" + v;
            sep = '&';
        }
        if (req.has_header("X-Consul-Token"))
            line += " token=" + req.get_header_value("X-Consul-Token");
        if (!req.body.empty()) line += " body=" + req.body;
        std::lock_guard lock(mu_);
        log_.push_back(line);
    }

    httplib::Server server_;
    int port_ = 0;
    std::thread thread_;
    std::mutex mu_;
    std::vector<std::string> log_;
};

void reply_json(httplib::Response& res, const json& j) {
    res.set_content(j.dump(), "application/json");
}

struct ran {
    int code;
    std::string out, err;
};

template <class F>
ran capture(F&& f) {
    std::ostringstream out, err;
    int code = f(out, err);
    return {code, out.str(), err.str()};
}

TEST(CliVerbsHttp, MembersWanQueriesTheAgentAndPrintsTheTable) {
    fake_agent agent;
    agent.on("GET", "/v1/agent/members", [](const httplib::Request&, httplib::Response& res) {
        reply_json(res, wan_members());
    });
    auto cfg = agent.config();
    cfg.token = "secret";
    members_options opts;
    opts.wan = true;
    auto r = capture([&](auto& o, auto& e) { return run_members(cfg, opts, o, e); });
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, wan_members_table);
    EXPECT_EQ(agent.log(),
              std::vector<std::string>{"GET /v1/agent/members?segment=_all&wan=1 token=secret"});
}

TEST(CliVerbsHttp, ServerErrorsPrintConsulsUnexpectedResponseText) {
    fake_agent agent;
    agent.on("GET", "/v1/catalog/services", [](const httplib::Request&, httplib::Response& res) {
        res.status = 500;
        res.set_content("No path to datacenter", "text/plain");
    });
    auto cfg = agent.config();
    cfg.datacenter = "dc9";
    auto r = capture(
        [&](auto& o, auto& e) { return run_catalog_services(cfg, services_options{}, o, e); });
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err,
              "Error listing services: Unexpected response code: 500 (No path to datacenter)\n");
    EXPECT_EQ(agent.log(), std::vector<std::string>{"GET /v1/catalog/services?dc=dc9"});
}

TEST(CliVerbsHttp, ConnectionRefusedPrintsGosDialError) {
    int port = meshfed::test::free_tcp_port();
    http_config cfg;
    cfg.port = port;
    auto r = capture([&](auto& o, auto& e) { return run_members(cfg, members_options{}, o, e); });
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err, fmt::format("Error retrieving members: Get \"http://127.0.0.1:{0}/v1/agent/"
                                 "members?segment=_all\": dial tcp 127.0.0.1:{0}: connect: "
                                 "connection refused\n",
                                 port));
    // A bad -http-addr fails before any request, with Consul's prefix.
    r = capture([&](auto& o, auto& e) {
        return run_info(std::unexpected(std::string("Unknown protocol scheme: ftp")), o, e);
    });
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err, "Error connecting to Consul agent: Unknown protocol scheme: ftp\n");
}

TEST(CliVerbsHttp, MalformedReplyIsAnErrorNotACrash) {
    fake_agent agent;
    agent.on("GET", "/v1/catalog/datacenters", [](const httplib::Request&, httplib::Response& res) {
        res.set_content("[\"dc1\", ", "application/json");
    });
    auto r =
        capture([&](auto& o, auto& e) { return run_catalog_datacenters(agent.config(), o, e); });
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err, "Error listing datacenters: invalid JSON in the agent's response\n");
}

TEST(CliVerbsHttp, CatalogNodesForAServiceAndServicesOfANode) {
    fake_agent agent;
    agent.on("GET", "/v1/catalog/service/web", [](const httplib::Request&, httplib::Response& res) {
        reply_json(res, json::array({{{"ID", "40e4a748-2192-161a-0510-9bf59fe950b5"},
                                      {"Node", "s1"},
                                      {"Address", "127.0.0.1"},
                                      {"Datacenter", "dc1"},
                                      {"ServiceName", "web"}}}));
    });
    agent.on("GET", "/v1/catalog/node/ghost", [](const httplib::Request&, httplib::Response& res) {
        res.set_content("null", "application/json");
    });
    nodes_options nopts;
    nopts.service = "web";
    nopts.node_meta = {"rack=r1"};
    auto r =
        capture([&](auto& o, auto& e) { return run_catalog_nodes(agent.config(), nopts, o, e); });
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out,
              "Node  ID        Address    DC\n"
              "s1    40e4a748  127.0.0.1  dc1\n");
    services_options sopts;
    sopts.node = "ghost";
    r = capture(
        [&](auto& o, auto& e) { return run_catalog_services(agent.config(), sopts, o, e); });
    EXPECT_EQ(r.code, 0);
    EXPECT_EQ(r.err, "No services match the given query - try expanding your search.\n");
    EXPECT_EQ(agent.log(),
              (std::vector<std::string>{"GET /v1/catalog/service/web?node-meta=rack:r1",
                                        "GET /v1/catalog/node/ghost"}));
}

TEST(CliVerbsHttp, JoinCountsSuccessesAndReportsEachFailure) {
    fake_agent agent;
    agent.on("PUT", R"(/v1/agent/join/(.*))",
             [](const httplib::Request& req, httplib::Response& res) {
                 if (req.matches[1] == "10.0.0.9:8302") {
                     res.status = 500;
                     res.set_content("dial tcp 10.0.0.9:8302: i/o timeout", "text/plain");
                 }
             });
    std::vector<std::string> addrs{"127.0.0.1:8302", "10.0.0.9:8302"};
    auto r = capture(
        [&](auto& o, auto& e) { return run_join(agent.config(), addrs, true, "HELP", o, e); });
    EXPECT_EQ(r.code, 0);
    EXPECT_EQ(r.out, "Successfully joined cluster by contacting 1 nodes.\n");
    EXPECT_EQ(r.err,
              "Error joining address '10.0.0.9:8302': Unexpected response code: 500 (dial tcp "
              "10.0.0.9:8302: i/o timeout)\n");
    EXPECT_EQ(agent.log(), (std::vector<std::string>{"PUT /v1/agent/join/127.0.0.1:8302?wan=1",
                                                     "PUT /v1/agent/join/10.0.0.9:8302?wan=1"}));

    r = capture([&](auto& o, auto& e) {
        return run_join(agent.config(), {"10.0.0.9:8302"}, false, "HELP", o, e);
    });
    EXPECT_EQ(r.code, 1);
    EXPECT_THAT(r.err, HasSubstr("Failed to join any nodes.\n"));
    r = capture([&](auto& o, auto& e) { return run_join(agent.config(), {}, true, "HELP", o, e); });
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err, "At least one address to join must be specified.\n\nHELP\n");
}

TEST(CliVerbsHttp, ForceLeaveLeaveAndInfo) {
    fake_agent agent;
    agent.on("PUT", R"(/v1/agent/force-leave/(.*))",
             [](const httplib::Request&, httplib::Response&) {});
    agent.on("PUT", "/v1/agent/leave", [](const httplib::Request&, httplib::Response&) {});
    agent.on("GET", "/v1/agent/self", [](const httplib::Request&, httplib::Response& res) {
        reply_json(res, {{"Stats", {{"consul", {{"server", "true"}}}}}});
    });
    auto r = capture([&](auto& o, auto& e) {
        return run_force_leave(agent.config(), {"s2.dc1"}, true, true, "HELP", o, e);
    });
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "");
    r = capture([&](auto& o, auto& e) {
        return run_force_leave(agent.config(), {"a", "b"}, false, true, "HELP", o, e);
    });
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err, "A single node name must be specified to force leave.\n\nHELP\n");

    r = capture([&](auto& o, auto& e) { return run_leave(agent.config(), {}, "HELP", o, e); });
    EXPECT_EQ(r.code, 0);
    EXPECT_EQ(r.out, "Graceful leave complete\n");
    r = capture([&](auto& o, auto& e) {
        return run_leave(agent.config(), {"x", "y"}, "HELP", o, e);
    });
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err, "Error found unexpected args: [x y]\n");
    EXPECT_EQ(r.out, "HELP\n");

    r = capture([&](auto& o, auto& e) { return run_info(agent.config(), o, e); });
    EXPECT_EQ(r.code, 0);
    EXPECT_EQ(r.out, "consul:\n\tserver = true\n");
    EXPECT_EQ(agent.log(),
              (std::vector<std::string>{"PUT /v1/agent/force-leave/s2.dc1?prune=1&wan=1",
                                        "PUT /v1/agent/leave", "GET /v1/agent/self"}));
}

TEST(CliVerbsHttp, KeyringActions) {
    fake_agent agent;
    agent.on("GET", "/v1/operator/keyring", [](const httplib::Request&, httplib::Response& res) {
        reply_json(res, keyring_responses());
    });
    auto ok = [](const httplib::Request&, httplib::Response&) {};
    agent.on("POST", "/v1/operator/keyring", ok);
    agent.on("PUT", "/v1/operator/keyring", ok);
    agent.on("DELETE", "/v1/operator/keyring", [](const httplib::Request&, httplib::Response& res) {
        res.status = 500;
        res.set_content("1 error occurred:\n\t* removing primary key is not allowed\n\n",
                        "text/plain");
    });

    keyring_options list;
    list.list = true;
    list.relay_factor = 2;
    auto r =
        capture([&](auto& o, auto& e) { return run_keyring(agent.config(), list, "H", o, e); });
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_THAT(r.out, StartsWith("==> Gathering installed encryption keys...\n\nWAN:\n"));

    keyring_options install;
    install.install = "HS5lJ+XuTlYKWaeGYyG+/A==";
    r = capture([&](auto& o, auto& e) { return run_keyring(agent.config(), install, "H", o, e); });
    EXPECT_EQ(r.code, 0);
    EXPECT_EQ(r.out, "==> Installing new gossip encryption key...\n");

    keyring_options use;
    use.use = "HS5lJ+XuTlYKWaeGYyG+/A==";
    r = capture([&](auto& o, auto& e) { return run_keyring(agent.config(), use, "H", o, e); });
    EXPECT_EQ(r.out, "==> Changing primary gossip encryption key...\n");

    keyring_options remove;
    remove.remove = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=";
    r = capture([&](auto& o, auto& e) { return run_keyring(agent.config(), remove, "H", o, e); });
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.out, "==> Removing gossip encryption key...\n");
    EXPECT_EQ(r.err,
              "error: Unexpected response code: 500 (1 error occurred:\n\t* removing primary key "
              "is not allowed)\n");

    EXPECT_EQ(agent.log(),
              (std::vector<std::string>{
                  "GET /v1/operator/keyring?relay-factor=2",
                  "POST /v1/operator/keyring body={\"Key\":\"HS5lJ+XuTlYKWaeGYyG+/A==\"}",
                  "PUT /v1/operator/keyring body={\"Key\":\"HS5lJ+XuTlYKWaeGYyG+/A==\"}",
                  "DELETE /v1/operator/keyring "
                  "body={\"Key\":\"pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=\"}"}));

    // Argument checks come before any request.
    keyring_options two = install;
    two.list = true;
    r = capture([&](auto& o, auto& e) { return run_keyring(agent.config(), two, "H", o, e); });
    EXPECT_EQ(r.err, "Only a single action is allowed\n");
    r = capture([&](auto& o, auto& e) { return run_keyring(agent.config(), {}, "H", o, e); });
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err, "H\n");
    keyring_options relay = list;
    relay.relay_factor = 6;
    r = capture([&](auto& o, auto& e) { return run_keyring(agent.config(), relay, "H", o, e); });
    EXPECT_EQ(r.err, "Error parsing relay factor: Relay factor must be in range: [0, 5]\n");
}

TEST(CliVerbsHttp, HttpsVerifiesTheAgentAgainstTheCaFile) {
    meshfed::test::temp_dir dir;
    meshfed::test::test_pki pki(dir.path() / "pki");
    ASSERT_TRUE(pki.ok());
    auto leaf = pki.custom("http", {"localhost"}, -60, 3600);
    httplib::SSLServer server(leaf.cert.c_str(), leaf.key.c_str());
    ASSERT_TRUE(server.is_valid());
    server.Get("/v1/catalog/datacenters", [](const httplib::Request&, httplib::Response& res) {
        reply_json(res, json{"dc1"});
    });
    int port = server.bind_to_any_port("127.0.0.1");
    std::thread t([&] { server.listen_after_bind(); });
    while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));

    http_flags f;
    f.http_addr = "https://127.0.0.1:" + std::to_string(port);
    f.ca_file = pki.ca();
    auto cfg = resolve_http_config(f, env_of({}));
    ASSERT_TRUE(cfg) << cfg.error();
    // The certificate names localhost, not 127.0.0.1: verification must fail.
    auto r = capture([&](auto& o, auto& e) { return run_catalog_datacenters(cfg, o, e); });
    EXPECT_EQ(r.code, 1);
    EXPECT_THAT(r.err, HasSubstr("tls: failed to verify certificate"));
    cfg->host = "localhost";
    r = capture([&](auto& o, auto& e) { return run_catalog_datacenters(cfg, o, e); });
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "dc1\n");
    // Without the CA the agent's certificate is not trusted.
    cfg->ca_file.clear();
    r = capture([&](auto& o, auto& e) { return run_catalog_datacenters(cfg, o, e); });
    EXPECT_EQ(r.code, 1);
    EXPECT_THAT(r.err, StartsWith("Error listing datacenters: Get \"https://localhost:"));
    server.stop();
    t.join();
}

// ---- through the meshfed command line -------------------------------------------------------

ran meshfed_cli(std::vector<std::string> args) {
    std::ostringstream out, err;
    int code = meshfed::agent::run_cli(args, out, err);
    return {code, out.str(), err.str()};
}

TEST(CliVerbsCommandLine, GoStyleFlagsReachTheAgent) {
    fake_agent agent;
    agent.on("GET", "/v1/catalog/datacenters", [](const httplib::Request&, httplib::Response& res) {
        reply_json(res, json{"dc1", "dc2"});
    });
    agent.on("GET", "/v1/catalog/services", [](const httplib::Request&, httplib::Response& res) {
        reply_json(res, json{{"consul", json::array()}, {"web", {"v1"}}});
    });
    std::string addr = "http://127.0.0.1:" + std::to_string(agent.port());
    auto r = meshfed_cli({"catalog", "datacenters", "-http-addr", addr});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "dc1\ndc2\n");
    r = meshfed_cli({"catalog", "services", "-http-addr=" + addr, "-datacenter", "dc2", "-tags",
                     "-token", "t0k"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "consul      \nweb         v1\n");
    EXPECT_EQ(agent.log(), (std::vector<std::string>{"GET /v1/catalog/datacenters",
                                                     "GET /v1/catalog/services?dc=dc2 token=t0k"}));
}

TEST(CliVerbsCommandLine, UsageErrorsAndHelp) {
    auto r = meshfed_cli({"catalog", "services", "extra", "-http-addr", "127.0.0.1:1"});
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err, "Too many arguments (expected 0, got 1)\n");
    r = meshfed_cli({"members", "-bogus"});
    EXPECT_EQ(r.code, 1);
    EXPECT_THAT(r.err, StartsWith("flag provided but not defined: -bogus\n"));
    r = meshfed_cli({"join", "-wan"});
    EXPECT_EQ(r.code, 1);
    EXPECT_THAT(r.err, StartsWith("At least one address to join must be specified.\n\n"));
    r = meshfed_cli({"members", "-http-addr", "ftp://x:1"});
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err, "Error connecting to Consul agent: Unknown protocol scheme: ftp\n");
    for (auto verb : std::vector<std::vector<std::string>>{{"members"},
                                                           {"catalog", "datacenters"},
                                                           {"catalog", "services"},
                                                           {"catalog", "nodes"},
                                                           {"join"},
                                                           {"force-leave"},
                                                           {"leave"},
                                                           {"keyring"},
                                                           {"info"}}) {
        verb.push_back("-h");
        r = meshfed_cli(verb);
        EXPECT_EQ(r.code, 0) << verb[0];
        EXPECT_THAT(r.out, HasSubstr("--http-addr")) << verb[0];
    }
    r = meshfed_cli({"catalog", "services", "-h"});
    EXPECT_THAT(r.out, HasSubstr("--tags"));
    EXPECT_THAT(r.out, HasSubstr("--datacenter"));
}

}  // namespace
