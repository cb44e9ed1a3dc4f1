#include "tls/names.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "tls/settings.hpp"

namespace meshfed::tls {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

bool valid_label(std::string_view l) {
    if (l.empty() || l.size() > 63) return false;
    return std::all_of(l.begin(), l.end(),
                       [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; });
}

}  // namespace

std::string server_name(std::string_view dc, std::string_view domain) {
    return fmt::format("server.{}.{}", dc, domain);
}

std::string node_server_name(std::string_view node, std::string_view dc, std::string_view domain) {
    return fmt::format("{}.server.{}.{}", node, dc, domain);
}

std::optional<server_name_parts> parse_server_name(std::string_view sni, std::string_view domain) {
    std::string name = lower(sni);
    if (!name.empty() && name.back() == '.') name.pop_back();
    std::string dom = lower(domain);
    if (!dom.empty() && dom.back() == '.') dom.pop_back();
    if (dom.empty() || name.size() <= dom.size() + 1) return std::nullopt;
    if (!name.ends_with("." + dom)) return std::nullopt;
    std::string_view head(name.data(), name.size() - dom.size() - 1);  // [<node>.]server.<dc>
    auto dot = head.rfind('.');
    if (dot == std::string_view::npos) return std::nullopt;
    std::string_view dc = head.substr(dot + 1);
    std::string_view rest = head.substr(0, dot);  // [<node>.]server
    if (!valid_label(dc)) return std::nullopt;
    server_name_parts parts;
    parts.dc = std::string(dc);
    if (rest == "server") return parts;
    if (!rest.ends_with(".server")) return std::nullopt;
    std::string_view node = rest.substr(0, rest.size() - std::string_view(".server").size());
    if (!valid_label(node)) return std::nullopt;
    parts.node = std::string(node);
    return parts;
}

bool is_valid_min_version(const std::string& v) {
    static constexpr std::string_view ok[] = {"TLSv1_0", "TLSv1_1", "TLSv1_2", "TLSv1_3",
                                              "tls10",   "tls11",   "tls12",   "tls13"};
    return std::find(std::begin(ok), std::end(ok), v) != std::end(ok);
}

}  // namespace meshfed::tls
