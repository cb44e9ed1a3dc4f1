// msgpack writer/reader: go-msgpack (WriteExt=false) byte conventions and hostile-input bounds.
#include "common/msgpack.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace {

using meshfed::msgpack::errc;
using meshfed::msgpack::int_style;
using meshfed::msgpack::reader;
using meshfed::msgpack::value_type;
using meshfed::msgpack::writer;
using bytes = std::vector<std::uint8_t>;

bytes write(auto&& fn) {
    bytes out;
    writer w(out);
    fn(w);
    return out;
}

TEST(MsgpackWriter, UnsignedUsesSmallestFormat) {
    EXPECT_EQ(write([](writer& w) { w.write_uint(0); }), (bytes{0x00}));
    EXPECT_EQ(write([](writer& w) { w.write_uint(127); }), (bytes{0x7f}));
    EXPECT_EQ(write([](writer& w) { w.write_uint(128); }), (bytes{0xcc, 0x80}));
    EXPECT_EQ(write([](writer& w) { w.write_uint(17947); }), (bytes{0xcd, 0x46, 0x1b}));
    EXPECT_EQ(write([](writer& w) { w.write_uint(0x10000); }),
              (bytes{0xce, 0x00, 0x01, 0x00, 0x00}));
    EXPECT_EQ(write([](writer& w) { w.write_uint(0x100000000ULL); }),
              (bytes{0xcf, 0, 0, 0, 1, 0, 0, 0, 0}));
}

