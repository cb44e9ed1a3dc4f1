#pragma once
// Go's time.ParseDuration syntax, which Consul uses for every duration option:
// a sequence of decimal numbers with optional fraction and a unit ("ns", "us", "µs", "ms",
// "s", "m", "h"), optional sign, e.g. "300ms", "1h2m3.5s", "-1.5h". "0" alone is allowed.
// Errors: the message Go would give (`time: invalid duration "x"`), as a string.
#include <chrono>
#include <expected>
#include <string>
#include <string_view>

namespace meshfed::config {

std::expected<std::chrono::nanoseconds, std::string> parse_go_duration(std::string_view s);

// Formats like Go's Duration.String() ("1h0m0s", "500ms", "30s").
std::string format_go_duration(std::chrono::nanoseconds d);

}  // namespace meshfed::config
