// ?filter= expressions (agent/http/filter.hpp): the parser and evaluator on their own (each
// operator, precedence, nesting, selectors through lists and maps, errors and limits), then over
// real HTTP against the catalog/health endpoints on the real handler table and state store.
#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <thread>

#include <fmt/format.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <nlohmann/json.hpp>

#include "agent/http/agent_endpoints.hpp"
#include "agent/http/agent_services.hpp"
#include "agent/http/catalog_endpoints.hpp"
#include "agent/http/filter.hpp"
#include "agent/http/http_api.hpp"
#include "agent/httplib.hpp"
#include "agent/local_state.hpp"
#include "rpc/endpoints.hpp"
#include "rpc/state_store.hpp"

using namespace std::chrono_literals;
using json = nlohmann::json;
namespace http = meshfed::agent::http;
namespace rpc = meshfed::rpc;

namespace {

// A /v1/health/service element.
const json web1 = json::parse(R"({
  "Node": {"Node": "n1", "Address": "10.0.0.1", "Meta": {"env": "prod", "rack": "r1"},
           "TaggedAddresses": {"lan": "10.0.0.1"}},
  "Service": {"ID": "web1", "Service": "web", "Tags": ["v1", "blue"], "Port": 8080,
              "EnableTagOverride": false, "Meta": {}, "Weights": {"Passing": 1, "Warning": 1}},
  "Checks": [{"CheckID": "serfHealth", "Status": "passing", "ServiceTags": []},
             {"CheckID": "web-alive", "Status": "critical", "ServiceTags": ["v1"]}]
})");

const json schema = json::parse(R"({
  "Node": {"Node": "", "Address": "", "Meta": {}, "TaggedAddresses": {}},
  "Service": {"ID": "", "Service": "", "Tags": [], "Port": 0, "EnableTagOverride": false,
              "Meta": {}, "Weights": {"Passing": 0, "Warning": 0}},
  "Checks": [{"CheckID": "", "Status": "", "ServiceTags": []}]
})");

// Parses `expr` against `schema` and evaluates it on web1.
bool eval(std::string_view expr, const json& obj = web1) {
    auto f = http::filter_expression::parse(expr, &schema);
    EXPECT_TRUE(f) << expr << ": " << f.error();
    return f && f->matches(obj);
}

std::string parse_error(std::string_view expr, const http::filter_limits& lim = {}) {
    auto f = http::filter_expression::parse(expr, &schema, lim);
    EXPECT_FALSE(f) << expr;
    return f ? std::string() : f.error();
}

