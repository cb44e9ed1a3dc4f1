// Mesh gateway data-path benchmark (issue 7). Not a test: it prints a table.
//
//   One TLS echo/sink/source backend ("n1", certificate n1.server.dc1.consul) reached three ways:
//     direct     client -> backend
//     meshfed    client -> mesh::gateway_proxy (forked child, own io_context, one thread) ->
//     backend haproxy    client -> HAProxy (mode tcp, SNI passthrough, nbthread 1; and nbthread 2)
//     -> backend
//   The client sends SNI n1.server.dc1.consul and verifies the backend's certificate, so a
//   proxy that routed anywhere else would fail the run. Per path and round:
//     bulk up / down    --bulk-mib MiB through one TLS connection, MiB/s
//     connection rate   sequential new TLS connections (full handshake, 64-byte echo, close)
//     echo RTT          64-byte request/response on an established connection, p50/p99;
//                       "added" = path minus direct of the same round
//     proxy CPU         CPU time of the proxy process (all threads) per GiB and per connection
//   Paths are interleaved within each round (order rotated), the median of rounds is reported.
//
// Usage: gateway_bench [--rounds 3] [--bulk-mib 256] [--conns 1500] [--pings 20000]
//                      [--phase-s 4] [--no-nbthread2]
// Everything runs on 127.0.0.1 with free ports; every loop is bounded in count and time; every
// child process (backend, gateway, HAProxy) is stopped by PID.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include "bench/bench_support.hpp"
#include "common/log.hpp"
#include "mesh/gateway_proxy.hpp"
#include "tests/support/process.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using meshfed::test::child_process;
using meshfed::test::run_command;
using clock_type = std::chrono::steady_clock;
using meshfed::bench::cpu_model;
using meshfed::bench::load_average;
using meshfed::bench::median;

