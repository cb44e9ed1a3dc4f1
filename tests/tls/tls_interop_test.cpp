// Interop with Go's crypto/tls through the rpcpeer tool (../shared/interop): the Go client
// completes a mutual-TLS handshake with ALPN consul/rpc-multi against meshfed's native-TLS
// server context, and meshfed's client completes one against `rpcpeer -listen` with TLS.
// Skipped when rpcpeer is not built (scripts/setup builds it). Only 127.0.0.1 is used.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <thread>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>

#include "common/asio_compat.hpp"
#include "tests/support/certs.hpp"
#include "tests/support/process.hpp"
#include "tls/alpn.hpp"
#include "tls/configurator.hpp"
#include "tls/stream.hpp"

using namespace std::chrono_literals;
using namespace meshfed::tls;
using meshfed::test::child_process;
using meshfed::test::temp_dir;
using meshfed::test::test_pki;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

namespace {

const fs::path rpcpeer = fs::path(MESHFED_INTEROP_BIN) / "rpcpeer";

class TlsInterop : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!fs::exists(rpcpeer))
            GTEST_SKIP() << rpcpeer << " is not built (scripts/setup builds ../shared/interop)";
        ASSERT_TRUE(pki.ok());
        n1 = pki.server("dc1", "n1");
        n2 = pki.server("dc2", "n2");
    }
    settings for_pair(const meshfed::test::cert_pair& p) {
        settings s;
        s.ca_file = pki.ca();
        s.cert_file = p.cert;
        s.key_file = p.key;
        s.verify_incoming = s.verify_outgoing = s.verify_server_hostname = true;
        return s;
    }
    temp_dir dir;
    test_pki pki{dir / "pki"};
    meshfed::test::cert_pair n1, n2;
};

}  // namespace

TEST_F(TlsInterop, GoClientHandshakesWithAlpnAgainstMeshfedServer) {
    auto srv = configurator::create(for_pair(n1), {"dc1", "consul", "n1", true, true});
    ASSERT_TRUE(srv) << testing::PrintToString(srv.error());
    asio::io_context io;
    asio::ip::tcp::acceptor acc(io, {asio::ip::make_address("127.0.0.1"), 0});
    int port = acc.local_endpoint().port();
    std::string alpn, sni, role_error = "not run", server_error;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            auto [ec, sock] = co_await acc.async_accept(meshfed::nothrow_awaitable);
            if (ec) co_return;
            auto s = co_await server_handshake(std::move(sock), (*srv)->incoming_alpn(), 5s);
            if (!s) {
                server_error = s.error();
                co_return;
            }
            alpn = negotiated_alpn(**s);
            sni = configurator::hello_of((*s)->native_handle()).sni;
            auto role = (*srv)->authorize_server_peer((*s)->native_handle());
            role_error = role ? "" : role.error();
            // No RPC server yet (the RPC module does that): close after the handshake.
        },
        asio::detached);
    std::thread t([&] { io.run_for(15s); });
    auto out = meshfed::test::run_command(
        rpcpeer.string() + " -addr 127.0.0.1:" + std::to_string(port) +
        " -method Status.Ping -timeout 10s -tls-mode alpn -sni n1.server.dc1.consul -ca " +
        pki.ca() + " -cert " + n2.cert + " -key " + n2.key);
    t.join();
    ASSERT_EQ(server_error, "");
    EXPECT_EQ(alpn, "consul/rpc-multi");
    EXPECT_EQ(sni, "n1.server.dc1.consul");
    EXPECT_EQ(role_error, "");  // a dc2 server certificate passes the server role check
    auto j = nlohmann::json::parse(out.output.substr(out.output.find('{')), nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << out.output;
    ASSERT_TRUE(j.contains("tls")) << out.output;
    EXPECT_EQ(j["tls"]["alpn"], "consul/rpc-multi") << out.output;
    EXPECT_EQ(j["tls"]["verify"], "full") << out.output;
    EXPECT_EQ(j["tls"]["verified_name"], "n1.server.dc1.consul") << out.output;
    // The handshake succeeded; what follows fails because this bare TLS server closes the
    // connection: at the yamux stage or at the call, depending on timing.
    EXPECT_THAT(j.value("stage", ""), ::testing::AnyOf("yamux", "call")) << out.output;
}

TEST_F(TlsInterop, MeshfedClientHandshakesAgainstGoServer) {
    int port = meshfed::test::free_tcp_port();
    std::string addr = "127.0.0.1:" + std::to_string(port);
    child_process go(rpcpeer.string(),
                     {"-listen", addr, "-timeout", "20s", "-v", "-tls-ca", pki.ca(), "-tls-cert",
                      n1.cert, "-tls-key", n1.key, "-tls-verify-incoming"},
                     dir / "rpcpeer.log");
    ASSERT_TRUE(go.wait_for_output("serving on", 10s)) << go.output();
    auto cli = configurator::create(for_pair(n2), {"dc2", "consul", "n2", true, true});
    ASSERT_TRUE(cli) << testing::PrintToString(cli.error());
    asio::io_context io;
    std::string result = "not run", alpn;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            asio::ip::tcp::socket sock(io);
            auto [ec] = co_await sock.async_connect(
                {asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)},
                meshfed::nothrow_awaitable);
            if (ec) {
                result = ec.message();
                co_return;
            }
            client_target target{"dc1", "n1", std::string(alpn::rpc_multi), true};
            auto s = co_await client_handshake(std::move(sock), **cli, target, 5s);
            if (!s) {
                result = s.error();
                co_return;
            }
            result = "";
            alpn = negotiated_alpn(**s);
        },
        asio::detached);
    io.run_for(15s);
    EXPECT_EQ(result, "");
    EXPECT_EQ(alpn, "consul/rpc-multi");
    // The Go server logged our connection with the SNI and ALPN we sent.
    EXPECT_TRUE(go.wait_for_output("n1.server.dc1.consul", 5s)) << go.output();
    EXPECT_THAT(go.output(), HasSubstr("consul/rpc-multi"));
}

TEST_F(TlsInterop, GoServerWithWrongIdentityIsRefusedByMeshfedClient) {
    int port = meshfed::test::free_tcp_port();
    std::string addr = "127.0.0.1:" + std::to_string(port);
    // The Go server presents n1's dc1 certificate; we dial expecting a dc2 server.
    child_process go(rpcpeer.string(),
                     {"-listen", addr, "-timeout", "20s", "-tls-ca", pki.ca(), "-tls-cert", n1.cert,
                      "-tls-key", n1.key},
                     dir / "rpcpeer.log");
    ASSERT_TRUE(go.wait_for_output("serving on", 10s)) << go.output();
    auto cli = configurator::create(for_pair(n1), {"dc1", "consul", "n1", true, true});
    ASSERT_TRUE(cli);
    asio::io_context io;
    std::string result = "not run";
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            asio::ip::tcp::socket sock(io);
            co_await sock.async_connect(
                {asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)},
                meshfed::nothrow_awaitable);
            client_target target{"dc2", "n2", std::string(alpn::rpc_multi), true};
            auto s = co_await client_handshake(std::move(sock), **cli, target, 5s);
            result = s ? "" : s.error();
        },
        asio::detached);
    io.run_for(15s);
    EXPECT_THAT(result, HasSubstr("expected identity n2.server.dc2.consul, presented "
                                  "[n1.server.dc1.consul, server.dc1.consul, localhost]"));
}
