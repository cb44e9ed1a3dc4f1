// HCL v1 front end: a hand-written lexer and recursive-descent parser that accept what
// hashicorp/hcl 1.0.0 accepts (checked against the hcl2json oracle, see tests/config), plus
// to_hcl_json(), which replays hcl's decoder on our tree for the conformance tests.
//
// Deliberate differences from hcl 1.0.0 (all on input hcl either mangles or rejects oddly):
//   * `a =` at the very end of the file is an error (hcl silently drops the key).
//   * a number glued to a name (`1x`, `0x1g`, `1.5.3`) is an error (hcl splits it into two
//     tokens, which only parses in contrived cases like `a = 1b = 2`).
//   * `\777` and `\U00110000` escapes are errors (hcl panics).
//   * hcl ignores a syntax error met just before a '}' (`x { a = [1,} }` gives x = [{}]);
//     we report it.
//   * U+E123 is accepted (hcl reserves it for internal use).
//   * JSON goes to parse_json, which is strict JSON; hcl's own JSON parser accepts a missing
//     final '}', trailing garbage and trailing commas, drops booleans inside lists and
//     mangles nested lists.
#include "agent/config/hcl.hpp"

#include <locale.h>
#include <wctype.h>

#include <charconv>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

namespace meshfed::config {

std::string parse_error::to_string() const {
    std::string where = pos.to_string();
    if (where.empty()) return message;
    return where + ": " + message;
}

namespace {

// ---- UTF-8 ---------------------------------------------------------------------------------

// Length of the well-formed UTF-8 sequence at s[i] (1..4) and its code point, or 0 if the
// bytes there are not well-formed (overlong, surrogate, truncated, > U+10FFFF).
std::size_t utf8_decode(std::string_view s, std::size_t i, char32_t& cp) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
        cp = b0;
        return 1;
    }
    std::size_t len = 0;
    char32_t min = 0;
    if ((b0 & 0xE0) == 0xC0) {
        len = 2;
        cp = b0 & 0x1F;
        min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
        len = 3;
        cp = b0 & 0x0F;
        min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
        len = 4;
        cp = b0 & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (i + len > s.size()) return 0;
    for (std::size_t k = 1; k < len; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

void utf8_append(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// What Go's encoding/json does to strings that are not valid UTF-8: each bad byte -> U+FFFD.
std::string sanitize_utf8(const std::string& s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        char32_t cp = 0;
        const std::size_t len = utf8_decode(s, i, cp);
        if (len == 0) {
            utf8_append(out, 0xFFFD);
            ++i;
        } else {
            out.append(s, i, len);
            i += len;
        }
    }
    return out;
}

// Go's unicode.IsSpace (hcl uses it to decide whether text is JSON).
bool is_unicode_space(char32_t c) {
    switch (c) {
        case '\t':
        case '\n':
        case '\v':
        case '\f':
        case '\r':
        case ' ':
        case 0x85:
        case 0xA0:
        case 0x1680:
        case 0x2028:
        case 0x2029:
        case 0x202F:
        case 0x205F:
        case 0x3000:
            return true;
        default:
            return c >= 0x2000 && c <= 0x200A;
    }
}

// hcl's isLetter / isDigit use Go's unicode tables for non-ASCII; glibc's C.UTF-8 locale has
// equivalent classes. Without that locale every non-ASCII code point counts as a letter.
locale_t utf8_ctype() {
    static const locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
    return loc;
}

bool is_letter(char32_t c) {
    if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const locale_t loc = utf8_ctype();
    return loc == static_cast<locale_t>(0) || iswalpha_l(static_cast<wint_t>(c), loc) != 0;
}

bool is_digit(char32_t c) {
    if (c < 0x80) return c >= '0' && c <= '9';
    const locale_t loc = utf8_ctype();
    return loc == static_cast<locale_t>(0) || iswalnum_l(static_cast<wint_t>(c), loc) != 0;
}

bool is_decimal(char c) {
    return c >= '0' && c <= '9';
}
bool is_octal(char c) {
    return c >= '0' && c <= '7';
}
bool is_hex(char c) {
    return is_decimal(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
int hex_value(char c) {
    if (is_decimal(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return c - 'A' + 10;
}

std::string quote_char(char32_t c) {
    if (c >= 0x20 && c < 0x7F) return std::string("'") + static_cast<char>(c) + "'";
    char buf[16];
    std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(c));
    return buf;
}

// ---- lexer ---------------------------------------------------------------------------------

enum class tok : std::uint8_t {
    eof,
    ident,
    boolean,
    integer,
    floating,
    string,
    heredoc,
    lbrace,
    rbrace,
    lbrack,
    rbrack,
    comma,
    assign,
};

struct token {
    tok kind = tok::eof;
    position pos;
    std::string text;  // identifier, decoded string / heredoc, or the number as written
    std::int64_t i = 0;
    double f = 0;
    bool b = false;
};

std::string describe(const token& t) {
    switch (t.kind) {
        case tok::eof:
            return "end of file";
        case tok::ident:
            return "name '" + t.text + "'";
        case tok::boolean:
            return t.b ? "'true'" : "'false'";
        case tok::integer:
        case tok::floating:
            return "number " + t.text;
        case tok::string:
            return "string \"" + t.text + "\"";
        case tok::heredoc:
            return "heredoc";
        case tok::lbrace:
            return "'{'";
        case tok::rbrace:
            return "'}'";
        case tok::lbrack:
            return "'['";
        case tok::rbrack:
            return "']'";
        case tok::comma:
            return "','";
        case tok::assign:
            return "'='";
    }
    return "token";
}

class lexer {
  public:
    lexer(std::string_view src, const std::string& file) : src_(src), file_(file) {}

    // Reads the next token into `out`; false (with error()) on a lexical error.
    bool next(token& out);
    const parse_error& error() const { return error_; }

  private:
    bool at_end() const { return off_ >= src_.size(); }
    char cur(std::size_t ahead = 0) const {
        return off_ + ahead < src_.size() ? src_[off_ + ahead] : '\0';
    }
    char32_t cur_cp() const {
        // At the end like cur(): U+0000, never a read past the text (found by
        // fuzz/config_hcl_fuzz: "0xZ" at the very end scanned on past the input).
        if (at_end()) return 0;
        char32_t cp = 0;
        utf8_decode(src_, off_, cp);  // the text was validated up front
        return cp;
    }
    position here() const { return position{file_, line_, col_}; }
    // Advances one code point, keeping line and column (in code points) right.
    void advance() {
        if (at_end()) return;
        char32_t cp = 0;
        const std::size_t len = utf8_decode(src_, off_, cp);
        off_ += len == 0 ? 1 : len;
        if (cp == '\n') {
            ++line_;
            col_ = 1;
        } else {
            ++col_;
        }
    }
    bool fail(position pos, std::string message) {
        error_ = parse_error{std::move(pos), std::move(message)};
        return false;
    }

    bool skip_blanks();
    bool lex_number(token& t);
    bool lex_string(token& t);
    bool lex_escape(std::string& out, bool decode);
    bool lex_heredoc(token& t);
    void lex_ident(token& t);

    std::string_view src_;
    const std::string& file_;
    std::size_t off_ = 0;
    int line_ = 1;
    int col_ = 1;
    parse_error error_;
};

bool lexer::skip_blanks() {
    while (!at_end()) {
        const char c = cur();
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            advance();
        } else if (c == '#' || (c == '/' && cur(1) == '/')) {
            while (!at_end() && cur() != '\n') advance();
        } else if (c == '/' && cur(1) == '*') {
            const position start = here();
            advance();
            advance();
            while (!(cur() == '*' && cur(1) == '/')) {
                if (at_end()) {
                    return fail(here(), "unterminated /* comment (opened at line " +
                                            std::to_string(start.line) + ")");
                }
                advance();
            }
            advance();
            advance();
        } else if (c == '/') {
            return fail(here(), "unexpected '/' (comments start with '//', '#' or '/*')");
        } else {
            break;
        }
    }
    return true;
}

bool lexer::next(token& t) {
    t = token{};
    if (!skip_blanks()) return false;
    t.pos = here();
    if (at_end()) {
        t.kind = tok::eof;
        return true;
    }
    const char c = cur();
    switch (c) {
        case '{':
            t.kind = tok::lbrace;
            advance();
            return true;
        case '}':
            t.kind = tok::rbrace;
            advance();
            return true;
        case '[':
            t.kind = tok::lbrack;
            advance();
            return true;
        case ']':
            t.kind = tok::rbrack;
            advance();
            return true;
        case ',':
            t.kind = tok::comma;
            advance();
            return true;
        case '=':
            t.kind = tok::assign;
            advance();
            return true;
        case '"':
            return lex_string(t);
        case '<':
            return lex_heredoc(t);
        default:
            break;
    }
    if (is_decimal(c) || (c == '-' && is_decimal(cur(1))) || (c == '.' && is_decimal(cur(1)))) {
        return lex_number(t);
    }
    const char32_t cp = cur_cp();
    if (is_letter(cp)) {
        lex_ident(t);
        return true;
    }
    return fail(t.pos, "unexpected character " + quote_char(cp));
}

void lexer::lex_ident(token& t) {
    const std::size_t start = off_;
    advance();
    while (!at_end()) {
        const char32_t cp = cur_cp();
        if (!(is_letter(cp) || is_digit(cp) || cp == '-' || cp == '.')) break;
        advance();
    }
    t.text.assign(src_.substr(start, off_ - start));
    if (t.text == "true" || t.text == "false") {
        t.kind = tok::boolean;
        t.b = t.text == "true";
    } else {
        t.kind = tok::ident;
    }
}

// Numbers follow hcl's scanner: [-]digits[.digits][(e|E)[+-]digits], `.5`, 0x hex, and a
// leading 0 meaning octal (Go's ParseInt base 0). A '.' or exponent makes a float.
bool lexer::lex_number(token& t) {
    const std::size_t start = off_;
    bool negative = false;
    if (cur() == '-') {
        negative = true;
        advance();
    }
    bool is_float = false;
    bool hex = false;
    std::size_t digits_start = off_;
    if (cur() == '0' && (cur(1) == 'x' || cur(1) == 'X')) {
        hex = true;
        advance();
        advance();
        digits_start = off_;
        while (is_hex(cur())) advance();
        if (off_ == digits_start) {
            while (is_letter(cur_cp()) || is_digit(cur_cp())) advance();
            return fail(t.pos, "invalid hexadecimal number '" +
                                   std::string(src_.substr(start, off_ - start)) + "'");
        }
    } else {
        while (is_decimal(cur())) advance();
        if (cur() == '.') {
            is_float = true;
            advance();
            while (is_decimal(cur())) advance();
        }
        if (cur() == 'e' || cur() == 'E') {
            is_float = true;
            advance();
            if (cur() == '+' || cur() == '-') advance();
            const std::size_t exp_start = off_;
            while (is_decimal(cur())) advance();
            if (off_ == exp_start) {
                return fail(t.pos, "invalid number '" +
                                       std::string(src_.substr(start, off_ - start)) +
                                       "': exponent has no digits");
            }
        }
    }
    const std::size_t end = off_;
    t.text.assign(src_.substr(start, end - start));
    if (!at_end() && (is_letter(cur_cp()) || is_digit(cur_cp()) || cur() == '.')) {
        while (!at_end() && (is_letter(cur_cp()) || is_digit(cur_cp()) || cur() == '.')) {
            advance();
        }
        return fail(t.pos,
                    "invalid number '" + std::string(src_.substr(start, off_ - start)) + "'");
    }
    if (is_float) {
        t.kind = tok::floating;
        const char* first = src_.data() + start;
        const char* last = src_.data() + end;
        auto [ptr, ec] = std::from_chars(first, last, t.f);
        if (ec == std::errc::result_out_of_range) {
            // Go's ParseFloat: underflow quietly gives 0, overflow is an error.
            const auto e = t.text.find_first_of("eE");
            if (e != std::string::npos && t.text[e + 1] == '-') {
                t.f = negative ? -0.0 : 0.0;
                return true;
            }
            return fail(t.pos, "number " + t.text + " is out of range");
        }
        if (ec != std::errc() || ptr != last) return fail(t.pos, "invalid number " + t.text);
        return true;
    }
    t.kind = tok::integer;
    int base = 10;
    if (hex) {
        base = 16;
    } else if (src_[digits_start] == '0' && end - digits_start > 1) {
        base = 8;  // Go's ParseInt(s, 0, 0): a leading 0 means octal
        for (std::size_t k = digits_start; k < end; ++k) {
            if (!is_octal(src_[k])) return fail(t.pos, "invalid octal number " + t.text);
        }
    }
    // Accumulate the magnitude as unsigned so that INT64_MIN is representable.
    std::uint64_t mag = 0;
    const std::uint64_t limit = negative ? std::uint64_t{1} << 63 : (std::uint64_t{1} << 63) - 1;
    for (std::size_t k = digits_start; k < end; ++k) {
        const auto d = static_cast<std::uint64_t>(hex_value(src_[k]));
        if (mag > (limit - d) / static_cast<std::uint64_t>(base)) {
            return fail(t.pos, "integer " + t.text + " is out of range");
        }
        mag = mag * static_cast<std::uint64_t>(base) + d;
    }
    t.i = negative ? static_cast<std::int64_t>(0 - mag) : static_cast<std::int64_t>(mag);
    return true;
}

// One escape after a backslash (off_ is at the backslash). hcl's scanner validates escapes
// everywhere in a string, but only decodes them outside `${...}` (decode == false copies).
bool lexer::lex_escape(std::string& out, bool decode) {
    const position at = here();
    const std::size_t start = off_;
    advance();  // the backslash
    if (at_end() || cur() == '\n') return fail(at, "unterminated string");
    const char c = cur();
    auto bad = [&](const std::string& why) {
        return fail(at, "invalid escape sequence '" +
                            std::string(src_.substr(start, off_ - start)) + "' in string" +
                            (why.empty() ? "" : ": " + why));
    };
    int digits = 0;
    int base = 16;
    switch (c) {
        case 'a':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
        case 'v':
        case '\\':
        case '"':
            advance();
            if (!decode) {
                out.append(src_.substr(start, off_ - start));
                return true;
            }
            switch (c) {
                case 'a':
                    out += '\a';
                    break;
                case 'b':
                    out += '\b';
                    break;
                case 'f':
                    out += '\f';
                    break;
                case 'n':
                    out += '\n';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'v':
                    out += '\v';
                    break;
                default:
                    out += c;
                    break;
            }
            return true;
        case 'x':
            digits = 2;
            advance();
            break;
        case 'u':
            digits = 4;
            advance();
            break;
        case 'U':
            digits = 8;
            advance();
            break;
        default:
            if (is_octal(c)) {
                digits = 3;  // the first digit counts
                base = 8;
                break;
            }
            advance();
            return bad("");
    }
    std::uint32_t v = 0;
    for (int k = 0; k < digits; ++k) {
        const char d = cur();
        if (base == 8 ? !is_octal(d) : !is_hex(d)) {
            return bad("expected " + std::to_string(digits) + (base == 8 ? " octal" : " hex") +
                       " digits");
        }
        v = v * static_cast<std::uint32_t>(base) + static_cast<std::uint32_t>(hex_value(d));
        advance();
    }
    if (!decode) {
        out.append(src_.substr(start, off_ - start));
        return true;
    }
    if (base == 8 || c == 'x') {
        // Like Go's Unquote: a single raw byte (not necessarily valid UTF-8).
        if (v > 255) return bad("value above \\377");
        out += static_cast<char>(v);
        return true;
    }
    if (v > 0x10FFFF) return bad("beyond U+10FFFF");
    utf8_append(out, (v >= 0xD800 && v <= 0xDFFF) ? char32_t{0xFFFD} : char32_t{v});
    return true;
}

// A quoted string. `${ ... }` sequences are kept verbatim (quotes and newlines allowed inside),
// counting nested braces the way hcl does.
bool lexer::lex_string(token& t) {
    advance();  // opening quote
    int braces = 0;
    std::string out;
    for (;;) {
        if (at_end() || (cur() == '\n' && braces == 0)) {
            return fail(t.pos, "unterminated string (missing closing '\"' on this line)");
        }
        const char c = cur();
        if (c == '"' && braces == 0) {
            advance();
            break;
        }
        if (c == '\\') {
            if (!lex_escape(out, braces == 0)) return false;
            continue;
        }
        if (braces == 0 && c == '$' && cur(1) == '{') {
            braces = 1;
            out += "${";
            advance();
            advance();
            continue;
        }
        if (braces > 0 && c == '{') ++braces;
        if (braces > 0 && c == '}') --braces;
        const std::size_t from = off_;
        advance();
        out.append(src_.substr(from, off_ - from));
    }
    t.kind = tok::string;
    t.text = std::move(out);
    return true;
}

// `<<ANCHOR` / `<<-ANCHOR` heredocs. The terminator is a line holding only optional leading
// whitespace, the anchor and optional '\r's, and (as in hcl) it must end with a newline.
// The value is computed from the token text exactly the way hcl's unindentHeredoc does.
bool lexer::lex_heredoc(token& t) {
    const std::size_t start = off_;
    if (cur(1) != '<') return fail(t.pos, "unexpected character '<' (heredocs start with '<<')");
    advance();
    advance();
    const bool indented = cur() == '-';
    if (indented) advance();
    const std::size_t anchor_start = off_;
    while (!at_end() && (is_letter(cur_cp()) || is_digit(cur_cp()))) advance();
    const std::string anchor(src_.substr(anchor_start, off_ - anchor_start));
    const std::string opener(src_.substr(start, off_ - start));
    if (at_end()) return fail(here(), "unterminated heredoc " + opener + ": no text after it");
    if (cur() != '\n') {
        return fail(here(), "invalid character " + quote_char(cur_cp()) + " in heredoc anchor " +
                                opener + " (the anchor must be followed by a newline)");
    }
    if (anchor.empty()) return fail(t.pos, "empty heredoc anchor");
    // hcl compares the line length with the anchor *including* the '-', so for `<<-EOF` an
    // unindented `EOF` line does not end the heredoc.
    const std::size_t min_len = anchor.size() + (indented ? 1 : 0);
    auto is_terminator = [&](std::string_view line) {
        if (line.size() < min_len) return false;
        std::size_t k = 0;
        while (k < line.size() && (line[k] == ' ' || line[k] == '\t' || line[k] == '\v' ||
                                   line[k] == '\f' || line[k] == '\r')) {
            ++k;
        }
        if (line.substr(k, anchor.size()) != anchor) return false;
        for (k += anchor.size(); k < line.size(); ++k) {
            if (line[k] != '\r') return false;
        }
        return true;
    };
    std::size_t line_start = off_ + 1;
    std::size_t end = 0;
    for (;;) {
        const std::size_t nl = src_.find('\n', line_start);
        if (nl == std::string_view::npos) {
            const std::string opened = " (opened at line " + std::to_string(t.pos.line) + ")";
            while (!at_end()) advance();
            if (is_terminator(src_.substr(line_start))) {
                return fail(here(), "unterminated heredoc " + opener + opened + ": the closing '" +
                                        anchor + "' line must end with a newline");
            }
            return fail(here(), "unterminated heredoc " + opener + opened + ": no closing '" +
                                    anchor + "' line");
        }
        if (is_terminator(src_.substr(line_start, nl - line_start))) {
            end = nl + 1;
            break;
        }
        line_start = nl + 1;
    }
    while (off_ < end) advance();

    const std::string_view text = src_.substr(start, end - start);
    const std::size_t idx = text.find('\n');
    t.kind = tok::heredoc;
    if (!indented) {
        t.text.assign(text.substr(idx + 1, text.size() - idx + 1 - (idx + 1)));
        return true;
    }
    const std::string_view body = text.substr(idx + 1, text.size() - idx + 2 - (idx + 1));
    std::vector<std::string_view> lines;
    for (std::size_t from = 0;;) {
        const std::size_t nl = body.find('\n', from);
        if (nl == std::string_view::npos) {
            lines.push_back(body.substr(from));
            break;
        }
        lines.push_back(body.substr(from, nl - from));
        from = nl + 1;
    }
    const std::string_view prefix = lines.back();
    bool all_indented = true;
    for (const auto line : lines) {
        if (line.substr(0, prefix.size()) != prefix) {
            all_indented = false;
            break;
        }
    }
    if (!all_indented) {
        // hcl keeps the text as is, minus the terminator line's trailing blanks.
        std::string_view raw = text.substr(idx + 1, text.size() - idx + 1 - (idx + 1));
        while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t')) raw.remove_suffix(1);
        t.text.assign(raw);
        return true;
    }
    for (std::size_t k = 0; k + 1 < lines.size(); ++k) {
        t.text.append(lines[k].substr(prefix.size()));
        t.text += '\n';
    }
    return true;
}

// ---- parser --------------------------------------------------------------------------------

// What an open '{' or '[' belongs to, for "missing '}'" messages (built only on error).
struct opener {
    const char* kind = "";                     // "block", "object" or "list"
    const std::vector<token>* keys = nullptr;  // a block's name and labels
    const std::string* key = nullptr;          // an object literal's or list's key
    int line = 0;
};

// `service "web"`: the keys of an item as written.
std::string key_names(const std::vector<token>& keys) {
    std::string names;
    for (const auto& k : keys) {
        if (!names.empty()) names += ' ';
        names += k.kind == tok::string ? "\"" + k.text + "\"" : k.text;
    }
    return names;
}

class parser {
  public:
    parser(std::string_view src, const std::string& file) : lex_(src, file), file_(file) {}

    std::expected<value, parse_error> parse_file() {
        value root;
        root.pos = position{file_, 0, 0};
        root.how = origin::block;
        object body;
        if (!parse_body(body, 0, nullptr)) return std::unexpected(error_);
        root.data = std::move(body);
        return root;
    }

  private:
    bool fill() {
        if (have_) return true;
        if (!lex_.next(look_)) {
            error_ = lex_.error();
            return false;
        }
        have_ = true;
        return true;
    }
    bool take(token& t) {
        if (!fill()) return false;
        t = std::move(look_);
        have_ = false;
        return true;
    }
    bool fail(position pos, std::string message) {
        error_ = parse_error{std::move(pos), std::move(message)};
        return false;
    }
    bool check_depth(int depth, const position& pos) {
        if (depth <= max_nesting) return true;
        return fail(pos, "nesting deeper than " + std::to_string(max_nesting) + " levels");
    }
    static std::string unclosed(const opener& o, char closer) {
        const std::string name = o.keys != nullptr ? key_names(*o.keys) : *o.key;
        return std::string("missing '") + closer + "' to close " + o.kind + " '" + name +
               "' opened at line " + std::to_string(o.line);
    }

    bool parse_body(object& out, int depth, const opener* open);
    bool parse_item(object& out, int depth);
    bool parse_value(value& out, token& first, const std::string& key, int depth);
    bool parse_object(value& out, const token& lbrace, opener open, origin how, int depth);
    bool parse_list(value& out, const token& lbrack, const std::string& key, int depth);

    lexer lex_;
    const std::string& file_;
    token look_;
    bool have_ = false;
    parse_error error_;
};

// Items until the matching '}' (left for the caller) or, at the top level, end of file.
bool parser::parse_body(object& out, int depth, const opener* open) {
    for (;;) {
        if (!fill()) return false;
        if (look_.kind == tok::eof) {
            if (open != nullptr) return fail(look_.pos, unclosed(*open, '}'));
            return true;
        }
        if (look_.kind == tok::rbrace) {
            if (open != nullptr) return true;
            return fail(look_.pos, "unexpected '}' with no block open");
        }
        if (!parse_item(out, depth)) return false;
        // hcl allows (but does not need) a comma after each item.
        if (!fill()) return false;
        if (look_.kind == tok::comma) have_ = false;
    }
}

bool parser::parse_item(object& out, int depth) {
    std::vector<token> keys;
    for (;;) {
        token t;
        if (!take(t)) return false;
        if (t.kind == tok::ident || t.kind == tok::string) {
            keys.push_back(std::move(t));
            continue;
        }
        if (t.kind == tok::assign) {
            if (keys.empty()) return fail(t.pos, "expected a key before '='");
            if (keys.size() > 1) {
                return fail(t.pos, "expected '{' after '" + key_names(keys) +
                                       "' (labels are only allowed on blocks), found '='");
            }
            token v;
            if (!take(v)) return false;
            member m{keys[0].text, keys[0].pos, value{}};
            if (!parse_value(m.val, v, keys[0].text, depth + 1)) return false;
            out.push_back(std::move(m));
            return true;
        }
        if (t.kind == tok::lbrace) {
            if (keys.empty()) return fail(t.pos, "expected a key before '{'");
            // `a "x" "y" { }` nests one object per label (see value.hpp); each synthetic
            // object takes its position from its label, which is how to_hcl_json spots it.
            const int body_depth = depth + static_cast<int>(keys.size());
            if (!check_depth(body_depth, t.pos)) return false;
            value body;
            if (!parse_object(body, t, opener{"block", &keys, nullptr, t.pos.line}, origin::block,
                              body_depth)) {
                return false;
            }
            for (std::size_t k = keys.size() - 1; k > 0; --k) {
                value wrap;
                wrap.pos = keys[k].pos;
                wrap.how = origin::block;
                object one;
                one.push_back(member{std::move(keys[k].text), keys[k].pos, std::move(body)});
                wrap.data = std::move(one);
                body = std::move(wrap);
            }
            out.push_back(member{std::move(keys[0].text), keys[0].pos, std::move(body)});
            return true;
        }
        if (keys.empty()) return fail(t.pos, "expected a key, found " + describe(t));
        return fail(t.pos,
                    "expected '=' or '{' after '" + key_names(keys) + "', found " + describe(t));
    }
}

bool parser::parse_value(value& out, token& t, const std::string& key, int depth) {
    out.pos = t.pos;
    out.how = origin::literal;
    switch (t.kind) {
        case tok::integer:
            out.data = t.i;
            return true;
        case tok::floating:
            out.data = t.f;
            return true;
        case tok::boolean:
            out.data = t.b;
            return true;
        case tok::string:
        case tok::heredoc:
            out.data = std::move(t.text);
            return true;
        case tok::lbrace:
            if (!check_depth(depth, t.pos)) return false;
            return parse_object(out, t, opener{"object", nullptr, &key, t.pos.line},
                                origin::literal, depth);
        case tok::lbrack:
            if (!check_depth(depth, t.pos)) return false;
            return parse_list(out, t, key, depth);
        default:
            return fail(t.pos, "expected a value for '" + key + "', found " + describe(t));
    }
}

bool parser::parse_object(value& out, const token& lbrace, opener open, origin how, int depth) {
    object body;
    if (!parse_body(body, depth, &open)) return false;
    have_ = false;  // parse_body stopped at the '}'
    out.pos = lbrace.pos;
    out.how = how;
    out.data = std::move(body);
    return true;
}

bool parser::parse_list(value& out, const token& lbrack, const std::string& key, int depth) {
    array items;
    bool need_comma = false;
    for (;;) {
        token t;
        if (!take(t)) return false;
        if (t.kind == tok::eof) {
            return fail(t.pos, unclosed(opener{"list", nullptr, &key, lbrack.pos.line}, ']'));
        }
        if (need_comma && t.kind != tok::comma && t.kind != tok::rbrack) {
            return fail(t.pos, "expected ',' or ']' after an element of list '" + key +
                                   "', found " + describe(t));
        }
        switch (t.kind) {
            case tok::integer:
            case tok::floating:
            case tok::boolean:
            case tok::string:
            case tok::heredoc:
            case tok::lbrace: {
                value v;
                if (!parse_value(v, t, key, depth + 1)) return false;
                items.push_back(std::move(v));
                need_comma = true;
                break;
            }
            case tok::lbrack: {
                // hcl quirk: no comma is needed after a nested list (`[[1] [2]]` is valid).
                value v;
                if (!parse_value(v, t, key, depth + 1)) return false;
                items.push_back(std::move(v));
                break;
            }
            case tok::comma:
                need_comma = false;  // hcl tolerates `[1,,2]` and `[,]`
                break;
            case tok::rbrack:
                out.pos = lbrack.pos;
                out.how = origin::literal;
                out.data = std::move(items);
                return true;
            default:
                return fail(t.pos, "unexpected " + describe(t) + " in list '" + key + "'");
        }
    }
}

// ---- text checks ---------------------------------------------------------------------------

// hcl's scanner rejects NUL and malformed UTF-8 anywhere, comments included.
std::optional<parse_error> check_text(std::string_view s, const std::string& file) {
    int line = 1;
    int col = 1;
    for (std::size_t i = 0; i < s.size();) {
        char32_t cp = 0;
        const std::size_t len = utf8_decode(s, i, cp);
        if (len == 0) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "0x%02X", static_cast<unsigned char>(s[i]));
            return parse_error{position{file, line, col}, std::string("invalid UTF-8 byte ") + buf};
        }
        if (cp == 0) return parse_error{position{file, line, col}, "unexpected NUL character"};
        i += len;
        if (cp == '\n') {
            ++line;
            col = 1;
        } else {
            ++col;
        }
    }
    return std::nullopt;
}

bool looks_like_json(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        char32_t cp = 0;
        const std::size_t len = utf8_decode(s, i, cp);
        if (len == 0) return false;
        if (cp == '{') return true;
        if (!is_unicode_space(cp)) return false;
        i += len;
    }
    return false;
}

}  // namespace

std::expected<value, parse_error> parse_hcl(std::string_view text, const std::string& file) {
    try {
        if (looks_like_json(text)) return parse_json(text, file);
        // Like hcl, treat CRLF as LF. Only '\r's before '\n' go, so lines and columns stay.
        std::string src;
        src.reserve(text.size());
        for (std::size_t i = 0; i < text.size(); ++i) {
            if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;
            src += text[i];
        }
        if (auto bad = check_text(src, file)) return std::unexpected(std::move(*bad));
        parser p(src, file);
        return p.parse_file();
    } catch (const std::exception& e) {
        return std::unexpected(parse_error{position{file, 0, 0}, e.what()});
    }
}

// ---- to_hcl_json: hcl's decoder replayed -----------------------------------------------------
//
// hcl.Decode(&interface{}) works on hcl's AST (object items with one or more keys), not on
// our tree, so the tree is first turned back into that AST: labelled blocks regain their key
// lists, and for JSON input hcl's JSON "flattening" is applied. Then the decoder's rules are
// replayed on Go-like values: at the top level and directly inside lists an object becomes a
// map, anywhere else a list of maps; a repeated key decodes *into* the earlier value (so
// lists and lists of maps append, a string slot converts a later number to text, ...); an
// item with several keys decodes every item starting with the same key (compared
// case-insensitively) in one go.
// Approximations: the spelling of an integer (hex, octal, leading zeros) is not in our tree,
// so where hcl converts a NUMBER token's text to a string we print it in decimal; case folding
// is ASCII-only.
namespace {

struct h_node;

struct h_item {
    std::vector<std::string> keys;
    h_node* val = nullptr;
};

struct h_node {
    enum class kind : std::uint8_t { literal, object, list } k = kind::literal;
    const value* lit = nullptr;  // literal; nullptr = JSON null (hcl: an empty STRING token)
    std::vector<h_item> items;   // object
    std::vector<h_node*> elems;  // list
};

// Reference to whatever hcl's decoder is looking at.
struct h_ref {
    enum class kind : std::uint8_t { item, item_list, node } k = kind::node;
    const h_item* item = nullptr;
    const std::vector<h_item>* items = nullptr;
    const h_node* node = nullptr;
};

struct go_value {
    enum class kind : std::uint8_t {
        nil,
        boolean,
        integer,
        floating,
        string,
        any_slice,  // []interface{}
        map_slice,  // []map[string]interface{}
        map,        // map[string]interface{}
    } k = kind::nil;
    bool b = false;
    std::int64_t i = 0;
    double f = 0;
    std::string s;
    std::vector<go_value> elems;
    std::map<std::string, go_value> fields;
};

char ascii_lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool ascii_equal_fold(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t k = 0; k < a.size(); ++k) {
        if (ascii_lower(a[k]) != ascii_lower(b[k])) return false;
    }
    return true;
}

// Go's rule for '_' in base-0 integers: only between digits or after a base prefix.
bool go_underscores_ok(std::string_view s) {
    char saw = '^';  // '^' start, '0' digit or prefix, '_' underscore, '!' anything else
    std::size_t i = 0;
    bool hex = false;
    if (s.size() >= 2 && s[0] == '0') {
        const char p = ascii_lower(s[1]);
        if (p == 'x' || p == 'o' || p == 'b') {
            i = 2;
            saw = '0';
            hex = p == 'x';
        }
    }
    for (; i < s.size(); ++i) {
        const char c = s[i];
        if (is_decimal(c) || (hex && is_hex(c))) {
            saw = '0';
        } else if (c == '_') {
            if (saw != '0') return false;
            saw = '_';
        } else {
            if (saw == '_') return false;
            saw = '!';
        }
    }
    return saw != '_';
}

// Go's strconv.ParseInt(s, 0, 64), which hcl applies to strings decoded into an int.
std::optional<std::int64_t> go_parse_int(std::string_view s) {
    bool negative = false;
    if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
        negative = s[0] == '-';
        s.remove_prefix(1);
    }
    if (!go_underscores_ok(s)) return std::nullopt;
    int base = 10;
    if (s.size() >= 2 && s[0] == '0') {
        const char p = ascii_lower(s[1]);
        base = p == 'x' ? 16 : p == 'b' ? 2 : 8;
        s.remove_prefix(p == 'x' || p == 'o' || p == 'b' ? 2 : 1);
    }
    const std::uint64_t limit = negative ? std::uint64_t{1} << 63 : (std::uint64_t{1} << 63) - 1;
    std::uint64_t mag = 0;
    bool any = false;
    for (const char c : s) {
        if (c == '_') continue;
        int d = 99;
        if (is_decimal(c)) d = c - '0';
        if (c >= 'a' && c <= 'z') d = c - 'a' + 10;
        if (c >= 'A' && c <= 'Z') d = c - 'A' + 10;
        if (d >= base) return std::nullopt;
        const auto ud = static_cast<std::uint64_t>(d);
        if (mag > (limit - ud) / static_cast<std::uint64_t>(base)) return std::nullopt;
        mag = mag * static_cast<std::uint64_t>(base) + ud;
        any = true;
    }
    if (!any) return std::nullopt;
    return negative ? static_cast<std::int64_t>(0 - mag) : static_cast<std::int64_t>(mag);
}

