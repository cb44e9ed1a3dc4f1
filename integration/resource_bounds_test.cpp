// Resource bounds under hostile load, against real processes on loopback: connection floods
// that never send a byte (8300, 8302/tcp, the gateway, HTTP), per-source caps, a garbage
// datagram flood on 8302/udp, slow and oversized inputs. Each test checks that the input is
// cut or refused, that it is counted where an operator can read it (/v1/agent/metrics, the
// gateway's /stats), that memory stays under a stated bound and that the service keeps
// answering meanwhile. Sources are spread over 127.0.x.y so per-IP caps can be exercised and
// avoided at will. Every loop is bounded in count and time.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agent/httplib.hpp"
#include "integration/support.hpp"
#include "tests/support/client_hello.hpp"

using namespace meshfed::it;
using json = nlohmann::json;
namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace {

const fs::path rpcpeer = fs::path(MESHFED_INTEROP_BIN) / "rpcpeer";

long rss_kb(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

// 127.0.<a>.<b>: the n-th flood source (never 127.0.0.1, which the tests' own clients use).
std::string source_ip(int n) {
    return "127.0." + std::to_string(10 + n / 200) + "." + std::to_string(1 + n % 200);
}

// A TCP connection from `src` to 127.0.0.1:port that then sends nothing. -1 on failure.
int connect_from(const std::string& src, int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    sockaddr_in s{};
    s.sin_family = AF_INET;
    ::inet_pton(AF_INET, src.c_str(), &s.sin_addr);
    sockaddr_in d{};
    d.sin_family = AF_INET;
    d.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, "127.0.0.1", &d.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&s), sizeof s) != 0 ||
        ::connect(fd, reinterpret_cast<sockaddr*>(&d), sizeof d) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

// Idle connections, closed on destruction.
struct conns {
    std::vector<int> fds;
    conns() = default;
    conns(const conns&) = delete;
    ~conns() {
        for (int fd : fds) ::close(fd);
    }
    // `per_source` connections from each of `sources` addresses starting at source_ip(first).
    void open(int port, int sources, int per_source, int first = 0) {
        for (int s = 0; s < sources; ++s)
            for (int i = 0; i < per_source; ++i)
                if (int fd = connect_from(source_ip(first + s), port); fd >= 0) fds.push_back(fd);
    }
    // How many the peer has closed (EOF or reset), without blocking. Reads and discards what
    // the peer sent before closing (memberlist answers a stream it gave up on with an error).
    std::size_t closed() const {
        std::size_t n = 0;
        char buf[512];
        for (int fd : fds) {
            for (int i = 0; i < 64; ++i) {  // bounded: at most 32 KiB drained per call
                ssize_t r = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
                if (r > 0) continue;
                if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) ++n;
                break;
            }
        }
        return n;
    }
};

// A counter (or gauge) of /v1/agent/metrics with every given label; -1 when absent.
double metric(const std::string& http_addr, const std::string& name,
              const std::map<std::string, std::string>& labels = {}) {
    auto colon = http_addr.rfind(':');
    httplib::Client c(http_addr.substr(0, colon), std::stoi(http_addr.substr(colon + 1)));
    c.set_connection_timeout(2, 0);
    c.set_read_timeout(10, 0);
    auto res = c.Get("/v1/agent/metrics");
    if (!res || res->status != 200) return -1;
    auto j = json::parse(res->body, nullptr, false);
    if (j.is_discarded()) return -1;
    for (const char* kind : {"Counters", "Gauges"}) {
        for (const auto& m : j.value(kind, json::array())) {
            if (m.value("Name", "") != name) continue;
            bool match = true;
            for (const auto& [k, v] : labels)
                match = match && m["Labels"].value(k, std::string()) == v;
            if (match)
                return m.contains("Count") ? m["Count"].get<double>() : m["Value"].get<double>();
        }
    }
    return -1;
}

