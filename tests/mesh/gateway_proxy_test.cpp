// The gateway data path over loopback: mutual TLS end to end between a client and a server
// through one and two gateways (the gateways never see plaintext), refusals, upstream failover,
// and the ClientHello deadline.
#include "mesh/gateway_proxy.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include "common/asio_compat.hpp"
#include "tests/support/certs.hpp"
#include "tls/alpn.hpp"
#include "tls/configurator.hpp"
#include "tls/stream.hpp"

using namespace std::chrono_literals;
using namespace meshfed;
using asio::ip::tcp;
using meshfed::test::temp_dir;

namespace {

tls::settings pair_settings(const std::string& ca, const test::cert_pair& p) {
    tls::settings s;
    s.ca_file = ca;
    s.cert_file = p.cert;
    s.key_file = p.key;
    s.verify_incoming = s.verify_outgoing = s.verify_server_hostname = true;
    return s;
}

// A TLS echo server (native TLS, ALPN) standing in for a Consul server's RPC port.
struct tls_echo_server {
    tcp::acceptor acc;
    std::shared_ptr<tls::configurator> cfg;
    std::string seen_sni;
    int served = 0;
    tls_echo_server(asio::io_context& io, std::shared_ptr<tls::configurator> c)
        : acc(io, {asio::ip::make_address("127.0.0.1"), 0}), cfg(std::move(c)) {}
    std::uint16_t port() const { return acc.local_endpoint().port(); }
    asio::awaitable<void> run() {
        for (;;) {
            auto [ec, sock] = co_await acc.async_accept(nothrow_awaitable);
            if (ec) co_return;
            auto s = co_await tls::server_handshake(std::move(sock), cfg->incoming_alpn(), 5s);
            if (!s) continue;
            seen_sni = tls::configurator::hello_of((*s)->native_handle()).sni;
            ++served;
            std::array<char, 5> buf;
            auto [rec, n] = co_await asio::async_read(**s, asio::buffer(buf), nothrow_awaitable);
            if (!rec) co_await asio::async_write(**s, asio::buffer(buf), nothrow_awaitable);
        }
    }
};

// Dials `port` with the mesh identity check for node/dc, sends "hello", returns the echo or
// the error.
std::string dial_and_echo(asio::io_context& io, const tls::configurator& cli, std::uint16_t port,
                          std::string dc, std::string node) {
    std::string result = "not run";
    asio::co_spawn(
        io,
        [&, dc, node]() -> asio::awaitable<void> {
            struct stop_io {
                asio::io_context& io;
                ~stop_io() { io.stop(); }
            } stopper{io};
            tcp::socket sock(io);
            auto [ec] = co_await sock.async_connect({asio::ip::make_address("127.0.0.1"), port},
                                                    nothrow_awaitable);
            if (ec) {
                result = ec.message();
                co_return;
            }
            tls::client_target t{dc, node, std::string(tls::alpn::rpc_multi), true};
            auto s = co_await tls::client_handshake(std::move(sock), cli, t, 5s);
            if (!s) {
                result = s.error();
                co_return;
            }
            std::string msg = "hello";
            co_await asio::async_write(**s, asio::buffer(msg), nothrow_awaitable);
            std::array<char, 5> buf;
            auto [rec, n] = co_await asio::async_read(**s, asio::buffer(buf), nothrow_awaitable);
            result = rec ? rec.message() : std::string(buf.data(), n);
        },
        asio::detached);
    io.run_for(8s);
    io.restart();
    return result;
}

class GatewayProxy : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(pki.ok());
        auto n1 = pki.server("dc1", "n1");
        auto x2 = pki.server("dc2", "x2");
        server_cfg = *tls::configurator::create(pair_settings(pki.ca(), n1),
                                                {"dc1", "consul", "n1", true, true});
        client_cfg = *tls::configurator::create(pair_settings(pki.ca(), x2),
                                                {"dc2", "consul", "x2", true, true});
    }
    temp_dir dir;
    test::test_pki pki{dir / "pki"};
    std::shared_ptr<tls::configurator> server_cfg, client_cfg;
    asio::io_context io;
};

}  // namespace

TEST_F(GatewayProxy, OneHopToALocalServerKeepsTlsEndToEnd) {
    tls_echo_server srv(io, server_cfg);
    asio::co_spawn(io, srv.run(), asio::detached);
    mesh::gateway_proxy gw(io.get_executor(), "dc1", "consul");
    ASSERT_FALSE(gw.listen("127.0.0.1", 0));
    gw.set_routes({{{"n1", {"127.0.0.1", srv.port()}}}, {}});
    gw.start();
    EXPECT_EQ(dial_and_echo(io, *client_cfg, gw.port(), "dc1", "n1"), "hello");
    EXPECT_EQ(srv.seen_sni, "n1.server.dc1.consul");
    auto& rs = gw.stats().routes.at("local-server:n1");
    EXPECT_EQ(rs.connections, 1u);
    EXPECT_GT(rs.bytes_up, 5u);  // the ClientHello and the encrypted "hello"
    // "any server of dc1" reaches the same server.
    EXPECT_EQ(dial_and_echo(io, *client_cfg, gw.port(), "dc1", ""), "hello");
    EXPECT_EQ(srv.seen_sni, "server.dc1.consul");
}

