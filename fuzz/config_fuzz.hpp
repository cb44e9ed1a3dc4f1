#pragma once
// The body of the two config targets (config_hcl_fuzz, config_json_fuzz): one front end on the
// input text, the hcl-compatible reshaping of its tree (to_hcl_json), and the whole load pipeline
// (duplicate-key check, merge, typed decode, validation) that `meshfed agent -config` and
// `meshfed validate` run on a user's file, once with the text as the only source and once with
// two copies (the second merged over the first, as with two -config files). Errors must come
// back as messages, never as exceptions or crashes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/config/config.hpp"
#include "agent/config/hcl.hpp"
#include "fuzz/fuzz_input.hpp"

namespace meshfed::fuzz {

// `parse` is config::parse_hcl or config::parse_json; `file` names the source (its extension
// picks the same front end inside load_config_sources).
template <class Parse>
int fuzz_config(const std::uint8_t* data, std::size_t size, Parse parse, const std::string& file) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto tree = parse(text, file);
    if (tree) {
        (void)config::to_hcl_json(*tree);
    } else {
        MESHFED_FUZZ_CHECK(!tree.error().message.empty());
    }
    config::load_options opts;
    opts.default_node_name = "fuzz-node";  // no gethostname per input
    std::vector<config::source> sources{{file, std::string(text)}};
    auto once = config::load_config_sources(sources, opts);
    MESHFED_FUZZ_CHECK(tree.has_value() || !once.ok());
    sources.push_back(sources.front());
    (void)config::load_config_sources(sources, opts);
    return 0;
}

}  // namespace meshfed::fuzz
