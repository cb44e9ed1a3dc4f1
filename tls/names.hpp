#pragma once
// The TLS names Consul servers use (tlsutil.ServerSNI and the certificate SANs made by
// `consul tls cert create`):
//   server.<dc>.<domain>            any server of a datacenter
//   <node>.server.<dc>.<domain>     one named server
// Pure functions; no errors beyond an empty optional for names that do not parse.
#include <optional>
#include <string>
#include <string_view>

namespace meshfed::tls {

std::string server_name(std::string_view dc, std::string_view domain);
std::string node_server_name(std::string_view node, std::string_view dc, std::string_view domain);

// What a server SNI names. `node` is empty for "any server of dc".
struct server_name_parts {
    std::string node;
    std::string dc;
};

// Parses `server.<dc>.<domain>` or `<node>.server.<dc>.<domain>` for the given domain
// (case-insensitive, a trailing dot allowed). Anything else -> nullopt.
std::optional<server_name_parts> parse_server_name(std::string_view sni, std::string_view domain);

}  // namespace meshfed::tls