class hcl_replay {
  public:
    // Builds hcl's AST for `root`; false if hcl could not have produced it (e.g. JSON input
    // whose shape hcl's JSON parser mangles).
    bool build(const value& root) {
        if (!root.is_object()) return false;
        json_ = root.how == origin::literal;
        root_ = convert(root);
        if (root_ == nullptr) return false;
        if (json_) flatten_walk(*root_);
        return true;
    }

    std::optional<go_value> run() {
        go_value out;
        h_ref r;
        r.k = h_ref::kind::item_list;
        r.items = &root_->items;
        if (!decode(r, out, true)) return std::nullopt;
        return out;
    }

  private:
    h_node& make() { return nodes_.emplace_back(); }

    // A labelled block's synthetic object: block origin, exactly one member, and the same
    // position as that member's key (a real block's object starts at its '{').
    static bool is_label_object(const value& v) {
        if (v.how != origin::block || !v.is_object() || v.pos.line == 0) return false;
        const object& o = v.as_object();
        if (o.size() != 1) return false;
        const member& m = o.front();
        return m.pos.line == v.pos.line && m.pos.column == v.pos.column &&
               m.val.how == origin::block && m.val.is_object();
    }

    h_node* convert(const value& v) {
        if (v.is_object()) {
            h_node& n = make();
            n.k = h_node::kind::object;
            for (const member& m : v.as_object()) {
                h_item item;
                item.keys.push_back(m.key);
                const value* inner = &m.val;
                while (!json_ && is_label_object(*inner)) {
                    const member& label = inner->as_object().front();
                    item.keys.push_back(label.key);
                    inner = &label.val;
                }
                item.val = convert(*inner);
                if (item.val == nullptr) return nullptr;
                n.items.push_back(std::move(item));
            }
            return &n;
        }
        if (v.is_array()) {
            h_node& n = make();
            n.k = h_node::kind::list;
            for (const value& e : v.as_array()) {
                if (json_) {
                    // hcl's JSON parser skips booleans in lists, and cannot parse nested lists
                    // or nulls there.
                    if (e.is_bool()) continue;
                    if (e.is_array() || e.is_null()) return nullptr;
                }
                h_node* c = convert(e);
                if (c == nullptr) return nullptr;
                n.elems.push_back(c);
            }
            return &n;
        }
        h_node& n = make();
        n.k = h_node::kind::literal;
        n.lit = v.is_null() ? nullptr : &v;
        return &n;
    }

