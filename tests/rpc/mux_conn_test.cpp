// mux_conn (Asio adapter over yamux::session) and call(): loopback C++ client <-> C++ server,
// then interop with the Go test peer `rpcpeer` (real hashicorp/yamux + net-rpc-msgpackrpc +
// go-msgpack) in both directions. Only 127.0.0.1; child processes are stopped by PID.
#include "rpc/mux_conn.hpp"

#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/ssl/stream.hpp>
#include <filesystem>
#include <functional>
#include <thread>

#include "tests/support/process.hpp"

namespace meshfed::rpc {
namespace {

using asio::ip::tcp;
using bytes = std::vector<std::uint8_t>;

#ifdef MESHFED_INTEROP_BIN
const std::string interop_dir = MESHFED_INTEROP_BIN;
#else
const std::string interop_dir = "/work/main/build/interop";
#endif

std::string rpcpeer_path() {
    return interop_dir + "/rpcpeer";
}

bool contains(const bytes& hay, const bytes& needle) {
    return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

// What the in-test server saw.
struct server_log {
    std::vector<rpc_request> requests;
    int connections = 0;
};

// Answers Status.Ping (struct{} reply, as Consul), Test.Echo (echoes the args object) and
// net/rpc "not found" errors for everything else.
asio::awaitable<void> serve_rpc_stream(mux_stream stream, std::shared_ptr<server_log> log) {
    request_decoder decoder;
    std::vector<std::uint8_t> buf(16 * 1024);
    for (;;) {
        auto m = decoder.next();
        if (!m) co_return;
        if (*m) {
            rpc_request req = std::move(**m);
            const std::string method = req.header.service_method;
            bytes out;
            if (method == "Status.Ping") {
                const bytes body{empty_struct_body};
                encode_response(out, method, req.header.seq, "", body);
            } else if (method == "Test.Echo") {
                encode_response(out, method, req.header.seq, "", req.body);
            } else {
                auto sm = split_service_method(method);
                std::string err = !sm                     ? error_ill_formed(method)
                                  : sm->first == "Status" ? error_cant_find_method(method)
                                                          : error_cant_find_service(method);
                encode_error_response(out, method, req.header.seq, err);
            }
            log->requests.push_back(std::move(req));
            auto ec = co_await stream.async_write(asio::buffer(out));
            if (ec) co_return;
            continue;
        }
        auto [ec, n] = co_await stream.async_read_some(asio::buffer(buf));
        if (ec) {
            stream.close();
            co_return;
        }
        decoder.feed(std::span(buf.data(), n));
    }
}

asio::awaitable<void> serve_conn(tcp::socket sock, std::shared_ptr<server_log> log) {
    std::uint8_t type = 0;
    auto [ec, n] = co_await asio::async_read(sock, asio::buffer(&type, 1), nothrow_awaitable);
    if (ec || n != 1 || type != 0x04) co_return;
    ++log->connections;
    auto ex = sock.get_executor();
    auto conn = mux_conn::create(make_byte_stream(std::move(sock)), yamux::role::server);
    conn->start();
    for (;;) {
        auto s = co_await conn->accept_stream();
        if (!s) break;
        asio::co_spawn(ex, serve_rpc_stream(std::move(*s), log), asio::detached);
    }
    conn->close();
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, std::shared_ptr<server_log> log) {
    for (;;) {
        auto [ec, sock] = co_await acceptor.async_accept(nothrow_awaitable);
        if (ec) co_return;
        asio::co_spawn(acceptor.get_executor(), serve_conn(std::move(sock), log), asio::detached);
    }
}

// Dials 127.0.0.1:port, writes type byte 0x04, starts a client mux_conn.
asio::awaitable<std::shared_ptr<mux_conn>> dial(std::uint16_t port) {
    auto ex = co_await asio::this_coro::executor;
    tcp::socket sock(ex);
    const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
    auto [ec] = co_await sock.async_connect(ep, nothrow_awaitable);
    if (ec) co_return nullptr;
    sock.set_option(tcp::no_delay(true));
    const std::uint8_t type = 0x04;
    auto [wec, wn] = co_await asio::async_write(sock, asio::buffer(&type, 1), nothrow_awaitable);
    if (wec || wn != 1) co_return nullptr;
    auto conn = mux_conn::create(make_byte_stream(std::move(sock)), yamux::role::client);
    conn->start();
    co_return conn;
}

// Runs `body` on `io` until it finishes (or 30 s).
bool run_coro(asio::io_context& io, std::function<asio::awaitable<void>()> body) {
    bool done = false;
    asio::co_spawn(io, body(), [&](std::exception_ptr e) {
        done = true;
        EXPECT_FALSE(e) << "coroutine threw";
        io.stop();
    });
    io.run_for(std::chrono::seconds(30));
    return done;
}

// Simple msgpack map {"Name": name, "X": 1}.
bytes echo_args(const std::string& name) {
    bytes out;
    msgpack::writer w(out);
    w.write_map_header(2);
    w.write_str("Name");
    w.write_str(name);
    w.write_str("X");
    w.write_uint(1);
    return out;
}

TEST(MuxConnTest, LoopbackCallsAndLargeEcho) {
    asio::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const auto port = acceptor.local_endpoint().port();
    auto log = std::make_shared<server_log>();
    asio::co_spawn(io, accept_loop(acceptor, log), asio::detached);

    std::optional<rpc_reply> ping, echo, missing;
    std::size_t streams_ok = 0;
    const bool done = run_coro(io, [&]() -> asio::awaitable<void> {
        auto conn = co_await dial(port);
        EXPECT_TRUE(conn);
        if (!conn) co_return;
        auto stream = co_await conn->open_stream();
        EXPECT_TRUE(stream);
        if (!stream) co_return;
        const std::string ping_method = "Status.Ping";
        const bytes empty{empty_struct_body};
        auto r = co_await call(*stream, ping_method, empty, std::chrono::seconds(5));
        EXPECT_TRUE(r) << r.error().message();
        if (r) ping = *r;
        // 1 MiB string: several windows' worth, both directions.
        const std::string echo_method = "Test.Echo";
        auto args = echo_args(std::string(1024 * 1024, 'q'));
        auto e = co_await call(*stream, echo_method, args, std::chrono::seconds(10));
        EXPECT_TRUE(e) << e.error().message();
        if (e) echo = *e;
        const std::string bad_method = "Nope.Nothing";
        auto m = co_await call(*stream, bad_method, empty, std::chrono::seconds(5));
        if (m) missing = *m;
        // Many streams at once.
        for (int i = 0; i < 20; ++i) {
            auto s = co_await conn->open_stream();
            if (!s) break;
            auto rr = co_await call(*s, ping_method, empty, std::chrono::seconds(5));
            if (rr && rr->error.empty()) ++streams_ok;
        }
        conn->close();
    });
    ASSERT_TRUE(done);
    ASSERT_TRUE(ping);
    EXPECT_EQ(ping->error, "");
    EXPECT_EQ(ping->body, bytes{0x80});
    ASSERT_TRUE(echo);
    EXPECT_EQ(echo->body, echo_args(std::string(1024 * 1024, 'q')));
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->error, "rpc: can't find service Nope.Nothing");
    EXPECT_EQ(streams_ok, 20u);
}

TEST(MuxConnTest, CallTimesOut) {
    asio::io_context io;
    // A server that accepts the stream but never answers.
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const auto port = acceptor.local_endpoint().port();
    std::shared_ptr<mux_conn> server;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            auto [ec, sock] = co_await acceptor.async_accept(nothrow_awaitable);
            if (ec) co_return;
            std::uint8_t type = 0;
            co_await asio::async_read(sock, asio::buffer(&type, 1), nothrow_awaitable);
            server = mux_conn::create(make_byte_stream(std::move(sock)), yamux::role::server);
            server->start();
        },
        asio::detached);
    std::error_code err;
    const bool done = run_coro(io, [&]() -> asio::awaitable<void> {
        auto conn = co_await dial(port);
        if (!conn) co_return;
        auto stream = co_await conn->open_stream();
        if (!stream) co_return;
        const std::string method = "Status.Ping";
        const bytes empty{empty_struct_body};
        auto r = co_await call(*stream, method, empty, std::chrono::milliseconds(200));
        if (!r) err = r.error();
        conn->close();
        if (server) server->close();
    });
    ASSERT_TRUE(done);
    EXPECT_EQ(err, std::errc::timed_out);
}

