// Vivaldi coordinates: wire goldens (capture §14.2, a live ack from the serf-plain capture, Go
// oracle encodings), the Go client's arithmetic (oracle run of coordinate.Client on this
// machine), bound checks, and convergence on a synthetic RTT matrix.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "tests/wan/serf_test_util.hpp"
#include "wan/coordinate.hpp"

namespace meshfed::wan {
namespace {

using namespace std::chrono_literals;
using serf_testing::hex;
using serf_testing::to_hex;

// §14.2: the ack payload of a fresh serf node.
constexpr std::string_view ack_14_2 =
    "0184aa41646a7573746d656e74cb0000000000000000a54572726f72cb3ff8000000000000a6486569676874cb3e"
    "e4f8b588e368f1a356656398cb0000000000000000cb0000000000000000cb0000000000000000cb00000000000000"
    "00cb0000000000000000cb0000000000000000cb0000000000000000cb0000000000000000";
// serf-plain-nocompression/udp.tsv frame 45: an ack from s1 after a few probes.
constexpr std::string_view ack_frame45 =
    "0184aa41646a7573746d656e74cb3efe4e81d5980840a54572726f72cb3ff4ac6cd091fedca6486569676874cb3e"
    "ff7f3bd15698eea356656398cbbf098e7be788f3afcbbf0b6b3c6dd9166acb3f114a6b1b97519ccbbec6eda2f6a30"
    "6fccbbf11144cf723163bcb3f09977eb6defba8cb3f164115da82a829cbbf065e30820c39a8";
// Go oracle: coordinate{Vec[0]=0.001, Vec[7]=-0.25, Height 2e-4, Adjustment -1e-5, Error 0.4}.
constexpr std::string_view go_coord =
    "0184aa41646a7573746d656e74cbbee4f8b588e368f1a54572726f72cb3fd999999999999aa6486569676874cb3f"
    "2a36e2eb1c432da356656398cb3f50624dd2f1a9fccb0000000000000000cb0000000000000000cb00000000000000"
    "00cb0000000000000000cb0000000000000000cb0000000000000000cbbfd0000000000000";
// Go oracle: client.SetCoordinate(go_coord); 5 x Update("x", other{Vec[1]=0.01, Error 0.7},
// 20ms+i).
constexpr std::string_view go_vivaldi =
    "0184aa41646a7573746d656e74cbbf936020f0d0dab2a54572726f72cb3ff8000000000000a6486569676874cb3f"
    "1941720cee4333a356656398cb3f4097efded599b7cb3f743796e4d7e5b9cb0000000000000000cb0000000000000"
    "000cb0000000000000000cb0000000000000000cb0000000000000000cbbfc034603f9c981c";

coordinate go_coordinate() {
    coordinate c = coordinate::origin(coordinate_config{});
    c.vec[0] = 0.001;
    c.vec[7] = -0.25;
    c.height = 0.0002;
    c.adjustment = -1e-5;
    c.error = 0.4;
    return c;
}

TEST(Coordinate, FreshAckPayloadMatchesCapture14_2) {
    coordinate_client c;
    EXPECT_EQ(to_hex(encode_ack_payload(c.get())), ack_14_2);
    auto back = decode_ack_payload(hex(ack_14_2));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, coordinate::origin(coordinate_config{}));
}

TEST(Coordinate, LiveAckFromCaptureRoundTrips) {
    auto c = decode_ack_payload(hex(ack_frame45));
    ASSERT_TRUE(c);
    EXPECT_EQ(c->vec.size(), 8u);
    EXPECT_TRUE(c->is_valid());
    EXPECT_NEAR(c->error, 1.292, 0.001);
    EXPECT_EQ(to_hex(encode_ack_payload(*c)), ack_frame45);
}

TEST(Coordinate, GoOracleEncodingAndDistance) {
    const coordinate c = go_coordinate();
    EXPECT_EQ(to_hex(encode_ack_payload(c)), go_coord);
    auto d = distance_between(coordinate::origin(coordinate_config{}), c);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->count(), 250201999);  // Go: DistanceTo().Nanoseconds()
}

TEST(Coordinate, GoOracleVivaldiUpdates) {
    coordinate_client cl;
    ASSERT_TRUE(cl.set(go_coordinate()));
    coordinate other = coordinate::origin(coordinate_config{});
    other.vec[1] = 0.01;
    other.error = 0.7;
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(cl.update("x", other, std::chrono::milliseconds(20 + i)));
    }
    auto want = decode_ack_payload(hex(go_vivaldi)).value();
    const coordinate& got = cl.get();
    for (std::size_t i = 0; i < 8; ++i) EXPECT_NEAR(got.vec[i], want.vec[i], 1e-15) << i;
    EXPECT_NEAR(got.error, want.error, 1e-15);
    EXPECT_NEAR(got.height, want.height, 1e-15);
    EXPECT_NEAR(got.adjustment, want.adjustment, 1e-15);
    EXPECT_EQ(cl.stats().updates, 5u);
}

