// The HTTP API over HTTPS (ports.https) against the real `meshfed agent` binary: the server
// certificate verifies against the CA, plain HTTP to the HTTPS port gets no answer, with
// verify_incoming a client certificate is required, the plain HTTP port keeps working, the CLI
// talks HTTPS, and an HTTPS port without a certificate is a startup error.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "agent/httplib.hpp"
#include "tests/support/certs.hpp"
#include "tests/support/process.hpp"

using namespace std::chrono_literals;
using json = nlohmann::json;
using meshfed::test::cert_pair;
using meshfed::test::child_process;
using meshfed::test::free_tcp_port;
using meshfed::test::temp_dir;
using meshfed::test::test_pki;
using ::testing::HasSubstr;

namespace {

struct https_agent {
    int http_port = free_tcp_port();
    int https_port = free_tcp_port();
    std::unique_ptr<child_process> proc;

    // Starts an agent whose config carries `tls_block`; false when it did not come up.
    bool start(const temp_dir& dir, const std::string& tls_block) {
        dir.write("server.hcl",
                  fmt::format("node_name = \"n1\"\ndatacenter = \"dc1\"\nserver = true\n"
                              "bootstrap = true\nbind_addr = \"127.0.0.1\"\n"
                              "ports {{ serf_wan = 0 server = 0 http = {} https = {} }}\n"
                              "data_dir = \"{}\"\n{}",
                              http_port, https_port, (dir / "data").string(), tls_block));
        proc = std::make_unique<child_process>(
            MESHFED_BINARY,
            std::vector<std::string>{"agent", "-config", (dir / "server.hcl").string()},
            dir / "agent.log");
        return proc->wait_for_output("meshfed agent running", 15s);
    }
    ~https_agent() {
        if (proc && proc->running()) {
            proc->signal(SIGTERM);
            proc->wait_exit(15s);
        }
    }
};

std::string tls_block(const test_pki& pki, const cert_pair& server, bool verify_incoming) {
    return fmt::format(
        "tls {{ defaults {{ ca_file = \"{}\"\n cert_file = \"{}\"\n key_file = \"{}\"\n"
        " verify_incoming = {} }} }}\n",
        pki.ca(), server.cert, server.key, verify_incoming);
}

std::unique_ptr<httplib::SSLClient> https_client(int port, const test_pki& pki,
                                                 const cert_pair* client = nullptr) {
    auto c =
        client ? std::make_unique<httplib::SSLClient>("127.0.0.1", port, client->cert, client->key)
               : std::make_unique<httplib::SSLClient>("127.0.0.1", port);
    c->set_ca_cert_path(pki.ca());
    c->enable_server_certificate_verification(true);
    c->set_connection_timeout(5, 0);
    c->set_read_timeout(10, 0);
    return c;
}

// The leader is elected shortly after start: poll until /v1/status/leader names one.
httplib::Result wait_leader(httplib::SSLClient& c) {
    auto deadline = std::chrono::steady_clock::now() + 15s;
    while (true) {
        auto r = c.Get("/v1/status/leader");
        if (std::chrono::steady_clock::now() > deadline) return r;
        if (r && r->status == 200 && r->body != "\"\"") return r;
        std::this_thread::sleep_for(100ms);
    }
}

TEST(HttpsApi, ServesTheApiWithTheAgentCertificate) {
    temp_dir dir;
    test_pki pki(dir / "pki");
    ASSERT_TRUE(pki.ok());
    auto server = pki.server("dc1");
    ASSERT_FALSE(server.cert.empty());
    https_agent a;
    ASSERT_TRUE(a.start(dir, tls_block(pki, server, false))) << a.proc->output();
    EXPECT_THAT(a.proc->output(),
                HasSubstr(fmt::format("serving HTTPS on 127.0.0.1:{}", a.https_port)));

    auto c = https_client(a.https_port, pki);
    auto r = wait_leader(*c);
    ASSERT_TRUE(r) << httplib::to_string(r.error()) << "\n" << a.proc->output();
    EXPECT_EQ(r->status, 200);
    auto leader = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(leader.is_string()) << r->body;
    EXPECT_THAT(leader.get<std::string>(), HasSubstr("127.0.0.1:"));
    // The same route table as the HTTP port: a 404 and a 405 with Consul's texts.
    auto nf = c->Get("/v1/nope");
    ASSERT_TRUE(nf);
    EXPECT_EQ(nf->status, 404);
    EXPECT_EQ(nf->body, "404 page not found\n");
    auto na = c->Delete("/v1/status/leader");
    ASSERT_TRUE(na);
    EXPECT_EQ(na->status, 405);

    // Plain HTTP keeps being served on ports.http, with the same answer.
    httplib::Client plain("127.0.0.1", a.http_port);
    auto pr = plain.Get("/v1/status/leader");
    ASSERT_TRUE(pr);
    EXPECT_EQ(pr->status, 200);
    EXPECT_EQ(pr->body, r->body);

    // Plain HTTP sent to the HTTPS port: the TLS handshake fails, no HTTP answer comes back.
    httplib::Client wrong("127.0.0.1", a.https_port);
    wrong.set_read_timeout(5, 0);
    auto wr = wrong.Get("/v1/status/leader");
    EXPECT_FALSE(wr && wr->status == 200);

    // A client that trusts another CA refuses the agent's certificate.
    test_pki other(dir / "other-pki");
    ASSERT_TRUE(other.ok());
    auto untrusting = https_client(a.https_port, other);
    auto ur = untrusting->Get("/v1/status/leader");
    EXPECT_FALSE(ur);

    // The agent keeps serving after the failed handshakes.
    auto again = c->Get("/v1/status/leader");
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 200);

