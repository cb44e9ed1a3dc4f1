// The HCL v1 front end: syntax forms, tree shapes, positions and errors. The expected values
// were checked against hashicorp/hcl 1.0.0 (build/interop/hcl2json); the conformance test
// compares whole files with it.
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agent/config/hcl.hpp"

namespace {

using meshfed::config::array;
using meshfed::config::max_nesting;
using meshfed::config::member;
using meshfed::config::object;
using meshfed::config::origin;
using meshfed::config::parse_error;
using meshfed::config::parse_hcl;
using meshfed::config::position;
using meshfed::config::to_hcl_json;
using meshfed::config::value;

value parse_ok(std::string_view text) {
    auto r = parse_hcl(text, "t.hcl");
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().to_string());
    return r ? std::move(*r) : value{};
}

parse_error parse_bad(std::string_view text) {
    auto r = parse_hcl(text, "t.hcl");
    EXPECT_FALSE(r.has_value()) << "unexpectedly parsed: " << text;
    return r ? parse_error{} : r.error();
}

// The first member called `key` (fails the test if there is none).
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

std::int64_t as_int(const value& v) {
    EXPECT_TRUE(v.is_int()) << v.type_name();
    return v.is_int() ? std::get<std::int64_t>(v.data) : 0;
}
double as_float(const value& v) {
    EXPECT_TRUE(v.is_float()) << v.type_name();
    return v.is_float() ? std::get<double>(v.data) : 0;
}
bool as_bool(const value& v) {
    EXPECT_TRUE(v.is_bool()) << v.type_name();
    return v.is_bool() && std::get<bool>(v.data);
}
std::string as_str(const value& v) {
    EXPECT_TRUE(v.is_string()) << v.type_name();
    return v.is_string() ? v.as_string() : "";
}

// What hcl2json -value would print for the text, as a compact JSON string.
std::string hcl_shape(std::string_view text) {
    const auto j = to_hcl_json(parse_ok(text));
    return j.is_discarded() ? "<decode error>" : j.dump();
}

// ---- value.hpp helpers ---------------------------------------------------------------------

TEST(ConfigValue, PositionToString) {
    EXPECT_EQ((position{"a.hcl", 3, 7}).to_string(), "a.hcl:3:7");
    EXPECT_EQ((position{"a.hcl", 3, 0}).to_string(), "a.hcl:3");
    EXPECT_EQ((position{"a.hcl", 0, 0}).to_string(), "a.hcl");
    EXPECT_EQ((parse_error{{"a.hcl", 2, 5}, "boom"}).to_string(), "a.hcl:2:5: boom");
}

TEST(ConfigValue, TypeNames) {
    EXPECT_STREQ(value{}.type_name(), "null");
    EXPECT_STREQ(value{true}.type_name(), "bool");
    EXPECT_STREQ(value{std::int64_t{1}}.type_name(), "number");
    EXPECT_STREQ(value{1.5}.type_name(), "number");
    EXPECT_STREQ(value{std::string("x")}.type_name(), "string");
    EXPECT_STREQ(value{array{}}.type_name(), "list");
    EXPECT_STREQ(value{object{}}.type_name(), "object");
}

// ---- syntax forms --------------------------------------------------------------------------

TEST(HclParse, EmptyInputIsAnEmptyObject) {
    for (const std::string_view text : {"", "   \n\t\n", "# only\n// comments\n/* here */"}) {
        const value root = parse_ok(text);
        ASSERT_TRUE(root.is_object());
        EXPECT_TRUE(root.as_object().empty());
        EXPECT_EQ(root.how, origin::block);
        EXPECT_EQ(root.pos.to_string(), "t.hcl");
    }
}

TEST(HclParse, Attributes) {
    const value root = parse_ok(
        "name = \"n1\"\n"
        "count = 3\n"
        "ratio = 1.5\n"
        "on = true\n"
        "off = false\n"
        "\"quoted key\" = \"q\"\n");
    ASSERT_EQ(root.as_object().size(), 6u);
    EXPECT_EQ(as_str(get(root, "name")), "n1");
    EXPECT_EQ(as_int(get(root, "count")), 3);
    EXPECT_DOUBLE_EQ(as_float(get(root, "ratio")), 1.5);
    EXPECT_TRUE(as_bool(get(root, "on")));
    EXPECT_FALSE(as_bool(get(root, "off")));
    EXPECT_EQ(as_str(get(root, "quoted key")), "q");
    EXPECT_EQ(get(root, "name").how, origin::literal);
}

