// The gateway's ClientHello reader: real hellos made by OpenSSL, fragmentation, and named
// corruption cases.
#include "mesh/client_hello.hpp"

#include <gtest/gtest.h>

#include <random>

#include "tests/support/client_hello.hpp"

using namespace meshfed::mesh;

namespace {

std::vector<std::uint8_t> real_hello(const std::string& sni, const std::vector<std::string>& alpn) {
    return meshfed::test::openssl_client_hello(sni, alpn);
}

// Re-frames a single-record hello as two records split at `at` bytes of payload.
std::vector<std::uint8_t> split_records(const std::vector<std::uint8_t>& rec, std::size_t at) {
    std::size_t len = (rec[3] << 8) | rec[4];
    std::vector<std::uint8_t> out;
    auto add = [&](std::size_t off, std::size_t n) {
        out.insert(out.end(),
                   {22, 3, 1, static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)});
        out.insert(out.end(), rec.begin() + 5 + off, rec.begin() + 5 + off + n);
    };
    add(0, at);
    add(at, len - at);
    return out;
}

}  // namespace

TEST(ClientHello, ReadsSniAndAlpnFromOpenSslHello) {
    auto hello = real_hello("n1.server.dc2.consul", {"consul/rpc-multi"});
    auto r = parse_client_hello(hello);
    ASSERT_TRUE(r) << to_string(r.error());
    EXPECT_EQ(r->sni, "n1.server.dc2.consul");
    EXPECT_EQ(r->alpn, (std::vector<std::string>{"consul/rpc-multi"}));
    EXPECT_EQ(r->consumed, hello.size());
}

TEST(ClientHello, SniIsLowerCasedAndTrailingDotDropped) {
    auto r = parse_client_hello(real_hello("Server.DC1.Consul", {}));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->sni, "server.dc1.consul");
    EXPECT_TRUE(r->alpn.empty());
}

TEST(ClientHello, EveryPrefixNeedsMore) {
    auto hello = real_hello("server.dc1.consul", {"consul/rpc-multi", "h2"});
    for (std::size_t n = 0; n < hello.size(); ++n) {
        auto r = parse_client_hello(std::span(hello.data(), n));
        ASSERT_FALSE(r) << n;
        EXPECT_EQ(r.error(), hello_error::need_more) << n;
    }
}

TEST(ClientHello, FragmentedAcrossRecords) {
    auto hello = real_hello("x.server.dc3.consul", {"consul/wan-gossip/packet"});
    auto split = split_records(hello, 20);
    auto r = parse_client_hello(split);
    ASSERT_TRUE(r) << to_string(r.error());
    EXPECT_EQ(r->sni, "x.server.dc3.consul");
    EXPECT_EQ(r->consumed, split.size());
}

TEST(ClientHello, NotTls) {
    std::vector<std::uint8_t> plain = {0x04, 0, 0, 0, 0, 0};
    EXPECT_EQ(parse_client_hello(plain).error(), hello_error::not_tls);
    std::vector<std::uint8_t> http = {'G', 'E', 'T', ' ', '/', ' '};
    EXPECT_EQ(parse_client_hello(http).error(), hello_error::not_tls);
}

TEST(ClientHello, OversizedRecordLength) {
    std::vector<std::uint8_t> b = {22, 3, 1, 0xff, 0xff, 1};
    EXPECT_EQ(parse_client_hello(b).error(), hello_error::bad_record);
    std::vector<std::uint8_t> zero = {22, 3, 1, 0, 0};
    EXPECT_EQ(parse_client_hello(zero).error(), hello_error::bad_record);
}

TEST(ClientHello, OversizedHandshakeLength) {
    std::vector<std::uint8_t> b = {22, 3, 1, 0, 4, 1, 0x01, 0x00, 0x00};  // claims 64 KiB
    EXPECT_EQ(parse_client_hello(b).error(), hello_error::too_large);
}

TEST(ClientHello, BadHandshakeType) {
    auto hello = real_hello("a.b", {});
    hello[5] = 2;  // ServerHello
    EXPECT_EQ(parse_client_hello(hello).error(), hello_error::not_client_hello);
}

TEST(ClientHello, TruncatedInnerLength) {
    auto hello = real_hello("server.dc1.consul", {});
    // Claim a longer session id than the message holds.
    hello[5 + 4 + 2 + 32] = 0xff;
    auto r = parse_client_hello(hello);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), hello_error::truncated);
}

TEST(ClientHello, NoSni) {
    auto r = parse_client_hello(real_hello("", {"consul/rpc-multi"}));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), hello_error::no_sni);
}

TEST(ClientHello, BadSniCharacters) {
    auto hello = real_hello("server.dc1.consul", {});
    // Find the host name and put a NUL in it.
    std::string s(hello.begin(), hello.end());
    auto at = s.find("server.dc1.consul");
    ASSERT_NE(at, std::string::npos);
    hello[at + 3] = 0;
    EXPECT_EQ(parse_client_hello(hello).error(), hello_error::bad_extension);
}

// Regression (fuzz/client_hello_fuzz): "x.consul.." came out as "x.consul." (only one dot was
// dropped), breaking the no-trailing-dot promise; names with empty labels are malformed.
TEST(ClientHello, FuzzRegressionSniWithEmptyLabelsIsBadExtension) {
    for (const char* name :
         {"server.dc1.consul..", "server..dc1.consul", ".server.dc1.consul", "."}) {
        auto r = parse_client_hello(real_hello(name, {}));
        ASSERT_FALSE(r) << name;
        EXPECT_EQ(r.error(), hello_error::bad_extension) << name;
    }
    auto r = parse_client_hello(real_hello("Server.DC1.Consul.", {}));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->sni, "server.dc1.consul");
}

TEST(ClientHello, RandomMutationsNeverCrash) {
    auto base = real_hello("n1.server.dc1.consul", {"consul/rpc-multi"});
    std::mt19937 rng(7);
    int parsed = 0;
    for (int i = 0; i < 20000; ++i) {
        auto b = base;
        int flips = 1 + static_cast<int>(rng() % 8);
        for (int f = 0; f < flips; ++f) b[rng() % b.size()] = static_cast<std::uint8_t>(rng());
        if (rng() % 4 == 0) b.resize(rng() % b.size());
        if (parse_client_hello(b)) ++parsed;
    }
    EXPECT_GT(parsed, 0);  // some mutations only touch bytes the parser skips
}
