#include "common/version.hpp"

#include <fmt/format.h>

#include "common/generated_version.hpp"

namespace meshfed {

std::string version() {
    return version_string;
}

std::string build_tag() {
    return fmt::format("{}:meshfed", version_string);
}

std::string version_banner() {
    // Same layout as `consul version`; the protocol line is the RPC protocol range servers
    // advertise in their serf tags (vsn_min/vsn/vsn_max).
    return fmt::format(
        "meshfed v{}\n"
        "Revision meshfed\n"
        "Protocol 2 spoken by default, understands 2 to 3 (agent will automatically use protocol "
        ">2 when speaking to compatible agents)\n",
        version_string);
}

}  // namespace meshfed