TEST(HclParse, IdentifiersMayContainDashesDotsAndUnicode) {
    const value root = parse_ok("with-dash = 1\nwith.dot = 2\n_u = 3\nnaïve = 4\n");
    EXPECT_EQ(as_int(get(root, "with-dash")), 1);
    EXPECT_EQ(as_int(get(root, "with.dot")), 2);
    EXPECT_EQ(as_int(get(root, "_u")), 3);
    EXPECT_EQ(as_int(get(root, "naïve")), 4);
}

TEST(HclParse, NestedBlocks) {
    const value root = parse_ok(
        "tls {\n"
        "  defaults {\n"
        "    verify_incoming = true\n"
        "  }\n"
        "  internal_rpc { verify_server_hostname = true }\n"
        "}\n");
    const value& tls = get(root, "tls");
    ASSERT_TRUE(tls.is_object());
    EXPECT_EQ(tls.how, origin::block);
    EXPECT_EQ(tls.pos.to_string(), "t.hcl:1:5");  // the '{'
    const value& defaults = get(tls, "defaults");
    EXPECT_EQ(defaults.how, origin::block);
    EXPECT_TRUE(as_bool(get(defaults, "verify_incoming")));
    EXPECT_TRUE(as_bool(get(get(tls, "internal_rpc"), "verify_server_hostname")));
    EXPECT_EQ(hcl_shape("tls { defaults { a = 1 } }"), R"({"tls":[{"defaults":[{"a":1}]}]})");
}

TEST(HclParse, LabelledBlocksNestOneObjectPerLabel) {
    const value root = parse_ok("service \"web\" {\n  port = 80\n}\n");
    const member& service = find(root, "service");
    EXPECT_EQ(service.val.how, origin::block);
    ASSERT_EQ(service.val.as_object().size(), 1u);
    const member& web = service.val.as_object().front();
    EXPECT_EQ(web.key, "web");
    EXPECT_EQ(web.pos.to_string(), "t.hcl:1:9");
    EXPECT_EQ(web.val.how, origin::block);
    EXPECT_EQ(as_int(get(web.val, "port")), 80);

    const value multi = parse_ok("a \"x\" y \"z\" { k = 1 }");
    const value& x = get(get(multi, "a"), "x");
    const value& z = get(get(x, "y"), "z");
    EXPECT_EQ(as_int(get(z, "k")), 1);
    EXPECT_EQ(hcl_shape("a \"x\" y \"z\" { k = 1 }"), R"({"a":[{"x":[{"y":[{"z":[{"k":1}]}]}]}]})");
}

TEST(HclParse, ObjectLiteralIsLiteralBlockIsBlock) {
    const value root = parse_ok("lit = { x = 1 }\nblk { x = 1 }\n");
    EXPECT_EQ(get(root, "lit").how, origin::literal);
    EXPECT_EQ(get(root, "blk").how, origin::block);
    EXPECT_EQ(as_int(get(get(root, "lit"), "x")), 1);
    // hcl itself makes no difference: both are a list holding one object.
    EXPECT_EQ(hcl_shape("lit = { x = 1 }\nblk { x = 1 }"), R"({"blk":[{"x":1}],"lit":[{"x":1}]})");
}

TEST(HclParse, RepeatedKeysStayRepeatedInSourceOrder) {
    const value root = parse_ok("a = 1\nb { x = 1 }\na = 2\nb { y = 2 }\n");
    const object& items = root.as_object();
    ASSERT_EQ(items.size(), 4u);
    EXPECT_EQ(items[0].key, "a");
    EXPECT_EQ(as_int(items[0].val), 1);
    EXPECT_EQ(items[2].key, "a");
    EXPECT_EQ(as_int(items[2].val), 2);
    EXPECT_EQ(items[3].key, "b");
    EXPECT_EQ(items[3].pos.line, 4);
    // hcl: later attribute wins, blocks collect into a list.
    EXPECT_EQ(hcl_shape("a = 1\nb { x = 1 }\na = 2\nb { y = 2 }\n"),
              R"({"a":2,"b":[{"x":1},{"y":2}]})");
}

