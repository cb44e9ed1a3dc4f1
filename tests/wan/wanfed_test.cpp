// WAN gossip through mesh gateways (wan/wanfed): member-name routing, the 4-byte packet framing
// (named corruption cases), and two WAN pools in different datacenters that can only reach each
// other through the tunnel (their advertised addresses are unroutable TEST-NET addresses).
#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/local/connect_pair.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/steady_timer.hpp>

#include "tls/alpn.hpp"
#include "wan/pool.hpp"
#include "wan/wanfed.hpp"

using namespace meshfed;
using namespace meshfed::wan;
using namespace std::chrono_literals;

TEST(WanfedNames, SplitNeedsExactlyNodeAndDatacenter) {
    auto p = wanfed::split_member_name("n1.dc1");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->first, "n1");
    EXPECT_EQ(p->second, "dc1");
    EXPECT_TRUE(wanfed::split_member_name("*.dc2"));
    EXPECT_FALSE(wanfed::split_member_name("n1"));
    EXPECT_FALSE(wanfed::split_member_name("n1.dc1.extra"));
    EXPECT_FALSE(wanfed::split_member_name(".dc1"));
    EXPECT_FALSE(wanfed::split_member_name("n1."));
}

TEST(WanfedNames, TunnelAppliesToOtherDatacentersOnly) {
    asio::io_context io;
    auto t = std::make_shared<wanfed::tunnel>(io.get_executor(), "dc1", nullptr);
    EXPECT_EQ(t->applies("a.dc2"), true);
    EXPECT_EQ(t->applies("a.dc1"), false);
    auto bad = t->applies("a.b.dc1");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error(), "node name does not encode a datacenter: a.b.dc1");
}

TEST(WanfedFrames, RoundTripAndSplitAcrossFeeds) {
    std::vector<std::uint8_t> a{1, 2, 3}, b(1000, 7), empty;
    auto fa = wanfed::frame_packet(a), fb = wanfed::frame_packet(b),
         fe = wanfed::frame_packet(empty);
    EXPECT_EQ(fa, (std::vector<std::uint8_t>{0, 0, 0, 3, 1, 2, 3}));
    std::vector<std::uint8_t> all;
    for (auto* f : {&fa, &fb, &fe}) all.insert(all.end(), f->begin(), f->end());
    wanfed::frame_decoder d;
    std::vector<std::vector<std::uint8_t>> got;
    for (std::size_t i = 0; i < all.size(); i += 5) {  // odd chunking
        d.feed(std::span(all).subspan(i, std::min<std::size_t>(5, all.size() - i)));
        while (auto f = d.next()) got.push_back(*f);
    }
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0], a);
    EXPECT_EQ(got[1], b);
    EXPECT_EQ(got[2], empty);
    EXPECT_FALSE(d.failed());
    EXPECT_EQ(d.buffered(), 0u);
}

TEST(WanfedFrames, TruncatedFrameWaitsForMore) {
    wanfed::frame_decoder d;
    std::vector<std::uint8_t> part{0, 0, 0, 9, 1, 2};
    d.feed(part);
    EXPECT_FALSE(d.next());
    EXPECT_FALSE(d.failed());
    std::vector<std::uint8_t> hdr_only{0, 0};
    wanfed::frame_decoder d2;
    d2.feed(hdr_only);
    EXPECT_FALSE(d2.next());
    EXPECT_FALSE(d2.failed());
}

TEST(WanfedFrames, OversizedLengthPoisonsWithConsulsText) {
    wanfed::frame_decoder d;
    std::vector<std::uint8_t> huge{0x00, 0x40, 0x00, 0x01};  // 4 MiB + 1
    d.feed(huge);
    EXPECT_FALSE(d.next());
    ASSERT_TRUE(d.failed());
    EXPECT_EQ(d.error(), "gossip packet size 4194305 exceeds threshold of 4194304");
    std::vector<std::uint8_t> more{0, 0, 0, 1, 9};
    d.feed(more);  // nothing more is decoded once poisoned
    EXPECT_FALSE(d.next());
}

namespace {

// Two WAN pools (dc1, dc2) joined only through an in-process "gateway": the dial function makes
// a socket pair and hands the far end to the other pool as the RPC port would (by ALPN).
struct tunnelled_pair {
    asio::io_context io;
    std::unique_ptr<pool> p1, p2;
    std::shared_ptr<wanfed::tunnel> t1, t2;
    std::vector<std::string> dials;  // "dc/node/alpn"

