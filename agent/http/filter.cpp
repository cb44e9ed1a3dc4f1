#include "agent/http/filter.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <optional>
#include <regex>
#include <vector>

#include <fmt/format.h>

#include "agent/http/agent_endpoints.hpp"
#include "agent/http/agent_services.hpp"
#include "agent/http/json_codec.hpp"

namespace meshfed::agent::http {

using json = nlohmann::json;

namespace {

constexpr std::string_view error_prefix = "Failed to create boolean expression evaluator: ";

enum class match_op : std::uint8_t {
    eq,
    ne,
    in,
    not_in,
    contains,
    not_contains,
    empty,
    not_empty,
    matches,
    not_matches
};

}  // namespace

struct filter_expression::node {
    enum class kind : std::uint8_t { and_, or_, not_, match } k = kind::match;
    std::vector<std::unique_ptr<node>> children;  // and/or: 2+, not: 1
    match_op op = match_op::eq;
    std::vector<std::string> selector;
    std::string value;
    std::optional<std::regex> re;
};

namespace {

using node = filter_expression::node;

// ---- tokens -------------------------------------------------------------------------------------
enum class tok : std::uint8_t { lparen, rparen, eq, ne, string, word, end };

struct token {
    tok kind = tok::end;
    std::string text;  // strings: the unquoted value; words: as written
    std::size_t offset = 0;
};

bool word_char(char c) {
    return !std::isspace(static_cast<unsigned char>(c)) && c != '(' && c != ')' && c != '"' &&
           c != '`' && c != '=' && c != '!';
}

// Go's strconv.Unquote escapes for "..." strings; `...` is raw.
std::expected<std::string, std::string> read_quoted(std::string_view s, std::size_t& i) {
    const char q = s[i++];
    std::string out;
    while (i < s.size()) {
        char c = s[i++];
        if (c == q) return out;
        if (c != '\\' || q == '`') {
            out.push_back(c);
            continue;
        }
        if (i >= s.size()) break;
        switch (char e = s[i++]) {
            case 'n':
                out.push_back('\n');
                break;
            case 't':
                out.push_back('\t');
                break;
            case 'r':
                out.push_back('\r');
                break;
            case '\\':
            case '"':
            case '\'':
                out.push_back(e);
                break;
            default:
                return std::unexpected(fmt::format("invalid escape \\{} in string", e));
        }
    }
    return std::unexpected(std::string("unterminated string"));
}

struct lexer {
    std::string_view src;
    std::size_t pos = 0;