TEST(HttpFilter, EqualityQuotingAndBareValues) {
    EXPECT_TRUE(eval(R"(Service.Service == "web")"));
    EXPECT_TRUE(eval("Service.Service == `web`"));
    EXPECT_TRUE(eval("Service.Service==web"));
    EXPECT_FALSE(eval(R"(Service.Service == "db")"));
    EXPECT_TRUE(eval(R"(Service.Service != "db")"));
    EXPECT_FALSE(eval(R"(Service.Service != "web")"));
    // An escaped quote does not end the string; a raw string keeps its backslashes.
    EXPECT_TRUE(eval(R"(Service.ID != "web1\"" and Service.ID == "web1")"));
    EXPECT_TRUE(eval(R"(Service.ID != `web1\n`)"));
}

TEST(HttpFilter, NumbersAndBooleansCompareAsConsulDoes) {
    EXPECT_TRUE(eval("Service.Port == 8080"));
    EXPECT_TRUE(eval(R"(Service.Port == "8080")"));
    EXPECT_TRUE(eval("Service.Port == 8080.0"));
    EXPECT_FALSE(eval("Service.Port == 80"));
    EXPECT_TRUE(eval("Service.Port != 80"));
    EXPECT_TRUE(eval("Service.EnableTagOverride == false"));
    EXPECT_TRUE(eval("Service.EnableTagOverride == False"));
    EXPECT_FALSE(eval("Service.EnableTagOverride == true"));
    EXPECT_FALSE(eval("Service.EnableTagOverride == maybe"));
    EXPECT_TRUE(eval("Service.Weights.Passing == 1"));
}

TEST(HttpFilter, SelectorsThroughListsMatchAnyElement) {
    EXPECT_TRUE(eval("Checks.Status == passing"));
    EXPECT_TRUE(eval("Checks.Status == critical"));
    EXPECT_FALSE(eval("Checks.Status == warning"));
    EXPECT_TRUE(eval("Checks.Status != warning"));
    EXPECT_FALSE(eval("Checks.Status != passing"));  // the negation of "some check passes"
    EXPECT_TRUE(eval("v1 in Checks.ServiceTags"));
    EXPECT_TRUE(eval("Checks.CheckID matches \"^web-\""));
}

TEST(HttpFilter, MapsByDotAndBracket) {
    EXPECT_TRUE(eval("Node.Meta.env == prod"));
    EXPECT_TRUE(eval(R"(Node.Meta["env"] == "prod")"));
    EXPECT_TRUE(eval(R"(Node.Meta["rack"] == "r1" and Node.TaggedAddresses.lan == "10.0.0.1")"));
    EXPECT_FALSE(eval("Node.Meta.missing == prod"));
    EXPECT_TRUE(eval("Node.Meta.missing != prod"));
    EXPECT_TRUE(eval("Node.Meta.missing is empty"));
    EXPECT_TRUE(eval("env in Node.Meta"));  // a map: its keys
    EXPECT_FALSE(eval("prod in Node.Meta"));
}

TEST(HttpFilter, InContainsEmptyMatches) {
    EXPECT_TRUE(eval(R"("blue" in Service.Tags)"));
    EXPECT_FALSE(eval(R"("green" in Service.Tags)"));
    EXPECT_TRUE(eval(R"("green" not in Service.Tags)"));
    EXPECT_TRUE(eval("Service.Tags contains v1"));
    EXPECT_FALSE(eval("Service.Tags not contains v1"));
    EXPECT_TRUE(eval("Service.Tags not contains v2"));
    EXPECT_TRUE(eval(R"("eb" in Service.Service)"));  // substring of a string
    EXPECT_TRUE(eval(R"(Node.Address contains "10.0")"));
    EXPECT_TRUE(eval("Service.Meta is empty"));
    EXPECT_FALSE(eval("Service.Meta is not empty"));
    EXPECT_TRUE(eval("Service.Tags is not empty"));
    EXPECT_FALSE(eval("Service.Tags is empty"));
    EXPECT_TRUE(eval(R"(Node.Node matches "^n[0-9]+$")"));
    EXPECT_FALSE(eval(R"(Node.Node matches "^x")"));
    EXPECT_TRUE(eval(R"(Node.Node not matches "^x")"));
    EXPECT_TRUE(eval(R"(Service.Tags matches "^bl")"));  // any element of a list
    EXPECT_TRUE(eval(R"(Service.Port matches "^80")"));  // a number rendered
}

TEST(HttpFilter, PrecedenceAndNesting) {
    // and binds tighter than or; not tighter than and.
    EXPECT_TRUE(eval("Service.Service == db and Service.Port == 1 or Node.Node == n1"));
    EXPECT_FALSE(eval("Service.Service == db and (Service.Port == 1 or Node.Node == n1)"));
    EXPECT_TRUE(eval("not Service.Service == db and Node.Node == n1"));
    EXPECT_FALSE(eval("not (Service.Service == web and Node.Node == n1)"));
    EXPECT_TRUE(eval("not not Service.Service == web"));
    EXPECT_TRUE(eval("((((Service.Service == web))))"));
    EXPECT_TRUE(
        eval("(Node.Node == x or (Node.Node == y or (Node.Node == n1))) and v1 in "
             "Service.Tags"));
    EXPECT_TRUE(eval("  Service.Service\t==\n\"web\"  "));
}

TEST(HttpFilter, SyntaxErrorsUseBexprPrefix) {
    const std::string prefix = "Failed to create boolean expression evaluator: ";
    for (std::string_view bad :
         {"", "Service.Service ==", "Service.Service = web", "Service.Service web",
          "(Service.Service == web", "Service.Service == web)", "Service.Service == \"web",
          "Service.Tags is full", "and Service.Service == web", "Service.Service == web or",
          "\"x\" == web", "Service..Service == web", "Service.Meta[env] == x",
          "Node.Node matches \"(\"", "Service.Service == \"bad\\q\""}) {
        auto err = parse_error(bad);
        EXPECT_EQ(err.rfind(prefix, 0), 0u) << bad << " -> " << err;
    }
    EXPECT_EQ(parse_error("Service.Service = web"),
              prefix + "1:17 (16): expected \"==\" or \"!=\"");
}

TEST(HttpFilter, UnknownSelectorsAreRejected) {
    EXPECT_EQ(parse_error("Service.Nope == x"),
              "Failed to create boolean expression evaluator: Selector \"Service.Nope\" is not "
              "valid");
    EXPECT_EQ(parse_error("Checks.Bogus == passing"),
              "Failed to create boolean expression evaluator: Selector \"Checks.Bogus\" is not "
              "valid");
    EXPECT_NE(parse_error("x in Service.Port.More").find("is not valid"), std::string::npos);
    // Maps accept any key, at any depth below them.
    EXPECT_TRUE(http::filter_expression::parse("Node.Meta.anything == x", &schema));
    EXPECT_TRUE(http::filter_expression::parse("Node.TaggedAddresses.lan.Address == x", &schema));
    // Without a schema anything goes.
    EXPECT_TRUE(http::filter_expression::parse("Whatever.Else == x", nullptr));
}

TEST(HttpFilter, LimitsBoundTheExpression) {
    http::filter_limits lim;
    lim.max_length = 80;
    lim.max_depth = 4;
    lim.max_matches = 3;
    lim.max_regex = 8;
    EXPECT_NE(parse_error(std::string(81, ' ') + "a == b", lim).find("longer than 80"),
              std::string::npos);
    EXPECT_TRUE(http::filter_expression::parse("((((Node.Node == a))))", &schema, lim));
    EXPECT_NE(parse_error("(((((Node.Node == a)))))", lim).find("nested deeper than 4"),
              std::string::npos);
    EXPECT_NE(parse_error("not not not not not Node.Node == a", lim).find("nested deeper"),
              std::string::npos);
    EXPECT_NE(
        parse_error("Node.Node == a or Node.Node == b or Node.Node == c or Node.Node == d", lim)
            .find("more than 3 match expressions"),
        std::string::npos);
    EXPECT_NE(parse_error("Node.Node matches \"aaaaaaaaa\"", lim).find("regular expression"),
              std::string::npos);
    // The defaults stop a hostile expression without deep recursion.
    std::string deep(100000, '(');
    EXPECT_FALSE(http::filter_expression::parse(deep, &schema));
    std::string nots;
    for (int i = 0; i < 1000; ++i) nots += "not ";
    EXPECT_FALSE(http::filter_expression::parse(nots + "Node.Node == a", &schema));
}

TEST(HttpFilter, ApplyFiltersListsAndMaps) {
    json list = json::array({web1, json::parse(R"({"Node":{"Node":"n2"},"Service":{},
                                                  "Checks":[{"Status":"passing"}]})")});
    ASSERT_TRUE(http::apply_filter("Checks.Status == critical", schema, list));
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0]["Node"]["Node"], "n1");

    json map = {{"a", {{"Status", "passing"}}}, {"b", {{"Status", "critical"}}}};
    const json check_schema = {{"Status", ""}};
    ASSERT_TRUE(http::apply_filter("Status != passing", check_schema, map));
    EXPECT_EQ(map, (json{{"b", {{"Status", "critical"}}}}));

    json untouched = json::array({1, 2});
    ASSERT_TRUE(http::apply_filter("", schema, untouched));
    EXPECT_EQ(untouched.size(), 2u);
    EXPECT_FALSE(http::apply_filter("Nope == 1", schema, untouched));
}

