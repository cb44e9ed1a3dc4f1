// Differential test against hashicorp/hcl 1.0.0: for every fixture in
// tests/config/fixtures/conformance, `hcl2json -value FILE` (hcl.Decode into interface{}) must
// print exactly what to_hcl_json(parse_hcl(FILE)) gives, int vs float included. The files in
// conformance-bad must be rejected by both. hcl2json is built by scripts/setup from
// ../shared/interop into build/interop; without it these tests are skipped.
#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <sys/wait.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agent/config/hcl.hpp"

namespace {

namespace fs = std::filesystem;
using meshfed::config::parse_hcl;
using meshfed::config::to_hcl_json;

const fs::path fixtures_dir = fs::path(MESHFED_SOURCE_DIR) / "tests/config/fixtures";
const fs::path oracle = fs::path(MESHFED_INTEROP_BIN) / "hcl2json";

std::vector<fs::path> fixtures(const std::string& sub) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(fixtures_dir / sub, ec)) {
        if (entry.path().extension() == ".hcl") out.push_back(entry.path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct oracle_result {
    int exit_code = -1;
    nlohmann::json out;  // the value, or {"file","error","pos"} on failure
};

// Runs `hcl2json -value FILE`; nullopt if it could not be run or printed no JSON.
std::optional<oracle_result> run_oracle(const fs::path& file) {
    const std::string cmd = "'" + oracle.string() + "' -value '" + file.string() + "' 2>/dev/null";
    FILE* pipe = popen(cmd.c_str(), "r");
    if (pipe == nullptr) return std::nullopt;
    std::string text;
    std::array<char, 4096> buf{};
    std::size_t n = 0;
    while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) text.append(buf.data(), n);
    const int status = pclose(pipe);
    oracle_result r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (r.out.is_discarded()) return std::nullopt;
    return r;
}

#define SKIP_WITHOUT_ORACLE()                                                       \
    do {                                                                            \
        if (!fs::exists(oracle)) {                                                  \
            GTEST_SKIP() << oracle                                                  \
                         << " not found: build it with scripts/setup (it builds "   \
                            "../shared/interop/hcl2json from hashicorp/hcl 1.0.0)"; \
        }                                                                           \
    } while (0)

std::string test_name(const testing::TestParamInfo<fs::path>& info) {
    std::string name = info.param.stem().string();
    for (char& c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    }
    return name;
}

class HclConformance : public testing::TestWithParam<fs::path> {};

TEST_P(HclConformance, MatchesHcl2json) {
    SKIP_WITHOUT_ORACLE();
    const fs::path& file = GetParam();
    const auto expected = run_oracle(file);
    ASSERT_TRUE(expected.has_value()) << "hcl2json gave no JSON for " << file;
    ASSERT_EQ(expected->exit_code, 0) << "hcl2json rejects a fixture: " << expected->out.dump();

    const auto parsed = parse_hcl(read_file(file), file.string());
    ASSERT_TRUE(parsed.has_value()) << parsed.error().to_string();
    const nlohmann::json actual = to_hcl_json(*parsed);
    ASSERT_FALSE(actual.is_discarded()) << "to_hcl_json could not decode " << file;
    // Compare the printed text: nlohmann's == treats 1 and 1.0 as equal, hcl does not.
    EXPECT_EQ(expected->out.dump(2), actual.dump(2));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HclConformance, testing::ValuesIn(fixtures("conformance")),
                         test_name);

TEST(HclConformanceFixtures, EnoughOfThem) {
    EXPECT_GE(fixtures("conformance").size(), 15u);
    EXPECT_GE(fixtures("conformance-bad").size(), 8u);
}

// Invalid files: both sides must fail. Where hcl reports a position, the line should agree;
// the exceptions are listed with the reason.
TEST(HclConformanceBad, BothReject) {
    SKIP_WITHOUT_ORACLE();
    struct expectation {
        const char* file;
        int our_line;           // 0: parse_hcl accepts, to_hcl_json must refuse (decoder error)
        bool same_line = true;  // whether hcl's reported line must equal ours
    };
    const expectation table[] = {
        {"bad-escape.hcl", 2},
        // Repeated keys are legal for parse_hcl; the conflict is the decoder's business.
        {"block-after-attribute.hcl", 0},
        {"heredoc-no-final-newline.hcl", 4},
        {"labels-on-attribute.hcl", 1},
        {"list-missing-comma.hcl", 3},
        // hcl's error comes from strconv.ParseInt and carries no position.
        {"octal-digit.hcl", 1, false},
        {"unexpected-token.hcl", 3},
        {"unterminated-block.hcl", 6},
        {"unterminated-comment.hcl", 5},
        {"unterminated-heredoc.hcl", 4},
        {"unterminated-string.hcl", 2},
    };
    const auto files = fixtures("conformance-bad");
    EXPECT_EQ(files.size(), std::size(table)) << "add new bad fixtures to the table";
    for (const auto& e : table) {
        SCOPED_TRACE(e.file);
        const fs::path file = fixtures_dir / "conformance-bad" / e.file;
        ASSERT_TRUE(fs::exists(file));
        const auto hcl = run_oracle(file);
        ASSERT_TRUE(hcl.has_value());
        EXPECT_EQ(hcl->exit_code, 1) << hcl->out.dump();
        EXPECT_TRUE(hcl->out.contains("error")) << hcl->out.dump();

        const auto ours = parse_hcl(read_file(file), file.string());
        if (e.our_line == 0) {
            ASSERT_TRUE(ours.has_value()) << ours.error().to_string();
            EXPECT_TRUE(to_hcl_json(*ours).is_discarded());
            continue;
        }
        ASSERT_FALSE(ours.has_value()) << "parse_hcl accepted it";
        EXPECT_EQ(ours.error().pos.line, e.our_line) << ours.error().to_string();
        if (e.same_line) {
            ASSERT_TRUE(hcl->out.contains("pos")) << hcl->out.dump();
            EXPECT_EQ(hcl->out["pos"]["line"].get<int>(), ours.error().pos.line)
                << "hcl: " << hcl->out.dump() << "\nours: " << ours.error().to_string();
        }
    }
}

}  // namespace
