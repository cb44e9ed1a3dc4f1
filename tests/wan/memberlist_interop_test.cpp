// memberlist over real sockets against the real Go memberlist/serf (the wanpeer tool built
// from Debian's hashicorp packages). Skipped when the tool is not built. 127.0.0.1 only.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <future>
#include <thread>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include "tests/support/process.hpp"
#include "tests/wan/memberlist_sim.hpp"
#include "wan/memberlist.hpp"
#include "wan/transport.hpp"

using namespace std::chrono_literals;
using meshfed::test::child_process;
using meshfed::test::temp_dir;
namespace wan = meshfed::wan;
namespace fs = std::filesystem;

namespace {

const fs::path wanpeer = fs::path(MESHFED_INTEROP_BIN) / "wanpeer";

// One memberlist node on a real socket, its io_context on a background thread.
class live_node {
  public:
    explicit live_node(const std::string& name, wan::gossip_config timing,
                       std::shared_ptr<wan::wire::keyring> keys = nullptr) {
        wan::memberlist_config cfg;
        cfg.name = name;
        cfg.timing = timing;
        cfg.keys = std::move(keys);
        // Bind first to learn the port, then build memberlist with it as the advertised address.
        tr_ = std::make_unique<wan::transport>(io_.get_executor());
        ec_ = tr_->bind("127.0.0.1", 0);
        port_ = tr_->port();
        cfg.advertise = *wan::node_addr::parse("127.0.0.1", port_);
        ml_ = std::make_unique<wan::memberlist>(cfg, del_, wan::clock::now());
        tr_->start(*ml_);
        thread_ = std::thread([this] { io_.run(); });
    }
    ~live_node() {
        std::promise<void> stopped;
        asio::post(io_, [&] {
            tr_->stop();
            stopped.set_value();
        });
        stopped.get_future().wait();
        work_.reset();
        io_.stop();
        thread_.join();
    }
    std::error_code bind_error() const { return ec_; }
    std::uint16_t port() const { return port_; }

    template <class F>
    auto on_io(F f) {
        std::packaged_task<decltype(f())()> task(std::move(f));
        auto fut = task.get_future();
        asio::post(io_, [&task] { task(); });
        return fut.get();
    }
    std::optional<wan::node_state> state_of(const std::string& name) {
        return on_io([&]() -> std::optional<wan::node_state> {
            const auto* n = ml_->find(name);
            return n ? std::optional(n->state) : std::nullopt;
        });
    }
    bool wait_state(const std::string& name, wan::node_state st, std::chrono::seconds limit) {
        auto end = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < end) {
            if (state_of(name) == st) return true;
            std::this_thread::sleep_for(50ms);
        }
        return false;
    }
    void join(const std::string& name, std::uint16_t port) {
        on_io([&] {
            ml_->join(wan::clock::now(), {{name, *wan::node_addr::parse("127.0.0.1", port)}},
                      [this](int n, std::vector<std::string> errs) {
                          joined_ = n;
                          join_errors_ = std::move(errs);
                      });
            tr_->kick();
            return 0;
        });
    }
    int joined() {
        return on_io([&] { return joined_; });
    }

  private:
    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
    meshfed::test::recording_delegate del_;
    std::unique_ptr<wan::memberlist> ml_;
    std::unique_ptr<wan::transport> tr_;
    std::error_code ec_;
    std::uint16_t port_ = 0;
    std::thread thread_;
    int joined_ = -1;
    std::vector<std::string> join_errors_;
};

wan::gossip_config local_timing() {
    // memberlist DefaultLocalConfig-like timings, close to wanpeer's -profile local.
    wan::gossip_config t;
    t.gossip_interval = 100ms;
    t.probe_interval = 1s;
    t.probe_timeout = 200ms;
    t.suspicion_mult = 3;
    t.push_pull_interval = 15s;
    t.tcp_timeout = 2s;
    return t;
}

class MemberlistInterop : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!fs::exists(wanpeer))
            GTEST_SKIP() << wanpeer << " is not built (scripts/setup builds ../shared/interop)";
    }
    temp_dir dir;
};

}  // namespace

