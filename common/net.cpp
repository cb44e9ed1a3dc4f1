#include "common/net.hpp"

namespace meshfed::net {

std::error_code listen_tcp(asio::ip::tcp::acceptor& acceptor, const std::string& ip,
                           std::uint16_t port) {
    using asio::ip::tcp;
    std::error_code ec;
    auto addr = asio::ip::make_address(ip, ec);
    if (ec) return ec;
    tcp::endpoint ep(addr, port);
    acceptor.open(ep.protocol(), ec);
    if (ec) return ec;
    acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    acceptor.bind(ep, ec);
    if (ec) return ec;
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
    return ec;
}

std::uint16_t bound_port(const asio::ip::tcp::acceptor& acceptor) {
    std::error_code ec;
    auto ep = acceptor.local_endpoint(ec);
    return ec ? 0 : ep.port();
}

std::string remote_ip(const asio::ip::tcp::socket& s) {
    std::error_code ec;
    auto ep = s.remote_endpoint(ec);
    return ec ? "?" : ep.address().to_string();
}

}  // namespace meshfed::net
