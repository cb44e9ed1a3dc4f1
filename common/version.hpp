#pragma once
// Build identity. `version()` is "0.1.0"; `build_tag()` is what a Consul server puts in its
// serf `build` tag ("<version>:<revision>"), which peers parse with \d+\.\d+\.\d+.
#include <string>

namespace meshfed {

std::string version();
std::string build_tag();
std::string version_banner();  // multi-line text printed by `meshfed version`

}  // namespace meshfed