    // hcl's JSON parser flattens, pre-order, every object whose members are all objects (and
    // every non-empty list whose elements are all objects) into the enclosing item list.
    void flatten_walk(h_node& n) {
        if (n.k == h_node::kind::object) {
            flatten_items(n.items);
            for (h_item& item : n.items) flatten_walk(*item.val);
        } else if (n.k == h_node::kind::list) {
            for (h_node* e : n.elems) flatten_walk(*e);
        }
    }

    void flatten_items(std::vector<h_item>& items) {
        std::vector<h_item> out;
        std::vector<h_item> frontier(items.begin(), items.end());
        while (!frontier.empty()) {
            h_item item = std::move(frontier.back());
            frontier.pop_back();
            const h_node& v = *item.val;
            bool expand = false;
            if (v.k == h_node::kind::object && !v.items.empty()) {
                expand = true;
                for (const h_item& sub : v.items) {
                    if (sub.val->k != h_node::kind::object) expand = false;
                }
                if (expand) {
                    for (const h_item& sub : v.items) {
                        h_item next;
                        next.keys = item.keys;
                        next.keys.insert(next.keys.end(), sub.keys.begin(), sub.keys.end());
                        next.val = sub.val;
                        frontier.push_back(std::move(next));
                    }
                }
            } else if (v.k == h_node::kind::list && !v.elems.empty()) {
                expand = true;
                for (const h_node* e : v.elems) {
                    if (e->k != h_node::kind::object) expand = false;
                }
                if (expand) {
                    for (h_node* e : v.elems) frontier.push_back(h_item{item.keys, e});
                }
            }
            if (!expand) out.push_back(std::move(item));
        }
        items.assign(std::make_move_iterator(out.rbegin()), std::make_move_iterator(out.rend()));
    }