TEST(HttpFilter, EndpointSchemasKnowConsulFieldNames) {
    auto ok = [](std::string_view e, const json& s) {
        auto f = http::filter_expression::parse(e, &s);
        EXPECT_TRUE(f) << e << ": " << (f ? "" : f.error());
    };
    ok("Node == a and Address == b and Meta.env == c and TaggedAddresses.wan == d",
       http::node_filter_schema());
    ok("ServiceName == web and v1 in ServiceTags and NodeMeta.env == x and ServicePort == 1 and "
       "ServiceTaggedAddresses.lan.Port == 1 and ServiceKind == \"\"",
       http::service_node_filter_schema());
    ok("Node.Node == a and Service.Kind == mesh-gateway and Checks.Status == passing and "
       "Checks.ServiceName == web and Service.TaggedAddresses.wan.Address == x",
       http::check_service_node_filter_schema());
    ok("Status == passing and ServiceID == web and Type == ttl",
       http::health_check_filter_schema());
    ok("Service == web and Port == 1 and Meta.x == y and Kind == connect-proxy and "
       "Weights.Passing == 1 and Datacenter == dc1",
       http::agent_service_filter_schema());
    ok("Name == a and Tags.role == consul and Status == 1 and Port == 8302 and Addr == x",
       http::member_filter_schema());
    EXPECT_FALSE(http::filter_expression::parse("Checks.Nope == x",
                                                &http::check_service_node_filter_schema()));
    EXPECT_FALSE(http::filter_expression::parse("Bogus == x", &http::member_filter_schema()));
}

