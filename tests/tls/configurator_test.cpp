// The TLS configurator: startup checks that name the file and the problem, and negative
// handshakes over loopback, each failing with its documented message.
#include "tls/configurator.hpp"

#include <openssl/ssl.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include "common/asio_compat.hpp"
#include "tests/support/certs.hpp"
#include "tls/alpn.hpp"
#include "tls/stream.hpp"

using namespace std::chrono_literals;
using meshfed::test::cert_pair;
using meshfed::test::temp_dir;
using meshfed::test::test_pki;
using namespace meshfed::tls;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;

namespace {

settings tls_settings(const std::string& ca, const cert_pair& p, bool verify_in = true,
                      bool verify_out = true, bool verify_host = true) {
    settings s;
    s.ca_file = ca;
    s.cert_file = p.cert;
    s.key_file = p.key;
    s.verify_incoming = verify_in;
    s.verify_outgoing = verify_out;
    s.verify_server_hostname = verify_host;
    return s;
}

agent_identity server_id(const std::string& dc, const std::string& node, bool wanfed = false) {
    return {dc, "consul", node, true, wanfed};
}

std::shared_ptr<configurator> make(const settings& s, const agent_identity& id) {
    auto r = configurator::create(s, id);
    if (!r) {
        ADD_FAILURE() << "configurator::create failed: " << testing::PrintToString(r.error());
        return nullptr;
    }
    return *r;
}

struct handshake_result {
    std::expected<void, std::string> client = std::unexpected("not run");
    std::expected<void, std::string> server = std::unexpected("not run");
    std::expected<void, std::string> role = std::unexpected("not run");
    std::string server_alpn;
    client_hello hello;
    std::string presented_cn;  // what the client saw
};

enum class server_ctx { rpc, alpn };

// One loopback connection: server handshake (+ role check) against client handshake.
handshake_result run(const configurator& srv, server_ctx which, const configurator* cli,
                     const client_target& target, SSL_CTX* raw_client_ctx = nullptr) {
    handshake_result res;
    asio::io_context io;
    asio::ip::tcp::acceptor acc(io, {asio::ip::make_address("127.0.0.1"), 0});
    auto port = acc.local_endpoint().port();
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            auto [ec, sock] = co_await acc.async_accept(meshfed::nothrow_awaitable);
            if (ec) co_return;
            auto ctx = which == server_ctx::alpn ? srv.incoming_alpn() : srv.incoming_rpc();
            auto s = co_await server_handshake(std::move(sock), ctx, 5s);
            if (!s) {
                res.server = std::unexpected(s.error());
                co_return;
            }
            res.server = {};
            res.server_alpn = negotiated_alpn(**s);
            res.hello = configurator::hello_of((*s)->native_handle());
            res.role = srv.authorize_server_peer((*s)->native_handle());
            // Hold the connection until the client has finished its checks.
            char b;
            co_await asio::async_read((*s)->next_layer(), asio::buffer(&b, 1),
                                      meshfed::nothrow_awaitable);
        },
        asio::detached);
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            asio::ip::tcp::socket sock(io);
            auto [ec] = co_await sock.async_connect({asio::ip::make_address("127.0.0.1"), port},
                                                    meshfed::nothrow_awaitable);
            if (ec) co_return;
            if (raw_client_ctx) {
                auto s = make_stream(std::move(sock), raw_client_ctx);
                auto [hec] = co_await s->async_handshake(asio::ssl::stream_base::client,
                                                         meshfed::nothrow_awaitable);
                if (hec)
                    res.client = std::unexpected(hec.message());
                else
                    res.client = {};
                s->next_layer().close();
                co_return;
            }
            auto s = co_await client_handshake(std::move(sock), *cli, target, 5s);
            if (!s) {
                res.client = std::unexpected(s.error());
                co_return;
            }
            res.client = {};
            if (X509* peer = SSL_get0_peer_certificate((*s)->native_handle()))
                res.presented_cn = inspect_certificate(peer).common_name;
            (*s)->next_layer().close();
        },
        asio::detached);
    io.run_for(10s);
    return res;
}