    std::expected<token, std::pair<std::size_t, std::string>> next() {
        while (pos < src.size() && std::isspace(static_cast<unsigned char>(src[pos]))) ++pos;
        token t;
        t.offset = pos;
        if (pos >= src.size()) return t;
        const char c = src[pos];
        if (c == '(' || c == ')') {
            t.kind = c == '(' ? tok::lparen : tok::rparen;
            ++pos;
            return t;
        }
        if (c == '=' || c == '!') {
            if (pos + 1 < src.size() && src[pos + 1] == '=') {
                t.kind = c == '=' ? tok::eq : tok::ne;
                pos += 2;
                return t;
            }
            return std::unexpected(std::pair{pos, std::string("expected \"==\" or \"!=\"")});
        }
        if (c == '"' || c == '`') {
            auto s = read_quoted(src, pos);
            if (!s) return std::unexpected(std::pair{t.offset, s.error()});
            t.kind = tok::string;
            t.text = std::move(*s);
            return t;
        }
        // A bare word: a selector (with ["key"] parts, whose quotes may hold anything) or value.
        t.kind = tok::word;
        while (pos < src.size()) {
            if (src[pos] == '[') {
                std::size_t start = pos++;
                if (pos < src.size() && (src[pos] == '"' || src[pos] == '`')) {
                    auto s = read_quoted(src, pos);
                    if (!s) return std::unexpected(std::pair{start, s.error()});
                }
                if (pos >= src.size() || src[pos] != ']')
                    return std::unexpected(std::pair{start, std::string("expected \"]\"")});
                ++pos;
                continue;
            }
            if (!word_char(src[pos])) break;
            ++pos;
        }
        t.text = std::string(src.substr(t.offset, pos - t.offset));
        return t;
    }
};

// ---- selectors ----------------------------------------------------------------------------------
bool name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '/';
}

// "Service.Meta.env", "Tags[\"dc\"]" -> segments; nullopt when malformed.
std::optional<std::vector<std::string>> split_selector(std::string_view w) {
    std::vector<std::string> segs;
    std::size_t i = 0;
    bool need_name = true;
    while (i < w.size()) {
        if (w[i] == '[') {
            if (need_name) return std::nullopt;
            ++i;
            auto s = read_quoted(w, i);  // the lexer checked the quotes and the ']'
            if (!s || i >= w.size() || w[i] != ']') return std::nullopt;
            segs.push_back(std::move(*s));
            ++i;
            continue;
        }
        if (w[i] == '.') {
            if (need_name) return std::nullopt;
            ++i;
            need_name = true;
            continue;
        }
        if (!need_name) return std::nullopt;
        std::size_t start = i;
        while (i < w.size() && name_char(w[i])) ++i;
        if (i == start) return std::nullopt;
        segs.emplace_back(w.substr(start, i - start));
        need_name = false;
    }
    if (need_name) return std::nullopt;
    return segs;
}

// Walks the schema sample; empty objects / null are maps or opaque structs (anything goes).
bool selector_valid(const json* schema, const std::vector<std::string>& segs) {
    if (schema == nullptr) return true;
    const json* cur = schema;
    for (const auto& s : segs) {
        while (cur->is_array()) {
            if (cur->empty()) return true;
            cur = &cur->front();
        }
        if (cur->is_null() || (cur->is_object() && cur->empty())) return true;
        if (!cur->is_object()) return false;
        auto it = cur->find(s);
        if (it == cur->end()) return false;
        cur = &*it;
    }
    return true;
}

std::string join_selector(const std::vector<std::string>& segs) {
    std::string out;
    for (const auto& s : segs) {
        if (!out.empty()) out += '.';
        out += s;
    }
    return out;
}

// ---- parser -------------------------------------------------------------------------------------
struct parser {
    lexer lex;
    const json* schema;
    const filter_limits& lim;
    token cur;
    std::size_t matches = 0;
    std::string error;  // set on the first error (full message)

    bool fail_at(std::size_t off, std::string_view msg) {
        if (error.empty()) {
            // pigeon's position format: line:column (offset).
            std::size_t line = 1, col = 1;
            for (std::size_t i = 0; i < off && i < lex.src.size(); ++i) {
                if (lex.src[i] == '\n') {
                    ++line;
                    col = 1;
                } else {
                    ++col;
                }
            }
            error = fmt::format("{}{}:{} ({}): {}", error_prefix, line, col, off, msg);
        }
        return false;
    }

    bool advance() {
        auto t = lex.next();
        if (!t) return fail_at(t.error().first, t.error().second);
        cur = std::move(*t);
        return true;
    }
    bool is_word(std::string_view w) const { return cur.kind == tok::word && cur.text == w; }

    // A chain of `sub` joined by the keyword `word` ("or" over "and" over "not"), as one n-ary
    // node: loops rather than recursion, so long chains do not deepen the stack.
    template <class Sub>
    std::unique_ptr<node> parse_chain(std::size_t depth, std::string_view word, node::kind k,
                                      Sub sub) {
        auto left = (this->*sub)(depth);
        if (!left || !is_word(word)) return left;
        auto n = std::make_unique<node>();
        n->k = k;
        n->children.push_back(std::move(left));
        while (is_word(word)) {
            if (!advance()) return nullptr;
            auto rhs = (this->*sub)(depth);
            if (!rhs) return nullptr;
            n->children.push_back(std::move(rhs));
        }
        return n;
    }
    std::unique_ptr<node> parse_or(std::size_t depth) {
        return parse_chain(depth, "or", node::kind::or_, &parser::parse_and);
    }
    std::unique_ptr<node> parse_and(std::size_t depth) {
        return parse_chain(depth, "and", node::kind::and_, &parser::parse_not);
    }