    bool fail(std::string why) {
        error_ = std::move(why);
        return false;
    }

    bool decode(const h_ref& n, go_value& slot, bool iface);
    bool decode_interface(const h_ref& n, go_value& slot);
    bool decode_map(const h_ref& n, go_value& slot);
    bool decode_slice(const h_ref& n, go_value& slot);
    bool decode_scalar(const h_ref& n, go_value& slot);

    std::deque<h_node> nodes_;
    std::deque<std::vector<h_item>> filtered_;
    h_node* root_ = nullptr;
    bool json_ = false;
    std::vector<bool> stack_;  // kinds being decoded into: true = a slice
    std::string error_;
};

bool hcl_replay::decode(const h_ref& n, go_value& slot, bool iface) {
    using K = go_value::kind;
    if (iface && slot.k == K::nil) return decode_interface(n, slot);
    // hcl pushes the kind of every concrete value it decodes into; only "is it a slice" and
    // "is the stack empty" matter for the shapes.
    stack_.push_back(slot.k == K::any_slice || slot.k == K::map_slice);
    bool ok = false;
    switch (slot.k) {
        case K::map:
            ok = decode_map(n, slot);
            break;
        case K::any_slice:
        case K::map_slice:
            ok = decode_slice(n, slot);
            break;
        default:
            ok = decode_scalar(n, slot);
            break;
    }
    stack_.pop_back();
    return ok;
}