class TlsHandshake : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(pki.ok());
        ASSERT_TRUE(other_pki.ok());
        n1 = pki.server("dc1", "n1");
        n2 = pki.server("dc1", "n2");
        dc2 = pki.server("dc2", "x1");
        client = pki.client("dc1");
        foreign = other_pki.server("dc1", "n1");
        ASSERT_FALSE(n1.cert.empty());
    }
    temp_dir dir;
    test_pki pki{dir / "ca"};
    test_pki other_pki{dir / "other"};
    cert_pair n1, n2, dc2, client, foreign;
};

}  // namespace

TEST_F(TlsHandshake, MutualTlsWithAlpnThroughMeshGatewayIdentity) {
    auto srv = make(tls_settings(pki.ca(), n1), server_id("dc1", "n1", true));
    auto cli = make(tls_settings(pki.ca(), dc2), server_id("dc2", "x1"));
    ASSERT_TRUE(srv && cli);
    client_target t{"dc1", "n1", std::string(alpn::rpc_multi), true};
    auto r = run(*srv, server_ctx::alpn, cli.get(), t);
    EXPECT_TRUE(r.client) << r.client.error();
    EXPECT_TRUE(r.server) << r.server.error();
    EXPECT_EQ(r.server_alpn, "consul/rpc-multi");
    EXPECT_EQ(r.hello.sni, "n1.server.dc1.consul");
    EXPECT_EQ(r.hello.alpn_offered, (std::vector<std::string>{"consul/rpc-multi"}));
    EXPECT_TRUE(r.role) << r.role.error();  // a dc2 server cert is a server cert
    EXPECT_EQ(r.presented_cn, "server.dc1.consul");
}

TEST_F(TlsHandshake, UpgradeStyleWithVerifyServerHostname) {
    auto srv = make(tls_settings(pki.ca(), n1), server_id("dc1", "n1"));
    auto cli = make(tls_settings(pki.ca(), n2), server_id("dc1", "n2"));
    auto r = run(*srv, server_ctx::rpc, cli.get(), client_target{"dc1", "", "", false});
    EXPECT_TRUE(r.client) << r.client.error();
    EXPECT_TRUE(r.server) << r.server.error();
    EXPECT_EQ(r.hello.sni, "server.dc1.consul");
    EXPECT_EQ(r.server_alpn, "");
}

TEST_F(TlsHandshake, WrongCaIsRefused) {
    auto srv = make(tls_settings(other_pki.ca(), foreign), server_id("dc1", "n1"));
    auto cli = make(tls_settings(pki.ca(), n2), server_id("dc1", "n2"));
    auto r = run(*srv, server_ctx::alpn, cli.get(), {"dc1", "n1", "consul/rpc-multi", true});
    ASSERT_FALSE(r.client);
    EXPECT_THAT(r.client.error(),
                HasSubstr("handshake failed: certificate verify failed: unable to get local "
                          "issuer certificate"))
        << "the server sends only its own certificate (no auto-chaining), like Go";
    EXPECT_THAT(r.client.error(), HasSubstr("sni=n1.server.dc1.consul alpn=consul/rpc-multi"));
    EXPECT_FALSE(r.server);  // the server saw the client abort (or refused its foreign cert)
}