    std::unique_ptr<node> parse_not(std::size_t depth) {
        if (is_word("not") || cur.kind == tok::lparen) {
            if (depth + 1 > lim.max_depth) {
                fail_at(cur.offset, fmt::format("expression nested deeper than {}", lim.max_depth));
                return nullptr;
            }
        }
        if (is_word("not")) {
            if (!advance()) return nullptr;
            auto inner = parse_not(depth + 1);
            if (!inner) return nullptr;
            auto n = std::make_unique<node>();
            n->k = node::kind::not_;
            n->children.push_back(std::move(inner));
            return n;
        }
        if (cur.kind == tok::lparen) {
            if (!advance()) return nullptr;
            auto inner = parse_or(depth + 1);
            if (!inner) return nullptr;
            if (cur.kind != tok::rparen) {
                fail_at(cur.offset, "expected \")\"");
                return nullptr;
            }
            if (!advance()) return nullptr;
            return inner;
        }
        return parse_match();
    }

    bool take_selector(const token& t, node& n) {
        if (t.kind != tok::word) return fail_at(t.offset, "expected a selector");
        auto segs = split_selector(t.text);
        if (!segs) return fail_at(t.offset, fmt::format("invalid selector \"{}\"", t.text));
        if (!selector_valid(schema, *segs)) {
            if (error.empty())
                error = fmt::format("{}Selector \"{}\" is not valid", error_prefix,
                                    join_selector(*segs));
            return false;
        }
        n.selector = std::move(*segs);
        return true;
    }

    bool take_value(node& n) {
        if (cur.kind != tok::string && cur.kind != tok::word)
            return fail_at(cur.offset, "expected a value");
        n.value = cur.text;
        return advance();
    }

