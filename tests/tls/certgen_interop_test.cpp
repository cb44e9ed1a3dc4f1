// Interop: certificates made by tls/certgen are accepted by Go's crypto/tls (what Consul uses),
// checked with the rpcpeer tool (../shared/interop): a Go TLS server with our server
// certificate and verify_incoming, called by a Go client with our client/cli certificates,
// over native TLS + ALPN and over the 0x03 upgrade. Skipped when rpcpeer is not built.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/process.hpp"
#include "tls/certgen.hpp"

namespace {

using namespace meshfed::tls;
using meshfed::test::child_process;
using meshfed::test::temp_dir;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

const fs::path rpcpeer = fs::path(MESHFED_INTEROP_BIN) / "rpcpeer";

using meshfed::test::command_result;
using meshfed::test::run_command;

std::string q(const fs::path& p) {
    return "'" + p.string() + "'";
}

class CertgenInterop : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!fs::exists(rpcpeer)) {
            GTEST_SKIP() << rpcpeer << " is not built (scripts/setup builds ../shared/interop)";
        }
        // A name-constrained CA, so Go's name-constraint checking is exercised too.
        ca_options ca;
        ca.dir = dir_.path();
        ca.name_constraint = true;
        auto made_ca = create_ca(ca);
        ASSERT_TRUE(made_ca) << made_ca.error();
        ca_file_ = made_ca->cert_file;

        cert_options server;
        server.kind = cert_kind::server;
        server.node = "n1";
        server.dir = dir_.path();
        auto srv = create_cert(server);
        ASSERT_TRUE(srv) << srv.error();
        cert_options client = server;
        client.kind = cert_kind::client;
        client.node.clear();
        auto cli_made = create_cert(client);
        ASSERT_TRUE(cli_made) << cli_made.error();
        client_cert_ = cli_made->cert_file;
        client_key_ = cli_made->key_file;
        client.kind = cert_kind::cli;
        auto cli = create_cert(client);
        ASSERT_TRUE(cli) << cli.error();
        cli_cert_ = cli->cert_file;
        cli_key_ = cli->key_file;

        int port = meshfed::test::free_tcp_port();
        ASSERT_NE(port, 0);
        addr_ = "127.0.0.1:" + std::to_string(port);
        server_.emplace(
            rpcpeer.string(),
            std::vector<std::string>{"-listen", addr_, "-timeout", "20s", "-tls-ca",
                                     ca_file_.string(), "-tls-cert", srv->cert_file.string(),
                                     "-tls-key", srv->key_file.string(), "-tls-verify-incoming"},
            dir_ / "server.log");
        ASSERT_TRUE(server_->wait_for_output("serving on", std::chrono::seconds(10)))
            << server_->output();
    }

    void TearDown() override {
        if (server_ && server_->running()) {
            server_->signal(SIGTERM);
            server_->wait_exit(std::chrono::seconds(5));
        }
        server_.reset();  // SIGKILLs by PID if still running
    }

    command_result call(const std::string& tls_args, const fs::path& cert, const fs::path& key,
                        const fs::path& ca) {
        return run_command(q(rpcpeer) + " -addr " + addr_ + " -timeout 10s -method Status.Ping " +
                           tls_args + " -ca " + q(ca) + " -cert " + q(cert) + " -key " + q(key));
    }

    temp_dir dir_;
    fs::path ca_file_, client_cert_, client_key_, cli_cert_, cli_key_;
    std::string addr_;
    std::optional<child_process> server_;
};

constexpr const char* alpn_args = "-tls-mode alpn -sni n1.server.dc1.consul";
constexpr const char* upgrade_args = "-tls-mode upgrade -server-name server.dc1.consul";

TEST_F(CertgenInterop, GoAcceptsServerAndClientCertsOverAlpn) {
    auto r = call(alpn_args, client_cert_, client_key_, ca_file_);
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("\"reply\": true"));
    EXPECT_THAT(r.output, HasSubstr("\"verify\": \"full\""));
    EXPECT_THAT(r.output, HasSubstr("\"verified_name\": \"n1.server.dc1.consul\""));
    EXPECT_THAT(r.output, HasSubstr("\"client_cert\": true"));
}

TEST_F(CertgenInterop, GoAcceptsServerAndClientCertsOverUpgrade) {
    auto r = call(upgrade_args, client_cert_, client_key_, ca_file_);
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("\"reply\": true"));
    EXPECT_THAT(r.output, HasSubstr("\"verified_name\": \"server.dc1.consul\""));
}

TEST_F(CertgenInterop, GoAcceptsCliCertAsClient) {
    auto r = call(upgrade_args, cli_cert_, cli_key_, ca_file_);
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("\"reply\": true"));
}

TEST_F(CertgenInterop, GoRejectsWrongNameAndForeignClient) {
    // The server certificate is not valid for another datacenter ...
    auto r = call("-tls-mode upgrade -server-name server.dc2.consul", client_cert_, client_key_,
                  ca_file_);
    EXPECT_NE(r.status, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("\"stage\": \"tls\""));

    // ... and a client certificate from another CA is refused by verify_incoming.
    temp_dir other;
    ca_options ca;
    ca.dir = other.path();
    ASSERT_TRUE(create_ca(ca));
    cert_options client;
    client.kind = cert_kind::client;
    client.dir = other.path();
    auto foreign = create_cert(client);
    ASSERT_TRUE(foreign) << foreign.error();
    r = call(alpn_args, foreign->cert_file, foreign->key_file, ca_file_);
    EXPECT_NE(r.status, 0) << r.output;
    EXPECT_THAT(r.output, Not(HasSubstr("\"reply\"")));
    // With TLS 1.3 the server's rejection of a client certificate arrives after the client's
    // handshake: the client sees the alert ("bad certificate") or, when its first write races
    // the alert, the closed connection ("broken pipe" / "connection reset").
    EXPECT_THAT(r.output, AnyOf(HasSubstr("bad certificate"), HasSubstr("broken pipe"),
                                HasSubstr("connection reset")));
}

}  // namespace
