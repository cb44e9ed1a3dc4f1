#pragma once
// Consul's `?filter=` boolean expressions (hashicorp/go-bexpr's language), parsed and evaluated
// over the JSON objects an endpoint returns. Sans-IO: plain parse/evaluate functions.
//
// Language (the subset Consul's API docs describe):
//   Expr      := Or ;  Or := And ("or" And)* ;  And := Not ("and" Not)*
//   Not       := "not" Not | "(" Expr ")" | Match
//   Match     := Selector ("==" | "!=") Value | Selector ["not"] ("contains" | "matches") Value
//              | Value ["not"] "in" Selector | Selector "is" ["not"] "empty"
//   Selector  := Name ("." Name | "[" String "]")*       e.g. Service.Meta.env, Tags["dc"]
//   Value     := "double-quoted" (Go escapes) | `raw` | bare word (passing, 8080, true)
// Semantics: a selector walks objects by key; an array met before the last segment is walked
//   element by element and the match holds when any element's value does (Checks.Status ==
//   passing: some check passes). Values compare as text with the field rendered (strings as
//   is, numbers in decimal, booleans as true/false); a numeric field also equals a value that
//   parses to the same number, a boolean field a value Go's ParseBool reads the same.
//   `in`/`contains`: element of an array, key of an object, substring of a string. `is empty`:
//   missing, null, "", [] or {}. `matches`: ECMAScript regex search (Go: regexp.MatchString).
//   Every "not ..." form is the negation of its positive form.
// Selectors are checked against a schema (a sample JSON object of the endpoint's shape): a key
//   missing from a non-empty sample object is "not valid"; an empty object or null in the
//   sample (maps such as Meta, NodeMeta, TaggedAddresses) accepts any further path.
// Bounds: expression length, nesting depth (parentheses and "not"), match-expression count and
//   regex length (filter_limits); each excess is a parse error.
// Errors: Consul's texts, "Failed to create boolean expression evaluator: ..." (HTTP 400).
// Threading: an expression is immutable after parse; evaluate from any thread.
#include <cstddef>
#include <expected>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace meshfed::agent::http {

struct filter_limits {
    std::size_t max_length = 4096;  // characters of the expression
    std::size_t max_depth = 32;     // nested parentheses / "not"
    std::size_t max_matches = 128;  // match expressions
    std::size_t max_regex = 512;    // characters of one `matches` pattern
};

class filter_expression {
  public:
    // Parses `text`; `schema` (may be null: no selector check) is a sample of the evaluated
    // objects. Error: the HTTP 400 body.
    static std::expected<filter_expression, std::string> parse(std::string_view text,
                                                               const nlohmann::json* schema,
                                                               const filter_limits& lim = {});
    bool matches(const nlohmann::json& object) const;

    struct node;  // the parsed tree (filter.cpp)

  private:
    std::shared_ptr<const node> root_;
};

// Applies the request's filter text (empty: no filtering) to a JSON array (elements kept in
// order) or object (values filtered, keys kept), in place. Error: the 400 body text.
std::expected<void, std::string> apply_filter(std::string_view text, const nlohmann::json& schema,
                                              nlohmann::json& result);

// The schemas of the filterable endpoints (samples of Consul's shapes, built once).
const nlohmann::json& node_filter_schema();                // /v1/catalog/nodes
const nlohmann::json& service_node_filter_schema();        // /v1/catalog/service/<name>
const nlohmann::json& check_service_node_filter_schema();  // /v1/health/service/<name>
const nlohmann::json& health_check_filter_schema();        // /v1/agent/checks
const nlohmann::json& agent_service_filter_schema();       // /v1/agent/services
const nlohmann::json& member_filter_schema();              // /v1/agent/members

}  // namespace meshfed::agent::http