    std::unique_ptr<node> parse_match() {
        if (cur.kind != tok::word && cur.kind != tok::string) {
            fail_at(cur.offset, cur.kind == tok::end ? "unexpected end of expression"
                                                     : "expected a match expression");
            return nullptr;
        }
        if (++matches > lim.max_matches) {
            fail_at(cur.offset, fmt::format("more than {} match expressions", lim.max_matches));
            return nullptr;
        }
        auto n = std::make_unique<node>();
        token first = cur;
        if (!advance()) return nullptr;
        bool negate = false;
        if (cur.kind == tok::eq || cur.kind == tok::ne) {
            n->op = cur.kind == tok::eq ? match_op::eq : match_op::ne;
            if (!take_selector(first, *n) || !advance() || !take_value(*n)) return nullptr;
            return n;
        }
        if (is_word("is")) {
            if (!take_selector(first, *n) || !advance()) return nullptr;
            if (is_word("not")) {
                negate = true;
                if (!advance()) return nullptr;
            }
            if (!is_word("empty")) {
                fail_at(cur.offset, "expected \"empty\"");
                return nullptr;
            }
            n->op = negate ? match_op::not_empty : match_op::empty;
            if (!advance()) return nullptr;
            return n;
        }
        if (is_word("not")) {
            negate = true;
            if (!advance()) return nullptr;
        }
        if (is_word("in")) {
            n->op = negate ? match_op::not_in : match_op::in;
            n->value = first.text;
            if (!advance()) return nullptr;
            token sel = cur;
            if (!take_selector(sel, *n) || !advance()) return nullptr;
            return n;
        }
        if (is_word("contains") || is_word("matches")) {
            const bool contains = is_word("contains");
            n->op = contains ? (negate ? match_op::not_contains : match_op::contains)
                             : (negate ? match_op::not_matches : match_op::matches);
            if (!take_selector(first, *n) || !advance() || !take_value(*n)) return nullptr;
            if (!contains) {
                if (n->value.size() > lim.max_regex) {
                    fail_at(first.offset,
                            fmt::format("regular expression longer than {}", lim.max_regex));
                    return nullptr;
                }
                try {
                    n->re.emplace(n->value, std::regex::ECMAScript);
                } catch (const std::regex_error& e) {
                    fail_at(first.offset, fmt::format("invalid regular expression \"{}\": {}",
                                                      n->value, e.what()));
                    return nullptr;
                }
            }
            return n;
        }
        fail_at(cur.offset,
                "expected a match operator (==, !=, in, not in, contains, not "
                "contains, matches, not matches, is empty, is not empty)");
        return nullptr;
    }
};

// ---- evaluation ---------------------------------------------------------------------------------
void collect(const json& j, const std::vector<std::string>& segs, std::size_t i,
             std::vector<const json*>& out) {
    if (i == segs.size()) {
        out.push_back(&j);
        return;
    }
    if (j.is_array()) {
        for (const auto& e : j) collect(e, segs, i, out);
    } else if (j.is_object()) {
        if (auto it = j.find(segs[i]); it != j.end()) collect(*it, segs, i + 1, out);
    }
}

std::optional<bool> go_parse_bool(std::string_view s) {
    if (s == "1" || s == "t" || s == "T" || s == "true" || s == "TRUE" || s == "True") return true;
    if (s == "0" || s == "f" || s == "F" || s == "false" || s == "FALSE" || s == "False")
        return false;
    return std::nullopt;
}

std::optional<double> parse_number(std::string_view s) {
    double d = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    return d;
}

// A scalar as text; nullopt for arrays, objects and null.
std::optional<std::string> render(const json& j) {
    if (j.is_string()) return j.get<std::string>();
    if (j.is_boolean()) return j.get<bool>() ? "true" : "false";
    if (j.is_number_unsigned()) return std::to_string(j.get<std::uint64_t>());
    if (j.is_number_integer()) return std::to_string(j.get<std::int64_t>());
    if (j.is_number_float()) return fmt::format("{}", j.get<double>());
    return std::nullopt;
}

bool scalar_equals(const json& j, const std::string& v) {
    if (j.is_boolean()) {
        auto b = go_parse_bool(v);
        return b && *b == j.get<bool>();
    }
    auto r = render(j);
    if (!r) return false;
    if (*r == v) return true;
    if (j.is_number()) {
        auto d = parse_number(v);
        return d && *d == j.get<double>();
    }
    return false;
}

bool contains_value(const json& j, const std::string& v) {
    if (j.is_string()) return j.get_ref<const std::string&>().find(v) != std::string::npos;
    if (j.is_array()) {
        for (const auto& e : j)
            if (scalar_equals(e, v)) return true;
        return false;
    }
    if (j.is_object()) return j.contains(v);
    return false;
}

bool is_empty_value(const json& j) {
    if (j.is_null()) return true;
    if (j.is_string()) return j.get_ref<const std::string&>().empty();
    if (j.is_array() || j.is_object()) return j.empty();
    return false;
}

bool regex_matches(const std::regex& re, const json& j) {
    if (j.is_array()) {
        for (const auto& e : j)
            if (regex_matches(re, e)) return true;
        return false;
    }
    auto r = render(j);
    if (!r) return false;
    try {
        return std::regex_search(*r, re);
    } catch (const std::regex_error&) {
        return false;  // error_complexity / error_stack: treat as no match
    }
}

bool eval_match(const node& n, const json& obj) {
    std::vector<const json*> leaves;
    collect(obj, n.selector, 0, leaves);
    auto any = [&](auto pred) {
        for (const json* l : leaves)
            if (pred(*l)) return true;
        return false;
    };
    switch (n.op) {
        case match_op::eq:
            return any([&](const json& l) { return scalar_equals(l, n.value); });
        case match_op::ne:
            return !any([&](const json& l) { return scalar_equals(l, n.value); });
        case match_op::in:
        case match_op::contains:
            return any([&](const json& l) { return contains_value(l, n.value); });
        case match_op::not_in:
        case match_op::not_contains:
            return !any([&](const json& l) { return contains_value(l, n.value); });
        case match_op::empty:
            return !any([](const json& l) { return !is_empty_value(l); });
        case match_op::not_empty:
            return any([](const json& l) { return !is_empty_value(l); });
        case match_op::matches:
            return any([&](const json& l) { return regex_matches(*n.re, l); });
        case match_op::not_matches:
            return !any([&](const json& l) { return regex_matches(*n.re, l); });
    }
    return false;
}

bool eval(const node& n, const json& obj) {
    switch (n.k) {
        case node::kind::and_:
            for (const auto& c : n.children)
                if (!eval(*c, obj)) return false;
            return true;
        case node::kind::or_:
            for (const auto& c : n.children)
                if (eval(*c, obj)) return true;
            return false;
        case node::kind::not_:
            return !eval(*n.children.front(), obj);
        case node::kind::match:
            return eval_match(n, obj);
    }
    return false;
}

}  // namespace

