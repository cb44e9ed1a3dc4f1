#pragma once
// Small socket helpers shared by every listener (RPC port, WAN gossip, mesh gateway).
// Errors: std::error_code, never exceptions.
#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <asio/ip/tcp.hpp>

namespace meshfed::net {

// Opens, binds (SO_REUSEADDR) and listens on ip:port (port 0 = any free port).
std::error_code listen_tcp(asio::ip::tcp::acceptor& acceptor, const std::string& ip,
                           std::uint16_t port);
// The bound port, 0 when not listening.
std::uint16_t bound_port(const asio::ip::tcp::acceptor& acceptor);

// Open connections per source IP with a cap (Consul's rpc_max_conns_per_client, the gateway's
// per-source limit). A lease holds one slot until it is destroyed. Single-threaded use; the
// limiter must outlive its leases (share it with std::shared_ptr).
class source_limiter : public std::enable_shared_from_this<source_limiter> {
  public:
    explicit source_limiter(int max_per_source) : max_(max_per_source) {}
    class lease {
      public:
        lease(std::shared_ptr<source_limiter> l, std::string ip)
            : l_(std::move(l)), ip_(std::move(ip)) {}
        lease(lease&&) = default;
        lease& operator=(lease&&) = default;
        ~lease() {
            if (l_ && --l_->open_[ip_] <= 0) l_->open_.erase(ip_);
        }

      private:
        std::shared_ptr<source_limiter> l_;
        std::string ip_;
    };
    // A slot for `ip`, or nullopt when it already holds max_per_source (0 = unlimited).
    std::optional<lease> acquire(const std::string& ip) {
        int& n = open_[ip];
        if (max_ > 0 && n >= max_) {
            if (n == 0) open_.erase(ip);
            return std::nullopt;
        }
        ++n;
        return lease(shared_from_this(), ip);
    }

  private:
    int max_;
    std::map<std::string, int> open_;
};

// The peer's IP as text ("?" when the socket has none).
std::string remote_ip(const asio::ip::tcp::socket& s);

// The IP addresses assigned to this host's interfaces (getifaddrs), in interface order.
std::vector<asio::ip::address> interface_addresses();

// Raises the soft RLIMIT_NOFILE to the hard limit (what Go's runtime does for Consul at
// startup), so a listener's connection caps, not the default 1024 descriptors, bound it.
// Returns {soft before, soft after}; an error when getrlimit/setrlimit fails.
struct fd_limit {
    std::uint64_t before = 0, after = 0;
};
std::expected<fd_limit, std::error_code> raise_fd_limit();

// "ip:port" or "[v6]:port" (a literal address, port 1-65535) -> endpoint; nullopt otherwise.
std::optional<asio::ip::tcp::endpoint> parse_ip_port(std::string_view s);

}  // namespace meshfed::net
