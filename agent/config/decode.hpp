#pragma once
// Internal to the config loader: typed decoding of a merged value tree into runtime_config,
// and the diagnostics list shared by the loader stages.
#include <map>
#include <string>
#include <vector>

#include "agent/config/config.hpp"
#include "agent/config/value.hpp"

namespace meshfed::config {

struct diagnostics {
    std::vector<std::string> errors;
    std::vector<std::string> warnings;
    void error(const position& pos, const std::string& msg);
    void warn(const position& pos, const std::string& msg);
};

// Every option that was set explicitly ("tls.defaults.ca_file", ...) and where (the last
// source that set it), so validation errors can point at the line.
using set_paths = std::map<std::string, position>;

// Decodes `root` (an object) onto `cfg`, which already holds the defaults. Unknown keys, type
// mismatches and unparsable values are reported to `diag` with their positions.
void decode_config(const value& root, runtime_config& cfg, set_paths& set, diagnostics& diag);

// All option paths the schema knows, for "did you mean" and documentation.
std::vector<std::string> known_option_paths();

// Levenshtein distance, for suggestions.
std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace meshfed::config
