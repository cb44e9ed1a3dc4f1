// The RPC port: first-byte dispatch, TLS forms, limits, forwarding through the pool, and the
// Go reference client (rpcpeer) in every mode. 127.0.0.1 only.
#include "rpc/server.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <future>
#include <thread>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <asio/write.hpp>

#include "common/msgpack.hpp"
#include "rpc/conn_pool.hpp"
#include "rpc/msgpack_rpc.hpp"
#include "rpc/router.hpp"
#include "tests/support/certs.hpp"
#include "tests/support/process.hpp"
#include "tls/configurator.hpp"

using namespace std::chrono_literals;
using namespace meshfed::rpc;
using meshfed::test::temp_dir;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

namespace {

const fs::path rpcpeer = fs::path(MESHFED_INTEROP_BIN) / "rpcpeer";

std::vector<std::uint8_t> msgpack_bool(bool v) {
    return {static_cast<std::uint8_t>(v ? 0xc3 : 0xc2)};
}

// A body {"Datacenter": dc}.
std::vector<std::uint8_t> dc_body(const std::string& dc) {
    std::vector<std::uint8_t> out;
    meshfed::msgpack::writer w(out);
    w.write_map_header(1);
    w.write_str("Datacenter");
    w.write_str(dc);
    return out;
}

// One RPC server on a background io_context, with a test handler table.
class live_server {
  public:
    explicit live_server(std::string dc, limits lim = {},
                         std::shared_ptr<meshfed::tls::configurator> tls = nullptr)
        : dc_(std::move(dc)) {
        handlers_.add("Status.Ping",
                      [](std::span<const std::uint8_t>, reply_fn r) { r("", msgpack_bool(true)); });
        handlers_.add("Test.WhereAmI", [this](std::span<const std::uint8_t>, reply_fn r) {
            std::vector<std::uint8_t> out;
            meshfed::msgpack::writer w(out);
            w.write_str(dc_);
            r("", out);
        });
        handlers_.add("Test.Later", [this](std::span<const std::uint8_t>, reply_fn r) {
            auto t = std::make_shared<asio::steady_timer>(io_, 50ms);
            t->async_wait([t, r](std::error_code) { r("", msgpack_bool(true)); });
        });
        srv_ = std::make_unique<server>(io_.get_executor(), handlers_, dc_, lim, tls);
        ec_ = srv_->listen("127.0.0.1", 0);
        srv_->start();
        thread_ = std::thread([this] { io_.run(); });
    }
    ~live_server() {
        asio::post(io_, [this] { srv_->stop(); });
        work_.reset();
        io_.stop();
        thread_.join();
    }
    std::uint16_t port() const { return srv_->port(); }
    std::string addr() const { return "127.0.0.1:" + std::to_string(port()); }
    asio::io_context& io() { return io_; }
    server& srv() { return *srv_; }
    server_stats stats() {
        std::promise<server_stats> p;
        asio::post(io_, [&] { p.set_value(srv_->stats()); });
        return p.get_future().get();
    }

  private:
    std::string dc_;
    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
    handler_registry handlers_;
    std::unique_ptr<server> srv_;
    std::error_code ec_;
    std::thread thread_;
};

nlohmann::json rpcpeer_call(const std::string& args) {
    auto r =
        meshfed::test::run_command(rpcpeer.string() + " -write-ext=false -timeout 10s " + args);
    auto pos = r.output.find('{');
    if (pos == std::string::npos) return {{"raw", r.output}};
    auto j = nlohmann::json::parse(r.output.substr(pos), nullptr, false);
    if (j.is_discarded()) return {{"raw", r.output}};
    return j;
}

class RpcServer : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!fs::exists(rpcpeer)) GTEST_SKIP() << rpcpeer << " is not built (scripts/setup)";
    }
};

}  // namespace

TEST(RpcServerUnit, RequestDatacenterPeek) {
    EXPECT_EQ(server::request_datacenter(dc_body("dc2")), "dc2");
    EXPECT_EQ(server::request_datacenter(std::vector<std::uint8_t>{0x80}), "");
    EXPECT_EQ(server::request_datacenter(std::vector<std::uint8_t>{0xc3}), "");
    EXPECT_EQ(server::request_datacenter(std::vector<std::uint8_t>{0x81, 0xa1}), "");  // truncated
}