std::expected<filter_expression, std::string> filter_expression::parse(std::string_view text,
                                                                       const json* schema,
                                                                       const filter_limits& lim) {
    if (text.size() > lim.max_length) {
        return std::unexpected(
            fmt::format("{}expression longer than {} characters", error_prefix, lim.max_length));
    }
    parser p{lexer{text}, schema, lim, {}, 0, {}};
    if (!p.advance()) return std::unexpected(p.error);
    auto root = p.parse_or(0);
    if (root && p.cur.kind != tok::end) {
        p.fail_at(p.cur.offset, p.cur.kind == tok::rparen ? "unbalanced \")\""
                                                          : "expected \"and\", \"or\" or the end");
        root.reset();
    }
    if (!root) return std::unexpected(p.error);
    filter_expression e;
    e.root_ = std::move(root);
    return e;
}

bool filter_expression::matches(const json& object) const {
    return eval(*root_, object);
}

std::expected<void, std::string> apply_filter(std::string_view text, const json& schema,
                                              json& result) {
    if (text.empty()) return {};
    auto f = filter_expression::parse(text, &schema);
    if (!f) return std::unexpected(f.error());
    if (result.is_array()) {
        json kept = json::array();
        for (auto& e : result)
            if (f->matches(e)) kept.push_back(std::move(e));
        result = std::move(kept);
    } else if (result.is_object()) {
        for (auto it = result.begin(); it != result.end();) {
            if (f->matches(*it)) {
                ++it;
            } else {
                it = result.erase(it);
            }
        }
    }
    return {};
}

// ---- schemas: the JSON shapes with the omitempty fields put back -----------------------------
namespace {

json node_sample() {
    json j = to_json(rpc::node{});
    j["Partition"] = "";
    j["PeerName"] = "";
    j["Locality"] = nullptr;
    return j;
}

json node_service_sample() {
    json j = to_json(rpc::node_service{});
    for (const char* k : {"Kind", "SocketPath", "PeerName"}) j[k] = "";
    j["Port"] = 0;
    j["TaggedAddresses"] = json::object();
    j["Locality"] = nullptr;
    return j;
}

json health_check_sample() {
    json j = to_json(rpc::health_check{});
    j["PeerName"] = "";
    j["Definition"] = json::object();
    return j;
}

}  // namespace

const json& node_filter_schema() {
    static const json s = node_sample();
    return s;
}

const json& service_node_filter_schema() {
    static const json s = [] {
        json j = to_json(rpc::service_node{});
        j["ServiceTaggedAddresses"] = json::object();
        j["ServiceLocality"] = nullptr;
        j["PeerName"] = "";
        return j;
    }();
    return s;
}

const json& check_service_node_filter_schema() {
    static const json s = json{{"Node", node_sample()},
                               {"Service", node_service_sample()},
                               {"Checks", json::array({health_check_sample()})}};
    return s;
}

const json& health_check_filter_schema() {
    static const json s = health_check_sample();
    return s;
}

const json& agent_service_filter_schema() {
    static const json s = [] {
        json j = agent_service_json(rpc::node_service{}, "");
        j["Kind"] = "";
        j["SocketPath"] = "";
        j["TaggedAddresses"] = json::object();
        j["Proxy"] = json::object();
        j["Connect"] = json::object();
        return j;
    }();
    return s;
}

const json& member_filter_schema() {
    static const json s = member_json(wan::member{});
    return s;
}

}  // namespace meshfed::agent::http