// ---- over HTTP ---------------------------------------------------------------------------------
class HttpFilterApi : public ::testing::Test {
  protected:
    asio::io_context io;
    rpc::state_store store;
    rpc::handler_registry handlers;
    std::unique_ptr<rpc::endpoints> eps;
    std::unique_ptr<http::http_api> api;
    std::shared_ptr<meshfed::agent::local_state> local;
    std::thread thread;

    void SetUp() override {
        rpc::endpoints_config ec;
        ec.datacenter = "dc1";
        ec.rpc_address = "127.0.0.1:8300";
        eps = std::make_unique<rpc::endpoints>(io.get_executor(), store, ec);
        eps->register_handlers(handlers);
        http::http_config hc;
        hc.port = 0;
        api = std::make_unique<http::http_api>(
            io, hc,
            [this](std::string, std::string method, std::vector<std::uint8_t> body,
                   rpc::reply_fn reply) { handlers.dispatch(method, body, reply); });
        http::register_catalog_endpoints(*api);
        meshfed::agent::local_state_config lc;
        lc.node_name = "n1";
        lc.address = "127.0.0.1";
        local = std::make_shared<meshfed::agent::local_state>(
            io, lc,
            [this](std::string, std::string method, std::vector<std::uint8_t> body,
                   rpc::reply_fn reply) { handlers.dispatch(method, body, std::move(reply)); });
        local->start();  // runs the TTL checks
        http::register_agent_service_endpoints(*api, local);
        http::agent_control ctl;
        ctl.wan_members = [] {
            std::vector<meshfed::wan::member> out;
            for (const char* dc : {"dc1", "dc2"}) {
                meshfed::wan::member m;
                m.name = std::string("s1.") + dc;
                m.addr = *meshfed::wan::node_addr::parse("127.0.0.1", 8302);
                m.tags = {{"role", "consul"}, {"dc", dc}};
                m.status = meshfed::wan::member_status::alive;
                out.push_back(std::move(m));
            }
            return out;
        };
        http::register_agent_endpoints(*api, ctl);
        auto started = api->start();
        ASSERT_TRUE(started) << started.error();
        thread = std::thread([this] {
            auto guard = asio::make_work_guard(io);
            io.run();
        });
    }

    void TearDown() override {
        if (!thread.joinable()) return;
        asio::post(io, [this] {
            eps->release_parked();
            local->stop();
            api->stop();
            io.stop();
        });
        thread.join();
    }

    httplib::Client client() {
        httplib::Client c("127.0.0.1", api->port());
        c.set_read_timeout(10s);
        return c;
    }

    // GET path?filter=<expr> (percent-encoded) plus `extra` query text.
    httplib::Result get_filtered(const std::string& path, std::string_view expr,
                                 const std::string& extra = "") {
        std::string q;
        for (unsigned char c : expr) {
            if (std::isalnum(c) || c == '.' || c == '-' || c == '_')
                q += static_cast<char>(c);
            else
                q += fmt::format("%{:02X}", c);
        }
        return client().Get((path + "?filter=" + q + extra).c_str());
    }

