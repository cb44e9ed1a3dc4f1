#pragma once
// ALPN protocol names a Consul server offers on its RPC port, in Consul's order
// (RPCNextProtos, consul-wanfed.md §1.1). Type bytes 2, 3 and 7 have no ALPN name.
#include <array>
#include <string_view>

namespace meshfed::tls::alpn {

inline constexpr std::string_view rpc_single = "consul/rpc-single";
inline constexpr std::string_view raft = "consul/raft";
inline constexpr std::string_view rpc_multi = "consul/rpc-multi";
inline constexpr std::string_view rpc_snapshot = "consul/rpc-snapshot";
inline constexpr std::string_view rpc_gossip = "consul/rpc-gossip";
inline constexpr std::string_view rpc_grpc = "consul/rpc-grpc";
inline constexpr std::string_view raft_forwarding = "consul/raft-forwarding";
inline constexpr std::string_view wan_gossip_packet = "consul/wan-gossip/packet";
inline constexpr std::string_view wan_gossip_stream = "consul/wan-gossip/stream";

inline constexpr std::array<std::string_view, 9> rpc_next_protos = {
    rpc_single,       raft,     rpc_multi,       rpc_snapshot,
    rpc_gossip,       rpc_grpc, raft_forwarding, wan_gossip_packet,
    wan_gossip_stream};

}  // namespace meshfed::tls::alpn