TEST(RpcServerUnit, RouterOrderAndErrors) {
    router r("dc1", 42);
    r.set_servers(
        {{"a", "dc2", "127.0.0.1", 1}, {"b", "dc2", "127.0.0.2", 2}, {"c", "dc1", "127.0.0.3", 3}});
    EXPECT_EQ(r.route("dc2")->name, "a");
    r.failed(*r.route("dc2"));
    EXPECT_EQ(r.route("dc2")->name, "b");
    EXPECT_EQ(r.route("dc9").error(), "No path to datacenter");
    r.set_servers({{"c", "dc1", "127.0.0.3", 3}});
    EXPECT_EQ(r.route("dc2").error(), "No path to datacenter");
    r.set_servers(
        {{"c", "dc1", "127.0.0.3", 3}, {"z", "dc3", "127.0.0.9", 9}, {"y", "dc2", "127.0.0.8", 8}});
    auto dcs =
        r.datacenters([](const server_info& s) -> std::optional<std::chrono::duration<double>> {
            if (s.dc == "dc3") return std::chrono::duration<double>(0.010);
            if (s.dc == "dc2") return std::chrono::duration<double>(0.050);
            return std::nullopt;
        });
    EXPECT_EQ(dcs, (std::vector<std::string>{"dc1", "dc3", "dc2"}));
}

// Consul's router keeps a server the WAN pool has failed (gossip may fail while RPC works) and
// tries it after the alive ones.
TEST(RpcServerUnit, RouterKeepsFailedServersAfterAliveOnes) {
    router r("dc1", 42);
    server_info a{"a", "dc2", "127.0.0.1", 1};
    server_info b{"b", "dc2", "127.0.0.2", 2};
    a.alive = false;
    r.set_servers({a, b});
    EXPECT_EQ(r.route("dc2")->name, "b");
    b.alive = false;
    r.set_servers({a, b});
    ASSERT_TRUE(r.route("dc2").has_value());  // only failed servers: still a path
    a.alive = true;
    r.set_servers({a, b});
    EXPECT_EQ(r.route("dc2")->name, "a");
}

TEST_F(RpcServer, GoClientPlainYamux) {
    live_server s("dc1");
    auto j = rpcpeer_call("-addr " + s.addr() + " -method Status.Ping");
    EXPECT_EQ(j.value("reply", nlohmann::json()), true) << j.dump();
    auto missing = rpcpeer_call("-addr " + s.addr() + " -method Nope.Thing");
    EXPECT_EQ(missing.value("error", ""), "rpc: can't find service Nope.Thing") << missing.dump();
    auto method = rpcpeer_call("-addr " + s.addr() + " -method Status.Nope");
    EXPECT_EQ(method.value("error", ""), "rpc: can't find method Status.Nope") << method.dump();
}

TEST_F(RpcServer, GoClientSingleConnectionByte0) {
    // rpcpeer always speaks yamux after its prefix byte, so byte 0 (one raw msgpack-rpc
    // connection) is exercised with a hand-written client.
    live_server s("dc1");
    asio::io_context io;
    asio::ip::tcp::socket sock(io);
    sock.connect({asio::ip::make_address("127.0.0.1"), s.port()});
    std::vector<std::uint8_t> out{0x00};
    encode_request(out, "Status.Ping", 7, std::vector<std::uint8_t>{0x80});
    asio::write(sock, asio::buffer(out));
    response_decoder dec;
    std::vector<std::uint8_t> buf(4096);
    std::optional<rpc_response> got;
    while (!got) {
        auto n = sock.read_some(asio::buffer(buf));
        dec.feed(std::span<const std::uint8_t>(buf.data(), n));
        auto m = dec.next();
        ASSERT_TRUE(m);
        if (*m) got = std::move(**m);
    }
    EXPECT_EQ(got->header.seq, 7u);
    EXPECT_EQ(got->header.error, "");
    EXPECT_EQ(got->body, msgpack_bool(true));
}