TEST(HclParse, CommasBetweenItemsAndItemsOnOneLine) {
    const value root = parse_ok("a = 1, b = 2 c = 3,\nblk { x = 1, y = 2, }");
    ASSERT_EQ(root.as_object().size(), 4u);
    EXPECT_EQ(as_int(get(root, "c")), 3);
    EXPECT_EQ(get(root, "blk").as_object().size(), 2u);
}

TEST(HclParse, Lists) {
    const value root = parse_ok(
        "l = [1, \"two\", 3.5, true]\n"
        "trailing = [\"a\", \"b\",]\n"
        "nested = [[1, 2], [], [[3]]]\n"
        "objs = [{ name = \"a\" }, { name = \"b\" }]\n"
        "empty = []\n"
        "multi = [\n  1,\n  2,\n]\n");
    const array& l = get(root, "l").as_array();
    ASSERT_EQ(l.size(), 4u);
    EXPECT_EQ(as_int(l[0]), 1);
    EXPECT_EQ(as_str(l[1]), "two");
    EXPECT_DOUBLE_EQ(as_float(l[2]), 3.5);
    EXPECT_TRUE(as_bool(l[3]));
    EXPECT_EQ(get(root, "trailing").as_array().size(), 2u);
    const array& nested = get(root, "nested").as_array();
    ASSERT_EQ(nested.size(), 3u);
    EXPECT_EQ(nested[0].as_array().size(), 2u);
    EXPECT_TRUE(nested[1].as_array().empty());
    EXPECT_EQ(as_int(nested[2].as_array()[0].as_array()[0]), 3);
    const array& objs = get(root, "objs").as_array();
    ASSERT_EQ(objs.size(), 2u);
    EXPECT_EQ(objs[1].how, origin::literal);
    EXPECT_EQ(as_str(get(objs[1], "name")), "b");
    EXPECT_TRUE(get(root, "empty").as_array().empty());
    EXPECT_EQ(get(root, "multi").as_array().size(), 2u);
    EXPECT_EQ(get(root, "multi").pos.to_string(), "t.hcl:6:9");
}

TEST(HclParse, ListQuirksHclAccepts) {
    // hcl needs no comma after a nested list and skips stray commas.
    EXPECT_EQ(hcl_shape("a = [[1] [2] 3]"), R"({"a":[[1],[2],3]})");
    EXPECT_EQ(hcl_shape("a = [1,,2]\nb = [,]"), R"({"a":[1,2],"b":[]})");
}

TEST(HclParse, StringEscapes) {
    const value root = parse_ok(
        R"(a = "q\"b\\s\n\t\r"
b = "\a\b\f\v"
c = "\x41\101\u00e9\U0001F600"
d = "\ud800")");
    EXPECT_EQ(as_str(get(root, "a")), "q\"b\\s\n\t\r");
    EXPECT_EQ(as_str(get(root, "b")), "\a\b\f\v");
    EXPECT_EQ(as_str(get(root, "c")), "AA\u00e9\U0001F600");
    EXPECT_EQ(as_str(get(root, "d")), "\uFFFD");  // Go encodes a lone surrogate as U+FFFD
}

TEST(HclParse, HexAndOctalEscapesAreRawBytes) {
    EXPECT_EQ(as_str(get(parse_ok(R"(a = "\xff\377")"), "a")), "\xff\xff");
}

TEST(HclParse, InterpolationIsKeptVerbatim) {
    const value root = parse_ok(
        R"(a = "${var.x} and ${lookup(m, "k")}"
b = "${a\nb} \n"
c = "$${x} {y} ${f({})}"
d = "${x
}")");
    EXPECT_EQ(as_str(get(root, "a")), R"(${var.x} and ${lookup(m, "k")})");
    EXPECT_EQ(as_str(get(root, "b")), "${a\\nb} \n");  // escapes inside ${} stay as written
    EXPECT_EQ(as_str(get(root, "c")), "$${x} {y} ${f({})}");
    EXPECT_EQ(as_str(get(root, "d")), "${x\n}");
}

TEST(HclParse, HeredocKeepsFinalNewline) {
    const value root = parse_ok("s = <<EOT\n#!/bin/sh\necho \"${x}\" \\n\nEOT\nafter = 1\n");
    EXPECT_EQ(as_str(get(root, "s")), "#!/bin/sh\necho \"${x}\" \\n\n");
    EXPECT_EQ(as_int(get(root, "after")), 1);
    EXPECT_EQ(as_str(get(parse_ok("e = <<EOF\nEOF\n"), "e")), "");
    // An indented terminator also closes `<<EOT`, and its indentation stays in the value.
    EXPECT_EQ(as_str(get(parse_ok("s = <<EOT\n  x\n  EOT\n"), "s")), "  x\n  ");
    // A line that merely starts with the anchor does not close it.
    EXPECT_EQ(as_str(get(parse_ok("s = <<EOT\nEOTX\nEOT\n"), "s")), "EOTX\n");
}

