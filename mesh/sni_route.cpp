#include "mesh/sni_route.hpp"

#include <algorithm>
#include <cctype>

#include "tls/names.hpp"

namespace meshfed::mesh {

sni_route route_for_sni(std::string_view sni, std::string_view local_dc, std::string_view domain) {
    auto parts = tls::parse_server_name(sni, domain);
    if (!parts) return {};
    sni_route r;
    r.node = parts->node;
    r.dc = parts->dc;
    bool local =
        parts->dc.size() == local_dc.size() &&
        std::equal(local_dc.begin(), local_dc.end(), parts->dc.begin(),
                   [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
    if (!local) {
        r.kind = route_kind::remote_datacenter;
    } else {
        r.kind = parts->node.empty() ? route_kind::any_local_server : route_kind::local_server;
    }
    return r;
}

const char* to_string(route_kind k) {
    switch (k) {
        case route_kind::local_server:
            return "local-server";
        case route_kind::any_local_server:
            return "any-local-server";
        case route_kind::remote_datacenter:
            return "remote-datacenter";
        case route_kind::refused:
            return "refused";
    }
    return "refused";
}

}  // namespace meshfed::mesh
