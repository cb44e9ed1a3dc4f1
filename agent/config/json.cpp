// JSON front end: nlohmann-json's SAX parser building the value tree of value.hpp.
//
// nlohmann's SAX interface does not say where a token is, so the parser reads the text
// through an iterator that publishes how far it got; every callback fires right after its
// token was read, and walking back from there over the token gives its first character.
//
// Choices: the top level must be an object (as for hcl and Consul). Integers that do not fit
// in int64 (and floats that overflow a double) are errors, as they are for hcl (Go's ParseInt /
// ParseFloat); integers are int64, anything with '.', 'e' or 'E' is a double. Duplicate keys
// are kept, in order. Nesting is bounded by max_nesting below the top-level object.
#include <cmath>
#include <iterator>
#include <utility>

#include <nlohmann/json.hpp>

#include "agent/config/hcl.hpp"

namespace meshfed::config {
namespace {

// An input iterator over the text that stores its position in *sink on every step.
class tracking_iterator {
  public:
    using iterator_category = std::input_iterator_tag;
    using value_type = char;
    using difference_type = std::ptrdiff_t;
    using pointer = const char*;
    using reference = const char&;

    tracking_iterator() = default;
    tracking_iterator(const char* p, const char** sink) : p_(p), sink_(sink) {}

    reference operator*() const { return *p_; }
    tracking_iterator& operator++() {
        ++p_;
        if (sink_ != nullptr) *sink_ = p_;
        return *this;
    }
    tracking_iterator operator++(int) {
        tracking_iterator old = *this;
        ++*this;
        return old;
    }
    bool operator==(const tracking_iterator& other) const { return p_ == other.p_; }

  private:
    const char* p_ = nullptr;
    const char** sink_ = nullptr;
};

bool is_number_char(char c) {
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

// Turns byte offsets into line:column (columns in code points). Offsets are asked for in
// nearly increasing order, so a forward-moving cursor keeps this linear.
class locator {
  public:
    locator(std::string_view text, const std::string& file) : text_(text), file_(file) {}

    position at(std::size_t off) {
        off = std::min(off, text_.size());
        if (off >= off_) {
            for (; off_ < off; ++off_) step(text_[off_]);
            return position{file_, line_, col_};
        }
        // Behind the cursor (the start of the token just read): walk back within the line.
        int col = col_;
        for (std::size_t k = off_; k > off; --k) {
            const char c = text_[k - 1];
            if (c == '\n') return slow(off);
            if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) --col;
        }
        return position{file_, line_, col};
    }

  private:
    void step(char c) {
        if (c == '\n') {
            ++line_;
            col_ = 1;
        } else if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
            ++col_;
        }
    }
    position slow(std::size_t off) const {
        int line = 1;
        int col = 1;
        for (std::size_t k = 0; k < off; ++k) {
            if (text_[k] == '\n') {
                ++line;
                col = 1;
            } else if ((static_cast<unsigned char>(text_[k]) & 0xC0) != 0x80) {
                ++col;
            }
        }
        return position{file_, line, col};
    }

    std::string_view text_;
    const std::string& file_;
    std::size_t off_ = 0;
    int line_ = 1;
    int col_ = 1;
};

// "[json.exception.parse_error.101] parse error at line 1, column 5: syntax error while
// parsing value - unexpected end of input; expected ..." -> "unexpected end of input;
// expected ... (while parsing value)": our position replaces nlohmann's.
std::string clean_message(const std::string& what) {
    std::string msg = what;
    if (const auto col = msg.find(", column "); col != std::string::npos) {
        if (const auto colon = msg.find(": ", col); colon != std::string::npos) {
            msg = msg.substr(colon + 2);
        }
    } else if (const auto bracket = msg.find("] "); bracket != std::string::npos) {
        msg = msg.substr(bracket + 2);
    }
    // "; last read: '...'" quotes nlohmann's token buffer, which is often misleading.
    if (const auto last = msg.find("; last read: '"); last != std::string::npos) {
        const auto close = msg.find('\'', last + 14);
        msg.erase(last, close == std::string::npos ? std::string::npos : close + 1 - last);
    }
    const std::string prefix = "syntax error while parsing ";
    if (msg.starts_with(prefix)) {
        const auto dash = msg.find(" - ");
        if (dash != std::string::npos) {
            msg = msg.substr(dash + 3) + " (while parsing " +
                  msg.substr(prefix.size(), dash - prefix.size()) + ")";
        }
    }
    return "invalid JSON: " + msg;
}

class tree_builder {
  public:
    using json = nlohmann::json;

    tree_builder(std::string_view text, const std::string& file, const char* const* cursor)
        : text_(text), cursor_(cursor), where_(text, file) {}