TEST(MuxConnTest, WrapsTlsStreams) {
    // asio::ssl::stream<tcp::socket> fits byte_stream as well (compile-time check + close()).
    asio::io_context io;
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    auto bs = make_byte_stream(asio::ssl::stream<tcp::socket>(tcp::socket(io), ctx));
    ASSERT_TRUE(bs);
    bs->close();
}

class RpcpeerInterop : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!std::filesystem::exists(rpcpeer_path()))
            GTEST_SKIP() << "rpcpeer not found at " << rpcpeer_path()
                         << " (build ../shared/interop with scripts/setup)";
    }
    test::temp_dir dir_;
};

TEST_F(RpcpeerInterop, CppClientAgainstGoServer) {
    const int port = test::free_tcp_port();
    ASSERT_GT(port, 0);
    test::child_process peer(rpcpeer_path(),
                             {"-listen", "127.0.0.1:" + std::to_string(port), "-timeout", "60s"},
                             dir_ / "rpcpeer-server.log");
    ASSERT_TRUE(peer.wait_for_output("serving on", std::chrono::seconds(10))) << peer.output();

    asio::io_context io;
    std::optional<rpc_reply> ping, echo, fail, missing;
    const std::string long_name(36, 'n');  // > 31 bytes: str8 vs raw16 matters
    const bool done = run_coro(io, [&]() -> asio::awaitable<void> {
        auto conn = co_await dial(static_cast<std::uint16_t>(port));
        EXPECT_TRUE(conn);
        if (!conn) co_return;
        auto stream = co_await conn->open_stream();
        if (!stream) co_return;
        const bytes empty{empty_struct_body};
        const std::string m1 = "Status.Ping", m2 = "Test.Echo", m3 = "Test.Fail",
                          m4 = "Status.Nope";
        if (auto r = co_await call(*stream, m1, empty, std::chrono::seconds(5))) ping = *r;
        auto args = echo_args(long_name);
        if (auto r = co_await call(*stream, m2, args, std::chrono::seconds(5))) echo = *r;
        // A second stream for the error cases.
        auto s2 = co_await conn->open_stream();
        if (s2) {
            if (auto r = co_await call(*s2, m3, empty, std::chrono::seconds(5))) fail = *r;
            if (auto r = co_await call(*s2, m4, empty, std::chrono::seconds(5))) missing = *r;
        }
        conn->close();
    });
    ASSERT_TRUE(done);
    peer.signal(SIGTERM);
    peer.wait_exit(std::chrono::seconds(5));

    ASSERT_TRUE(ping) << peer.output();
    EXPECT_EQ(ping->error, "");
    EXPECT_EQ(ping->body, bytes{0xc3});  // the Go test service replies `true`
    ASSERT_TRUE(echo);
    EXPECT_EQ(echo->error, "");
    // Go map order is random: decode and compare.
    msgpack::reader r(echo->body);
    auto n = r.read_map_header();
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 2u);
    std::string name;
    std::uint64_t x = 0;
    for (std::uint32_t i = 0; i < *n; ++i) {
        auto k = r.read_str();
        ASSERT_TRUE(k);
        if (*k == "Name") {
            name = std::string(*r.read_str());
        } else {
            x = *r.read_uint();
        }
    }
    EXPECT_EQ(name, long_name);
    EXPECT_EQ(x, 1u);
    ASSERT_TRUE(fail);
    EXPECT_EQ(fail->error, "requested failure");
    EXPECT_EQ(fail->body, bytes{0x80});  // net/rpc sends an empty struct on errors
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->error, "rpc: can't find method Status.Nope");
}