TEST(HclParse, IndentedHeredocStripsTerminatorIndentation) {
    const value root = parse_ok("s = <<-EOT\n    one\n      two\n    EOT\n");
    EXPECT_EQ(as_str(get(root, "s")), "one\n  two\n");
    // A line less indented than the terminator (an empty line counts) disables stripping.
    EXPECT_EQ(as_str(get(parse_ok("s = <<-EOT\n    one\n  two\n    EOT\n"), "s")),
              "    one\n  two\n");
    EXPECT_EQ(as_str(get(parse_ok("s = <<-EOT\n  one\n\n  two\n  EOT\n"), "s")),
              "  one\n\n  two\n");
    EXPECT_EQ(as_str(get(parse_ok("s = <<-EOT\n\tx\n\tEOT\n"), "s")), "x\n");
}

TEST(HclParse, HeredocInList) {
    const value root = parse_ok("l = [<<A\nfirst\nA\n, <<-B\n  second\n  B\n, 3]\n");
    const array& l = get(root, "l").as_array();
    ASSERT_EQ(l.size(), 3u);
    EXPECT_EQ(as_str(l[0]), "first\n");
    EXPECT_EQ(as_str(l[1]), "second\n");
}

TEST(HclParse, CrLfLineEndings) {
    const value root = parse_ok("a = \"x\"\r\nb {\r\n  c = 1\r\n}\r\nh = <<E\r\nline\r\nE\r\n");
    EXPECT_EQ(as_str(get(root, "a")), "x");
    EXPECT_EQ(find(get(root, "b"), "c").pos.to_string(), "t.hcl:3:3");
    EXPECT_EQ(as_str(get(root, "h")), "line\n");
}

TEST(HclParse, Numbers) {
    const value root = parse_ok(
        "dec = 42\nneg = -17\nzero = 0\nhex = 0x1F\nhexu = 0XfF\nneghex = -0x10\n"
        "oct = 0755\nmax = 9223372036854775807\nmin = -9223372036854775808\n"
        "f = 3.25\nnegf = -0.5\nexp = 1e3\nexpp = 2.5E+2\nexpm = 1.5e-3\n"
        "dot = 7.\nlead = .5\ntiny = 1e-400\noctf = 017.5\n");
    EXPECT_EQ(as_int(get(root, "dec")), 42);
    EXPECT_EQ(as_int(get(root, "neg")), -17);
    EXPECT_EQ(as_int(get(root, "zero")), 0);
    EXPECT_EQ(as_int(get(root, "hex")), 31);
    EXPECT_EQ(as_int(get(root, "hexu")), 255);
    EXPECT_EQ(as_int(get(root, "neghex")), -16);
    EXPECT_EQ(as_int(get(root, "oct")), 0755);
    EXPECT_EQ(as_int(get(root, "max")), INT64_MAX);
    EXPECT_EQ(as_int(get(root, "min")), INT64_MIN);
    EXPECT_DOUBLE_EQ(as_float(get(root, "f")), 3.25);
    EXPECT_DOUBLE_EQ(as_float(get(root, "negf")), -0.5);
    EXPECT_DOUBLE_EQ(as_float(get(root, "exp")), 1000.0);
    EXPECT_DOUBLE_EQ(as_float(get(root, "expp")), 250.0);
    EXPECT_DOUBLE_EQ(as_float(get(root, "expm")), 0.0015);
    EXPECT_DOUBLE_EQ(as_float(get(root, "dot")), 7.0);
    EXPECT_DOUBLE_EQ(as_float(get(root, "lead")), 0.5);
    EXPECT_DOUBLE_EQ(as_float(get(root, "tiny")), 0.0);  // Go: underflow is not an error
    EXPECT_DOUBLE_EQ(as_float(get(root, "octf")), 17.5);
}

TEST(HclParse, IntAndFloatSurviveToHclJson) {
    EXPECT_EQ(hcl_shape("a = 1\nb = 1.0\nc = 2e3\nd = 0x10"),
              R"({"a":1,"b":1.0,"c":2000.0,"d":16})");
}

