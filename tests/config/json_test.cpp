// The JSON front end: shapes, positions of keys and values, and errors.
#include <cstdint>
#include <string>
#include <string_view>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agent/config/hcl.hpp"

namespace {

using meshfed::config::max_nesting;
using meshfed::config::member;
using meshfed::config::object;
using meshfed::config::origin;
using meshfed::config::parse_error;
using meshfed::config::parse_json;
using meshfed::config::to_hcl_json;
using meshfed::config::value;

value parse_ok(std::string_view text) {
    auto r = parse_json(text, "c.json");
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().to_string());
    return r ? std::move(*r) : value{};
}

parse_error parse_bad(std::string_view text) {
    auto r = parse_json(text, "c.json");
    EXPECT_FALSE(r.has_value()) << "unexpectedly parsed: " << text;
    return r ? parse_error{} : r.error();
}

const member& find(const value& v, std::string_view key) {
    static const member missing{};
    if (!v.is_object()) {
        ADD_FAILURE() << "not an object";
        return missing;
    }
    for (const auto& m : v.as_object()) {
        if (m.key == key) return m;
    }
    ADD_FAILURE() << "no member " << key;
    return missing;
}
const value& get(const value& v, std::string_view key) {
    return find(v, key).val;
}

TEST(JsonParse, Shapes) {
    const value root = parse_ok(R"({
  "s": "x", "i": -7, "u": 42, "f": 1.5, "e": 2e3, "t": true, "n": null,
  "l": [1, "a", [2], {"k": "v"}],
  "o": {"inner": {"deep": false}},
  "empty_o": {}, "empty_l": []
})");
    EXPECT_EQ(root.how, origin::literal);
    EXPECT_EQ(get(root, "s").as_string(), "x");
    EXPECT_EQ(std::get<std::int64_t>(get(root, "i").data), -7);
    EXPECT_EQ(std::get<std::int64_t>(get(root, "u").data), 42);
    EXPECT_DOUBLE_EQ(std::get<double>(get(root, "f").data), 1.5);
    EXPECT_TRUE(get(root, "e").is_float());  // an exponent makes a float, as in hcl
    EXPECT_TRUE(std::get<bool>(get(root, "t").data));
    EXPECT_TRUE(get(root, "n").is_null());
    const auto& l = get(root, "l").as_array();
    ASSERT_EQ(l.size(), 4u);
    EXPECT_TRUE(l[2].is_array());
    EXPECT_EQ(get(l[3], "k").as_string(), "v");
    const value& o = get(root, "o");
    EXPECT_EQ(o.how, origin::literal);
    EXPECT_FALSE(std::get<bool>(get(get(o, "inner"), "deep").data));
    EXPECT_TRUE(get(root, "empty_o").as_object().empty());
    EXPECT_TRUE(get(root, "empty_l").as_array().empty());
}

TEST(JsonParse, DuplicateKeysAreKeptInOrder) {
    const value root = parse_ok(R"({"a": 1, "b": 2, "a": 3})");
    const object& items = root.as_object();
    ASSERT_EQ(items.size(), 3u);
    EXPECT_EQ(items[2].key, "a");
    EXPECT_EQ(std::get<std::int64_t>(items[2].val.data), 3);
}

TEST(JsonParse, EscapesAndUnicode) {
    const value root = parse_ok(R"({"k\"ey": "tab\t\u00e9\ud83d\ude00\/", "é": 1})");
    EXPECT_EQ(get(root, "k\"ey").as_string(), "tab\t\u00e9\U0001F600/");
    EXPECT_EQ(std::get<std::int64_t>(get(root, "é").data), 1);
}

TEST(JsonParse, KeyPositionsAreOnTheRightLines) {
    const value root = parse_ok(
        "{\n"
        "  \"datacenter\": \"dc1\",\n"
        "  \"ports\": {\n"
        "    \"server\": 8300,\n"
        "    \"esc\\\"aped\": [1,\n"
        "       2.5, true, null]\n"
        "  },\n"
        "  \"héé\": \"x\", \"after\": false\n"
        "}\n");
    EXPECT_EQ(root.pos.to_string(), "c.json:1:1");
    EXPECT_EQ(find(root, "datacenter").pos.to_string(), "c.json:2:3");
    EXPECT_EQ(get(root, "datacenter").pos.to_string(), "c.json:2:17");
    EXPECT_EQ(find(root, "ports").pos.to_string(), "c.json:3:3");
    const value& ports = get(root, "ports");
    EXPECT_EQ(ports.pos.to_string(), "c.json:3:12");
    EXPECT_EQ(find(ports, "server").pos.to_string(), "c.json:4:5");
    EXPECT_EQ(get(ports, "server").pos.to_string(), "c.json:4:15");
    EXPECT_EQ(find(ports, "esc\"aped").pos.to_string(), "c.json:5:5");
    const auto& l = get(ports, "esc\"aped").as_array();
    ASSERT_EQ(l.size(), 4u);
    EXPECT_EQ(l[0].pos.to_string(), "c.json:5:19");
    EXPECT_EQ(l[1].pos.to_string(), "c.json:6:8");
    EXPECT_EQ(l[2].pos.to_string(), "c.json:6:13");
    EXPECT_EQ(l[3].pos.to_string(), "c.json:6:19");
    // Columns count characters: "héé" is 5 characters but 7 bytes.
    EXPECT_EQ(find(root, "héé").pos.to_string(), "c.json:8:3");
    EXPECT_EQ(find(root, "after").pos.to_string(), "c.json:8:15");
}

