#pragma once
// Internal to the config loader: derived defaults and validation (Consul's texts where Consul
// has one, see ../shared/docs/consul-wanfed.md §10).
#include <cstdint>
#include <expected>
#include <string>
#include <vector>

#include "agent/config/config.hpp"
#include "agent/config/decode.hpp"

namespace meshfed::config {

// Fills values that default from other values (node_name, primary_datacenter, advertise
// addresses), lower-cases datacenter names, and warns about deprecated keys.
void finalize_config(runtime_config& cfg, const set_paths& set, const std::string& default_node,
                     diagnostics& d);

// Reports every invalid combination.
void validate_config(const runtime_config& cfg, const set_paths& set, const load_options& opts,
                     diagnostics& d);

// Decodes a gossip key (`encrypt`): base64 of 16, 24 or 32 bytes. Error text follows Consul's
// "encrypt has invalid key: ..." detail.
std::expected<std::vector<std::uint8_t>, std::string> decode_gossip_key(const std::string& b64);

}  // namespace meshfed::config