TEST_F(TlsHandshake, ExpiredServerCertificateIsRefused) {
    auto expired =
        pki.custom("expired", {"server.dc1.consul", "n1.server.dc1.consul"}, -3 * 86400, -86400);
    // The server's own startup check would refuse it, so serve it through a bare context.
    auto srv_settings = tls_settings(pki.ca(), expired);
    auto srv = configurator::create(srv_settings, server_id("dc1", "n1"));
    ASSERT_FALSE(srv);
    EXPECT_THAT(srv.error(), Contains(HasSubstr("certificate expired at")));
    auto good_srv = make(tls_settings(pki.ca(), n1), server_id("dc1", "n1"));
    // Swap the expired pair into a copy of the good server's files, then reload must refuse.
    std::filesystem::copy_file(expired.cert, n1.cert,
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file(expired.key, n1.key,
                               std::filesystem::copy_options::overwrite_existing);
    auto errs = good_srv->reload();
    EXPECT_THAT(errs, Contains(HasSubstr("certificate expired at")));
    // A peer presenting an expired certificate fails verification on the client.
    SSL_CTX* raw = SSL_CTX_new(TLS_server_method());
    ASSERT_EQ(SSL_CTX_use_certificate_file(raw, expired.cert.c_str(), SSL_FILETYPE_PEM), 1);
    ASSERT_EQ(SSL_CTX_use_PrivateKey_file(raw, expired.key.c_str(), SSL_FILETYPE_PEM), 1);
    asio::io_context io;
    asio::ip::tcp::acceptor acc(io, {asio::ip::make_address("127.0.0.1"), 0});
    auto port = acc.local_endpoint().port();
    std::expected<void, std::string> client_result = std::unexpected("not run");
    auto cli = make(tls_settings(pki.ca(), n2), server_id("dc1", "n2"));
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            auto [ec, sock] = co_await acc.async_accept(meshfed::nothrow_awaitable);
            auto s = make_stream(std::move(sock), raw);
            co_await s->async_handshake(asio::ssl::stream_base::server, meshfed::nothrow_awaitable);
        },
        asio::detached);
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            asio::ip::tcp::socket sock(io);
            co_await sock.async_connect({asio::ip::make_address("127.0.0.1"), port},
                                        meshfed::nothrow_awaitable);
            client_target target{"dc1", "n1", "", true};
            auto s = co_await client_handshake(std::move(sock), *cli, target, 5s);
            if (!s)
                client_result = std::unexpected(s.error());
            else
                client_result = {};
        },
        asio::detached);
    io.run_for(10s);
    SSL_CTX_free(raw);
    ASSERT_FALSE(client_result);
    EXPECT_THAT(client_result.error(),
                HasSubstr("certificate verify failed: certificate has expired"));
}

TEST_F(TlsHandshake, CertificateForAnotherNodeIsRefused) {
    auto srv = make(tls_settings(pki.ca(), n2), server_id("dc1", "n2"));
    auto cli = make(tls_settings(pki.ca(), dc2), server_id("dc2", "x1"));
    auto r = run(*srv, server_ctx::alpn, cli.get(), {"dc1", "n1", "consul/rpc-multi", true});
    ASSERT_FALSE(r.client);
    EXPECT_THAT(r.client.error(),
                HasSubstr("server certificate does not match the server dialed: expected identity "
                          "n1.server.dc1.consul, presented [n2.server.dc1.consul, "
                          "server.dc1.consul, localhost]"));
}

TEST_F(TlsHandshake, CertificateForAnotherDatacenterIsRefused) {
    auto srv = make(tls_settings(pki.ca(), dc2), server_id("dc2", "x1"));
    auto cli = make(tls_settings(pki.ca(), n2), server_id("dc1", "n2"));
    auto r = run(*srv, server_ctx::rpc, cli.get(), {"dc1", "", "", false});
    ASSERT_FALSE(r.client);
    EXPECT_THAT(r.client.error(),
                HasSubstr("expected identity server.dc1.consul, presented "
                          "[x1.server.dc2.consul, server.dc2.consul, localhost]"));
}

TEST_F(TlsHandshake, ClientCertificatePosingAsServerIsRefusedBothWays) {
    // As the server we dial: it is not a server identity.
    settings client_srv = tls_settings(pki.ca(), client);
    agent_identity as_client{"dc1", "consul", "c1", false, false};
    auto fake_srv = make(client_srv, as_client);
    auto cli = make(tls_settings(pki.ca(), n2), server_id("dc1", "n2"));
    auto r = run(*fake_srv, server_ctx::alpn, cli.get(), {"dc1", "n1", "consul/rpc-multi", true});
    ASSERT_FALSE(r.client);
    EXPECT_THAT(r.client.error(), HasSubstr("expected identity n1.server.dc1.consul, presented "
                                            "[client.dc1.consul, localhost]"));
    // As a peer dialing a server-only handler: the role check refuses it (CVE-2021-37219).
    auto srv = make(tls_settings(pki.ca(), n1), server_id("dc1", "n1"));
    auto r2 = run(*srv, server_ctx::alpn, fake_srv.get(), {"dc1", "n1", "consul/rpc-multi", true});
    EXPECT_TRUE(r2.server) << r2.server.error();
    ASSERT_FALSE(r2.role);
    EXPECT_EQ(r2.role.error(),
              "peer certificate is not a server certificate: expected the DNS name "
              "server.<datacenter>.consul, presented [client.dc1.consul, localhost]");
}

