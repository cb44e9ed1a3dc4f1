// The agent's config loader on JSON text (agent/config/json.cpp parse_json: nlohmann's SAX
// parser with positions), then the whole load (fuzz/config_fuzz.hpp).
// Input: the file's text.
#include "fuzz/config_fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return meshfed::fuzz::fuzz_config(data, size, meshfed::config::parse_json, "fuzz.json");
}
