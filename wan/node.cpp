#include "wan/node.hpp"

#include <arpa/inet.h>

#include <fmt/format.h>

namespace meshfed::wan {

std::string node_addr::to_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (ip.size() == 4) {
        ::inet_ntop(AF_INET, ip.data(), buf, sizeof buf);
        return fmt::format("{}:{}", buf, port);
    }
    if (ip.size() == 16) {
        ::inet_ntop(AF_INET6, ip.data(), buf, sizeof buf);
        return fmt::format("[{}]:{}", buf, port);
    }
    return fmt::format("<invalid ip of {} bytes>:{}", ip.size(), port);
}

std::optional<node_addr> node_addr::parse(std::string_view ip, std::uint16_t port) {
    std::string s(ip);
    if (s.size() > 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
    node_addr a;
    a.port = port;
    unsigned char buf[16];
    if (::inet_pton(AF_INET, s.c_str(), buf) == 1) {
        a.ip.assign(buf, buf + 4);
        return a;
    }
    if (::inet_pton(AF_INET6, s.c_str(), buf) == 1) {
        a.ip.assign(buf, buf + 16);
        return a;
    }
    return std::nullopt;
}

const char* to_string(node_state s) {
    switch (s) {
        case node_state::alive:
            return "alive";
        case node_state::suspect:
            return "suspect";
        case node_state::dead:
            return "dead";
        case node_state::left:
            return "left";
    }
    return "unknown";
}

}  // namespace meshfed::wan