    void register_instance(const std::string& node, const std::string& env, const std::string& tag,
                           const std::string& status) {
        auto body = json{{"Node", node},
                         {"Address", "10.0.0.9"},
                         {"NodeMeta", {{"env", env}}},
                         {"Service", {{"Service", "web"}, {"Tags", {tag}}, {"Port", 80}}},
                         {"Check",
                          {{"CheckID", "web-alive"},
                           {"Name", "alive"},
                           {"Status", status},
                           {"ServiceID", "web"}}}};
        auto r = client().Put("/v1/catalog/register", body.dump(), "application/json");
        ASSERT_TRUE(r);
        ASSERT_EQ(r->status, 200) << r->body;
    }

    static std::vector<std::string> nodes_of(const httplib::Result& r, const char* field) {
        std::vector<std::string> out;
        for (const auto& e : json::parse(r->body)) {
            const json& v = std::string_view(field) == "Node.Node" ? e["Node"]["Node"] : e[field];
            out.push_back(v.get<std::string>());
        }
        std::sort(out.begin(), out.end());
        return out;
    }
};

TEST_F(HttpFilterApi, CatalogAndHealthEndpointsFilter) {
    register_instance("a", "prod", "v1", "passing");
    register_instance("b", "prod", "v2", "critical");
    register_instance("c", "dev", "v1", "passing");

    auto r = get_filtered("/v1/catalog/service/web", "NodeMeta.env == prod and v1 in ServiceTags");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(nodes_of(r, "Node"), std::vector<std::string>({"a"}));
    EXPECT_FALSE(r->get_header_value("X-Consul-Index").empty());

    r = get_filtered("/v1/health/service/web", "Checks.Status == critical");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(nodes_of(r, "Node.Node"), std::vector<std::string>({"b"}));

    r = get_filtered("/v1/health/service/web",
                     R"(Checks.Status != critical and Node.Meta["env"] == "prod")");
    ASSERT_TRUE(r);
    EXPECT_EQ(nodes_of(r, "Node.Node"), std::vector<std::string>({"a"}));

    // Combined with ?passing (all checks passing), then filtered.
    r = get_filtered("/v1/health/service/web", "Service.Tags contains v1", "&passing");
    ASSERT_TRUE(r);
    EXPECT_EQ(nodes_of(r, "Node.Node"), std::vector<std::string>({"a", "c"}));

    r = get_filtered("/v1/catalog/nodes", "Meta.env matches \"^de\"");
    ASSERT_TRUE(r);
    EXPECT_EQ(nodes_of(r, "Node"), std::vector<std::string>({"c"}));

    // Bad expressions: 400 with bexpr's texts, before any RPC (so even as a blocking query).
    r = get_filtered("/v1/catalog/service/web", "ServiceName ==", "&index=999999&wait=5m");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_EQ(r->body.rfind("Failed to create boolean expression evaluator: ", 0), 0u) << r->body;
    r = get_filtered("/v1/health/service/web", "Checks.Stat == passing");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_EQ(r->body,
              "Failed to create boolean expression evaluator: Selector \"Checks.Stat\" is not "
              "valid");
    r = get_filtered("/v1/catalog/nodes", std::string(5000, 'x'));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
}

TEST_F(HttpFilterApi, CatalogServicesAndNodeServicesFilter) {
    register_instance("a", "prod", "v1", "passing");
    register_instance("c", "dev", "v2", "passing");
    // A second service on node a.
    auto body = json{{"Node", "a"},
                     {"Address", "10.0.0.9"},
                     {"NodeMeta", {{"env", "prod"}}},  // a registration replaces the node's meta
                     {"Service", {{"Service", "db"}, {"Tags", {"primary"}}, {"Port", 5432}}}};
    auto put = client().Put("/v1/catalog/register", body.dump(), "application/json");
    ASSERT_TRUE(put);
    ASSERT_EQ(put->status, 200) << put->body;

    // /v1/catalog/services: evaluated per ServiceNode, then names and tags of what passed.
    auto r = get_filtered("/v1/catalog/services", "NodeMeta.env == prod");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(json::parse(r->body), (json{{"db", {"primary"}}, {"web", {"v1"}}}));
    EXPECT_FALSE(r->get_header_value("X-Consul-Index").empty());
    r = get_filtered("/v1/catalog/services", "ServicePort == 80 and v2 in ServiceTags");
    ASSERT_TRUE(r);
    EXPECT_EQ(json::parse(r->body), (json{{"web", {"v2"}}}));
    r = get_filtered("/v1/catalog/services", "Bogus == 1");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    // Without a filter: every service (the consul service is not registered in this harness).
    r = client().Get("/v1/catalog/services");
    ASSERT_TRUE(r);
    EXPECT_EQ(json::parse(r->body), (json{{"db", {"primary"}}, {"web", {"v1", "v2"}}}));

    // /v1/catalog/node/<node>: the node's services are filtered.
    r = get_filtered("/v1/catalog/node/a", "Service == db");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    auto j = json::parse(r->body);
    EXPECT_EQ(j["Node"]["Node"], "a");
    ASSERT_EQ(j["Services"].size(), 1u) << j.dump();
    EXPECT_EQ(j["Services"].begin().value()["Service"], "db");
    r = get_filtered("/v1/catalog/node/a", "Port ==");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
}

