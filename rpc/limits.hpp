#pragma once
// Limits of the RPC port and its client side (`limits { ... }`), owned by rpc/.
// Defaults are Consul's: rpc_handshake_timeout 5s, rpc_max_conns_per_client 100,
// rpc_client_timeout 60s. Plain data.
#include <chrono>
#include <string>
#include <vector>

namespace meshfed::rpc {

struct limits {
    std::chrono::milliseconds handshake_timeout{5000};  // first byte + TLS handshake; 0 = none
    int max_conns_per_client = 100;                     // per source IP; 0 = unlimited
    std::chrono::milliseconds client_timeout{60000};    // per call read deadline; 0 = none

    std::vector<std::string> validate() const;
};

}  // namespace meshfed::rpc