TEST_F(TlsHandshake, NoClientCertificateWithVerifyIncomingIsRefused) {
    auto srv = make(tls_settings(pki.ca(), n1), server_id("dc1", "n1"));
    settings only_ca;
    only_ca.ca_file = pki.ca();
    only_ca.verify_outgoing = true;
    auto cli = make(only_ca, {"dc1", "consul", "c", false, false});
    auto r = run(*srv, server_ctx::rpc, cli.get(), {"dc1", "", "", false});
    ASSERT_FALSE(r.server);
    EXPECT_THAT(r.server.error(), HasSubstr("peer did not return a certificate"));
}

TEST_F(TlsHandshake, WithoutVerifyIncomingAClientWithoutCertificateIsServed) {
    auto srv = make(tls_settings(pki.ca(), n1, /*verify_in=*/false), server_id("dc1", "n1"));
    settings only_ca;
    only_ca.ca_file = pki.ca();
    only_ca.verify_outgoing = true;
    auto cli = make(only_ca, {"dc1", "consul", "c", false, false});
    auto r = run(*srv, server_ctx::rpc, cli.get(), {"dc1", "", "", false});
    EXPECT_TRUE(r.server) << r.server.error();
    ASSERT_FALSE(r.role);  // but it cannot reach server-only handlers
    EXPECT_THAT(r.role.error(), HasSubstr("peer presented no certificate"));
}

// The TLS byte_stream returns every record already received in one read_some, not one record
// per call (Go's yamux writes a frame's header and body as separate records).
TEST_F(TlsHandshake, ByteStreamReadReturnsEveryBufferedRecord) {
    auto srv = make(tls_settings(pki.ca(), n1), server_id("dc1", "n1"));
    auto cli = make(tls_settings(pki.ca(), n2), server_id("dc1", "n2"));
    ASSERT_TRUE(srv && cli);
    asio::io_context io;
    asio::ip::tcp::acceptor acc(io, {asio::ip::make_address("127.0.0.1"), 0});
    auto port = acc.local_endpoint().port();
    std::string first_read, all;
    std::error_code end;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            auto [ec, sock] = co_await acc.async_accept(meshfed::nothrow_awaitable);
            if (ec) co_return;
            auto s = co_await server_handshake(std::move(sock), srv->incoming_rpc(), 5s);
            if (!s) co_return;
            auto bs = make_byte_stream(std::move(**s));
            asio::steady_timer t(io, 300ms);  // let all 20 records arrive
            co_await t.async_wait(meshfed::nothrow_awaitable);
            std::vector<char> buf(64 * 1024);
            for (int i = 0; i < 100; ++i) {
                auto [rec, n] = co_await bs->read_some(asio::buffer(buf));
                if (rec) {
                    end = rec;
                    break;
                }
                if (i == 0) first_read.assign(buf.data(), n);
                all.append(buf.data(), n);
            }
        },
        asio::detached);
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            asio::ip::tcp::socket sock(io);
            auto [ec] = co_await sock.async_connect({asio::ip::make_address("127.0.0.1"), port},
                                                    meshfed::nothrow_awaitable);
            if (ec) co_return;
            client_target t{"dc1", "n1", "", false};
            auto s = co_await client_handshake(std::move(sock), *cli, t, 5s);
            if (!s) co_return;
            for (int i = 0; i < 20; ++i) {  // one SSL_write, one record each
                std::string rec = "record-" + std::to_string(100 + i) + ";";
                co_await asio::async_write(**s, asio::buffer(rec), meshfed::nothrow_awaitable);
            }
            asio::steady_timer t2(io, 600ms);
            co_await t2.async_wait(meshfed::nothrow_awaitable);
            (*s)->next_layer().close();
        },
        asio::detached);
    io.run_for(10s);
    std::string expected;
    for (int i = 0; i < 20; ++i) expected += "record-" + std::to_string(100 + i) + ";";
    EXPECT_EQ(first_read, expected);  // one read, twenty records
    EXPECT_EQ(all, expected);
    EXPECT_TRUE(end) << "the peer's close is reported after the buffered data";
}