bool hcl_replay::decode_interface(const h_ref& n, go_value& slot) {
    using K = go_value::kind;
    const bool is_node = n.k == h_ref::kind::node;
    if (n.k == h_ref::kind::item_list || (is_node && n.node->k == h_node::kind::object)) {
        // The rule that makes blocks lists: an object is a map only at the top or in a list.
        slot.k = stack_.empty() || stack_.back() ? K::map : K::map_slice;
    } else if (is_node && n.node->k == h_node::kind::list) {
        slot.k = K::any_slice;
    } else if (is_node) {
        const value* v = n.node->lit;
        if (v == nullptr || v->is_string()) {
            slot.k = K::string;
        } else if (v->is_bool()) {
            slot.k = K::boolean;
        } else if (v->is_int()) {
            slot.k = K::integer;
        } else if (v->is_float()) {
            slot.k = K::floating;
        } else {
            return fail("cannot decode into interface");
        }
    } else {
        return fail("cannot decode an object item into interface");
    }
    return decode(n, slot, true);
}

bool hcl_replay::decode_map(const h_ref& n, go_value& slot) {
    std::vector<h_item> single;
    const std::vector<h_item>* items = nullptr;
    if (n.k == h_ref::kind::item) {
        single.push_back(*n.item);
        items = &single;
    } else if (n.k == h_ref::kind::item_list) {
        items = n.items;
    } else if (n.node->k == h_node::kind::object) {
        items = &n.node->items;
    } else {
        return fail("not an object type for map");
    }
    std::set<std::string> done;
    for (const h_item& item : *items) {
        if (item.keys.empty()) return fail("map must have string keys");
        const std::string& key = item.keys.front();
        if (done.contains(key)) continue;
        h_ref v;
        if (item.keys.size() > 1) {
            // Every item of this list whose first key matches, with that key removed.
            auto& filtered = filtered_.emplace_back();
            for (const h_item& other : *items) {
                if (other.keys.empty() || !ascii_equal_fold(other.keys.front(), key)) continue;
                filtered.push_back(h_item{
                    std::vector<std::string>(other.keys.begin() + 1, other.keys.end()), other.val});
            }
            v.k = h_ref::kind::item_list;
            v.items = &filtered;
            done.insert(key);
        } else {
            v.k = h_ref::kind::node;
            v.node = item.val;
        }
        if (!decode(v, slot.fields[key], true)) return false;
    }
    return true;
}