TEST(HclParse, BadNumbersAreErrors) {
    EXPECT_NE(parse_bad("a = 08").message.find("octal"), std::string::npos);
    EXPECT_NE(parse_bad("a = 0x").message.find("hexadecimal"), std::string::npos);
    EXPECT_NE(parse_bad("a = 1e").message.find("exponent"), std::string::npos);
    EXPECT_NE(parse_bad("a = 9223372036854775808").message.find("out of range"), std::string::npos);
    EXPECT_NE(parse_bad("a = -9223372036854775809").message.find("out of range"),
              std::string::npos);
    EXPECT_NE(parse_bad("a = 1e400").message.find("out of range"), std::string::npos);
    EXPECT_NE(parse_bad("a = 12abc").message.find("invalid number '12abc'"), std::string::npos);
    EXPECT_EQ(parse_bad("a = - 5").pos.column, 5);
}

TEST(HclParse, Comments) {
    const value root = parse_ok(
        "# hash\n"
        "// slashes\n"
        "/* block\n   over lines */\n"
        "a = 1 # trailing\n"
        "b /* in */ = /* the */ 2 // middle\n"
        "l = [1, # one\n 2, /* two */ 3]\n"
        "s = \"# not // a /* comment */\"\n");
    EXPECT_EQ(root.as_object().size(), 4u);
    EXPECT_EQ(as_int(get(root, "b")), 2);
    EXPECT_EQ(get(root, "l").as_array().size(), 3u);
    EXPECT_EQ(as_str(get(root, "s")), "# not // a /* comment */");
    EXPECT_EQ(find(root, "a").pos.line, 5);
}

TEST(HclParse, KeyAndValuePositions) {
    const value root = parse_ok(
        "datacenter = \"dc1\"\n"
        "\n"
        "ports {\n"
        "  server   = 8300\n"
        "  \"https\" = -1\n"
        "}\n"
        "héé = [1,\n  2]\n");
    EXPECT_EQ(find(root, "datacenter").pos.to_string(), "t.hcl:1:1");
    EXPECT_EQ(get(root, "datacenter").pos.to_string(), "t.hcl:1:14");
    EXPECT_EQ(find(root, "ports").pos.to_string(), "t.hcl:3:1");
    const value& ports = get(root, "ports");
    EXPECT_EQ(find(ports, "server").pos.to_string(), "t.hcl:4:3");
    EXPECT_EQ(get(ports, "server").pos.to_string(), "t.hcl:4:14");
    EXPECT_EQ(find(ports, "https").pos.to_string(), "t.hcl:5:3");
    // Columns count characters, not bytes.
    const value& list = get(root, "héé");
    EXPECT_EQ(list.pos.to_string(), "t.hcl:7:7");
    EXPECT_EQ(list.as_array()[1].pos.to_string(), "t.hcl:8:3");
}

// Regression (fuzz/config_hcl_fuzz): an invalid hex number at the very end of the text
// ("0x" + letters) made the lexer index the text at its size (cur_cp() past the end: a
// string_view precondition violation, UB that clang's UBSan reports; in a gcc build it happens
// to read the NUL of parse_hcl's copy). The same input is the seed
// fuzz/corpus/config_hcl/regression-hex-at-end, replayed by every fuzz run.
TEST(HclParse, FuzzRegressionInvalidHexNumberAtEndOfInput) {
    for (std::string_view text :
         {"i = 0xZz", "i= 0xN10__cxxabiv120__si_class_type_infoEe", "i = 0x", "i = -0xg\xc3\xa9"}) {
        auto r = parse_hcl(text, "f.hcl");
        ASSERT_FALSE(r) << text;
        EXPECT_NE(r.error().message.find("invalid hexadecimal number '"), std::string::npos)
            << r.error().to_string();
        EXPECT_EQ(r.error().pos.line, 1) << text;
    }
}

TEST(HclParse, LeadingBraceMeansJson) {
    const value root = parse_ok("\n  {\"a\": {\"b\": 1},\n   \"c\": [1.5]}");
    EXPECT_EQ(root.how, origin::literal);  // JSON document, not an HCL body
    EXPECT_EQ(find(root, "c").pos.to_string(), "t.hcl:3:4");
    EXPECT_EQ(hcl_shape("{\"a\": {\"b\": 1}, \"c\": [1.5]}"), R"({"a":[{"b":1}],"c":[1.5]})");
    // A comment first makes it HCL, where a bare '{' is an error (as in hcl).
    EXPECT_FALSE(parse_hcl("# c\n{\"a\": 1}", "t.hcl").has_value());
}