// A corrupt record behind good ones: the good ones' plaintext comes back, then an error — never
// a successful empty read, which would make a caller spin.
TEST_F(TlsHandshake, ByteStreamReportsACorruptRecordAfterTheGoodOnes) {
    auto srv = make(tls_settings(pki.ca(), n1), server_id("dc1", "n1"));
    auto cli = make(tls_settings(pki.ca(), n2), server_id("dc1", "n2"));
    ASSERT_TRUE(srv && cli);
    asio::io_context io;
    asio::ip::tcp::acceptor acc(io, {asio::ip::make_address("127.0.0.1"), 0});
    asio::ip::tcp::acceptor relay_acc(io, {asio::ip::make_address("127.0.0.1"), 0});
    auto port = acc.local_endpoint().port();
    auto relay_port = relay_acc.local_endpoint().port();
    bool corrupt_next = false;  // set by the client just before it writes the bad record
    std::string good;
    std::error_code end;
    int empty_reads = 0, reads = 0;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            auto [ec, sock] = co_await acc.async_accept(meshfed::nothrow_awaitable);
            if (ec) co_return;
            auto s = co_await server_handshake(std::move(sock), srv->incoming_rpc(), 5s);
            if (!s) co_return;
            auto bs = make_byte_stream(std::move(**s));
            asio::steady_timer t(io, 400ms);  // good and bad records all received
            co_await t.async_wait(meshfed::nothrow_awaitable);
            std::vector<char> buf(64 * 1024);
            for (; reads < 10; ++reads) {
                auto [rec, n] = co_await bs->read_some(asio::buffer(buf));
                if (rec) {
                    end = rec;
                    break;
                }
                if (n == 0) ++empty_reads;
                good.append(buf.data(), n);
            }
        },
        asio::detached);
    // Relay client -> server bytes, flipping the last byte (the AEAD tag) of the chunk that
    // carries the bad record; server -> client bytes pass unchanged.
    using sock_ptr = std::shared_ptr<asio::ip::tcp::socket>;
    auto pump = [](sock_ptr from, sock_ptr to, bool* corrupt) -> asio::awaitable<void> {
        std::vector<std::uint8_t> b(16 * 1024);
        for (;;) {
            auto [rec, n] =
                co_await from->async_read_some(asio::buffer(b), meshfed::nothrow_awaitable);
            if (rec) break;
            if (corrupt && *corrupt) {
                b[n - 1] ^= 0x55;
                *corrupt = false;
            }
            auto [wec, w] = co_await asio::async_write(*to, asio::buffer(b.data(), n),
                                                       meshfed::nothrow_awaitable);
            if (wec) break;
        }
        std::error_code ignored;
        to->close(ignored);
    };
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            auto [ec, s] = co_await relay_acc.async_accept(meshfed::nothrow_awaitable);
            if (ec) co_return;
            auto down = std::make_shared<asio::ip::tcp::socket>(std::move(s));
            auto up = std::make_shared<asio::ip::tcp::socket>(io);
            auto [cec] = co_await up->async_connect({asio::ip::make_address("127.0.0.1"), port},
                                                    meshfed::nothrow_awaitable);
            if (cec) co_return;
            asio::co_spawn(io, pump(up, down, nullptr), asio::detached);
            asio::co_spawn(io, pump(down, up, &corrupt_next), asio::detached);
        },
        asio::detached);
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            asio::ip::tcp::socket sock(io);
            auto [ec] = co_await sock.async_connect(
                {asio::ip::make_address("127.0.0.1"), relay_port}, meshfed::nothrow_awaitable);
            if (ec) co_return;
            client_target t{"dc1", "n1", "", false};
            auto s = co_await client_handshake(std::move(sock), *cli, t, 5s);
            if (!s) co_return;
            for (int i = 0; i < 5; ++i) {
                std::string rec = "good-" + std::to_string(i) + ";";
                co_await asio::async_write(**s, asio::buffer(rec), meshfed::nothrow_awaitable);
            }
            asio::steady_timer t1(io, 100ms);  // the relay has passed the good records on
            co_await t1.async_wait(meshfed::nothrow_awaitable);
            corrupt_next = true;
            std::string bad = "bad-record;";
            co_await asio::async_write(**s, asio::buffer(bad), meshfed::nothrow_awaitable);
            asio::steady_timer t2(io, 1s);  // keep the connection open while the server reads
            co_await t2.async_wait(meshfed::nothrow_awaitable);
        },
        asio::detached);
    io.run_for(5s);
    EXPECT_EQ(good, "good-0;good-1;good-2;good-3;good-4;");
    EXPECT_TRUE(end) << "the corrupt record must surface as an error";
    EXPECT_THAT(end.message(), HasSubstr("bad record mac"));  // OpenSSL's reason, for the log
    EXPECT_EQ(empty_reads, 0);
    EXPECT_LE(reads, 2);  // the good records in one read, then the error
}