TEST(MsgpackWriter, SignedStyles) {
    // go-msgpack 0.5.5: non-negative signed values use unsigned formats.
    EXPECT_EQ(write([](writer& w) { w.write_int(586); }), (bytes{0xcd, 0x02, 0x4a}));
    EXPECT_EQ(write([](writer& w) { w.write_int(200); }), (bytes{0xcc, 0xc8}));
    // go-msgpack v2: signed formats above 127.
    EXPECT_EQ(write([](writer& w) { w.write_int(200, int_style::signed_formats); }),
              (bytes{0xd1, 0x00, 0xc8}));
    EXPECT_EQ(write([](writer& w) { w.write_int(5, int_style::signed_formats); }), (bytes{0x05}));
    EXPECT_EQ(write([](writer& w) { w.write_int(-1); }), (bytes{0xff}));
    EXPECT_EQ(write([](writer& w) { w.write_int(-32); }), (bytes{0xe0}));
    EXPECT_EQ(write([](writer& w) { w.write_int(-33); }), (bytes{0xd0, 0xdf}));
    EXPECT_EQ(write([](writer& w) { w.write_int(-129); }), (bytes{0xd1, 0xff, 0x7f}));
    EXPECT_EQ(write([](writer& w) { w.write_int(INT64_MIN); }),
              (bytes{0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(MsgpackWriter, StringsUseLegacyRawFamilyNeverStr8OrBin) {
    EXPECT_EQ(write([](writer& w) { w.write_str(""); }), (bytes{0xa0}));
    EXPECT_EQ(write([](writer& w) { w.write_str("s1"); }), (bytes{0xa2, 's', '1'}));
    const std::string s31(31, 'x'), s32(32, 'x'), s40(40, 'x'), big(70000, 'y');
    EXPECT_EQ(write([&](writer& w) { w.write_str(s31); })[0], 0xbf);
    auto b32 = write([&](writer& w) { w.write_str(s32); });
    EXPECT_EQ((bytes{b32[0], b32[1], b32[2]}), (bytes{0xda, 0x00, 0x20}));
    auto b40 = write([&](writer& w) { w.write_str(s40); });
    EXPECT_EQ((bytes{b40[0], b40[1], b40[2]}), (bytes{0xda, 0x00, 0x28}));
    auto bbig = write([&](writer& w) { w.write_str(big); });
    EXPECT_EQ((bytes{bbig[0], bbig[1], bbig[2], bbig[3], bbig[4]}),
              (bytes{0xdb, 0x00, 0x01, 0x11, 0x70}));
    EXPECT_EQ(bbig.size(), 70005u);
    const bytes vsn{1, 5, 2, 2, 5, 5};
    EXPECT_EQ(write([&](writer& w) { w.write_raw(vsn); }), (bytes{0xa6, 1, 5, 2, 2, 5, 5}));
    EXPECT_EQ(write([&](writer& w) { w.write_bytes_or_nil({}); }), (bytes{0xc0}));
}

TEST(MsgpackWriter, ScalarsAndHeaders) {
    EXPECT_EQ(write([](writer& w) { w.write_nil(); }), (bytes{0xc0}));
    EXPECT_EQ(write([](writer& w) { w.write_bool(true); }), (bytes{0xc3}));
    EXPECT_EQ(write([](writer& w) { w.write_bool(false); }), (bytes{0xc2}));
    EXPECT_EQ(write([](writer& w) { w.write_float64(1.5); }),
              (bytes{0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0}));
    EXPECT_EQ(write([](writer& w) { w.write_map_header(5); }), (bytes{0x85}));
    EXPECT_EQ(write([](writer& w) { w.write_map_header(16); }), (bytes{0xde, 0x00, 0x10}));
    EXPECT_EQ(write([](writer& w) { w.write_array_header(512); }), (bytes{0xdc, 0x02, 0x00}));
    EXPECT_EQ(write([](writer& w) { w.write_array_header(70000); }),
              (bytes{0xdd, 0x00, 0x01, 0x11, 0x70}));
}

TEST(MsgpackReader, AcceptsEveryIntegerFormatForUnsigned) {
    const std::vector<bytes> forms = {{0x2a},
                                      {0xcc, 0x2a},
                                      {0xcd, 0x00, 0x2a},
                                      {0xce, 0, 0, 0, 0x2a},
                                      {0xcf, 0, 0, 0, 0, 0, 0, 0, 0x2a},
                                      {0xd0, 0x2a},
                                      {0xd1, 0x00, 0x2a},
                                      {0xd2, 0, 0, 0, 0x2a},
                                      {0xd3, 0, 0, 0, 0, 0, 0, 0, 0x2a}};
    for (const auto& f : forms) {
        reader r(f);
        auto v = r.read_integer<std::uint32_t>();
        ASSERT_TRUE(v) << int(f[0]);
        EXPECT_EQ(*v, 42u);
        EXPECT_TRUE(r.at_end());
    }
}

TEST(MsgpackReader, SignedValuesAndRangeChecks) {
    bytes neg{0xd1, 0xff, 0x7f};  // -129
    reader r1(neg);
    EXPECT_EQ(*r1.read_int(), -129);
    reader r2(neg);
    EXPECT_EQ(r2.read_uint().error(), errc::out_of_range);
    bytes big{0xcd, 0x01, 0x00};  // 256 does not fit uint8
    reader r3(big);
    EXPECT_EQ(r3.read_integer<std::uint8_t>().error(), errc::out_of_range);
    bytes u64max{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    reader r4(u64max);
    EXPECT_EQ(r4.read_int().error(), errc::out_of_range);
    reader r5(u64max);
    EXPECT_EQ(*r5.read_uint(), UINT64_MAX);
    bytes negfix{0xe0};
    reader r6(negfix);
    EXPECT_EQ(*r6.read_integer<std::int8_t>(), -32);
}

TEST(MsgpackReader, AcceptsStr8AndBinForRaw) {
    const std::vector<bytes> forms = {{0xa2, 'h', 'i'},
                                      {0xd9, 0x02, 'h', 'i'},
                                      {0xda, 0, 2, 'h', 'i'},
                                      {0xdb, 0, 0, 0, 2, 'h', 'i'},
                                      {0xc4, 0x02, 'h', 'i'},
                                      {0xc5, 0, 2, 'h', 'i'},
                                      {0xc6, 0, 0, 0, 2, 'h', 'i'}};
    for (const auto& f : forms) {
        reader r(f);
        auto v = r.read_str();
        ASSERT_TRUE(v) << int(f[0]);
        EXPECT_EQ(*v, "hi");
        EXPECT_TRUE(r.at_end());
    }
}

TEST(MsgpackReader, RoundTripsFloatsAndBools) {
    bytes buf;
    writer w(buf);
    w.write_float64(1e-05);
    w.write_bool(true);
    w.write_nil();
    reader r(buf);
    EXPECT_DOUBLE_EQ(*r.read_float(), 1e-05);
    EXPECT_TRUE(*r.read_bool());
    EXPECT_TRUE(r.next_is_nil());
    EXPECT_TRUE(r.read_nil());
    EXPECT_TRUE(r.at_end());
    bytes f32{0xca, 0x3f, 0xc0, 0x00, 0x00};
    reader r2(f32);
    EXPECT_DOUBLE_EQ(*r2.read_float(), 1.5);
}

TEST(MsgpackReader, TruncatedInputsNeverReadPastTheEnd) {
    const std::vector<bytes> cut = {{},
                                    {0xcd, 0x01},
                                    {0xda, 0x00},
                                    {0xa5, 'a'},
                                    {0xdb, 0xff, 0xff, 0xff, 0xff, 0x00},
                                    {0xde, 0x00},
                                    {0xcb, 0, 0, 0},
                                    {0xc4}};
    for (const auto& c : cut) {
        reader r(c);
        auto t = r.peek_type();
        if (!t) {
            EXPECT_EQ(t.error(), errc::truncated);
            continue;
        }
        EXPECT_FALSE(r.skip()) << (c.empty() ? -1 : int(c[0]));
    }
    bytes huge_len{0xdb, 0xff, 0xff, 0xff, 0xff};
    reader r(huge_len);
    EXPECT_EQ(r.read_raw().error(), errc::truncated);
    EXPECT_EQ(r.position(), 0u);
}

TEST(MsgpackReader, SkipHandlesEveryTypeAndBoundsDepth) {
    bytes buf;
    writer w(buf);
    w.write_map_header(3);
    w.write_str("a");
    w.write_array_header(3);
    w.write_int(-5);
    w.write_float64(2.0);
    w.write_nil();
    w.write_str("b");
    w.write_raw(bytes(40, 7));
    w.write_str("c");
    w.write_bool(false);
    // ext types: fixext4 and ext8
    buf.insert(buf.end(), {0xd6, 0x01, 1, 2, 3, 4, 0xc7, 0x02, 0x05, 9, 9});
    reader r(buf);
    ASSERT_TRUE(r.skip());
    ASSERT_TRUE(r.skip());
    ASSERT_TRUE(r.skip());
    EXPECT_TRUE(r.at_end());

    bytes deep(100, 0x91);  // [[[[...]]]]
    deep.push_back(0xc0);
    reader rd(deep, 32);
    EXPECT_EQ(rd.skip().error(), errc::depth_exceeded);
    reader rok(deep, 200);
    EXPECT_TRUE(rok.skip());

    bytes c1{0xc1};
    reader ri(c1);
    EXPECT_EQ(ri.skip().error(), errc::invalid_byte);
}

TEST(MsgpackReader, HugeContainerCountsFailFastAsTruncated) {
    bytes buf{0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0};
    reader r(buf);
    EXPECT_EQ(r.skip().error(), errc::truncated);
    bytes map{0xdf, 0x7f, 0xff, 0xff, 0xff, 0xc0};
    reader r2(map);
    EXPECT_EQ(r2.skip().error(), errc::truncated);
}

TEST(MsgpackReader, TypeMismatchIsReported) {
    bytes buf{0xa1, 'x'};
    reader r(buf);
    EXPECT_EQ(r.read_uint().error(), errc::type_mismatch);
    EXPECT_EQ(r.read_bool().error(), errc::type_mismatch);
    EXPECT_EQ(r.read_map_header().error(), errc::type_mismatch);
    EXPECT_EQ(*r.peek_type(), value_type::raw);
    EXPECT_EQ(std::error_code(errc::type_mismatch).category().name(), std::string("msgpack"));
}

}  // namespace