TEST(HclToJson, RepeatedKeysCombineLikeHcl) {
    EXPECT_EQ(hcl_shape("a = [1]\na = [2]"), R"({"a":[1,2]})");
    EXPECT_EQ(hcl_shape("a = \"x\"\na = 2"), R"({"a":"2"})");
    EXPECT_EQ(hcl_shape("a = 1\na = \"0x10\""), R"({"a":16})");
    EXPECT_EQ(hcl_shape("a = 1.5\na = 2"), R"({"a":2.0})");
    EXPECT_EQ(hcl_shape("a = [1]\na { x = 1 }"), R"({"a":[1,{"x":1}]})");
    EXPECT_EQ(hcl_shape("s \"w\" { p = 1 }\ns \"a\" { p = 2 }\ns \"w\" { p = 3 }"),
              R"({"s":[{"w":[{"p":1}]},{"a":[{"p":2}]},{"w":[{"p":3}]}]})");
    // Labelled items gather every item with the same first key, case-insensitively.
    EXPECT_EQ(hcl_shape("a \"k\" { y = 1 }\nA \"j\" { x = 1 }"),
              R"({"A":[{"k":[{"y":1}]},{"j":[{"x":1}]}],"a":[{"k":[{"y":1}]},{"j":[{"x":1}]}]})");
}

TEST(HclToJson, ShapesHclCannotDecodeAreDiscarded) {
    EXPECT_TRUE(to_hcl_json(parse_ok("a = 1\na { x = 1 }")).is_discarded());
    EXPECT_TRUE(to_hcl_json(parse_ok("a { x = 1 }\na \"k\" { y = 1 }")).is_discarded());
    EXPECT_TRUE(to_hcl_json(parse_ok("a = true\na = 1")).is_discarded());
    EXPECT_TRUE(to_hcl_json(value{std::int64_t{1}}).is_discarded());
}

TEST(HclToJson, JsonObjectsAreFlattenedLikeHclJsonParser) {
    EXPECT_EQ(hcl_shape(R"({"service": {"web": {"port": 80}, "api": {"port": 8080}}})"),
              R"({"service":[{"web":[{"port":80}]},{"api":[{"port":8080}]}]})");
    EXPECT_EQ(hcl_shape(R"({"a": {"b": [{"c": 1}, {"d": 2}]}})"),
              R"({"a":[{"b":[{"c":1},{"d":2}]}]})");
    EXPECT_EQ(hcl_shape(R"({"a": null, "b": [true, 1]})"), R"({"a":"","b":[1]})");
}

// ---- errors --------------------------------------------------------------------------------

TEST(HclErrors, UnterminatedString) {
    const parse_error e = parse_bad("datacenter = \"dc1\"\nnode_name = \"n1\nserver = true\n");
    EXPECT_EQ(e.pos.to_string(), "t.hcl:2:13");
    EXPECT_NE(e.message.find("unterminated string"), std::string::npos) << e.message;
}

TEST(HclErrors, UnterminatedStringAtEndOfFile) {
    const parse_error e = parse_bad("a = \"abc");
    EXPECT_EQ(e.pos.line, 1);
    EXPECT_NE(e.message.find("unterminated string"), std::string::npos);
    EXPECT_NE(parse_bad("a = \"${x\"").message.find("unterminated string"), std::string::npos);
}

TEST(HclErrors, UnterminatedHeredoc) {
    const parse_error e = parse_bad("a = 1\nscript = <<EOT\necho hi\nEOF\n");
    EXPECT_EQ(e.pos.line, 5);
    EXPECT_EQ(e.message, "unterminated heredoc <<EOT (opened at line 2): no closing 'EOT' line");
}

TEST(HclErrors, HeredocTerminatorWithoutNewline) {
    const parse_error e = parse_bad("script = <<EOT\necho hi\nEOT");
    EXPECT_EQ(e.pos.line, 3);
    EXPECT_NE(e.message.find("must end with a newline"), std::string::npos) << e.message;
}