TEST_F(TlsHandshake, Tls11IsRefused) {
    auto srv = make(tls_settings(pki.ca(), n1), server_id("dc1", "n1"));
    SSL_CTX* old = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_security_level(old, 0);
    SSL_CTX_set_min_proto_version(old, TLS1_VERSION);
    SSL_CTX_set_max_proto_version(old, TLS1_1_VERSION);
    SSL_CTX_set_cipher_list(old, "DEFAULT:@SECLEVEL=0");
    auto r = run(*srv, server_ctx::rpc, nullptr, {}, old);
    SSL_CTX_free(old);
    ASSERT_FALSE(r.server);
    EXPECT_THAT(r.server.error(), HasSubstr("unsupported protocol"));
    EXPECT_FALSE(r.client);
}

TEST_F(TlsHandshake, AlpnMismatchIsAFatalAlert) {
    auto srv = make(tls_settings(pki.ca(), n1), server_id("dc1", "n1"));
    auto cli = make(tls_settings(pki.ca(), n2), server_id("dc1", "n2"));
    auto r = run(*srv, server_ctx::alpn, cli.get(), {"dc1", "n1", "h2", true});
    ASSERT_FALSE(r.client);
    EXPECT_THAT(r.client.error(), HasSubstr("no application protocol"));
    EXPECT_EQ(r.hello.alpn_offered, (std::vector<std::string>{}));  // failed before recording
}