TEST(Coordinate, RejectsNaNInfAndWrongDimensions) {
    coordinate_client cl;
    coordinate bad = coordinate::origin(coordinate_config{});
    bad.vec[3] = std::nan("");
    EXPECT_EQ(cl.update("a", bad, 10ms).error(), coordinate_errc::invalid_value);
    bad = coordinate::origin(coordinate_config{});
    bad.height = INFINITY;
    EXPECT_EQ(cl.update("a", bad, 10ms).error(), coordinate_errc::invalid_value);
    bad = coordinate::origin(coordinate_config{});
    bad.vec.resize(3);
    EXPECT_EQ(cl.update("a", bad, 10ms).error(), coordinate_errc::wrong_dimensions);
    EXPECT_EQ(cl.update("a", coordinate::origin({}), -1ms).error(),
              coordinate_errc::rtt_out_of_range);
    EXPECT_EQ(cl.update("a", coordinate::origin({}), 11s).error(),
              coordinate_errc::rtt_out_of_range);
    EXPECT_EQ(cl.stats().count(coordinate_errc::invalid_value), 2u);
    EXPECT_EQ(cl.stats().count(coordinate_errc::wrong_dimensions), 1u);
    EXPECT_EQ(cl.stats().count(coordinate_errc::rtt_out_of_range), 2u);
    EXPECT_EQ(cl.get(), coordinate::origin({}));  // unchanged
    EXPECT_FALSE(cl.set(bad));
}

TEST(Coordinate, DecodeErrors) {
    EXPECT_EQ(decode_ack_payload({}).error(), coordinate_errc::empty);
    auto p = hex(ack_14_2);
    p[0] = 2;
    EXPECT_EQ(decode_ack_payload(p).error(), coordinate_errc::bad_version);
    auto t = hex(ack_14_2);
    for (std::size_t n = 1; n < t.size(); ++n) {
        auto r = decode_ack_payload(std::span(t.data(), n));
        EXPECT_FALSE(r) << n;
    }
    EXPECT_EQ(decode_coordinate(hex("81a3566563dc0041")).error(), coordinate_errc::oversized);
    EXPECT_EQ(decode_coordinate(hex("81a54572726f72a161")).error(), coordinate_errc::malformed);
    EXPECT_EQ(decode_coordinate(hex("93")).error(), coordinate_errc::malformed);
    // NaN decodes (it is a valid float64) but is_valid() says no.
    auto nan = decode_coordinate(hex("81a54572726f72cb7ff8000000000000"));
    ASSERT_TRUE(nan);
    EXPECT_FALSE(nan->is_valid());
}

TEST(Coordinate, CoincidentPointsGetPushedApart) {
    coordinate_client a(coordinate_config{}, 7);
    ASSERT_TRUE(a.update("b", coordinate::origin({}), 30ms));
    EXPECT_TRUE(a.get().is_valid());
    double mag = 0;
    for (double v : a.get().vec) mag += v * v;
    EXPECT_GT(mag, 0.0);
}

// Five nodes on a plane; RTT = distance (ms) + 2 ms access delay. After gossip-like rounds of
// probes, every pairwise estimate is within 20 % (or 3 ms) of the true RTT.
TEST(Coordinate, VivaldiConvergesOnSyntheticMatrix) {
    const double pos[5][2] = {{0, 0}, {40, 0}, {0, 30}, {80, 60}, {10, 90}};
    auto rtt_ms = [&](int i, int j) {
        return std::hypot(pos[i][0] - pos[j][0], pos[i][1] - pos[j][1]) + 2.0;
    };
    std::vector<coordinate_client> nodes;
    for (int i = 0; i < 5; ++i) nodes.emplace_back(coordinate_config{}, 100 + i);
    std::mt19937 rng(1);
    for (int round = 0; round < 3000; ++round) {
        for (int i = 0; i < 5; ++i) {
            int j = static_cast<int>(rng() % 4);
            if (j >= i) ++j;
            const auto rtt =
                std::chrono::nanoseconds(static_cast<std::int64_t>(rtt_ms(i, j) * 1e6));
            ASSERT_TRUE(nodes[i].update(std::to_string(j), nodes[j].get(), rtt));
        }
    }
    for (int i = 0; i < 5; ++i) {
        for (int j = 0; j < 5; ++j) {
            if (i == j) continue;
            auto est = distance_between(nodes[i].get(), nodes[j].get());
            ASSERT_TRUE(est);
            const double est_ms = static_cast<double>(est->count()) / 1e6;
            const double want = rtt_ms(i, j);
            EXPECT_LT(std::abs(est_ms - want), std::max(0.2 * want, 3.0))
                << i << "->" << j << " est " << est_ms << " want " << want;
        }
    }
    EXPECT_LT(nodes[0].get().error, 0.5);
}

}  // namespace
}  // namespace meshfed::wan