bool hcl_replay::decode_slice(const h_ref& n, go_value& slot) {
    using K = go_value::kind;
    std::vector<h_ref> elems;
    if (n.k == h_ref::kind::item_list) {
        for (const h_item& item : *n.items) {
            h_ref r;
            r.k = h_ref::kind::item;
            r.item = &item;
            elems.push_back(r);
        }
    } else if (n.k == h_ref::kind::node && n.node->k == h_node::kind::object) {
        elems.push_back(n);
    } else if (n.k == h_ref::kind::node && n.node->k == h_node::kind::list) {
        for (const h_node* e : n.node->elems) {
            h_ref r;
            r.node = e;
            elems.push_back(r);
        }
    } else {
        return fail("unknown slice type");
    }
    const bool iface = slot.k == K::any_slice;
    for (const h_ref& e : elems) {
        go_value elem;
        if (!iface) elem.k = K::map;
        if (!decode(e, elem, iface)) return false;
        slot.elems.push_back(std::move(elem));
    }
    return true;
}

bool hcl_replay::decode_scalar(const h_ref& n, go_value& slot) {
    using K = go_value::kind;
    if (n.k != h_ref::kind::node || n.node->k != h_node::kind::literal) {
        return fail("unknown type for a scalar");
    }
    const value* v = n.node->lit;
    const std::string empty;
    const std::string* str = v == nullptr ? &empty : v->is_string() ? &v->as_string() : nullptr;
    switch (slot.k) {
        case K::boolean:
            if (v == nullptr || !v->is_bool()) return fail("unknown type for a bool");
            slot.b = std::get<bool>(v->data);
            return true;
        case K::integer:
            if (v != nullptr && v->is_int()) {
                slot.i = std::get<std::int64_t>(v->data);
                return true;
            }
            if (str != nullptr) {
                const auto parsed = go_parse_int(*str);
                if (!parsed) return fail("strconv.ParseInt: invalid syntax");
                slot.i = *parsed;
                return true;
            }
            return fail("unknown type for an int");
        case K::floating:
            if (v != nullptr && v->is_float()) {
                slot.f = std::get<double>(v->data);
                return true;
            }
            if (v != nullptr && v->is_int()) {
                slot.f = static_cast<double>(std::get<std::int64_t>(v->data));
                return true;
            }
            return fail("unknown type for a float");
        case K::string:
            if (v != nullptr && v->is_int()) {
                slot.s = std::to_string(std::get<std::int64_t>(v->data));
                return true;
            }
            if (str == nullptr) return fail("unknown type for string");
            slot.s = *str;
            return true;
        default:
            return fail("unknown kind");
    }
}

nlohmann::json to_json(const go_value& g) {
    using K = go_value::kind;
    switch (g.k) {
        case K::nil:
            return nullptr;
        case K::boolean:
            return g.b;
        case K::integer:
            return g.i;
        case K::floating:
            return g.f;
        case K::string:
            return sanitize_utf8(g.s);
        case K::any_slice:
        case K::map_slice: {
            nlohmann::json out = nlohmann::json::array();
            for (const go_value& e : g.elems) out.push_back(to_json(e));
            return out;
        }
        case K::map: {
            nlohmann::json out = nlohmann::json::object();
            for (const auto& [k, e] : g.fields) out[sanitize_utf8(k)] = to_json(e);
            return out;
        }
    }
    return nullptr;
}

}  // namespace

nlohmann::json to_hcl_json(const value& root) {
    try {
        hcl_replay replay;
        if (replay.build(root)) {
            if (auto decoded = replay.run()) return to_json(*decoded);
        }
    } catch (const std::exception&) {
        // fall through: reported like a decode error
    }
    return nlohmann::json(nlohmann::json::value_t::discarded);
}

}  // namespace meshfed::config
