#pragma once
// The generic configuration tree that both front ends (HCL v1 and JSON) produce and that
// the typed decoder (decode.hpp) consumes. Every node remembers where it came from so that
// errors can name the file, line and column.
//
// Shape (both front ends):
//   `a = 1`              -> member{a, 1}
//   `a { x = 1 }`        -> member{a, object{x = 1}, origin::block}
//   `a "k" { x = 1 }`    -> member{a, object{ member{k, object{x = 1}, block} }, block}
//   `a = { x = 1 }`      -> member{a, object{x = 1}, origin::literal}
// Repeated keys stay repeated members, in source order; the typed decoder decides what a
// repetition means (error for a block, later-wins for an attribute, append for a list).
// to_hcl_json() (hcl.hpp) re-shapes a tree into exactly what hashicorp/hcl v1 gives for
// `hcl.Decode(&interface{})` (blocks as lists of objects) for the conformance test.
// Threading: plain values, no sharing. Errors: none (pure data).

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace meshfed::config {

struct position {
    std::string file;
    int line = 0;                   // 1-based; 0 = unknown
    int column = 0;                 // 1-based; 0 = unknown
    std::string to_string() const;  // "file:line:col", "file:line" or "file"
};

struct member;
struct value;
using array = std::vector<value>;
using object = std::vector<member>;  // source order, duplicates kept

// How the node was written, for hcl-compatible shaping and for error messages.
enum class origin : std::uint8_t {
    literal,  // scalar, list or `{...}` literal on the right of `=` (or a JSON value)
    block,    // `name { ... }` or `name "label" { ... }` block body
};

struct value {
    std::variant<std::monostate, bool, std::int64_t, double, std::string, array, object> data;
    position pos;  // where the value starts
    origin how = origin::literal;

    bool is_null() const { return std::holds_alternative<std::monostate>(data); }
    bool is_bool() const { return std::holds_alternative<bool>(data); }
    bool is_int() const { return std::holds_alternative<std::int64_t>(data); }
    bool is_float() const { return std::holds_alternative<double>(data); }
    bool is_string() const { return std::holds_alternative<std::string>(data); }
    bool is_array() const { return std::holds_alternative<array>(data); }
    bool is_object() const { return std::holds_alternative<object>(data); }
    const array& as_array() const { return std::get<array>(data); }
    const object& as_object() const { return std::get<object>(data); }
    const std::string& as_string() const { return std::get<std::string>(data); }
    // "string", "number", "bool", "list", "object", "null": used in type-mismatch messages.
    const char* type_name() const;
};

struct member {
    std::string key;
    position pos;  // where the key starts
    value val;
};

}  // namespace meshfed::config