TEST_F(TlsHandshake, ReloadSwitchesCertificatesForNewConnections) {
    auto srv = make(tls_settings(pki.ca(), n1), server_id("dc1", "n1"));
    auto cli = make(tls_settings(pki.ca(), n2), server_id("dc1", "n2"));
    auto before = run(*srv, server_ctx::alpn, cli.get(), {"dc1", "n1", "consul/rpc-multi", true});
    ASSERT_TRUE(before.client) << before.client.error();
    auto renamed = pki.custom(
        "renamed", {"server.dc1.consul", "n1.server.dc1.consul", "renamed.example"}, -60, 86400);
    std::filesystem::copy_file(renamed.cert, n1.cert,
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file(renamed.key, n1.key,
                               std::filesystem::copy_options::overwrite_existing);
    EXPECT_THAT(srv->reload(), ::testing::IsEmpty());
    auto after = run(*srv, server_ctx::alpn, cli.get(), {"dc1", "n1", "consul/rpc-multi", true});
    ASSERT_TRUE(after.client) << after.client.error();
    EXPECT_EQ(before.presented_cn, "server.dc1.consul");
    EXPECT_EQ(after.presented_cn, "server.dc1.consul");
    // The new certificate is the one with the extra name.
    auto names_after = after.presented_cn;
    (void)names_after;
    std::ifstream in(n1.cert);
    std::string pem((std::istreambuf_iterator<char>(in)), {});
    auto loaded = parse_certificate_pem(pem);
    ASSERT_TRUE(loaded);
    EXPECT_THAT(inspect_certificate(loaded->get()).dns_names, Contains("renamed.example"));
}

// Startup checks.
class TlsStartupChecks : public TlsHandshake {};

TEST_F(TlsStartupChecks, MissingFilesAreNamed) {
    auto s = tls_settings(dir.path().string() + "/nope-ca.pem",
                          {dir.path().string() + "/nope.pem", n1.key});
    auto r = configurator::create(s, server_id("dc1", "n1"));
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error(), Contains(HasSubstr("nope-ca.pem: open ")));
    EXPECT_THAT(r.error(), Contains(HasSubstr("no such file or directory")));
    EXPECT_THAT(r.error(), Contains(HasSubstr("cert_file " + dir.path().string() + "/nope.pem")));
}

TEST_F(TlsStartupChecks, NotPem) {
    dir.write("junk.pem", "this is not a certificate\n");
    auto r = configurator::create(tls_settings(pki.ca(), {(dir / "junk.pem").string(), n1.key}),
                                  server_id("dc1", "n1"));
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error(),
                Contains(AllOf(HasSubstr("junk.pem"), HasSubstr("no PEM-encoded data found"))));
}

TEST_F(TlsStartupChecks, KeyDoesNotMatchCertificate) {
    auto r =
        configurator::create(tls_settings(pki.ca(), {n1.cert, n2.key}), server_id("dc1", "n1"));
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error(),
                Contains(HasSubstr("key_file " + n2.key +
                                   " does not match the certificate in cert_file " + n1.cert)));
}

TEST_F(TlsStartupChecks, NotYetValid) {
    auto future = pki.custom("future", {"server.dc1.consul"}, 86400, 2 * 86400);
    auto r = configurator::create(tls_settings(pki.ca(), future), server_id("dc1", "n1"));
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error(), Contains(HasSubstr("certificate is not valid until")));
}

TEST_F(TlsStartupChecks, NotSignedByTheCa) {
    auto r = configurator::create(tls_settings(pki.ca(), foreign), server_id("dc1", "n1"));
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error(),
                Contains(HasSubstr("certificate is not signed by the CA in " + pki.ca())));
}

TEST_F(TlsStartupChecks, ServerCertificateWithoutServerName) {
    auto r = configurator::create(tls_settings(pki.ca(), client), server_id("dc1", "n1"));
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error(),
                Contains(HasSubstr("a server certificate must carry the DNS name server.dc1.consul "
                                   "(it has [client.dc1.consul, localhost])")));
    auto other_dc = configurator::create(tls_settings(pki.ca(), n1), server_id("dc2", "n1"));
    ASSERT_FALSE(other_dc);
    EXPECT_THAT(other_dc.error(), Contains(HasSubstr("must carry the DNS name server.dc2.consul")));
}

TEST_F(TlsStartupChecks, WanFederationNeedsTheNodeName) {
    auto no_node = pki.server("dc1");
    auto r = configurator::create(tls_settings(pki.ca(), no_node), server_id("dc1", "n1", true));
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error(), Contains(HasSubstr("needs the DNS name n1.server.dc1.consul")));
    EXPECT_TRUE(configurator::create(tls_settings(pki.ca(), n1), server_id("dc1", "n1", true)));
}

TEST_F(TlsStartupChecks, MinVersionMapping) {
    EXPECT_EQ(openssl_min_version("TLSv1_2"), TLS1_2_VERSION);
    EXPECT_EQ(openssl_min_version("tls13"), TLS1_3_VERSION);
    EXPECT_EQ(openssl_min_version("SSLv3"), 0);
}
