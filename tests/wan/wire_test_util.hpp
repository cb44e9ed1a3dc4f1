#pragma once
// Helpers shared by the tests/wan/wire_*_test.cpp files: hex conversion, locating the captured
// traffic (../shared/interop/captures) and running the Go gossipdecode oracle.
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/hex.hpp"

namespace meshfed::wan::wire::testing {

using meshfed::test::from_hex;
using meshfed::test::to_hex;

inline std::filesystem::path captures_dir() {
    if (const char* env = std::getenv("MESHFED_CAPTURES_DIR")) return env;
#ifdef MESHFED_SOURCE_DIR
    std::filesystem::path p =
        std::filesystem::path(MESHFED_SOURCE_DIR) / ".." / "shared" / "interop" / "captures";
    if (std::filesystem::exists(p)) return p;
#endif
    return "/work/shared/interop/captures";
}

inline std::filesystem::path gossipdecode_path() {
#ifdef MESHFED_INTEROP_BIN
    return std::filesystem::path(MESHFED_INTEROP_BIN) / "gossipdecode";
#else
    return "/work/main/build/interop/gossipdecode";
#endif
}

inline bool have_gossipdecode() {
    return std::filesystem::exists(gossipdecode_path());
}

// Runs gossipdecode with `args` and returns stdout (nullopt if it could not run).
inline std::optional<std::string> run_gossipdecode(const std::string& args) {
    const std::string cmd = gossipdecode_path().string() + " " + args + " 2>&1";
    FILE* f = ::popen(cmd.c_str(), "r");
    if (!f) return std::nullopt;
    std::string out;
    std::array<char, 4096> buf{};
    std::size_t n = 0;
    while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) out.append(buf.data(), n);
    ::pclose(f);
    return out;
}

// One capture row: tab-separated columns; the last column is the payload hex.
struct capture_row {
    std::vector<std::string> columns;
    std::vector<std::uint8_t> payload;
};

inline std::vector<capture_row> read_tsv(const std::filesystem::path& file) {
    std::vector<capture_row> rows;
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        capture_row row;
        std::stringstream ss(line);
        std::string col;
        while (std::getline(ss, col, '\t')) row.columns.push_back(col);
        if (row.columns.empty()) continue;
        row.payload = from_hex(row.columns.back());
        rows.push_back(std::move(row));
    }
    return rows;
}

inline std::string read_text(const std::filesystem::path& file) {
    std::ifstream in(file);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
}

}  // namespace meshfed::wan::wire::testing
