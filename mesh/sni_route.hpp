#pragma once
// How a mesh gateway routes a connection by the SNI in its TLS ClientHello (Consul's mesh
// gateway with -expose-servers):
//   <node>.server.<localdc>.<domain>  -> that local server
//   server.<localdc>.<domain>         -> any local server
//   [<node>.]server.<otherdc>.<domain> -> a gateway of <otherdc> (its WAN address)
//   anything else                     -> refused
// Pure function, no I/O.
#include <string>
#include <string_view>

namespace meshfed::mesh {

enum class route_kind { local_server, any_local_server, remote_datacenter, refused };

struct sni_route {
    route_kind kind = route_kind::refused;
    std::string node;  // set for local_server (and remote_datacenter when a node was named)
    std::string dc;    // the datacenter the name points at (empty when refused)
};

sni_route route_for_sni(std::string_view sni, std::string_view local_dc, std::string_view domain);

const char* to_string(route_kind k);

}  // namespace meshfed::mesh
