#include "common/log.hpp"

#include <chrono>
#include <mutex>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

namespace meshfed {
namespace {

std::string iso_time(std::chrono::system_clock::time_point when) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch());
    auto secs = std::chrono::floor<std::chrono::seconds>(when);
    return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z", secs, ms.count() % 1000);
}

const char* upper_level(spdlog::level::level_enum l) {
    switch (l) {
        case spdlog::level::trace:
            return "TRACE";
        case spdlog::level::debug:
            return "DEBUG";
        case spdlog::level::info:
            return "INFO";
        case spdlog::level::warn:
            return "WARN";
        case spdlog::level::err:
            return "ERROR";
        case spdlog::level::critical:
            return "ERROR";
        default:
            return "INFO";
    }
}

const char* lower_level(spdlog::level::level_enum l) {
    switch (l) {
        case spdlog::level::trace:
            return "trace";
        case spdlog::level::debug:
            return "debug";
        case spdlog::level::info:
            return "info";
        case spdlog::level::warn:
            return "warn";
        default:
            return "error";
    }
}

// spdlog formatter producing hclog's layouts; the logger name is the module.
class hclog_formatter final : public spdlog::formatter {
  public:
    explicit hclog_formatter(bool json) : json_(json) {}
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
        auto line = format_log_record(
            std::string_view(msg.logger_name.data(), msg.logger_name.size()), msg.level,
            std::string_view(msg.payload.data(), msg.payload.size()), json_, msg.time);
        dest.append(line.data(), line.data() + line.size());
    }
    std::unique_ptr<spdlog::formatter> clone() const override {
        return std::make_unique<hclog_formatter>(json_);
    }

  private:
    bool json_;
};

struct registry {
    std::mutex mu;
    spdlog::sink_ptr sink;
    spdlog::level::level_enum level = spdlog::level::info;
};

registry& reg() {
    static registry r;
    return r;
}

}  // namespace

std::string format_log_record(std::string_view module, spdlog::level::level_enum level,
                              std::string_view message, bool json,
                              std::chrono::system_clock::time_point when) {
    if (json) {
        nlohmann::ordered_json j;
        j["@level"] = lower_level(level);
        j["@message"] = std::string(message);
        j["@module"] = std::string(module);
        j["@timestamp"] = iso_time(when);
        // Invalid UTF-8 from the network must not throw: replace it.
        return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    }
    const char* lvl = upper_level(level);
    // hclog pads "[INFO] " and "[WARN] " to the width of "[ERROR]".
    std::string tag = fmt::format("[{}]", lvl);
    return fmt::format("{} {:<8}{}: {}\n", iso_time(when), tag, module, message);
}

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name) {
    std::string n;
    for (char c : name) n.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    if (n == "trace") return spdlog::level::trace;
    if (n == "debug") return spdlog::level::debug;
    if (n == "info") return spdlog::level::info;
    if (n == "warn" || n == "warning") return spdlog::level::warn;
    if (n == "err" || n == "error") return spdlog::level::err;
    return std::nullopt;
}

void init_logging(const log_options& opts) {
    auto& r = reg();
    std::lock_guard lock(r.mu);
    if (opts.file.empty()) {
        r.sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    } else {
        r.sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(opts.file);
    }
    r.sink->set_formatter(std::make_unique<hclog_formatter>(opts.json));
    r.level = opts.level;
    spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) {
        l->sinks().clear();
        l->sinks().push_back(r.sink);
        l->set_level(r.level);
    });
}

std::shared_ptr<spdlog::logger> get_logger(std::string_view module) {
    auto& r = reg();
    std::lock_guard lock(r.mu);
    std::string name(module);
    if (auto existing = spdlog::get(name)) return existing;
    if (!r.sink) {
        r.sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
        r.sink->set_formatter(std::make_unique<hclog_formatter>(false));
    }
    auto l = std::make_shared<spdlog::logger>(name, r.sink);
    l->set_level(r.level);
    l->flush_on(spdlog::level::trace);
    spdlog::register_logger(l);
    return l;
}

}  // namespace meshfed
