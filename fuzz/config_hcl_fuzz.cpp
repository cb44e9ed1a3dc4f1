// The agent's config loader on HCL v1 text (agent/config/hcl.cpp parse_hcl; text starting with
// '{' is parsed as JSON, as hashicorp/hcl does), then the whole load (fuzz/config_fuzz.hpp).
// Input: the file's text.
#include "fuzz/config_fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return meshfed::fuzz::fuzz_config(data, size, meshfed::config::parse_hcl, "fuzz.hcl");
}
