#include "common/net.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>

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

std::vector<asio::ip::address> interface_addresses() {
    std::vector<asio::ip::address> out;
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) return out;
    for (auto* i = list; i; i = i->ifa_next) {
        if (!i->ifa_addr) continue;
        if (i->ifa_addr->sa_family == AF_INET) {
            const auto* sin = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
            out.push_back(asio::ip::address_v4(ntohl(sin->sin_addr.s_addr)));
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
            asio::ip::address_v6::bytes_type b;
            std::memcpy(b.data(), sin6->sin6_addr.s6_addr, b.size());
            out.push_back(asio::ip::address_v6(b, sin6->sin6_scope_id));
        }
    }
    ::freeifaddrs(list);
    return out;
}

std::optional<asio::ip::tcp::endpoint> parse_ip_port(std::string_view s) {
    auto colon = s.rfind(':');
    if (colon == std::string_view::npos || colon + 1 >= s.size()) return std::nullopt;
    std::string_view host = s.substr(0, colon), port_text = s.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    unsigned port = 0;
    for (char c : port_text) {
        if (c < '0' || c > '9' || port > 65535) return std::nullopt;
        port = port * 10 + static_cast<unsigned>(c - '0');
    }
    if (port == 0 || port > 65535) return std::nullopt;
    std::error_code ec;
    auto addr = asio::ip::make_address(std::string(host), ec);
    if (ec) return std::nullopt;
    return asio::ip::tcp::endpoint(addr, static_cast<std::uint16_t>(port));
}

std::expected<fd_limit, std::error_code> raise_fd_limit() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return std::unexpected(std::error_code(errno, std::generic_category()));
    fd_limit out{rl.rlim_cur, rl.rlim_cur};
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &rl) != 0)
            return std::unexpected(std::error_code(errno, std::generic_category()));
        out.after = rl.rlim_cur;
    }
    return out;
}

}  // namespace meshfed::net
