#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <unistd.h>

#include "agent/config/config.hpp"
#include "agent/config/decode.hpp"
#include "agent/config/hcl.hpp"
#include "agent/config/validate.hpp"

namespace meshfed::config {
namespace {

namespace fs = std::filesystem;

// Config files are small; anything larger is a mistake (or hostile) and is refused unread.
constexpr std::uintmax_t max_config_file_size = 16 * 1024 * 1024;

bool has_config_extension(const fs::path& p) {
    auto ext = p.extension().string();
    return ext == ".hcl" || ext == ".json";
}

// Repeated keys within one file are mistakes Consul would silently resolve; we name them.
void check_duplicates(const value& v, diagnostics& d) {
    if (v.is_array()) {
        for (const auto& item : v.as_array()) check_duplicates(item, d);
        return;
    }
    if (!v.is_object()) return;
    std::map<std::string, const member*> seen;
    for (const auto& m : v.as_object()) {
        auto [it, fresh] = seen.emplace(m.key, &m);
        if (!fresh) {
            const char* what = m.val.how == origin::block ? "block" : "key";
            d.error(m.pos, fmt::format("duplicate {} '{}' (first defined at line {})", what, m.key,
                                       it->second->pos.line));
        }
        check_duplicates(m.val, d);
    }
}

// Consul's merge of config sources: objects merge key by key, lists concatenate, and any other
// value from a later source replaces the earlier one.
void merge_into(value& dst, const value& src) {
    auto& dst_members = std::get<object>(dst.data);
    for (const auto& m : src.as_object()) {
        auto it = std::find_if(dst_members.begin(), dst_members.end(),
                               [&](const member& x) { return x.key == m.key; });
        if (it == dst_members.end()) {
            dst_members.push_back(m);
        } else if (it->val.is_object() && m.val.is_object()) {
            merge_into(it->val, m.val);
        } else if (it->val.is_array() && m.val.is_array()) {
            auto& a = std::get<array>(it->val.data);
            a.insert(a.end(), m.val.as_array().begin(), m.val.as_array().end());
        } else {
            *it = m;
        }
    }
}

std::string host_name() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof(buf) - 1) != 0) return "meshfed";
    return buf;
}

}  // namespace

load_result load_config_sources(const std::vector<source>& sources, const load_options& opts) {
    diagnostics d;
    load_result result;
    value merged;
    merged.data = object{};
    for (const auto& src : sources) {
        result.config.sources.push_back(src.name);
        fs::path p(src.name);
        std::expected<value, parse_error> tree;
        if (p.extension() == ".json") {
            tree = parse_json(src.text, src.name);
        } else if (p.extension() == ".hcl") {
            tree = parse_hcl(src.text, src.name);
        } else {
            d.errors.push_back(fmt::format(
                "{}: unsupported config file extension (config files must end in .hcl or .json)",
                src.name));
            continue;
        }
        if (!tree) {
            d.errors.push_back(tree.error().to_string());
            continue;
        }
        if (!tree->is_object()) {
            d.error(tree->pos, "configuration must be an object");
            continue;
        }
        check_duplicates(*tree, d);
        merge_into(merged, *tree);
    }
    set_paths set;
    decode_config(merged, result.config, set, d);
    finalize_config(result.config, set,
                    opts.default_node_name.empty() ? host_name() : opts.default_node_name, d);
    validate_config(result.config, set, opts, d);
    result.errors = std::move(d.errors);
    result.warnings = std::move(d.warnings);
    return result;
}

load_result load_config(const std::vector<std::string>& paths, const load_options& opts) {
    std::vector<source> sources;
    std::vector<std::string> errors;
    std::vector<std::string> warnings;
    auto read_file = [&](const fs::path& file) {
        std::error_code ec;
        auto size = fs::file_size(file, ec);
        if (ec) {
            errors.push_back(
                fmt::format("{}: cannot read config file: {}", file.string(), ec.message()));
            return;
        }
        if (size > max_config_file_size) {
            errors.push_back(
                fmt::format("{}: config file is {} bytes, larger than the {} byte limit",
                            file.string(), size, max_config_file_size));
            return;
        }
        std::ifstream in(file, std::ios::binary);
        if (!in) {
            errors.push_back(fmt::format("{}: cannot open config file", file.string()));
            return;
        }
        std::ostringstream ss;
        ss << in.rdbuf();
        sources.push_back({file.string(), ss.str()});
    };
    for (const auto& arg : paths) {
        fs::path p(arg);
        std::error_code ec;
        auto st = fs::status(p, ec);
        if (ec || !fs::exists(st)) {
            errors.push_back(fmt::format("{}: no such file or directory", arg));
            continue;
        }
        if (fs::is_directory(st)) {
            std::vector<fs::path> files;
            for (const auto& e : fs::directory_iterator(p, ec)) {
                if (!e.is_regular_file()) continue;
                if (!has_config_extension(e.path())) {
                    warnings.push_back(fmt::format(
                        "skipping file {}, extension must be .hcl or .json", e.path().string()));
                    continue;
                }
                files.push_back(e.path());
            }
            if (ec)
                errors.push_back(fmt::format("{}: cannot list directory: {}", arg, ec.message()));
            std::sort(files.begin(), files.end());
            for (const auto& f : files) read_file(f);
            continue;
        }
        if (!has_config_extension(p)) {
            errors.push_back(fmt::format(
                "{}: unsupported config file extension (config files must end in .hcl or .json)",
                arg));
            continue;
        }
        read_file(p);
    }
    sources.insert(sources.end(), opts.overrides.begin(), opts.overrides.end());
    load_result r = load_config_sources(sources, opts);
    r.errors.insert(r.errors.begin(), errors.begin(), errors.end());
    r.warnings.insert(r.warnings.begin(), warnings.begin(), warnings.end());
    return r;
}

}  // namespace meshfed::config