TEST_F(RpcServer, TlsUpgradeAndNativeAlpnWithGoClient) {
    temp_dir dir;
    meshfed::test::test_pki pki(dir / "pki");
    auto n1 = pki.server("dc1", "n1");
    auto n2 = pki.server("dc1", "n2");
    meshfed::tls::settings st;
    st.ca_file = pki.ca();
    st.cert_file = n1.cert;
    st.key_file = n1.key;
    st.verify_incoming = true;
    auto cfg = meshfed::tls::configurator::create(st, {"dc1", "consul", "n1", true, false});
    ASSERT_TRUE(cfg);
    live_server s("dc1", {}, *cfg);
    std::string client = " -ca " + pki.ca() + " -cert " + n2.cert + " -key " + n2.key;
    auto up = rpcpeer_call("-addr " + s.addr() + " -method Status.Ping -tls-mode upgrade " +
                           "-server-name server.dc1.consul" + client);
    EXPECT_EQ(up.value("reply", nlohmann::json()), true) << up.dump();
    auto alpn = rpcpeer_call("-addr " + s.addr() + " -method Status.Ping -tls-mode alpn " +
                             "-sni n1.server.dc1.consul" + client);
    EXPECT_EQ(alpn.value("reply", nlohmann::json()), true) << alpn.dump();
    EXPECT_EQ(alpn["tls"]["alpn"], "consul/rpc-multi");
    // verify_incoming: plaintext is refused.
    auto plain = rpcpeer_call("-addr " + s.addr() + " -method Status.Ping");
    EXPECT_FALSE(plain.contains("reply")) << plain.dump();
    EXPECT_EQ(s.stats().plaintext_refused, 1u);
}

TEST_F(RpcServer, UnrecognizedByteAndHandshakeDeadlineAndPerIpCap) {
    limits lim;
    lim.handshake_timeout = 200ms;
    lim.max_conns_per_client = 2;
    live_server s("dc1", lim);
    asio::io_context io;
    // Unrecognized byte 0x02 (the old muxado multiplexer) is closed.
    {
        asio::ip::tcp::socket sock(io);
        sock.connect({asio::ip::make_address("127.0.0.1"), s.port()});
        std::uint8_t b = 0x02;
        asio::write(sock, asio::buffer(&b, 1));
        std::uint8_t x;
        std::error_code ec;
        asio::read(sock, asio::buffer(&x, 1), ec);
        EXPECT_EQ(ec, asio::error::eof);
    }
    // Silent connections are cut at the deadline; a third concurrent one is refused.
    asio::ip::tcp::socket a(io), b(io), c(io);
    a.connect({asio::ip::make_address("127.0.0.1"), s.port()});
    b.connect({asio::ip::make_address("127.0.0.1"), s.port()});
    std::this_thread::sleep_for(50ms);
    c.connect({asio::ip::make_address("127.0.0.1"), s.port()});
    std::uint8_t x;
    std::error_code ec;
    asio::read(c, asio::buffer(&x, 1), ec);  // refused: closed at once
    EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
    asio::read(a, asio::buffer(&x, 1), ec);  // cut at the handshake deadline
    EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
    auto st = s.stats();
    EXPECT_EQ(st.unrecognized_byte, 1u);
    EXPECT_GE(st.handshake_timeouts, 1u);
    EXPECT_EQ(st.rejected_conn_limit, 1u);
}