TEST_F(MemberlistInterop, GoNodeJoinsUsAndBothSeeEachOtherAlive) {
    live_node us("m1.dc1", local_timing());
    ASSERT_FALSE(us.bind_error()) << us.bind_error().message();
    int go_port = meshfed::test::free_tcp_port();
    child_process go(wanpeer.string(),
                     {"-name", "w1.dc1", "-bind", "127.0.0.1:" + std::to_string(go_port),
                      "-profile", "local", "-join", "127.0.0.1:" + std::to_string(us.port()),
                      "-wait-members", "2", "-linger", "2s", "-timeout", "20s", "-interval", "0"},
                     dir / "wanpeer.log");
    EXPECT_TRUE(us.wait_state("w1.dc1", wan::node_state::alive, 15s)) << go.output();
    auto code = go.wait_exit(25s);
    ASSERT_TRUE(code.has_value()) << go.output();
    EXPECT_EQ(*code, 0) << go.output();  // wanpeer saw 2 members alive
    EXPECT_THAT(go.output(), ::testing::HasSubstr("m1.dc1"));
    // wanpeer left gracefully at exit: we record it as left.
    EXPECT_TRUE(us.wait_state("w1.dc1", wan::node_state::left, 10s)) << go.output();
}

TEST_F(MemberlistInterop, WeJoinGoNodeAndDetectItsCrash) {
    int go_port = meshfed::test::free_tcp_port();
    child_process go(wanpeer.string(),
                     {"-name", "w2.dc1", "-bind", "127.0.0.1:" + std::to_string(go_port),
                      "-profile", "local", "-timeout", "60s", "-interval", "0", "-no-leave"},
                     dir / "wanpeer.log");
    ASSERT_TRUE(go.wait_for_output("\"kind\"", 10s)) << go.output();
    live_node us("m2.dc1", local_timing());
    us.join("w2.dc1", static_cast<std::uint16_t>(go_port));
    ASSERT_TRUE(us.wait_state("w2.dc1", wan::node_state::alive, 10s)) << go.output();
    EXPECT_EQ(us.joined(), 1);
    // Healthy for a few probe rounds.
    std::this_thread::sleep_for(3s);
    EXPECT_EQ(us.state_of("w2.dc1"), wan::node_state::alive);
    go.signal(SIGKILL);
    go.wait_exit(5s);
    // Suspicion: 3 x max(1, log10(2)) x 1s = 3s (k = 0 with two nodes), plus a probe round.
    EXPECT_TRUE(us.wait_state("w2.dc1", wan::node_state::dead, 15s));
}

TEST_F(MemberlistInterop, EncryptedPoolWithTheSameKeyAndRefusalWithAnother) {
    const std::string key_b64 = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=";
    auto key = meshfed::wan::wire::decode_base64_key(key_b64);
    ASSERT_TRUE(key);
    auto ring = std::make_shared<wan::wire::keyring>();
    ASSERT_TRUE(ring->add_key(*key));
    live_node us("m3.dc1", local_timing(), ring);
    int go_port = meshfed::test::free_tcp_port();
    child_process good(
        wanpeer.string(),
        {"-name", "w3.dc1", "-bind", "127.0.0.1:" + std::to_string(go_port), "-profile", "local",
         "-encrypt", key_b64, "-join", "127.0.0.1:" + std::to_string(us.port()), "-wait-members",
         "2", "-timeout", "20s", "-interval", "0"},
        dir / "good.log");
    EXPECT_TRUE(us.wait_state("w3.dc1", wan::node_state::alive, 15s)) << good.output();
    EXPECT_EQ(good.wait_exit(25s).value_or(-1), 0) << good.output();

    int bad_port = meshfed::test::free_tcp_port();
    child_process bad(
        wanpeer.string(),
        {"-name", "w4.dc1", "-bind", "127.0.0.1:" + std::to_string(bad_port), "-profile", "local",
         "-encrypt", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "-join",
         "127.0.0.1:" + std::to_string(us.port()), "-timeout", "5s", "-interval", "0"},
        dir / "bad.log");
    bad.wait_exit(15s);
    EXPECT_EQ(us.state_of("w4.dc1"), std::nullopt);
    EXPECT_THAT(bad.output(), ::testing::AnyOf(::testing::HasSubstr("decrypt"),
                                               ::testing::HasSubstr("No installed keys")))
        << bad.output();
}