    bool null() { return put(value{{}, pos_back(4)}); }
    bool boolean(bool b) { return put(value{b, pos_back(b ? 4 : 5)}); }
    bool number_integer(json::number_integer_t v) {
        return put(value{static_cast<std::int64_t>(v), number_pos()});
    }
    bool number_unsigned(json::number_unsigned_t v) {
        const position pos = number_pos();
        if (v > static_cast<json::number_unsigned_t>(INT64_MAX)) {
            return fail(pos, "integer " + std::to_string(v) + " is out of range");
        }
        return put(value{static_cast<std::int64_t>(v), pos});
    }
    bool number_float(json::number_float_t v, const json::string_t& text) {
        const position pos = number_pos();
        // nlohmann falls back to a double for integers beyond 64 bits; hcl rejects them.
        if (text.find_first_of(".eE") == std::string::npos) {
            return fail(pos, "integer " + text + " is out of range");
        }
        if (!std::isfinite(v)) return fail(pos, "number " + text + " is out of range");
        return put(value{static_cast<double>(v), pos});
    }
    bool string(json::string_t& s) { return put(value{std::move(s), string_pos()}); }
    bool binary(json::binary_t&) { return fail(where_.at(offset()), "binary values"); }
    bool start_object(std::size_t) { return open(object{}); }
    bool end_object() { return close(); }
    bool start_array(std::size_t) { return open(array{}); }
    bool end_array() { return close(); }
    bool key(json::string_t& k) {
        auto& members = std::get<object>(stack_.back()->data);
        members.push_back(member{std::move(k), string_pos(), value{}});
        return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& ex) {
        std::string msg = clean_message(ex.what());
        if (msg.find("end of input;") != std::string::npos) {
            return fail(where_.at(text_.size()), std::move(msg));
        }
        // Point at the last character read, except that after a number nlohmann has read
        // one character too many: then point at the start of the number.
        std::size_t off = offset() > 0 ? offset() - 1 : 0;
        const bool about_number = msg.find("number") != std::string::npos;
        if (about_number) {
            if (off > 0 && !is_number_char(text_[off]) && is_number_char(text_[off - 1])) --off;
            while (off > 0 && is_number_char(text_[off - 1])) --off;
        }
        if (ex.id == 406) {  // out_of_range: a double overflow
            std::size_t end = off;
            while (end < text_.size() && is_number_char(text_[end])) ++end;
            msg = "number " + std::string(text_.substr(off, end - off)) + " is out of range";
        }
        return fail(where_.at(off), std::move(msg));
    }

    bool failed() const { return failed_; }
    const meshfed::config::parse_error& error() const { return error_; }
    value take_root() { return std::move(root_); }

  private:
    std::size_t offset() const { return static_cast<std::size_t>(*cursor_ - text_.data()); }
    position pos_back(std::size_t len) {
        const std::size_t end = offset();
        return where_.at(end >= len ? end - len : 0);
    }
    // A string token just ended at the cursor with its closing quote; its opening quote is
    // the nearest earlier quote not escaped by an odd number of backslashes.
    position string_pos() {
        std::size_t k = offset();
        if (k > 0) --k;  // the closing quote
        while (k > 0) {
            --k;
            if (text_[k] != '"') continue;
            std::size_t slashes = 0;
            while (k >= slashes + 1 && text_[k - slashes - 1] == '\\') ++slashes;
            if (slashes % 2 == 0) break;
        }
        return where_.at(k);
    }
    // nlohmann reads one character past a number unless the input ended.
    position number_pos() {
        std::size_t k = offset();
        if (k > 0 && !is_number_char(text_[k - 1])) --k;
        while (k > 0 && is_number_char(text_[k - 1])) --k;
        return where_.at(k);
    }

    bool fail(position pos, std::string message) {
        if (!failed_) error_ = meshfed::config::parse_error{std::move(pos), std::move(message)};
        failed_ = true;
        return false;
    }

    // Where the next value goes: the root, the end of the open array, or the member whose
    // key was just read. Returns nullptr if the top level is not an object.
    value* slot() {
        if (stack_.empty()) return seen_root_ ? nullptr : &root_;
        value& parent = *stack_.back();
        if (auto* items = std::get_if<array>(&parent.data)) return &items->emplace_back();
        return &std::get<object>(parent.data).back().val;
    }

    bool put(value v) {
        if (stack_.empty()) {
            return fail(v.pos, std::string("a JSON config must be an object at the top level, "
                                           "found a ") +
                                   v.type_name());
        }
        value* dst = slot();
        if (dst == nullptr) return fail(v.pos, "more than one top-level value");
        *dst = std::move(v);
        return true;
    }

    template <typename Container>
    bool open(Container empty) {
        const position pos = where_.at(offset() > 0 ? offset() - 1 : 0);
        if (stack_.empty() && !std::is_same_v<Container, object>) {
            return fail(pos, "a JSON config must be an object at the top level, found a list");
        }
        if (stack_.size() > static_cast<std::size_t>(max_nesting)) {
            return fail(pos, "nesting deeper than " + std::to_string(max_nesting) + " levels");
        }
        value* dst = slot();
        if (dst == nullptr) return fail(pos, "more than one top-level value");
        seen_root_ = true;
        dst->data = std::move(empty);
        dst->pos = pos;
        dst->how = origin::literal;
        // Safe: a parent's vector does not grow while this child is open.
        stack_.push_back(dst);
        return true;
    }

    bool close() {
        stack_.pop_back();
        return true;
    }

    std::string_view text_;
    const char* const* cursor_;
    locator where_;
    value root_;
    bool seen_root_ = false;
    std::vector<value*> stack_;
    bool failed_ = false;
    meshfed::config::parse_error error_;
};

}  // namespace

std::expected<value, parse_error> parse_json(std::string_view text, const std::string& file) {
    try {
        const char* cursor = text.data();
        tree_builder builder(text, file, &cursor);
        const tracking_iterator first(text.data(), &cursor);
        const tracking_iterator last(text.data() + text.size(), nullptr);
        const bool ok = nlohmann::json::sax_parse(first, last, &builder);
        if (builder.failed()) return std::unexpected(builder.error());
        if (!ok) return std::unexpected(parse_error{position{file, 0, 0}, "invalid JSON"});
        return builder.take_root();
    } catch (const std::exception& e) {
        return std::unexpected(parse_error{position{file, 0, 0}, e.what()});
    }
}

}  // namespace meshfed::config
