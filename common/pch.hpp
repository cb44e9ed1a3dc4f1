#pragma once
// Precompiled header: the heavy, stable third-party headers only. Never include project
// headers here (a change to them would rebuild everything).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <asio.hpp>
#include <nlohmann/json.hpp>
