#include "mesh/client_hello.hpp"

#include <algorithm>
#include <cctype>

namespace meshfed::mesh {
namespace {

// Bounds-checked reader over the reassembled handshake message.
struct cursor {
    std::span<const std::uint8_t> d;
    std::size_t pos = 0;
    bool ok = true;
    std::size_t left() const { return d.size() - pos; }
    std::uint32_t u(int n) {
        if (!ok || left() < static_cast<std::size_t>(n)) {
            ok = false;
            return 0;
        }
        std::uint32_t v = 0;
        for (int i = 0; i < n; ++i) v = (v << 8) | d[pos++];
        return v;
    }
    std::span<const std::uint8_t> take(std::size_t n) {
        if (!ok || left() < n) {
            ok = false;
            return {};
        }
        auto s = d.subspan(pos, n);
        pos += n;
        return s;
    }
};

bool valid_host_char(unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '*';
}

}  // namespace

const char* to_string(hello_error e) {
    switch (e) {
        case hello_error::need_more:
            return "need more bytes";
        case hello_error::not_tls:
            return "not a TLS handshake";
        case hello_error::bad_record:
            return "malformed TLS record";
        case hello_error::not_client_hello:
            return "not a ClientHello";
        case hello_error::too_large:
            return "ClientHello too large";
        case hello_error::truncated:
            return "truncated ClientHello";
        case hello_error::bad_extension:
            return "malformed server_name or ALPN extension";
        case hello_error::no_sni:
            return "no SNI in ClientHello";
    }
    return "unknown";
}

std::expected<client_hello_info, hello_error> parse_client_hello(
    std::span<const std::uint8_t> bytes) {
    // Reassemble handshake bytes from consecutive handshake records.
    std::vector<std::uint8_t> hs;
    std::size_t pos = 0;
    std::size_t need = 0;  // total handshake message length once known (header + body)
    while (true) {
        if (bytes.size() - pos < 5) return std::unexpected(hello_error::need_more);
        std::uint8_t type = bytes[pos];
        if (type != 22)
            return std::unexpected(pos == 0 ? hello_error::not_tls : hello_error::bad_record);
        if (bytes[pos + 1] != 3) return std::unexpected(hello_error::bad_record);
        std::size_t len = (static_cast<std::size_t>(bytes[pos + 3]) << 8) | bytes[pos + 4];
        if (len == 0 || len > 16384 + 256) return std::unexpected(hello_error::bad_record);
        if (hs.size() + len > max_client_hello + 4) return std::unexpected(hello_error::too_large);
        if (bytes.size() - pos - 5 < len) {
            // Do not wait for a record that could never fit.
            return std::unexpected(hello_error::need_more);
        }
        hs.insert(hs.end(), bytes.begin() + static_cast<std::ptrdiff_t>(pos + 5),
                  bytes.begin() + static_cast<std::ptrdiff_t>(pos + 5 + len));
        pos += 5 + len;
        if (need == 0 && hs.size() >= 4) {
            if (hs[0] != 1) return std::unexpected(hello_error::not_client_hello);
            need = 4 + ((static_cast<std::size_t>(hs[1]) << 16) |
                        (static_cast<std::size_t>(hs[2]) << 8) | hs[3]);
            if (need > max_client_hello) return std::unexpected(hello_error::too_large);
        }
        if (need != 0 && hs.size() >= need) break;
    }
    cursor c{std::span<const std::uint8_t>(hs.data() + 4, need - 4)};
    c.u(2);          // legacy_version
    c.take(32);      // random
    c.take(c.u(1));  // session id
    std::uint32_t suites = c.u(2);
    if (suites == 0 || suites % 2) return std::unexpected(hello_error::truncated);
    c.take(suites);
    c.take(c.u(1));  // compression methods
    if (!c.ok) return std::unexpected(hello_error::truncated);
    client_hello_info out;
    out.consumed = pos;
    if (c.left() == 0) return std::unexpected(hello_error::no_sni);  // no extensions at all
    std::uint32_t ext_len = c.u(2);
    auto exts = c.take(ext_len);
    if (!c.ok) return std::unexpected(hello_error::truncated);
    cursor e{exts};
    while (e.left() > 0) {
        std::uint32_t type = e.u(2);
        std::uint32_t len = e.u(2);
        auto data = e.take(len);
        if (!e.ok) return std::unexpected(hello_error::truncated);
        cursor x{data};
        if (type == 0) {  // server_name
            std::uint32_t list_len = x.u(2);
            auto list = x.take(list_len);
            if (!x.ok || x.left() != 0) return std::unexpected(hello_error::bad_extension);
            cursor l{list};
            while (l.left() > 0) {
                std::uint32_t name_type = l.u(1);
                auto name = l.take(l.u(2));
                if (!l.ok) return std::unexpected(hello_error::bad_extension);
                if (name_type != 0 || !out.sni.empty()) continue;
                if (name.empty() || name.size() > 253)
                    return std::unexpected(hello_error::bad_extension);
                std::string host;
                for (auto ch : name) {
                    if (!valid_host_char(ch)) return std::unexpected(hello_error::bad_extension);
                    host.push_back(static_cast<char>(std::tolower(ch)));
                }
                if (host.back() == '.') host.pop_back();  // one FQDN dot is tolerated
                // Empty labels ("a..b", ".a", "a..", "."): not a host name (RFC 6066 §3), and
                // the SNI must never keep a trailing dot (found by fuzz/client_hello_fuzz).
                if (host.empty() || host.front() == '.' || host.back() == '.' ||
                    host.find("..") != std::string::npos)
                    return std::unexpected(hello_error::bad_extension);
                out.sni = std::move(host);
            }
        } else if (type == 16) {  // ALPN
            std::uint32_t list_len = x.u(2);
            auto list = x.take(list_len);
            if (!x.ok || x.left() != 0) return std::unexpected(hello_error::bad_extension);
            cursor l{list};
            while (l.left() > 0) {
                auto p = l.take(l.u(1));
                if (!l.ok || p.empty()) return std::unexpected(hello_error::bad_extension);
                out.alpn.emplace_back(p.begin(), p.end());
            }
        }
    }
    if (out.sni.empty()) return std::unexpected(hello_error::no_sni);
    return out;
}

}  // namespace meshfed::mesh
