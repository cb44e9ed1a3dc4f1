#pragma once
// Small socket helpers shared by every listener (RPC port, WAN gossip, mesh gateway).
// Errors: std::error_code, never exceptions.
#include <cstdint>
#include <string>
#include <system_error>

#include <asio/ip/tcp.hpp>

namespace meshfed::net {

// Opens, binds (SO_REUSEADDR) and listens on ip:port (port 0 = any free port).
std::error_code listen_tcp(asio::ip::tcp::acceptor& acceptor, const std::string& ip,
                           std::uint16_t port);
// The bound port, 0 when not listening.
std::uint16_t bound_port(const asio::ip::tcp::acceptor& acceptor);

}  // namespace meshfed::net