// rpcpeer as the client against a server built on yamux::session + the codec.
void run_go_client_against_cpp_server(const test::temp_dir& dir, const std::string& method,
                                      const std::vector<std::string>& extra,
                                      std::shared_ptr<server_log>& log, std::string& output,
                                      int& exit_code) {
    asio::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const auto port = acceptor.local_endpoint().port();
    log = std::make_shared<server_log>();
    asio::co_spawn(io, accept_loop(acceptor, log), asio::detached);
    auto guard = asio::make_work_guard(io);
    std::thread io_thread([&] { io.run_for(std::chrono::seconds(30)); });

    std::vector<std::string> args{
        "-addr", "127.0.0.1:" + std::to_string(port), "-method", method, "-timeout", "10s"};
    args.insert(args.end(), extra.begin(), extra.end());
    {
        test::child_process peer(rpcpeer_path(), args, dir / ("rpcpeer-client-" + method + ".log"));
        auto st = peer.wait_exit(std::chrono::seconds(15));
        exit_code = st.value_or(-1);
        output = peer.output();
    }  // killed by PID here if still running
    asio::post(io, [&] {
        std::error_code ec;
        acceptor.close(ec);
        guard.reset();
        io.stop();
    });
    io_thread.join();
}

TEST_F(RpcpeerInterop, GoClientAgainstCppServerPing) {
    std::shared_ptr<server_log> log;
    std::string output;
    int code = -1;
    run_go_client_against_cpp_server(dir_, "Status.Ping", {}, log, output, code);
    EXPECT_EQ(code, 0) << output;
    EXPECT_NE(output.find("\"reply\""), std::string::npos) << output;
    ASSERT_EQ(log->requests.size(), 1u) << output;
    EXPECT_EQ(log->requests[0].header.service_method, "Status.Ping");
    EXPECT_EQ(log->requests[0].body, bytes{0x80});  // rpcpeer's default args {} -> empty map
}

