#include "rpc/limits.hpp"

#include <fmt/format.h>

namespace meshfed::rpc {

std::vector<std::string> limits::validate() const {
    std::vector<std::string> errs;
    if (handshake_timeout.count() < 0)
        errs.push_back("limits.rpc_handshake_timeout cannot be negative");
    if (max_conns_per_client < 0)
        errs.push_back(fmt::format("limits.rpc_max_conns_per_client cannot be negative, got {}",
                                   max_conns_per_client));
    if (client_timeout.count() < 0) errs.push_back("limits.rpc_client_timeout cannot be negative");
    return errs;
}

}  // namespace meshfed::rpc