TEST(HclErrors, IndentedHeredocNeedsIndentedTerminatorOrLonger) {
    // hcl quirk: for <<-EOT a terminator line must be at least as long as "-EOT".
    const parse_error e = parse_bad("s = <<-EOT\n  x\nEOT\n");
    EXPECT_NE(e.message.find("unterminated heredoc <<-EOT"), std::string::npos) << e.message;
}

TEST(HclErrors, BadHeredocAnchor) {
    EXPECT_NE(parse_bad("s = <<EOT \nx\nEOT\n").message.find("heredoc anchor"), std::string::npos);
    EXPECT_EQ(parse_bad("s = <<\nx\n").message, "empty heredoc anchor");
    EXPECT_EQ(parse_bad("s = <x\n").pos.to_string(), "t.hcl:1:5");
}

TEST(HclErrors, UnterminatedBlock) {
    const parse_error e = parse_bad("datacenter = \"dc1\"\nports {\n  server = 8300\n\nx = 1\n");
    EXPECT_EQ(e.pos.line, 6);
    EXPECT_EQ(e.message, "missing '}' to close block 'ports' opened at line 2");
}

TEST(HclErrors, UnterminatedLabelledBlock) {
    const parse_error e = parse_bad("service \"web\" {\n  port = 80\n");
    EXPECT_EQ(e.message, "missing '}' to close block 'service \"web\"' opened at line 1");
}

TEST(HclErrors, UnterminatedObjectLiteralAndList) {
    EXPECT_EQ(parse_bad("a = {\n x = 1\n").message,
              "missing '}' to close object 'a' opened at line 1");
    const parse_error e = parse_bad("a = 1\nl = [1,\n2,\n");
    EXPECT_EQ(e.message, "missing ']' to close list 'l' opened at line 2");
    EXPECT_EQ(e.pos.line, 4);
}

TEST(HclErrors, UnterminatedComment) {
    const parse_error e = parse_bad("a = 1\n/* the rest\n is commented\n");
    EXPECT_EQ(e.pos.line, 4);
    EXPECT_EQ(e.message, "unterminated /* comment (opened at line 2)");
}

TEST(HclErrors, SingleSlashIsNotAComment) {
    EXPECT_EQ(parse_bad("a = 1 / 2").pos.to_string(), "t.hcl:1:7");
}