// GET path on ip:port; status (0: no answer) and body.
std::pair<int, std::string> http_get(const std::string& ip, int port, const std::string& path) {
    httplib::Client c(ip, port);
    c.set_connection_timeout(2, 0);
    c.set_read_timeout(5, 0);
    auto res = c.Get(path);
    if (!res) return {0, ""};
    return {res->status, res->body};
}

// Status.Ping through the Go reference client (real yamux + msgpack-rpc); true on the empty
// reply Consul gives.
bool status_ping(const std::string& rpc_addr) {
    auto r = meshfed::test::run_command(rpcpeer.string() + " -write-ext=false -timeout 5s -addr " +
                                        rpc_addr + " -method Status.Ping -args '{}'");
    auto pos = r.output.find('{');
    if (pos == std::string::npos) return false;
    auto j = json::parse(r.output.substr(pos), nullptr, false);
    return !j.is_discarded() && j.value("reply", json()) == json::object();
}

template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds limit) {
    return eventually(pred, limit);
}

bool agent_up(meshfed_agent& a) {
    return a.proc->wait_for_output("meshfed agent running", 15s);
}

// Member `name` has this status in `a`'s WAN members ("alive", "failed", ...).
bool wan_status(const meshfed_agent& a, const std::string& name, const std::string& status) {
    static const char* names[] = {"none", "alive", "leaving", "left", "failed"};
    auto [code, body] = http_get("127.0.0.1", a.http_port, "/v1/agent/members?wan=1");
    if (code != 200) return false;
    auto j = json::parse(body, nullptr, false);
    if (!j.is_array()) return false;
    for (const auto& m : j) {
        if (m.value("Name", "") != name) continue;
        int st = m.value("Status", 0);
        return st >= 0 && st <= 4 && status == names[st];
    }
    return false;
}

// Waits for both agents, `b` joins `a` over WAN gossip, and `a` sees `b` alive.
void join_wan(meshfed_agent& a, meshfed_agent& b) {
    ASSERT_TRUE(agent_up(a)) << a.log();
    ASSERT_TRUE(agent_up(b)) << b.log();
    auto join = meshfed::test::run_command(
        std::string(MESHFED_BINARY) + " join -wan -http-addr=" + b.http_addr() + " " + a.addr());
    ASSERT_EQ(join.status, 0) << join.output;
    ASSERT_TRUE(wait_until([&] { return wan_status(a, b.wan_name(), "alive"); }, 15s));
}

class ResourceBounds : public ::testing::Test {
  protected:
    temp_dir root;
};

// Memory bound, stated: an idle connection may cost the agent at most this much RSS (measured:
// about 7.7 kB on the RPC port, where each one holds a coroutine, a timer and its socket
// state; the test output prints the figure).
constexpr long max_kb_per_idle_conn = 16;

// AddressSanitizer's redzones and quarantine of freed memory make RSS meaningless as a bound;
// sanitizer builds print the figures and check everything else.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool rss_is_meaningful = false;
#else
constexpr bool rss_is_meaningful = true;
#endif

}  // namespace