TEST_F(RpcServer, ForwardsToAnotherDatacenterThroughThePool) {
    live_server dc2("dc2");
    live_server dc1("dc1");
    // dc1 forwards with a pool and a router that knows dc2's server.
    auto pool = std::make_shared<conn_pool>(dc1.io().get_executor(),
                                            classic_dialer(dc1.io().get_executor(), nullptr));
    auto rt = std::make_shared<router>("dc1");
    rt->set_servers({{"s2", "dc2", "127.0.0.1", dc2.port()}});
    std::promise<void> set;
    asio::post(dc1.io(), [&] {
        dc1.srv().set_forwarder([&io = dc1.io(), pool, rt](std::string dc, std::string method,
                                                           std::vector<std::uint8_t> body,
                                                           reply_fn reply) {
            auto target = rt->route(dc);
            if (!target) {
                reply(target.error(), {0x80});
                return;
            }
            asio::co_spawn(
                io,
                [pool, t = *target, method, body, reply]() mutable -> asio::awaitable<void> {
                    auto r = co_await pool->call(t, method, body, 5s);
                    if (r)
                        reply(r->error, r->body);
                    else
                        reply(r.error(), {0x80});
                },
                asio::detached);
        });
        set.set_value();
    });
    set.get_future().wait();
    auto remote = rpcpeer_call("-addr " + dc1.addr() +
                               " -method Test.WhereAmI -args '{\"Datacenter\":\"dc2\"}'");
    EXPECT_EQ(remote.value("reply", ""), "dc2") << remote.dump();
    auto local = rpcpeer_call("-addr " + dc1.addr() +
                              " -method Test.WhereAmI -args '{\"Datacenter\":\"dc1\"}'");
    EXPECT_EQ(local.value("reply", ""), "dc1") << local.dump();
    auto unknown = rpcpeer_call("-addr " + dc1.addr() +
                                " -method Test.WhereAmI -args '{\"Datacenter\":\"dc7\"}'");
    EXPECT_EQ(unknown.value("error", ""), "No path to datacenter") << unknown.dump();
    auto later = rpcpeer_call("-addr " + dc1.addr() +
                              " -method Test.Later -args '{\"Datacenter\":\"dc2\"}'");
    EXPECT_EQ(later.value("reply", nlohmann::json()), true) << later.dump();
    EXPECT_EQ(dc1.stats().forwarded, 3u);
    std::promise<void> done;
    asio::post(dc1.io(), [&] {
        pool->close_all();
        done.set_value();
    });
    done.get_future().wait();
}

// Consul's pool reuses a connection's streams: sequential calls share one, concurrent calls
// open more, and a call that failed never hands its stream (and a late reply) to the next.
TEST(RpcPool, ReusesStreamsAndNeverAfterAFailedCall) {
    live_server dc2("dc2");
    asio::io_context io;
    auto pool =
        std::make_shared<conn_pool>(io.get_executor(), classic_dialer(io.get_executor(), nullptr));
    const server_info s2{"s2", "dc2", "127.0.0.1", dc2.port()};
    std::vector<std::string> seen;  // each call's outcome, in order
    auto one = [&](const char* method, std::chrono::milliseconds timeout) -> asio::awaitable<void> {
        std::vector<std::uint8_t> empty_map(1, 0x80);  // no braced list in co_await (g++ 12)
        auto r = co_await pool->call(s2, method, std::move(empty_map), timeout);
        if (!r) {
            seen.push_back(r.error().find("timed out") != std::string::npos ? "timeout"
                                                                            : r.error());
        } else {
            std::string text;
            if (!r->body.empty() && (r->body[0] & 0xe0) == 0xa0)
                text.assign(r->body.begin() + 1, r->body.end());  // fixstr
            else if (r->body == msgpack_bool(true))
                text = "true";
            seen.push_back(text);
        }
    };
    pool_stats after_sequential, after_concurrent;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            for (int i = 0; i < 3; ++i) co_await one("Test.WhereAmI", 5s);
            after_sequential = pool->stats();
            // Three at once need three streams: the idle one and two new ones.
            using namespace asio::experimental::awaitable_operators;
            co_await (one("Test.Later", 5s) && one("Test.Later", 5s) && one("Test.Later", 5s));
            after_concurrent = pool->stats();
            // Times out before the 50 ms reply: its stream must be closed, not reused.
            co_await one("Test.Later", 10ms);
            co_await one("Test.WhereAmI", 5s);
            asio::steady_timer t(io, 100ms);  // the late reply has arrived by now
            co_await t.async_wait(asio::use_awaitable);
            co_await one("Test.WhereAmI", 5s);
            pool->close_all();
        },
        asio::detached);
    io.run_for(20s);
    EXPECT_EQ(seen, (std::vector<std::string>{"dc2", "dc2", "dc2", "true", "true", "true",
                                              "timeout", "dc2", "dc2"}));
    EXPECT_EQ(after_sequential.streams_opened, 1u);
    EXPECT_EQ(after_sequential.streams_reused, 2u);
    EXPECT_EQ(after_concurrent.streams_opened, 3u);
    EXPECT_EQ(after_concurrent.streams_reused, 3u);
    EXPECT_EQ(pool->stats().dials, 1u);  // one session throughout
}