TEST_F(GatewayProxy, TwoHopsThroughTheRemoteDatacentersGateway) {
    tls_echo_server srv(io, server_cfg);
    asio::co_spawn(io, srv.run(), asio::detached);
    mesh::gateway_proxy gw1(io.get_executor(), "dc1", "consul");
    mesh::gateway_proxy gw2(io.get_executor(), "dc2", "consul");
    ASSERT_FALSE(gw1.listen("127.0.0.1", 0));
    ASSERT_FALSE(gw2.listen("127.0.0.1", 0));
    gw1.set_routes({{{"n1", {"127.0.0.1", srv.port()}}}, {}});
    gw2.set_routes({{}, {{"dc1", {{"127.0.0.1", gw1.port()}}}}});
    gw1.start();
    gw2.start();
    // The dc2 client dials its local gateway; TLS is between the client and n1 only.
    EXPECT_EQ(dial_and_echo(io, *client_cfg, gw2.port(), "dc1", "n1"), "hello");
    EXPECT_EQ(gw2.stats().routes.at("dc:dc1").connections, 1u);
    EXPECT_EQ(gw1.stats().routes.at("local-server:n1").connections, 1u);
    EXPECT_EQ(srv.served, 1);
}

TEST_F(GatewayProxy, RefusesUnknownNamesAndCountsMissingEndpoints) {
    mesh::gateway_proxy gw(io.get_executor(), "dc1", "consul");
    ASSERT_FALSE(gw.listen("127.0.0.1", 0));
    gw.start();
    // dc3 has no gateway known; node n9 is not a local server.
    EXPECT_NE(dial_and_echo(io, *client_cfg, gw.port(), "dc3", "a"), "hello");
    EXPECT_NE(dial_and_echo(io, *client_cfg, gw.port(), "dc1", "n9"), "hello");
    EXPECT_EQ(gw.stats().routes.at("dc:dc3").no_endpoint, 1u);
    EXPECT_EQ(gw.stats().routes.at("local-server:n9").no_endpoint, 1u);
    // A name outside the server scheme.
    tls::settings s = pair_settings(pki.ca(), pki.server("dc1", "z"));
    auto made = tls::configurator::create(s, {"dc1", "other.example", "z", false, false});
    ASSERT_TRUE(made);
    auto other = *made;
    EXPECT_NE(dial_and_echo(io, *other, gw.port(), "dc1", "z"), "hello");
    EXPECT_EQ(gw.stats().unknown_sni, 1u);
}

TEST_F(GatewayProxy, UnreachableUpstreamFailsOverToTheNextGateway) {
    tls_echo_server srv(io, server_cfg);
    asio::co_spawn(io, srv.run(), asio::detached);
    mesh::gateway_proxy gw1(io.get_executor(), "dc1", "consul");
    mesh::gateway_proxy gw2(io.get_executor(), "dc2", "consul");
    ASSERT_FALSE(gw1.listen("127.0.0.1", 0));
    ASSERT_FALSE(gw2.listen("127.0.0.1", 0));
    gw1.set_routes({{{"n1", {"127.0.0.1", srv.port()}}}, {}});
    std::uint16_t dead = static_cast<std::uint16_t>(test::free_tcp_port());
    gw2.set_routes({{}, {{"dc1", {{"127.0.0.1", dead}, {"127.0.0.1", gw1.port()}}}}});
    gw1.start();
    gw2.start();
    // Endpoints are tried in random order: every call succeeds, and within a bounded number
    // of calls the dead one comes first at least once (odds of missing it: 2^-40).
    auto failures = [&]() -> std::uint64_t {
        const auto& r = gw2.stats().routes;
        auto it = r.find("dc:dc1");
        return it == r.end() ? 0 : it->second.upstream_failures;
    };
    for (int i = 0; i < 40 && failures() == 0; ++i)
        EXPECT_EQ(dial_and_echo(io, *client_cfg, gw2.port(), "dc1", "n1"), "hello");
    EXPECT_GE(gw2.stats().routes.at("dc:dc1").upstream_failures, 1u);
}

TEST_F(GatewayProxy, SlowClientHelloIsCutAtTheDeadline) {
    mesh::proxy_options o;
    o.hello_timeout = 200ms;
    mesh::gateway_proxy gw(io.get_executor(), "dc1", "consul", o);
    ASSERT_FALSE(gw.listen("127.0.0.1", 0));
    gw.start();
    tcp::socket s(io);
    s.connect({asio::ip::make_address("127.0.0.1"), gw.port()});
    std::uint8_t partial[3] = {22, 3, 1};  // a record header that never completes
    asio::write(s, asio::buffer(partial));
    io.run_for(600ms);
    io.restart();
    EXPECT_EQ(gw.stats().hello_timeouts, 1u);
    std::uint8_t b;
    std::error_code ec;
    s.non_blocking(false);
    asio::read(s, asio::buffer(&b, 1), ec);
    EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
}
