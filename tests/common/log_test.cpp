#include "common/log.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using meshfed::format_log_record;

namespace {
std::chrono::system_clock::time_point t0() {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(1795839164123LL));
}
}  // namespace

TEST(LogFormat, TextLikeHclog) {
    EXPECT_EQ(format_log_record("agent.wan", spdlog::level::info, "hello", false, t0()),
              "2026-11-28T04:12:44.123Z [INFO]  agent.wan: hello\n");
    EXPECT_EQ(format_log_record("agent", spdlog::level::err, "bad", false, t0()),
              "2026-11-28T04:12:44.123Z [ERROR] agent: bad\n");
}

TEST(LogFormat, JsonEscapesAndSurvivesInvalidUtf8) {
    auto line =
        format_log_record("agent", spdlog::level::warn, "quote \" and \xff byte", true, t0());
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["@level"], "warn");
    EXPECT_EQ(j["@module"], "agent");
    EXPECT_EQ(j["@timestamp"], "2026-11-28T04:12:44.123Z");
    EXPECT_NE(j["@message"].get<std::string>().find("quote \" and"), std::string::npos);
}

TEST(LogLevel, ConsulNames) {
    EXPECT_EQ(meshfed::parse_log_level("TRACE"), spdlog::level::trace);
    EXPECT_EQ(meshfed::parse_log_level("err"), spdlog::level::err);
    EXPECT_EQ(meshfed::parse_log_level("warn"), spdlog::level::warn);
    EXPECT_FALSE(meshfed::parse_log_level("loud"));
}
