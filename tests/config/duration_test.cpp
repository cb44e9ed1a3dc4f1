#include "agent/config/duration.hpp"

#include <gtest/gtest.h>

using namespace std::chrono_literals;
using meshfed::config::format_go_duration;
using meshfed::config::parse_go_duration;

TEST(GoDuration, ParsesUnitsAndSequences) {
    EXPECT_EQ(*parse_go_duration("30s"), 30s);
    EXPECT_EQ(*parse_go_duration("500ms"), 500ms);
    EXPECT_EQ(*parse_go_duration("1h2m3.5s"), 1h + 2min + 3500ms);
    EXPECT_EQ(*parse_go_duration("100us"), 100us);
    EXPECT_EQ(*parse_go_duration("100\xc2\xb5s"), 100us);
    EXPECT_EQ(*parse_go_duration("7ns"), 7ns);
    EXPECT_EQ(*parse_go_duration("0"), 0ns);
    EXPECT_EQ(*parse_go_duration("-1.5h"), -90min);
    EXPECT_EQ(*parse_go_duration(".5s"), 500ms);
}

TEST(GoDuration, RejectsWhatGoRejects) {
    EXPECT_EQ(parse_go_duration("").error(), "time: invalid duration \"\"");
    EXPECT_EQ(parse_go_duration("30").error(), "time: missing unit in duration \"30\"");
    EXPECT_EQ(parse_go_duration("3x").error(), "time: unknown unit \"x\" in duration \"3x\"");
    EXPECT_FALSE(parse_go_duration("s"));
    EXPECT_FALSE(parse_go_duration("1.s.5"));
    EXPECT_FALSE(parse_go_duration("99999999999999h"));  // overflows int64 nanoseconds
}

TEST(GoDuration, FormatsLikeGo) {
    EXPECT_EQ(format_go_duration(30s), "30s");
    EXPECT_EQ(format_go_duration(500ms), "500ms");
    EXPECT_EQ(format_go_duration(1h), "1h0m0s");
    EXPECT_EQ(format_go_duration(90s), "1m30s");
    EXPECT_EQ(format_go_duration(1500ms), "1.5s");
    EXPECT_EQ(format_go_duration(0s), "0s");
}
