#pragma once
// Front ends that turn config text into the generic tree of value.hpp.
//   parse_hcl:  HCL v1 (hashicorp/hcl 1.0.0, the dialect Consul configs use). Like hcl itself,
//               text whose first non-blank character is '{' is parsed as JSON.
//   parse_json: JSON (nlohmann-json's SAX parser), with key/value positions.
// Both are pure functions (sans-IO): bytes in, tree or error out. Lengths are bounded by the
// input; nesting depth is bounded (max_nesting) so hostile input cannot exhaust the stack.
// Errors: parse_error with file:line:col and a message; never throws.
#include <expected>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "agent/config/value.hpp"

namespace meshfed::config {

inline constexpr int max_nesting = 100;

struct parse_error {
    position pos;
    std::string message;
    std::string to_string() const;  // "file:line:col: message"
};

std::expected<value, parse_error> parse_hcl(std::string_view text, const std::string& file);
std::expected<value, parse_error> parse_json(std::string_view text, const std::string& file);

// The JSON that `hcl2json -value` (hcl.Decode into interface{}) prints for the same input:
// blocks become lists of objects, repeated keys are combined the way hcl combines them.
// Integers stay integers, floats stay floats. The root's origin tells the dialect (block: an
// HCL body from parse_hcl, literal: a JSON document). Where hcl would fail to decode (e.g.
// `a = 1` followed by `a { }`), the result is a discarded json (is_discarded()).
nlohmann::json to_hcl_json(const value& root);

}  // namespace meshfed::config