TEST_F(RpcpeerInterop, GoClientEchoStringFormsWriteExt) {
    // The same 36-byte string sent by the Go codec with WriteExt=false (Consul's real handle)
    // and WriteExt=true: raw16 (da 00 24) vs str8 (d9 24). The server decodes both.
    const std::string name(36, 's');
    const std::string json = "{\"Name\":\"" + name + "\"}";
    for (const bool write_ext : {false, true}) {
        std::shared_ptr<server_log> log;
        std::string output;
        int code = -1;
        run_go_client_against_cpp_server(
            dir_, "Test.Echo",
            {"-args", json, std::string("-write-ext=") + (write_ext ? "true" : "false")}, log,
            output, code);
        EXPECT_EQ(code, 0) << output;
        EXPECT_NE(output.find(name), std::string::npos) << output;
        ASSERT_EQ(log->requests.size(), 1u) << output;
        const auto& body = log->requests[0].body;
        bytes str_head = write_ext ? bytes{0xd9, 0x24} : bytes{0xda, 0x00, 0x24};
        EXPECT_TRUE(contains(body, str_head)) << "write_ext=" << write_ext;
    }
}

TEST_F(RpcpeerInterop, GoClientUnknownServiceGetsNetRpcError) {
    std::shared_ptr<server_log> log;
    std::string output;
    int code = -1;
    run_go_client_against_cpp_server(dir_, "Nope.Method", {}, log, output, code);
    EXPECT_EQ(code, 1) << output;
    EXPECT_NE(output.find("rpc: can't find service Nope.Method"), std::string::npos) << output;
}

TEST_F(RpcpeerInterop, GoClientBenchManyStreamsAgainstCppServer) {
    // 2000 calls over 8 concurrent yamux streams on 2 sessions: stream multiplexing, window
    // updates and keepalive-free steady state against the real Go yamux client.
    std::shared_ptr<server_log> log;
    std::string output;
    int code = -1;
    run_go_client_against_cpp_server(dir_, "Status.Ping",
                                     {"-bench", "2000", "-concurrency", "8", "-sessions", "2"}, log,
                                     output, code);
    EXPECT_EQ(code, 0) << output;
    EXPECT_NE(output.find("\"errors\": 0"), std::string::npos) << output;
    EXPECT_EQ(log->requests.size(), 2000u);
    EXPECT_EQ(log->connections, 2);
}

}  // namespace
}  // namespace meshfed::rpc
