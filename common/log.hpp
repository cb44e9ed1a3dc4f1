#pragma once
// Logging for every module: one process-wide sink (stderr by default), one spdlog logger per
// module name ("agent", "agent.wan", "agent.rpc", ...), in Consul's (hclog's) layouts:
//   text: 2026-11-22T04:12:44.123Z [INFO]  agent: message
//   json: {"@level":"info","@message":"message","@module":"agent","@timestamp":"..."}
// Threading: spdlog loggers are thread-safe; init_logging() must run before other threads log.
// Errors: parse_log_level() returns nullopt for an unknown level name.
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <spdlog/logger.h>

namespace meshfed {

// Consul's names: trace, debug, info, warn, err (and error). Case-insensitive.
std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name);

struct log_options {
    spdlog::level::level_enum level = spdlog::level::info;
    bool json = false;
    std::string file;  // empty = stderr
};

void init_logging(const log_options& opts);

// The logger for a module; created on first use with the process-wide sink and level.
std::shared_ptr<spdlog::logger> get_logger(std::string_view module);

// Formats one record (exposed for tests).
std::string format_log_record(std::string_view module, spdlog::level::level_enum level,
                              std::string_view message, bool json,
                              std::chrono::system_clock::time_point when);

}  // namespace meshfed