TEST_F(ResourceBounds, RpcPortIdleFloodIsCutAtTheHandshakeDeadlineAndPingsKeepWorking) {
    if (!fs::exists(rpcpeer)) GTEST_SKIP() << rpcpeer << " is not built (scripts/setup)";
    // The agent starts with the usual soft limit of 1024 descriptors; 2,000 connections only
    // fit because it raises the soft limit to the hard one, as Go's runtime does for Consul.
    rlimit saved{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
    if (saved.rlim_max < 4200) GTEST_SKIP() << "hard RLIMIT_NOFILE " << saved.rlim_max << " < 4200";
    rlimit low = saved;
    low.rlim_cur = 1024;
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
    auto a = start_meshfed(root, "s1", "dc1", "limits {\n  rpc_handshake_timeout = \"4s\"\n}\n");
    saved.rlim_cur = saved.rlim_max;  // the flood below needs 2,000 descriptors here too
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
    ASSERT_TRUE(agent_up(a)) << a.log();
    EXPECT_THAT(meshfed::test::read_text("/proc/" + std::to_string(a.proc->pid()) + "/limits"),
                ::testing::ContainsRegex("Max open files +" + std::to_string(saved.rlim_max)));
    ASSERT_TRUE(status_ping(a.rpc_addr()));
    long rss0 = rss_kb(a.proc->pid());

    // 2,000 connections from 25 addresses (80 each: under rpc_max_conns_per_client = 100).
    auto t0 = clock_type::now();
    conns flood;
    flood.open(a.rpc_port, 25, 80);
    ASSERT_EQ(flood.fds.size(), 2000u);
    ASSERT_TRUE(
        wait_until([&] { return metric(a.http_addr(), "consul.rpc.accept_conn") >= 2000; }, 10s))
        << metric(a.http_addr(), "consul.rpc.accept_conn");
    long rss1 = rss_kb(a.proc->pid());
    std::printf(
        "[resource] 8300: RSS %ld kB idle, %ld kB with 2,000 idle connections (%.2f kB "
        "per connection)\n",
        rss0, rss1, (rss1 - rss0) / 2000.0);
    if (rss_is_meaningful) EXPECT_LT(rss1 - rss0, 2000 * max_kb_per_idle_conn);
    // The server answers while the flood holds its connections.
    auto p0 = clock_type::now();
    EXPECT_TRUE(status_ping(a.rpc_addr()));
    EXPECT_LT(clock_type::now() - p0, 3s);
    // None is cut before the deadline, all are cut after it.
    if (clock_type::now() - t0 < 3s) {
        EXPECT_EQ(flood.closed(), 0u);
    }
    EXPECT_TRUE(wait_until([&] { return flood.closed() == 2000; }, 10s)) << flood.closed();
    EXPECT_GE(clock_type::now() - t0, 4s);
    EXPECT_EQ(
        metric(a.http_addr(), "consul.meshfed.rpc.conn_refused", {{"reason", "handshake_timeout"}}),
        2000);
    EXPECT_TRUE(status_ping(a.rpc_addr()));
}

TEST_F(ResourceBounds, RpcPortCapsConnectionsPerSourceAddress) {
    if (!fs::exists(rpcpeer)) GTEST_SKIP() << rpcpeer << " is not built (scripts/setup)";
    auto a = start_meshfed(root, "s1", "dc1", "limits {\n  rpc_max_conns_per_client = 50\n}\n");
    ASSERT_TRUE(agent_up(a)) << a.log();
    conns one;
    one.open(a.rpc_port, 1, 80);  // one address, 30 over the cap
    ASSERT_EQ(one.fds.size(), 80u);
    // The 30 over the cap are closed at once (not at the 5 s handshake deadline).
    EXPECT_TRUE(wait_until([&] { return one.closed() == 30; }, 3s)) << one.closed();
    EXPECT_EQ(metric(a.http_addr(), "consul.meshfed.rpc.conn_refused", {{"reason", "conn_limit"}}),
              30);
    // Another address is not affected.
    EXPECT_TRUE(status_ping(a.rpc_addr()));
    // The log says which limit refused which address, without a line per connection.
    EXPECT_THAT(a.log(), ::testing::HasSubstr("rpc_max_conns_per_client (50) reached"));
}

TEST_F(ResourceBounds, GossipTcpFloodIsBoundedCutAtTheDeadlineAndMembersStayAlive) {
    // The fast test timings plus a 4 s stream deadline.
    std::string gossip = fast_gossip_hcl();
    gossip.insert(gossip.rfind('}'), "  tcp_timeout = \"4s\"\n");
    auto a = start_meshfed(root, "s1", "dc1", "", gossip);
    auto b = start_meshfed(root, "s2", "dc2", "", gossip);
    ASSERT_NO_FATAL_FAILURE(join_wan(a, b));
    long rss0 = rss_kb(a.proc->pid());
    const std::string wan_http = a.http_addr();
    auto refused = [&](const char* kind) {
        return metric(wan_http, "consul.meshfed.transport.errors",
                      {{"network", "wan"}, {"kind", kind}});
    };

    // One address: 32 streams held, the rest refused at once.
    auto t0 = clock_type::now();
    conns one;
    one.open(a.serf_port, 1, 50);
    ASSERT_EQ(one.fds.size(), 50u);
    EXPECT_TRUE(wait_until([&] { return one.closed() == 18; }, 3s)) << one.closed();
    EXPECT_EQ(refused("tcp_refused_source_cap"), 18);

    // 2,000 from 25 addresses: at most 128 held at once, the rest refused at once.
    conns flood;
    flood.open(a.serf_port, 25, 80, 1);
    ASSERT_EQ(flood.fds.size(), 2000u);
    EXPECT_TRUE(wait_until([&] { return flood.closed() >= 2000 - 128 + 32; }, 5s))
        << flood.closed();
    long rss1 = rss_kb(a.proc->pid());
    std::printf("[resource] 8302/tcp: RSS %ld kB before, %ld kB with 2,050 connections attempted\n",
                rss0, rss1);
    if (rss_is_meaningful) EXPECT_LT(rss1 - rss0, 2000 * max_kb_per_idle_conn);
    // Probes go over UDP: the pool does not notice the flood.
    EXPECT_TRUE(wan_status(a, b.wan_name(), "alive"));
    EXPECT_TRUE(wan_status(b, a.wan_name(), "alive"));
    // Everything is closed by the stream deadline (gossip_wan.tcp_timeout).
    EXPECT_TRUE(wait_until([&] { return one.closed() == 50 && flood.closed() == 2000; }, 10s))
        << one.closed() << " " << flood.closed();
    EXPECT_GE(clock_type::now() - t0, 4s);
    // 128 slots held by the flood (one fewer if s2's periodic push/pull took one meanwhile).
    EXPECT_NEAR(refused("tcp_timeout"), 128, 1);
    EXPECT_NEAR(refused("tcp_refused_busy") + refused("tcp_refused_source_cap"), 2050 - 128, 1);
    EXPECT_EQ(metric(wan_http, "consul.serf.member.failed", {{"network", "wan"}}), 0);
    // With the slots free again, a stream is served: a third server joins through it.
    auto c = start_meshfed(root, "s3", "dc3");
    EXPECT_NO_FATAL_FAILURE(join_wan(a, c));
}

TEST_F(ResourceBounds, GossipUdpGarbageFloodIsCountedByReasonAndMembersStayAlive) {
    auto a = start_meshfed(root, "s1", "dc1");
    auto b = start_meshfed(root, "s2", "dc2");
    ASSERT_NO_FATAL_FAILURE(join_wan(a, b));

    // Four kinds of garbage, each dropped for its own reason.
    std::mt19937 rng(7);
    auto random_bytes = [&](std::size_t n) {
        std::vector<std::uint8_t> v(n);
        for (auto& x : v) x = static_cast<std::uint8_t>(rng());
        return v;
    };
    struct kind {
        const char* reason;
        std::vector<std::uint8_t> (*make)(std::vector<std::uint8_t>);
    };
    const kind kinds[] = {
        // A type byte memberlist does not have.
        {"message type not supported",
         [](std::vector<std::uint8_t> r) {
             r[0] = 0xee;
             return r;
         }},
        // hasCrc (12) with a checksum that does not match.
        {"invalid checksum",
         [](std::vector<std::uint8_t> r) {
             r[0] = 12;
             r[1] = r[2] = r[3] = r[4] = 0;
             r[5] = 0;  // ping, and garbage after it
             return r;
         }},
        // A ping whose body is not msgpack.
        {"malformed msgpack body",
         [](std::vector<std::uint8_t> r) {
             r[0] = 0;
             r[1] = 0xc1;  // never used in msgpack
             return r;
         }},
        // A compound message announcing more parts than it carries.
        {"truncated",
         [](std::vector<std::uint8_t> r) {
             r.resize(4);
             r[0] = 7;
             r[1] = 5;     // five parts
             r[2] = 0xff;  // the first part's length, cut short
             r[3] = 0xff;
             return r;
         }},
    };
    const std::map<std::string, std::string> wan = {{"network", "wan"}};
    auto dropped = [&](const char* reason) {
        return metric(a.http_addr(), "consul.meshfed.memberlist.dropped",
                      {{"network", "wan"}, {"reason", reason}});
    };
    std::vector<double> before;
    for (const auto& k : kinds) before.push_back(dropped(k.reason));
    double suspects0 = metric(b.http_addr(), "consul.memberlist.msg.suspect", wan);

    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in d{};
    d.sin_family = AF_INET;
    d.sin_port = htons(static_cast<std::uint16_t>(a.serf_port));
    ::inet_pton(AF_INET, "127.0.0.1", &d.sin_addr);
    // 20,000 datagrams over about 4 s (bursts of 100 every 20 ms), 5 s at most.
    const int total = 20000;
    std::vector<int> sent(std::size(kinds), 0);
    auto flood_end = clock_type::now() + 5s;
    bool alive_throughout = true;
    for (int i = 0; i < total && clock_type::now() < flood_end; ++i) {
        std::size_t k = static_cast<std::size_t>(i) % std::size(kinds);
        auto pkt = kinds[k].make(random_bytes(64 + rng() % 1000));
        if (::sendto(fd, pkt.data(), pkt.size(), 0, reinterpret_cast<sockaddr*>(&d), sizeof d) ==
            static_cast<ssize_t>(pkt.size()))
            ++sent[k];
        if (i % 100 == 99) std::this_thread::sleep_for(20ms);
        if (i % 2500 == 2499)
            alive_throughout = alive_throughout && wan_status(b, a.wan_name(), "alive") &&
                               wan_status(a, b.wan_name(), "alive");
    }
    ::close(fd);
    int sent_total = 0;
    for (int n : sent) sent_total += n;
    EXPECT_GE(sent_total, total / 2) << "the flood was cut short by its time bound";
    EXPECT_TRUE(alive_throughout);

    // Every datagram that reached the socket is counted under its reason. The kernel may drop
    // some when the receive buffer is full; those are counted by the kernel (udp RcvbufErrors)
    // and are the only allowed gap.
    std::vector<double> delta(std::size(kinds));
    ASSERT_TRUE(wait_until(
        [&] {
            for (std::size_t k = 0; k < std::size(kinds); ++k)
                delta[k] = dropped(kinds[k].reason) - before[k];
            double sum = 0;
            for (double x : delta) sum += x;
            return sum >= sent_total * 0.95;
        },
        10s));
    for (std::size_t k = 0; k < std::size(kinds); ++k) {
        std::printf("[resource] 8302/udp: %-28s sent %5d, counted %5.0f\n", kinds[k].reason,
                    sent[k], delta[k]);
        EXPECT_GT(delta[k], 0) << kinds[k].reason;
        EXPECT_LE(delta[k], sent[k]) << kinds[k].reason;
    }
    // Probes were not delayed: nobody was suspected, and both still see each other alive.
    EXPECT_EQ(metric(b.http_addr(), "consul.memberlist.msg.suspect", wan) - suspects0, 0);
    EXPECT_EQ(metric(a.http_addr(), "consul.serf.member.failed", wan), 0);
    EXPECT_EQ(metric(b.http_addr(), "consul.serf.member.failed", wan), 0);
    EXPECT_TRUE(wan_status(b, a.wan_name(), "alive"));
}

TEST_F(ResourceBounds, GatewayBoundsSlowOversizedAndUnknownClientHellos) {
    auto a = start_meshfed(root, "s1", "dc1");
    ASSERT_TRUE(agent_up(a)) << a.log();
    int gw_port = meshfed::test::free_tcp_port();
    int admin_port = meshfed::test::free_tcp_port();
    child_process gw(
        MESHFED_BINARY,
        {"mesh-gateway", "-gateway=mesh", "-address", "127.0.0.1:" + std::to_string(gw_port),
         "-admin-bind", "127.0.0.1:" + std::to_string(admin_port), "-http-addr", a.http_addr()},
        root.path() / "gateway.log");
    ASSERT_TRUE(gw.wait_for_output("mesh-gateway: serving datacenter", 15s)) << gw.output();
    auto stats = [&] {
        auto [code, body] = http_get("127.0.0.1", admin_port, "/stats?format=json");
        auto j = code == 200 ? json::parse(body, nullptr, false) : json();
        return j.is_discarded() ? json() : j;
    };
    ASSERT_EQ(http_get("127.0.0.1", admin_port, "/ready").first, 200);
    auto send_all = [](int fd, const std::vector<std::uint8_t>& b) {
        return ::send(fd, b.data(), b.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(b.size());
    };
    auto t0 = clock_type::now();

    // Slowloris: 20 connections dripping a valid ClientHello a byte every 300 ms.
    auto hello = meshfed::test::openssl_client_hello("s1.server.dc1.consul", {"consul/rpc-multi"});
    conns slow;
    slow.open(gw_port, 1, 20, 300);
    ASSERT_EQ(slow.fds.size(), 20u);

    // Oversized: records that add up to more than the 16 KiB a ClientHello may take.
    conns big;
    big.open(gw_port, 1, 5, 301);
    std::vector<std::uint8_t> record = {0x16, 0x03, 0x01, 0x40, 0x00};  // 16 KiB record
    std::vector<std::uint8_t> body(0x4000, 0);
    body[0] = 0x01;  // ClientHello
    body[1] = 0x00;  // announcing 1 MiB
    body[2] = 0x10;
    body[3] = 0x00;
    record.insert(record.end(), body.begin(), body.end());
    for (int fd : big.fds) {
        EXPECT_TRUE(send_all(fd, record));
        record[5] = 0x16;  // later records are continuation bytes
        send_all(fd, record);
    }

    // Unknown SNI: a complete ClientHello naming something the gateway does not route.
    conns unknown;
    unknown.open(gw_port, 1, 5, 302);
    auto stray = meshfed::test::openssl_client_hello("www.example.com", {"h2"});
    for (int fd : unknown.fds) EXPECT_TRUE(send_all(fd, stray));

    // Per-source cap (512): 600 idle connections from one address.
    conns many;
    many.open(gw_port, 1, 600, 303);
    ASSERT_EQ(many.fds.size(), 600u);

    EXPECT_TRUE(wait_until([&] { return big.closed() == 5 && unknown.closed() == 5; }, 3s));
    EXPECT_TRUE(wait_until([&] { return many.closed() == 88; }, 3s)) << many.closed();
    auto s = stats();
    EXPECT_EQ(s.value("bad_hello", -1), 5) << s.dump();
    EXPECT_EQ(s.value("unknown_sni", -1), 5) << s.dump();
    EXPECT_EQ(s.value("refused_source_cap", -1), 88) << s.dump();

    // Drip until the ClientHello deadline (10 s) cuts the slow ones; bounded at 15 s.
    std::size_t pos = 0;
    while (slow.closed() < 20 && clock_type::now() - t0 < 15s && pos < hello.size()) {
        for (int fd : slow.fds) send_all(fd, {hello[pos]});
        ++pos;
        std::this_thread::sleep_for(300ms);
    }
    EXPECT_TRUE(wait_until([&] { return slow.closed() == 20; }, 3s)) << slow.closed();
    auto cut = clock_type::now() - t0;
    EXPECT_GE(cut, 9s);
    EXPECT_LT(cut, 16s);
    // The idle ones were opened after the slow ones, so their deadlines fire a little later.
    EXPECT_TRUE(wait_until([&] { return many.closed() == 600; }, 3s)) << many.closed();
    EXPECT_TRUE(wait_until([&] { return stats().value("active", -1) == 0; }, 3s));
    s = stats();
    EXPECT_EQ(s.value("hello_timeouts", -1), 600 - 88 + 20) << s.dump();  // the idle ones too
    EXPECT_EQ(http_get("127.0.0.1", admin_port, "/ready").first, 200);
    auto [code, text] = http_get("127.0.0.1", admin_port, "/stats");
    EXPECT_EQ(code, 200);
    EXPECT_THAT(text, ::testing::HasSubstr("meshfed.gateway.unknown_sni: 5\n"));
    EXPECT_THAT(gw.output(),
                ::testing::HasSubstr("512 connections from that address already open"));
}

TEST_F(ResourceBounds, HttpSlowClientsAndHugeBodiesDoNotStopTheApi) {
    auto a = start_meshfed(root, "s1", "dc1");
    ASSERT_TRUE(agent_up(a)) << a.log();
    long rss0 = rss_kb(a.proc->pid());

    // 1,000 clients that send half a request and then nothing.
    conns slow;
    slow.open(a.http_port, 10, 100, 400);
    ASSERT_EQ(slow.fds.size(), 1000u);
    const std::string partial = "GET /v1/status/leader HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    for (int fd : slow.fds) ::send(fd, partial.data(), partial.size(), MSG_NOSIGNAL);

    // Bodies: over max_body (1 MiB) is answered 413; a Content-Length over the hard limit
    // (8 MiB) is refused before its body is read.
    auto put = [&](std::size_t declared, std::size_t send_bytes, std::string* reply) {
        int fd = connect_from("127.0.0.1", a.http_port);
        if (fd < 0) return false;
        std::string head = "PUT /v1/catalog/register HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                           std::to_string(declared) + "\r\n\r\n";
        ::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
        std::string chunk(64 * 1024, 'x');
        std::size_t sent = 0;
        auto end = clock_type::now() + 10s;
        while (sent < send_bytes && clock_type::now() < end) {
            ssize_t n = ::send(fd, chunk.data(), std::min(chunk.size(), send_bytes - sent),
                               MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) {
                sent += static_cast<std::size_t>(n);
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                pollfd p{fd, POLLOUT | POLLIN, 100};
                ::poll(&p, 1, 100);
                if (p.revents & (POLLIN | POLLHUP | POLLERR)) break;  // answered or closed
                continue;
            }
            break;  // reset: refused
        }
        char buf[4096];
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 5000) == 1) {
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n > 0) reply->assign(buf, static_cast<std::size_t>(n));
        }
        ::close(fd);
        return true;
    };
    std::string r413, rhuge;
    ASSERT_TRUE(put(2 * 1024 * 1024, 2 * 1024 * 1024, &r413));
    EXPECT_THAT(r413, ::testing::StartsWith("HTTP/1.1 413"));
    EXPECT_THAT(r413, ::testing::HasSubstr("Request body too large"));
    ASSERT_TRUE(put(std::size_t(1) << 30, 32 * 1024 * 1024, &rhuge));  // declares 1 GiB
    // Either a 413 or a closed connection; never a 1 GiB buffer.
    EXPECT_TRUE(rhuge.empty() || rhuge.rfind("HTTP/1.1 413", 0) == 0) << rhuge.substr(0, 200);

    // The API answers all along, and memory stays bounded.
    auto p0 = clock_type::now();
    auto [code, body] = http_get("127.0.0.1", a.http_port, "/v1/status/leader");
    EXPECT_EQ(code, 200);
    EXPECT_EQ(body, "\"" + a.rpc_addr() + "\"");
    EXPECT_LT(clock_type::now() - p0, 2s);
    long rss1 = rss_kb(a.proc->pid());
    std::printf(
        "[resource] HTTP: RSS %ld kB idle, %ld kB with 1,000 slow clients after a 1 GiB "
        "body was refused\n",
        rss0, rss1);
    if (rss_is_meaningful) EXPECT_LT(rss1 - rss0, 1000 * max_kb_per_idle_conn + 16 * 1024);
    EXPECT_EQ(slow.closed(), 0u);  // held (idle timeout 90 s), within max_connections
    EXPECT_GE(metric(a.http_addr(), "consul.meshfed.http.responses", {{"code", "4xx"}}), 1);
}