    wanfed::dial_fn dialer_to(std::function<pool*(const std::string& dc)> target) {
        return [this, target](std::string dc, std::string node, std::string alpn,
                              std::chrono::steady_clock::time_point)
                   -> asio::awaitable<std::expected<std::unique_ptr<byte_stream>, std::string>> {
            dials.push_back(dc + "/" + node + "/" + alpn);
            pool* p = target(dc);
            if (!p) co_return std::unexpected(std::string("no gateway for ") + dc);
            asio::local::stream_protocol::socket a(io), b(io);
            asio::local::connect_pair(a, b);
            auto far = make_byte_stream(std::move(b));
            if (alpn == tls::alpn::wan_gossip_stream) {
                p->io().ingest_stream(std::move(far), {});
            } else {
                asio::co_spawn(
                    io,
                    wanfed::serve_packet_conn(
                        std::move(far),
                        [p](std::span<const std::uint8_t> d) { p->io().ingest_packet({}, d); },
                        nullptr),
                    asio::detached);
            }
            co_return make_byte_stream(std::move(a));
        };
    }

    pool_config config(const std::string& name, const std::string& adv) {
        pool_config c;
        c.name = name;
        c.bind_addr = "127.0.0.1";
        c.port = 0;
        c.advertise_addr = adv;  // unroutable: only the tunnel can work
        c.consul_wan_rules = false;
        c.timing.gossip_interval = 50ms;
        c.timing.probe_interval = 200ms;
        c.timing.probe_timeout = 100ms;
        c.timing.push_pull_interval = 60s;
        c.seed = 7;
        return c;
    }

    void start() {
        auto route = [this](const std::string& dc) -> pool* {
            return dc == "dc1" ? p1.get() : dc == "dc2" ? p2.get() : nullptr;
        };
        t1 = std::make_shared<wanfed::tunnel>(io.get_executor(), "dc1", dialer_to(route));
        t2 = std::make_shared<wanfed::tunnel>(io.get_executor(), "dc2", dialer_to(route));
        auto c1 = config("s1.dc1", "192.0.2.1");
        c1.tunnel = t1;
        auto c2 = config("s2.dc2", "192.0.2.2");
        c2.tunnel = t2;
        p1 = std::make_unique<pool>(io.get_executor(), c1);
        p2 = std::make_unique<pool>(io.get_executor(), c2);
        ASSERT_TRUE(p1->start());
        ASSERT_TRUE(p2->start());
    }

    bool sees_alive(pool& p, const std::string& name) {
        for (const auto& m : p.members())
            if (m.name == name && m.status == member_status::alive) return true;
        return false;
    }

    template <class Pred>
    bool run_until(Pred pred, std::chrono::milliseconds limit) {
        auto end = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < end) {
            io.run_for(20ms);
            if (pred()) return true;
        }
        return false;
    }

    ~tunnelled_pair() {
        if (p1) p1->shutdown();
        if (p2) p2->shutdown();
        if (t1) t1->stop();
        if (t2) t2->stop();
        io.run_for(50ms);
    }
};

}  // namespace

TEST(WanfedPool, FirstContactThroughAnyServerThenGossipOnlyThroughTheTunnel) {
    tunnelled_pair t;
    t.start();
    int joined = -1;
    std::vector<std::string> errors;
    // Consul's first contact: "*.<primary>/192.0.2.2" = any server of dc1, through a gateway.
    t.p2->join({"*.dc1/192.0.2.2"}, [&](int n, std::vector<std::string> e) {
        joined = n;
        errors = std::move(e);
    });
    ASSERT_TRUE(t.run_until([&] { return joined >= 0; }, 5s));
    EXPECT_EQ(joined, 1) << (errors.empty() ? "" : errors.front());
    EXPECT_TRUE(t.run_until(
        [&] { return t.sees_alive(*t.p1, "s2.dc2") && t.sees_alive(*t.p2, "s1.dc1"); }, 5s));
    ASSERT_FALSE(t.dials.empty());
    EXPECT_EQ(t.dials.front(), "dc1/*/consul/wan-gossip/stream");
    // Probes keep both alive for several probe intervals, over packet connections only.
    EXPECT_FALSE(t.run_until(
        [&] { return !t.sees_alive(*t.p1, "s2.dc2") || !t.sees_alive(*t.p2, "s1.dc1"); }, 2s));
    EXPECT_GT(t.t1->stats().packets_out, 5u);
    EXPECT_GT(t.t2->stats().packets_out, 5u);
    EXPECT_EQ(t.t1->packet_conns(), 1u);  // one pooled packet connection per member
    EXPECT_EQ(t.p1->memberlist_layer().stats().tcp_fallback_ok, 0u);
}

TEST(WanfedPool, NoGatewayMeansTheMemberFailsAndTheErrorSaysWhy) {
    tunnelled_pair t;
    t.start();
    int joined = -1;
    std::vector<std::string> errors;
    t.p2->join({"*.dc3/192.0.2.9"}, [&](int n, std::vector<std::string> e) {
        joined = n;
        errors = std::move(e);
    });
    ASSERT_TRUE(t.run_until([&] { return joined >= 0; }, 5s));
    EXPECT_EQ(joined, 0);
    ASSERT_FALSE(errors.empty());
    EXPECT_NE(errors.front().find("no gateway for dc3"), std::string::npos) << errors.front();
    EXPECT_NE(errors.front().find("TLS via mesh gateway"), std::string::npos) << errors.front();
}
