#include "agent/config/duration.hpp"

#include <cstdint>
#include <limits>

#include <fmt/format.h>

namespace meshfed::config {
namespace {

struct unit {
    std::string_view name;
    std::uint64_t ns;
};

// Longest names first so "ms" is not read as "m".
constexpr unit units[] = {
    {"ns", 1ULL},
    {"us", 1000ULL},
    {"\xc2\xb5s", 1000ULL} /* µs */,
    {"\xce\xbcs", 1000ULL} /* μs */,
    {"ms", 1000000ULL},
    {"s", 1000000000ULL},
    {"m", 60000000000ULL},
    {"h", 3600000000000ULL},
};

}  // namespace

std::expected<std::chrono::nanoseconds, std::string> parse_go_duration(std::string_view orig) {
    auto invalid = [&] {
        return std::unexpected(fmt::format("time: invalid duration \"{}\"", orig));
    };
    std::string_view s = orig;
    bool neg = false;
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        s.remove_prefix(1);
    }
    if (s == "0") return std::chrono::nanoseconds(0);
    if (s.empty()) return invalid();
    // Accumulate in long double, then check the range: precise enough for config values.
    long double total = 0;
    while (!s.empty()) {
        std::size_t i = 0;
        long double whole = 0;
        bool any_digit = false;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            whole = whole * 10 + (s[i] - '0');
            ++i;
            any_digit = true;
        }
        long double frac = 0, scale = 1;
        if (i < s.size() && s[i] == '.') {
            ++i;
            while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
                frac = frac * 10 + (s[i] - '0');
                scale *= 10;
                ++i;
                any_digit = true;
            }
        }
        if (!any_digit) return invalid();
        s.remove_prefix(i);
        const unit* u = nullptr;
        for (const auto& cand : units) {
            if (s.starts_with(cand.name)) {
                u = &cand;
                break;
            }
        }
        if (!u) {
            if (s.empty()) {
                return std::unexpected(fmt::format("time: missing unit in duration \"{}\"", orig));
            }
            std::size_t end = 0;
            while (end < s.size() && !(s[end] >= '0' && s[end] <= '9') && s[end] != '.') ++end;
            return std::unexpected(fmt::format("time: unknown unit \"{}\" in duration \"{}\"",
                                               s.substr(0, end), orig));
        }
        s.remove_prefix(u->name.size());
        total += (whole + frac / scale) * static_cast<long double>(u->ns);
        if (total > static_cast<long double>(std::numeric_limits<std::int64_t>::max()))
            return invalid();
    }
    auto ns = static_cast<std::int64_t>(total);
    return std::chrono::nanoseconds(neg ? -ns : ns);
}

std::string format_go_duration(std::chrono::nanoseconds d) {
    std::int64_t n = d.count();
    if (n == 0) return "0s";
    std::string sign = n < 0 ? "-" : "";
    std::uint64_t u =
        n < 0 ? static_cast<std::uint64_t>(-(n + 1)) + 1 : static_cast<std::uint64_t>(n);
    auto frac = [](std::uint64_t v, std::uint64_t div) {
        std::string s = fmt::format("{}", v / div);
        std::uint64_t rem = v % div;
        if (rem) {
            std::string f = fmt::format("{:0{}}", rem, std::to_string(div).size() - 1);
            while (!f.empty() && f.back() == '0') f.pop_back();
            s += "." + f;
        }
        return s;
    };
    if (u < 1000) return fmt::format("{}{}ns", sign, u);
    if (u < 1000000) return fmt::format("{}{}\xc2\xb5s", sign, frac(u, 1000));
    if (u < 1000000000) return fmt::format("{}{}ms", sign, frac(u, 1000000));
    std::uint64_t h = u / 3600000000000ULL;
    u %= 3600000000000ULL;
    std::uint64_t m = u / 60000000000ULL;
    u %= 60000000000ULL;
    std::string secs = frac(u, 1000000000ULL) + "s";
    if (h) return fmt::format("{}{}h{}m{}", sign, h, m, secs);
    if (m) return fmt::format("{}{}m{}", sign, m, secs);
    return sign + secs;
}

}  // namespace meshfed::config