    // The CLI over HTTPS, verifying against the CA.
    auto cli = meshfed::test::run_command(
        fmt::format("{} members -http-addr https://127.0.0.1:{} -ca-file {}", MESHFED_BINARY,
                    a.https_port, pki.ca()));
    EXPECT_EQ(cli.status, 0) << cli.output;
    EXPECT_THAT(cli.output, HasSubstr("Node"));
    EXPECT_THAT(cli.output, HasSubstr("n1"));
    EXPECT_THAT(cli.output, HasSubstr("alive"));
    // Without the CA the CLI cannot verify the agent and says so.
    auto unverified = meshfed::test::run_command(
        fmt::format("{} members -http-addr https://127.0.0.1:{}", MESHFED_BINARY, a.https_port));
    EXPECT_NE(unverified.status, 0) << unverified.output;
}

TEST(HttpsApi, VerifyIncomingRequiresAClientCertificate) {
    temp_dir dir;
    test_pki pki(dir / "pki");
    ASSERT_TRUE(pki.ok());
    auto server = pki.server("dc1");
    auto client = pki.client("dc1");
    ASSERT_FALSE(client.cert.empty());
    https_agent a;
    ASSERT_TRUE(a.start(dir, tls_block(pki, server, true))) << a.proc->output();
    EXPECT_THAT(a.proc->output(), HasSubstr("client certificates required"));

    auto anonymous = https_client(a.https_port, pki);
    auto r = anonymous->Get("/v1/status/leader");
    EXPECT_FALSE(r && r->status == 200) << "answered without a client certificate";

    // A certificate from another CA is refused as well.
    test_pki other(dir / "other-pki");
    ASSERT_TRUE(other.ok());
    auto foreign = other.client("dc1");
    auto stranger = https_client(a.https_port, pki, &foreign);
    auto sr = stranger->Get("/v1/status/leader");
    EXPECT_FALSE(sr && sr->status == 200) << "answered a client certificate of another CA";

    auto with_cert = https_client(a.https_port, pki, &client);
    auto ok = wait_leader(*with_cert);
    ASSERT_TRUE(ok) << httplib::to_string(ok.error()) << "\n" << a.proc->output();
    EXPECT_EQ(ok->status, 200);

    auto cli = meshfed::test::run_command(fmt::format(
        "{} members -http-addr https://127.0.0.1:{} -ca-file {} -client-cert {} -client-key {}",
        MESHFED_BINARY, a.https_port, pki.ca(), client.cert, client.key));
    EXPECT_EQ(cli.status, 0) << cli.output;
    EXPECT_THAT(cli.output, HasSubstr("n1"));
}

TEST(HttpsApi, SighupReloadReachesNewHttpsConnections) {
    temp_dir dir;
    test_pki first(dir / "first"), second(dir / "second");
    ASSERT_TRUE(first.ok() && second.ok());
    // The config names fixed paths; a reload is a copy of the second PKI over them.
    auto install = [&](const test_pki& pki) {
        auto server = pki.server("dc1");
        namespace fs = std::filesystem;
        auto opt = fs::copy_options::overwrite_existing;
        fs::copy_file(pki.ca(), dir / "ca.pem", opt);
        fs::copy_file(server.cert, dir / "server.pem", opt);
        fs::copy_file(server.key, dir / "server-key.pem", opt);
    };
    install(first);
    https_agent a;
    cert_pair fixed{(dir / "server.pem").string(), (dir / "server-key.pem").string()};
    std::string block = fmt::format(
        "tls {{ defaults {{ ca_file = \"{}\"\n cert_file = \"{}\"\n key_file = \"{}\" }} }}\n",
        (dir / "ca.pem").string(), fixed.cert, fixed.key);
    ASSERT_TRUE(a.start(dir, block)) << a.proc->output();
    auto trusts_first = https_client(a.https_port, first);
    auto trusts_second = https_client(a.https_port, second);
    auto before = wait_leader(*trusts_first);
    ASSERT_TRUE(before) << httplib::to_string(before.error()) << "\n" << a.proc->output();
    EXPECT_FALSE(trusts_second->Get("/v1/status/leader"));

    install(second);
    a.proc->signal(SIGHUP);
    ASSERT_TRUE(a.proc->wait_for_output("TLS certificates reloaded", 10s)) << a.proc->output();
    auto after = trusts_second->Get("/v1/status/leader");
    ASSERT_TRUE(after) << httplib::to_string(after.error()) << "\n" << a.proc->output();
    EXPECT_EQ(after->status, 200);
    auto fresh_first = https_client(a.https_port, first);
    EXPECT_FALSE(fresh_first->Get("/v1/status/leader"));
}

TEST(HttpsApi, HttpsPortWithoutCertificateIsAStartupError) {
    temp_dir dir;
    https_agent a;
    EXPECT_FALSE(a.start(dir, ""));
    ASSERT_TRUE(a.proc->wait_exit(10s).has_value());
    EXPECT_THAT(a.proc->output(), HasSubstr("HTTPS needs a TLS certificate"));
    EXPECT_THAT(a.proc->output(), HasSubstr(fmt::format("ports.https = {}", a.https_port)));
}

}  // namespace