TEST(HclErrors, BadEscape) {
    const parse_error e = parse_bad("a = 1\ndata_dir = \"C:\\data\"\n");
    EXPECT_EQ(e.pos.to_string(), "t.hcl:2:15");
    EXPECT_EQ(e.message, "invalid escape sequence '\\d' in string");
    // hcl validates escapes inside ${} too, and rejects JSON's \/ and Go's \'.
    EXPECT_FALSE(parse_hcl(R"(a = "${x\q}")", "t.hcl").has_value());
    EXPECT_FALSE(parse_hcl(R"(a = "\/")", "t.hcl").has_value());
    EXPECT_FALSE(parse_hcl(R"(a = "\'")", "t.hcl").has_value());
}

TEST(HclErrors, BadNumericEscapes) {
    EXPECT_NE(parse_bad(R"(a = "\u12")").message.find("4 hex digits"), std::string::npos);
    EXPECT_NE(parse_bad(R"(a = "\x4")").message.find("2 hex digits"), std::string::npos);
    EXPECT_NE(parse_bad(R"(a = "\12")").message.find("3 octal digits"), std::string::npos);
    EXPECT_NE(parse_bad(R"(a = "\777")").message.find("\\377"), std::string::npos);
    EXPECT_NE(parse_bad(R"(a = "\U00110000")").message.find("U+10FFFF"), std::string::npos);
}

TEST(HclErrors, UnexpectedToken) {
    const parse_error semi = parse_bad("ports {\n  server = 8300;\n}\n");
    EXPECT_EQ(semi.pos.to_string(), "t.hcl:2:16");
    EXPECT_EQ(semi.message, "unexpected character ';'");
    const parse_error ident = parse_bad("a = b");
    EXPECT_EQ(ident.message, "expected a value for 'a', found name 'b'");
    const parse_error no_eq = parse_bad("a \"b\"\n");
    EXPECT_EQ(no_eq.message, "expected '=' or '{' after 'a \"b\"', found end of file");
    const parse_error brace = parse_bad("a = 1\n}\n");
    EXPECT_EQ(brace.pos.to_string(), "t.hcl:2:1");
    EXPECT_EQ(brace.message, "unexpected '}' with no block open");
    EXPECT_EQ(parse_bad("a = [1 2]").message,
              "expected ',' or ']' after an element of list 'a', found number 2");
    EXPECT_EQ(parse_bad("= 1").message, "expected a key before '='");
    EXPECT_EQ(parse_bad("a = 1,,").message, "expected a key, found ','");
}

TEST(HclErrors, LabelsBeforeEquals) {
    const parse_error e = parse_bad("service \"web\" = {\n  port = 80\n}\n");
    EXPECT_EQ(e.pos.to_string(), "t.hcl:1:15");
    EXPECT_NE(e.message.find("labels are only allowed on blocks"), std::string::npos);
}

TEST(HclErrors, MissingValueAtEndOfFile) {
    // hcl 1.0.0 silently drops `a =` at the end of a file; we refuse it.
    const parse_error e = parse_bad("x = 1\na =");
    EXPECT_EQ(e.pos.to_string(), "t.hcl:2:4");
    EXPECT_EQ(e.message, "expected a value for 'a', found end of file");
}

TEST(HclErrors, TooDeepNesting) {
    std::string deep_blocks;
    for (int i = 0; i <= max_nesting; ++i) deep_blocks += "b {\n";
    deep_blocks += std::string(static_cast<std::size_t>(max_nesting) + 1, '}');
    const parse_error e = parse_bad(deep_blocks);
    EXPECT_EQ(e.message, "nesting deeper than 100 levels");
    EXPECT_EQ(e.pos.line, max_nesting + 1);

    const std::string deep_list = "a = " + std::string(100000, '[');
    EXPECT_EQ(parse_bad(deep_list).message, "nesting deeper than 100 levels");
    std::string deep_objects = "a = ";
    for (int i = 0; i < 100000; ++i) deep_objects += "{b = ";
    EXPECT_EQ(parse_bad(deep_objects).message, "nesting deeper than 100 levels");
    std::string labels = "a";
    for (int i = 0; i < 5000; ++i) labels += " l";
    EXPECT_EQ(parse_bad(labels + " {}").message, "nesting deeper than 100 levels");
}

TEST(HclErrors, NestingAtTheLimitIsFine) {
    std::string text = "a = ";
    text += std::string(static_cast<std::size_t>(max_nesting), '[');
    text += std::string(static_cast<std::size_t>(max_nesting), ']');
    const value root = parse_ok(text);
    const value* v = &get(root, "a");
    int depth = 0;
    while (v->is_array() && !v->as_array().empty()) {
        v = &v->as_array().front();
        ++depth;
    }
    EXPECT_EQ(depth, max_nesting - 1);
}

TEST(HclErrors, NulBytes) {
    static constexpr char text[] = "a = 1\nb = \"x\0y\"\n";
    const parse_error e = parse_bad(std::string_view(text, sizeof text - 1));
    EXPECT_EQ(e.pos.to_string(), "t.hcl:2:7");
    EXPECT_EQ(e.message, "unexpected NUL character");
}

TEST(HclErrors, InvalidUtf8) {
    const parse_error e = parse_bad("a = 1\n# comment \xc3\x28\n");
    EXPECT_EQ(e.pos.to_string(), "t.hcl:2:11");
    EXPECT_EQ(e.message, "invalid UTF-8 byte 0xC3");
    EXPECT_FALSE(parse_hcl("\xff\xfe garbage", "t.hcl").has_value());
}

TEST(HclErrors, RandomGarbageNeverCrashes) {
    // Deterministic fuzzing: random bytes and random mixes of HCL punctuation must give a
    // value or an error with a position inside the text, never a crash or an exception.
    std::mt19937 rng(12345);
    const std::string alphabet = "ab \"{}[]=,\n#/*<-EOT\\$0x1.e\t";
    for (int round = 0; round < 3000; ++round) {
        std::string text;
        const int len = static_cast<int>(rng() % 60);
        for (int i = 0; i < len; ++i) {
            text +=
                round % 2 == 0 ? static_cast<char>(rng() % 256) : alphabet[rng() % alphabet.size()];
        }
        auto r = parse_hcl(text, "f.hcl");
        if (!r) {
            EXPECT_FALSE(r.error().message.empty()) << text;
            EXPECT_GE(r.error().pos.line, 1) << text;
        } else {
            (void)to_hcl_json(*r);
        }
    }
}

}  // namespace