namespace {

constexpr const char* sni = "n1.server.dc1.consul";
constexpr std::size_t header_size = 9;  // op (1) + length (8, big-endian)
constexpr std::uint64_t max_echo = 1 << 20;
constexpr std::uint64_t max_stream = 64ull << 30;
constexpr std::size_t io_chunk = 64 * 1024;

// ---- small helpers ------------------------------------------------------------------------------

void put_u64(std::uint8_t* p, std::uint64_t v) {
    for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<std::uint8_t>(v);
}
std::uint64_t get_u64(const std::uint8_t* p) {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
    return v;
}

void set_timeouts(int fd, std::chrono::seconds t) {
    timeval tv{static_cast<time_t>(t.count()), 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

int listen_loopback() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 1024) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

int bound_port(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
}

int connect_loopback(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    set_timeouts(fd, 10s);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

bool ssl_read_full(SSL* ssl, std::uint8_t* p, std::size_t n) {
    while (n > 0) {
        int r = SSL_read(ssl, p, static_cast<int>(std::min<std::size_t>(n, 1 << 30)));
        if (r <= 0) return false;
        p += r;
        n -= static_cast<std::size_t>(r);
    }
    return true;
}

bool ssl_write_full(SSL* ssl, const std::uint8_t* p, std::size_t n) {
    while (n > 0) {
        int r = SSL_write(ssl, p, static_cast<int>(std::min<std::size_t>(n, 1 << 30)));
        if (r <= 0) return false;
        p += r;
        n -= static_cast<std::size_t>(r);
    }
    return true;
}

// CPU time (ns) of every thread of a process, from /proc/<pid>/task/*/schedstat.
std::uint64_t process_cpu_ns(pid_t pid) {
    std::uint64_t total = 0;
    std::error_code ec;
    for (const auto& t : fs::directory_iterator(fmt::format("/proc/{}/task", pid), ec)) {
        std::ifstream in(t.path() / "schedstat");
        std::uint64_t ns = 0;
        if (in >> ns) total += ns;
    }
    return total;
}

double percentile(std::vector<double>& sorted, double q) {
    if (sorted.empty()) return 0;
    auto i = static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
    return sorted[std::min(i, sorted.size() - 1)];
}

// ---- forked children ----------------------------------------------------------------------------

// A child made with fork() (no exec): stopped with SIGTERM, then SIGKILL, by PID.
struct forked_child {
    pid_t pid = -1;
    int port = 0;
    forked_child() = default;
    forked_child(const forked_child&) = delete;
    forked_child& operator=(const forked_child&) = delete;
    ~forked_child() { stop(); }
    void stop() {
        if (pid <= 0) return;
        ::kill(pid, SIGTERM);
        for (int i = 0; i < 500; ++i) {  // 5 s
            if (::waitpid(pid, nullptr, WNOHANG) == pid) {
                pid = -1;
                return;
            }
            std::this_thread::sleep_for(10ms);
        }
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        pid = -1;
    }
};

// Forks; the child redirects stderr to `log`, runs `body(listen_fd, report_fd)` and exits with
// its result. `listen_fd` is a loopback listener made by the parent (the backend uses it); a
// child that binds its own socket writes the port it got to `report_fd` instead.
bool fork_child(forked_child& c, const fs::path& log, const std::function<int(int, int)>& body) {
    int fd = listen_loopback();
    int pipe_fds[2];
    if (fd < 0 || ::pipe(pipe_fds) != 0) return false;
    c.port = bound_port(fd);
    pid_t parent = ::getpid();
    c.pid = ::fork();
    if (c.pid < 0) return false;
    if (c.pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(1);
        ::close(pipe_fds[0]);
        std::FILE* f = std::freopen(log.c_str(), "a", stderr);
        (void)f;
        ::_exit(body(fd, pipe_fds[1]));
    }
    ::close(fd);
    ::close(pipe_fds[1]);
    // The child reports a port (or closes the pipe by exiting); wait at most 10 s.
    pollfd pfd{pipe_fds[0], POLLIN, 0};
    std::uint16_t reported = 0;
    if (::poll(&pfd, 1, 10'000) == 1 &&
        ::read(pipe_fds[0], &reported, sizeof reported) == sizeof reported)
        c.port = reported;
    ::close(pipe_fds[0]);
    return reported != 0;
}

// ---- the backend: blocking OpenSSL, one thread per connection
// -------------------------------------

// Ops: 'E' echo <len> bytes back; 'S' sink <len> bytes, reply with the 8-byte count;
// 'D' send <len> bytes. Repeated until the client closes.
void serve_connection(SSL_CTX* ctx, int fd) {
    set_timeouts(fd, 30s);
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    std::vector<std::uint8_t> buf(std::max<std::size_t>(io_chunk, max_echo));
    if (SSL_accept(ssl) == 1) {
        for (;;) {
            std::uint8_t h[header_size];
            if (!ssl_read_full(ssl, h, sizeof h)) break;
            std::uint64_t len = get_u64(h + 1);
            bool ok = true;
            if (h[0] == 'E' && len <= max_echo) {
                ok = ssl_read_full(ssl, buf.data(), len) && ssl_write_full(ssl, buf.data(), len);
            } else if (h[0] == 'S' && len <= max_stream) {
                std::uint64_t got = 0;
                while (ok && got < len) {
                    int r =
                        SSL_read(ssl, buf.data(),
                                 static_cast<int>(std::min<std::uint64_t>(io_chunk, len - got)));
                    ok = r > 0;
                    if (ok) got += static_cast<std::uint64_t>(r);
                }
                std::uint8_t ack[8];
                put_u64(ack, got);
                ok = ok && ssl_write_full(ssl, ack, sizeof ack);
            } else if (h[0] == 'D' && len <= max_stream) {
                std::uint64_t sent = 0;
                while (ok && sent < len) {
                    auto n =
                        static_cast<std::size_t>(std::min<std::uint64_t>(io_chunk, len - sent));
                    ok = ssl_write_full(ssl, buf.data(), n);
                    sent += n;
                }
            } else {
                ok = false;
            }
            if (!ok) break;
        }
    }
    SSL_free(ssl);
    ::close(fd);
}

int run_backend(int listen_fd, int report_fd, const std::string& cert, const std::string& key) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
        std::fprintf(stderr, "backend: cannot load %s / %s\n", cert.c_str(), key.c_str());
        return 1;
    }
    // No session tickets: every connection of the setup-rate phase is a full handshake and no
    // ticket bytes follow it.
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    auto port = static_cast<std::uint16_t>(bound_port(listen_fd));
    if (::write(report_fd, &port, sizeof port) != sizeof port) return 1;
    ::close(report_fd);
    for (;;) {
        int fd = ::accept(listen_fd, nullptr, nullptr);
        if (fd < 0) {
            if (errno == EINTR) continue;
            return 1;
        }
        std::thread(serve_connection, ctx, fd).detach();
    }
}

// ---- the meshfed gateway ------------------------------------------------------------------------

int run_gateway(int listen_fd, int report_fd, int backend_port) {
    meshfed::log_options lo;
    lo.level = spdlog::level::warn;
    meshfed::init_logging(lo);
    ::close(listen_fd);  // the proxy binds its own listener
    asio::io_context ctx(1);
    meshfed::mesh::gateway_proxy gw(ctx.get_executor(), "dc1", "consul");
    meshfed::mesh::routing_table rt;
    rt.local_servers["n1"] = {"127.0.0.1", static_cast<std::uint16_t>(backend_port)};
    gw.set_routes(rt);
    if (auto ec = gw.listen("127.0.0.1", 0)) {
        std::fprintf(stderr, "gateway: listen 127.0.0.1:0: %s\n", ec.message().c_str());
        return 1;
    }
    gw.start();
    std::uint16_t port = gw.port();
    if (::write(report_fd, &port, sizeof port) != sizeof port) return 1;
    ::close(report_fd);
    asio::signal_set sigs(ctx, SIGTERM, SIGINT);
    sigs.async_wait([&](const std::error_code&, int) {
        const auto& st = gw.stats();
        std::fprintf(stderr, "gateway stats: accepted %llu, unknown_sni %llu, bad_hello %llu\n",
                     static_cast<unsigned long long>(st.accepted),
                     static_cast<unsigned long long>(st.unknown_sni),
                     static_cast<unsigned long long>(st.bad_hello));
        for (const auto& [k, r] : st.routes)
            std::fprintf(stderr,
                         "gateway route %s: connections %llu, upstream_failures %llu, bytes up "
                         "%llu, bytes down %llu\n",
                         k.c_str(), static_cast<unsigned long long>(r.connections),
                         static_cast<unsigned long long>(r.upstream_failures),
                         static_cast<unsigned long long>(r.bytes_up),
                         static_cast<unsigned long long>(r.bytes_down));
        std::fflush(stderr);
        gw.stop();
        ctx.stop();
    });
    ctx.run();
    return 0;
}

// ---- HAProxy ------------------------------------------------------------------------------------

std::string haproxy_config(int port, int backend_port, int threads) {
    return fmt::format(
        "global\n"
        "  nbthread {2}\n"
        "  maxconn 4000\n"
        "defaults\n"
        "  mode tcp\n"
        "  timeout connect 5s\n"
        "  timeout client 60s\n"
        "  timeout server 60s\n"
        "frontend gateway\n"
        "  bind 127.0.0.1:{0}\n"
        "  tcp-request inspect-delay 10s\n"
        "  tcp-request content accept if {{ req_ssl_hello_type 1 }}\n"
        "  use_backend server_n1 if {{ req_ssl_sni -i n1.server.dc1.consul }}\n"
        "  use_backend server_any if {{ req_ssl_sni -i server.dc1.consul }}\n"
        "backend server_n1\n"
        "  server n1 127.0.0.1:{1}\n"
        "backend server_any\n"
        "  server n1 127.0.0.1:{1}\n",
        port, backend_port, threads);
}

bool wait_listening(int port, std::chrono::milliseconds limit) {
    auto deadline = clock_type::now() + limit;
    while (clock_type::now() < deadline) {
        int fd = connect_loopback(port);
        if (fd >= 0) {
            ::close(fd);
            return true;
        }
        std::this_thread::sleep_for(20ms);
    }
    return false;
}

// ---- the client ---------------------------------------------------------------------------------

class tls_client {
  public:
    explicit tls_client(const std::string& ca) : ctx_(SSL_CTX_new(TLS_client_method())) {
        SSL_CTX_load_verify_locations(ctx_, ca.c_str(), nullptr);
        SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
        SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_OFF);
    }
    ~tls_client() { SSL_CTX_free(ctx_); }
    tls_client(const tls_client&) = delete;
    tls_client& operator=(const tls_client&) = delete;

    struct conn {
        SSL* ssl = nullptr;
        int fd = -1;
        conn() = default;
        conn(conn&& o) noexcept : ssl(std::exchange(o.ssl, nullptr)), fd(std::exchange(o.fd, -1)) {}
        conn& operator=(conn&&) = delete;
        ~conn() {
            if (ssl) {
                SSL_shutdown(ssl);
                SSL_free(ssl);
            }
            if (fd >= 0) ::close(fd);
        }
        explicit operator bool() const { return ssl != nullptr; }
    };

    // TCP connect, SNI n1.server.dc1.consul, full handshake with the backend's certificate
    // checked against that name.
    conn open(int port) {
        conn c;
        c.fd = connect_loopback(port);
        if (c.fd < 0) return c;
        SSL* ssl = SSL_new(ctx_);
        SSL_set_fd(ssl, c.fd);
        SSL_set_tlsext_host_name(ssl, sni);
        SSL_set1_host(ssl, sni);
        if (SSL_connect(ssl) != 1) {
            SSL_free(ssl);
            return c;
        }
        c.ssl = ssl;
        return c;
    }

  private:
    SSL_CTX* ctx_;
};

bool echo(SSL* ssl, std::size_t n) {
    std::uint8_t msg[header_size + 256];
    msg[0] = 'E';
    put_u64(msg + 1, n);
    std::memset(msg + header_size, 'x', n);
    if (!ssl_write_full(ssl, msg, header_size + n)) return false;
    std::uint8_t back[256];
    return ssl_read_full(ssl, back, n) && back[0] == 'x';
}

struct path_result {
    double up_mibs = 0, down_mibs = 0;
    double conns_per_s = 0, conn_p50_us = 0;
    double rtt_p50_us = 0, rtt_p99_us = 0;
    double cpu_ms_per_gib = 0, cpu_us_per_conn = 0;
    int errors = 0;
};

struct bench_params {
    std::uint64_t bulk_bytes = 256ull << 20;
    int conns = 1500;
    int pings = 20000;
    std::chrono::milliseconds phase_limit = 4s;
};

path_result measure(tls_client& client, int port, pid_t proxy_pid, const bench_params& p) {
    path_result r;
    auto cpu = [&] { return proxy_pid > 0 ? process_cpu_ns(proxy_pid) : 0; };
    auto secs = [](clock_type::duration d) { return std::chrono::duration<double>(d).count(); };
    std::vector<std::uint8_t> chunk(io_chunk, 0x5a);

    // Bulk up: one connection, 'S' + bulk_bytes, timed until the backend's count comes back.
    std::uint64_t cpu0 = cpu();
    {
        auto c = client.open(port);
        std::uint8_t h[header_size] = {'S'};
        put_u64(h + 1, p.bulk_bytes);
        auto t0 = clock_type::now();
        bool ok = c && ssl_write_full(c.ssl, h, sizeof h);
        for (std::uint64_t sent = 0; ok && sent < p.bulk_bytes;) {
            auto n =
                static_cast<std::size_t>(std::min<std::uint64_t>(io_chunk, p.bulk_bytes - sent));
            ok = ssl_write_full(c.ssl, chunk.data(), n);
            sent += n;
        }
        std::uint8_t ack[8];
        ok = ok && ssl_read_full(c.ssl, ack, sizeof ack) && get_u64(ack) == p.bulk_bytes;
        double s = secs(clock_type::now() - t0);
        if (ok) {
            r.up_mibs = static_cast<double>(p.bulk_bytes) / (1 << 20) / s;
        } else {
            ++r.errors;
        }
    }
    // Bulk down: 'D' + bulk_bytes, timed until the last byte arrived.
    {
        auto c = client.open(port);
        std::uint8_t h[header_size] = {'D'};
        put_u64(h + 1, p.bulk_bytes);
        auto t0 = clock_type::now();
        bool ok = c && ssl_write_full(c.ssl, h, sizeof h);
        std::uint64_t got = 0;
        while (ok && got < p.bulk_bytes) {
            int n = SSL_read(c.ssl, chunk.data(), static_cast<int>(chunk.size()));
            ok = n > 0;
            if (ok) got += static_cast<std::uint64_t>(n);
        }
        if (ok)
            r.down_mibs =
                static_cast<double>(p.bulk_bytes) / (1 << 20) / secs(clock_type::now() - t0);
        else
            ++r.errors;
    }
    std::uint64_t cpu1 = cpu();
    if (proxy_pid > 0)
        r.cpu_ms_per_gib = static_cast<double>(cpu1 - cpu0) / 1e6 /
                           (2.0 * static_cast<double>(p.bulk_bytes) / (1ull << 30));

    // Connection setup rate: sequential connections, each a full handshake + 64-byte echo.
    {
        std::vector<double> per_conn;
        per_conn.reserve(static_cast<std::size_t>(p.conns));
        auto start = clock_type::now();
        auto deadline = start + p.phase_limit;
        std::uint64_t c0 = cpu();
        for (int i = 0; i < p.conns && clock_type::now() < deadline; ++i) {
            auto t0 = clock_type::now();
            auto c = client.open(port);
            if (!c || !echo(c.ssl, 64)) {
                ++r.errors;
                continue;
            }
            per_conn.push_back(
                std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
        }
        double s = secs(clock_type::now() - start);
        std::uint64_t c1 = cpu();
        r.conns_per_s = static_cast<double>(per_conn.size()) / s;
        std::sort(per_conn.begin(), per_conn.end());
        r.conn_p50_us = percentile(per_conn, 0.5);
        if (proxy_pid > 0 && !per_conn.empty())
            r.cpu_us_per_conn =
                static_cast<double>(c1 - c0) / 1e3 / static_cast<double>(per_conn.size());
    }

    // Echo round trip on an established connection (after a warm-up).
    {
        auto c = client.open(port);
        if (!c) {
            ++r.errors;
            return r;
        }
        for (int i = 0; i < 200; ++i) echo(c.ssl, 64);
        std::vector<double> rtt;
        rtt.reserve(static_cast<std::size_t>(p.pings));
        auto deadline = clock_type::now() + p.phase_limit;
        for (int i = 0; i < p.pings && clock_type::now() < deadline; ++i) {
            auto t0 = clock_type::now();
            if (!echo(c.ssl, 64)) {
                ++r.errors;
                break;
            }
            rtt.push_back(
                std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
        }
        std::sort(rtt.begin(), rtt.end());
        r.rtt_p50_us = percentile(rtt, 0.5);
        r.rtt_p99_us = percentile(rtt, 0.99);
    }
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    int rounds = 3;
    bench_params params;
    bool nbthread2 = true;
    std::string summary;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&] { return i + 1 < argc ? std::stoi(argv[++i]) : -1; };
        if (a == "--summary" && i + 1 < argc)
            summary = argv[++i];
        else if (a == "--rounds")
            rounds = next();
        else if (a == "--bulk-mib")
            params.bulk_bytes = static_cast<std::uint64_t>(next()) << 20;
        else if (a == "--conns")
            params.conns = next();
        else if (a == "--pings")
            params.pings = next();
        else if (a == "--phase-s")
            params.phase_limit = std::chrono::seconds(next());
        else if (a == "--no-nbthread2")
            nbthread2 = false;
        else {
            std::cerr << "usage: gateway_bench [--rounds R] [--bulk-mib M] [--conns N] [--pings N] "
                         "[--phase-s S] [--no-nbthread2] [--summary FILE]\n";
            return 2;
        }
    }
    if (rounds < 1 || rounds > 20 || params.bulk_bytes == 0 || params.bulk_bytes > (4ull << 30) ||
        params.conns < 1 || params.pings < 1 || params.phase_limit.count() < 1 ||
        params.phase_limit > 60s) {
        std::cerr << "gateway_bench: argument out of range\n";
        return 2;
    }
    auto haproxy_bin = run_command("command -v haproxy").output;
    while (!haproxy_bin.empty() && std::isspace(static_cast<unsigned char>(haproxy_bin.back())))
        haproxy_bin.pop_back();
    if (haproxy_bin.empty()) {
        std::cerr << "gateway_bench: haproxy not installed (scripts/setup installs it)\n";
        return 1;
    }
    std::string haproxy_version = run_command(haproxy_bin + " -v").output;
    haproxy_version = haproxy_version.substr(0, haproxy_version.find('\n'));

    meshfed::test::temp_dir root;
    auto in_root = [&](const std::string& args) {
        return run_command("cd " + root.path().string() + " && " + MESHFED_BINARY + " " + args);
    };
    if (in_root("tls ca create").status != 0 ||
        in_root("tls cert create -server -dc dc1 -node n1").status != 0) {
        std::cerr << "gateway_bench: cannot make certificates with " << MESHFED_BINARY << "\n";
        return 1;
    }
    auto file = [&](const std::string& f) { return (root.path() / f).string(); };
    const std::string ca = file("consul-agent-ca.pem");
    const std::string cert = file("dc1-server-consul-0.pem");
    const std::string key = file("dc1-server-consul-0-key.pem");

    // Children are forked before this process starts any thread.
    forked_child backend, gateway;
    if (!fork_child(backend, root / "backend.log",
                    [&](int fd, int report) { return run_backend(fd, report, cert, key); })) {
        std::cerr << "gateway_bench: cannot start the backend\n";
        return 1;
    }
    int backend_port = backend.port;
    if (!fork_child(gateway, root / "gateway.log",
                    [&](int fd, int report) { return run_gateway(fd, report, backend_port); }) ||
        !wait_listening(gateway.port, 10s)) {
        std::cerr << "gateway_bench: meshfed gateway did not start:\n"
                  << meshfed::test::read_text(root / "gateway.log");
        return 1;
    }

    struct haproxy_instance {
        int threads, port;
        std::unique_ptr<child_process> proc;
    };
    std::vector<haproxy_instance> haproxies;
    for (int threads : nbthread2 ? std::vector<int>{1, 2} : std::vector<int>{1}) {
        int port = meshfed::test::free_tcp_port();
        std::string cfg = fmt::format("haproxy-nbthread{}.cfg", threads);
        root.write(cfg, haproxy_config(port, backend_port, threads));
        auto proc = std::make_unique<child_process>(
            haproxy_bin, std::vector<std::string>{"-db", "-f", file(cfg)},
            root / fmt::format("haproxy-nbthread{}.log", threads));
        if (!wait_listening(port, 10s)) {
            std::cerr << "gateway_bench: haproxy (nbthread " << threads << ") did not start:\n"
                      << proc->output();
            return 1;
        }
        haproxies.push_back({threads, port, std::move(proc)});
    }

    struct path {
        std::string name;
        int port;
        pid_t pid;
        std::vector<path_result> results;
    };
    std::vector<path> paths;
    paths.push_back({"direct", backend_port, -1, {}});
    paths.push_back({"meshfed", gateway.port, gateway.pid, {}});
    for (auto& h : haproxies)
        paths.push_back({fmt::format("haproxy{}", h.threads), h.port, h.proc->pid(), {}});

    std::string load_before = load_average();
    auto started = clock_type::now();
    tls_client client(ca);
    for (int round = 0; round < rounds; ++round) {
        // Rotate the order so no path always runs first (or right after the same neighbour).
        for (std::size_t k = 0; k < paths.size(); ++k) {
            auto& pth = paths[(k + static_cast<std::size_t>(round)) % paths.size()];
            pth.results.push_back(measure(client, pth.port, pth.pid, params));
        }
        std::cerr << fmt::format(
            "gateway_bench: round {}/{} done ({:.0f} s)\n", round + 1, rounds,
            std::chrono::duration<double>(clock_type::now() - started).count());
    }
    std::string load_after = load_average();
    double run_s = std::chrono::duration<double>(clock_type::now() - started).count();

    int errors = 0;
    for (const auto& pth : paths)
        for (const auto& r : pth.results) errors += r.errors;

    // Median over rounds; "added" latency uses the direct figure of the same round.
    auto med = [&](const path& pth, double path_result::*m) {
        std::vector<double> v;
        for (const auto& r : pth.results) v.push_back(r.*m);
        return median(v);
    };
    auto added = [&](const path& pth, double path_result::*m) {
        std::vector<double> v;
        for (std::size_t i = 0; i < pth.results.size(); ++i)
            v.push_back(pth.results[i].*m - paths[0].results[i].*m);
        return median(v);
    };

    std::cout << fmt::format(
        "gateway_bench: {} rounds (median), bulk {} MiB, up to {} connections and {} pings per "
        "path and round; machine: {} cores, {}; load average {} before, {} after; {:.0f} s\n",
        rounds, params.bulk_bytes >> 20, params.conns, params.pings,
        std::thread::hardware_concurrency(), cpu_model(), load_before, load_after, run_s);
    std::cout << fmt::format(
        "meshfed: mesh::gateway_proxy, 1 thread (own process, own io_context, 64 KiB buffers); "
        "haproxy: {}, nbthread 1{}\n",
        haproxy_version, nbthread2 ? " (and nbthread 2 in the last column)" : "");
    std::string h2 = nbthread2 ? fmt::format(" {:>11}", "haproxy nt2") : "";
    std::cout << fmt::format("{:<38} {:>10} {:>10} {:>11} {:>7}{}\n", "metric", "direct", "meshfed",
                             "haproxy nt1", "ratio", h2);
    struct metric {
        std::string name;
        double path_result::*field;
        bool is_added;
        bool proxy_only;
        int decimals;
    };
    std::vector<metric> metrics = {
        {"bulk up MiB/s (higher better)", &path_result::up_mibs, false, false, 0},
        {"bulk down MiB/s (higher better)", &path_result::down_mibs, false, false, 0},
        {"new TLS conns/s (higher better)", &path_result::conns_per_s, false, false, 0},
        {"conn+handshake+echo p50 us", &path_result::conn_p50_us, false, false, 0},
        {"echo RTT p50 us", &path_result::rtt_p50_us, false, false, 1},
        {"echo RTT p99 us", &path_result::rtt_p99_us, false, false, 1},
        {"added p50 us (lower better)", &path_result::rtt_p50_us, true, false, 1},
        {"added p99 us (lower better)", &path_result::rtt_p99_us, true, false, 1},
        {"proxy CPU ms per GiB bulk", &path_result::cpu_ms_per_gib, false, true, 0},
        {"proxy CPU us per connection", &path_result::cpu_us_per_conn, false, true, 0},
    };
    for (const auto& m : metrics) {
        std::vector<double> vals;
        for (std::size_t i = 1; i < paths.size(); ++i)
            vals.push_back(m.is_added ? added(paths[i], m.field) : med(paths[i], m.field));
        std::string direct = (m.is_added || m.proxy_only)
                                 ? std::string("-")
                                 : fmt::format("{:.{}f}", med(paths[0], m.field), m.decimals);
        double ratio = vals[1] != 0 ? vals[0] / vals[1] : 0.0;
        std::string last =
            nbthread2 ? fmt::format(" {:>11.{}f}", vals[2], m.decimals) : std::string();
        std::cout << fmt::format("{:<38} {:>10} {:>10.{}f} {:>11.{}f} {:>7.2f}{}\n", m.name, direct,
                                 vals[0], m.decimals, vals[1], m.decimals, ratio, last);
        meshfed::bench::summary_row(summary, "gateway", m.name, vals[0], "haproxy nt1", vals[1]);
    }
    std::cout << "ratio = meshfed / haproxy nbthread 1\n";
    std::cout << fmt::format("errors: {}\n", errors);

    for (auto& h : haproxies) {
        h.proc->signal(SIGTERM);
        h.proc->wait_exit(5s);
    }
    gateway.stop();
    backend.stop();
    // The gateway's own counters: every proxied connection took route local-server:n1.
    std::string glog = meshfed::test::read_text(root / "gateway.log");
    for (std::size_t pos = 0; (pos = glog.find("gateway ", pos)) != std::string::npos;) {
        auto end = glog.find('\n', pos);
        std::string line = glog.substr(pos, end - pos);
        if (line.rfind("gateway stats", 0) == 0 || line.rfind("gateway route", 0) == 0)
            std::cout << line << "\n";
        if (end == std::string::npos) break;
        pos = end;
    }
    return errors == 0 ? 0 : 1;
}