TEST(JsonParse, NumberAtEndOfNestedInputHasItsPosition) {
    const value root = parse_ok("{\"a\":[123]}");
    EXPECT_EQ(get(root, "a").as_array()[0].pos.to_string(), "c.json:1:7");
    const value r2 = parse_ok("{\"a\":-1.5e3}");
    EXPECT_EQ(get(r2, "a").pos.to_string(), "c.json:1:6");
}

TEST(JsonParse, IntegerRange) {
    EXPECT_EQ(std::get<std::int64_t>(get(parse_ok(R"({"a": 9223372036854775807})"), "a").data),
              INT64_MAX);
    EXPECT_EQ(std::get<std::int64_t>(get(parse_ok(R"({"a": -9223372036854775808})"), "a").data),
              INT64_MIN);
    const parse_error big = parse_bad("{\n\"a\": 9223372036854775808}");
    EXPECT_EQ(big.pos.to_string(), "c.json:2:6");
    EXPECT_EQ(big.message, "integer 9223372036854775808 is out of range");
    EXPECT_EQ(parse_bad(R"({"a": 123456789012345678901234567890})").message,
              "integer 123456789012345678901234567890 is out of range");
    const parse_error huge = parse_bad(R"({"a": 1e400})");
    EXPECT_EQ(huge.message, "number 1e400 is out of range");
    EXPECT_EQ(huge.pos.to_string(), "c.json:1:7");
}

TEST(JsonErrors, Truncated) {
    const parse_error e =
        parse_bad("{\n  \"datacenter\": \"dc1\",\n  \"ports\": {\"server\": 8300\n");
    EXPECT_EQ(e.pos.line, 4);
    EXPECT_EQ(e.message,
              "invalid JSON: unexpected end of input; expected '}' (while parsing object)");
    EXPECT_EQ(e.message.find("json.exception"), std::string::npos);
}

TEST(JsonErrors, TrailingGarbage) {
    const parse_error e = parse_bad("{\"a\": 1}\n  xyz");
    EXPECT_EQ(e.pos.to_string(), "c.json:2:3");
    EXPECT_NE(e.message.find("expected end of input"), std::string::npos) << e.message;
}

TEST(JsonErrors, SyntaxErrorPointsAtTheOffendingCharacter) {
    const parse_error e = parse_bad("{\n  \"a\": 1,\n  \"b\" 2\n}");
    EXPECT_EQ(e.pos.to_string(), "c.json:3:7");
    EXPECT_NE(e.message.find("expected ':'"), std::string::npos) << e.message;
    EXPECT_EQ(parse_bad("{\"a\": [1,]}").pos.to_string(), "c.json:1:10");
}

TEST(JsonErrors, TooDeep) {
    std::string deep = "{\"a\": ";
    for (int i = 0; i < 200000; ++i) deep += '[';
    const parse_error e = parse_bad(deep);
    EXPECT_EQ(e.message, "nesting deeper than 100 levels");
    EXPECT_EQ(e.pos.to_string(), "c.json:1:" + std::to_string(7 + max_nesting));

    std::string objects = "{";
    for (int i = 0; i < 200000; ++i) objects += "\"k\": {";
    EXPECT_EQ(parse_bad(objects).message, "nesting deeper than 100 levels");
}

TEST(JsonErrors, NestingAtTheLimitIsFine) {
    std::string text = "{\"a\": ";
    text += std::string(static_cast<std::size_t>(max_nesting), '[');
    text += std::string(static_cast<std::size_t>(max_nesting), ']');
    text += "}";
    EXPECT_TRUE(parse_json(text, "c.json").has_value());
}

TEST(JsonErrors, EmptyInput) {
    const parse_error e = parse_bad("");
    EXPECT_EQ(e.pos.to_string(), "c.json:1:1");
    EXPECT_NE(e.message.find("unexpected end of input"), std::string::npos);
    EXPECT_FALSE(parse_json("   \n ", "c.json").has_value());
}

TEST(JsonErrors, TopLevelMustBeAnObject) {
    EXPECT_EQ(parse_bad("[1, 2]").message,
              "a JSON config must be an object at the top level, found a list");
    const parse_error e = parse_bad("\n  \"str\"");
    EXPECT_EQ(e.pos.to_string(), "c.json:2:3");
    EXPECT_EQ(e.message, "a JSON config must be an object at the top level, found a string");
    EXPECT_FALSE(parse_json("42", "c.json").has_value());
}

TEST(JsonErrors, BadBytes) {
    EXPECT_FALSE(parse_json("{\"a\": \"\xff\"}", "c.json").has_value());
    EXPECT_FALSE(parse_json("{\"a\": \"tab\tinside\"}", "c.json").has_value());
    static constexpr char nul[] = "{\"a\": \0}";
    EXPECT_FALSE(parse_json(std::string_view(nul, sizeof nul - 1), "c.json").has_value());
    EXPECT_FALSE(parse_json("{\"a\": 01}", "c.json").has_value());
    EXPECT_FALSE(parse_json("{'a': 1}", "c.json").has_value());
}

TEST(JsonToHclJson, FlattensLikeHcl) {
    const value root = parse_ok(
        R"({"service": {"web": {"port": 80}}, "ports": {"server": 8300}, "f": 1.0,
            "services": [{"name": "a"}, {"name": "b"}]})");
    EXPECT_EQ(to_hcl_json(root).dump(),
              R"({"f":1.0,"ports":[{"server":8300}],"service":[{"web":[{"port":80}]}],)"
              R"("services":[{"name":"a"},{"name":"b"}]})");
    // Nested lists break hcl's JSON parser, so there is no hcl equivalent.
    EXPECT_TRUE(to_hcl_json(parse_ok(R"({"a": [[1], [2]]})")).is_discarded());
}

}  // namespace