TEST_F(HttpFilterApi, BlockingQueryWithFilterWakesOnChange) {
    register_instance("a", "prod", "v1", "passing");
    auto first = get_filtered("/v1/health/service/web", "Node.Meta.env == dev");
    ASSERT_TRUE(first);
    EXPECT_EQ(first->body, "[]");
    const auto index = first->get_header_value("X-Consul-Index");
    auto waiter = std::async(std::launch::async, [&] {
        return get_filtered("/v1/health/service/web", "Node.Meta.env == dev",
                            "&index=" + index + "&wait=30s");
    });
    std::this_thread::sleep_for(200ms);
    register_instance("d", "dev", "v3", "passing");
    auto r = waiter.get();
    ASSERT_TRUE(r);
    EXPECT_EQ(nodes_of(r, "Node.Node"), std::vector<std::string>({"d"}));
    EXPECT_NE(r->get_header_value("X-Consul-Index"), index);
}

TEST_F(HttpFilterApi, AgentServicesChecksAndMembersFilter) {
    auto put = [&](const char* path, const std::string& body) {
        auto r = client().Put(path, body, "application/json");
        ASSERT_TRUE(r);
        ASSERT_EQ(r->status, 200) << path << ": " << r->body;
    };
    put("/v1/agent/service/register",
        R"({"Name":"web","Tags":["v1"],"Port":80,"Check":{"TTL":"30s"}})");
    put("/v1/agent/service/register",
        R"({"Name":"db","Port":5432,"Meta":{"tier":"data"},"Check":{"TTL":"30s"}})");
    put("/v1/agent/check/pass/service:db", "");

    auto keys = [](const httplib::Result& r) {
        std::vector<std::string> out;
        const auto body = json::parse(r->body);  // items() refers to it: keep it alive
        for (const auto& [k, v] : body.items()) out.push_back(k);
        return out;
    };
    auto r = get_filtered("/v1/agent/services", "Meta.tier == data or Port == 1");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(keys(r), std::vector<std::string>({"db"}));
    r = get_filtered("/v1/agent/services", "v1 in Tags");
    EXPECT_EQ(keys(r), std::vector<std::string>({"web"}));
    r = get_filtered("/v1/agent/services", "Bogus == 1");
    EXPECT_EQ(r->status, 400);

    r = get_filtered("/v1/agent/checks", "Status == critical");
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(keys(r), std::vector<std::string>({"service:web"}));
    r = get_filtered("/v1/agent/checks", "ServiceName == db and Status == passing");
    EXPECT_EQ(keys(r), std::vector<std::string>({"service:db"}));

    r = get_filtered("/v1/agent/members", R"(Tags["dc"] == dc2)", "&wan=1");
    ASSERT_EQ(r->status, 200) << r->body;
    auto members = json::parse(r->body);
    ASSERT_EQ(members.size(), 1u);
    EXPECT_EQ(members[0]["Name"], "s1.dc2");
    r = get_filtered("/v1/agent/members", "Status == 1 and Tags.role == consul", "&wan=1");
    EXPECT_EQ(json::parse(r->body).size(), 2u);
    r = get_filtered("/v1/agent/members", "Tags.dc ==", "&wan=1");
    EXPECT_EQ(r->status, 400);
}

}  // namespace
