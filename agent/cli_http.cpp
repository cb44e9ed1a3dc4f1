#include "agent/cli_http.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "agent/httplib.hpp"

namespace meshfed::agent::cli {
namespace {

// Consul's CLI has no overall deadline; these only stop a dead agent from hanging the shell.
constexpr time_t connect_timeout_s = 30;  // Go's default dialer timeout
constexpr time_t read_timeout_s = 600;    // longest blocking query the agent allows
// A reply bigger than this is not something the CLI verbs can print usefully.
constexpr size_t max_response_bytes = 64u << 20;

// strconv.ParseBool.
std::optional<bool> parse_go_bool(std::string_view s) {
    if (s == "1" || s == "t" || s == "T" || s == "TRUE" || s == "true" || s == "True") return true;
    if (s == "0" || s == "f" || s == "F" || s == "FALSE" || s == "false" || s == "False")
        return false;
    return std::nullopt;
}

// Go's syscall errors read like strerror with a lower-case first letter.
std::string go_errno_text(int e) {
    std::string s = std::strerror(e);
    if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
    return s;
}

std::string open_error(const std::string& path) {
    return fmt::format("open {}: {}", path, go_errno_text(errno));
}

bool readable(const std::string& path) {
    std::ifstream f(path);
    return f.good();
}

std::string format_host_port(const std::string& host, int port) {
    if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
    return fmt::format("{}:{}", host, port);
}

std::string sockaddr_text(const sockaddr* sa, socklen_t len) {
    char host[NI_MAXHOST] = {}, serv[NI_MAXSERV] = {};
    if (getnameinfo(sa, len, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        return "?";
    return format_host_port(host, std::atoi(serv));
}

// httplib reports only "Connection" when a connect fails; Consul's users see the dial error
// (refused, unreachable, unknown host). Repeat the dial once to learn which it was.
std::string describe_dial_failure(const std::string& host, int port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    std::string service = std::to_string(port);
    int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
    if (rc != 0) {
        return fmt::format("dial tcp: lookup {}: {}", host,
                           rc == EAI_NONAME ? "no such host" : gai_strerror(rc));
    }
    std::string last =
        fmt::format("dial tcp {}: connect: connection failed", format_host_port(host, port));
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
        std::string addr = sockaddr_text(ai->ai_addr, ai->ai_addrlen);
        int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                          ai->ai_protocol);
        if (fd < 0) {
            last = fmt::format("dial tcp {}: socket: {}", addr, go_errno_text(errno));
            continue;
        }
        int err = 0;
        if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            err = errno;
            if (err == EINPROGRESS) {
                pollfd p{fd, POLLOUT, 0};
                int n = ::poll(&p, 1, static_cast<int>(connect_timeout_s * 1000));
                if (n == 0) {
                    ::close(fd);
                    last = fmt::format("dial tcp {}: i/o timeout", addr);
                    continue;
                }
                socklen_t len = sizeof err;
                ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
            }
        }
        ::close(fd);
        if (err != 0) {
            last = fmt::format("dial tcp {}: connect: {}", addr, go_errno_text(err));
        } else {
            // The second dial worked: the agent was not accepting when httplib tried.
            last = fmt::format("dial tcp {}: connect: connection failed (agent not ready?)", addr);
            break;
        }
    }
    freeaddrinfo(res);
    return last;
}

std::string transport_error_text(httplib::Error e, const http_config& c) {
    switch (e) {
        case httplib::Error::Connection:
            return describe_dial_failure(c.host, c.port);
        case httplib::Error::ConnectionTimeout:
            return fmt::format("dial tcp {}: i/o timeout", c.host_port());
        case httplib::Error::Read:
            return "EOF";  // what Go reports when the agent closes without a full response
        case httplib::Error::Write:
            return "write: connection closed by the agent";
        case httplib::Error::SSLConnection:
            return "tls: handshake failure";
        case httplib::Error::SSLLoadingCerts:
            return "tls: failed to load the CA or client certificate";
        case httplib::Error::SSLServerVerification:
            return "tls: failed to verify certificate";
        case httplib::Error::Canceled:
            return fmt::format("response body exceeds {} bytes", max_response_bytes);
        default:
            return "http: " + httplib::to_string(e);
    }
}

// Go's url.QueryEscape.
std::string query_escape(std::string_view s) {
    std::string out;
    for (unsigned char ch : s) {
        if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~')
            out.push_back(static_cast<char>(ch));
        else if (ch == ' ')
            out.push_back('+');
        else
            out += fmt::format("%{:02X}", ch);
    }
    return out;
}

}  // namespace

env_lookup process_env() {
    return [](const std::string& name) -> std::optional<std::string> {
        const char* v = std::getenv(name.c_str());
        if (v == nullptr) return std::nullopt;
        return std::string(v);
    };
}

std::string http_config::host_port() const {
    return format_host_port(host, port);
}

std::expected<http_config, std::string> resolve_http_config(const http_flags& flags,
                                                            const env_lookup& env) {
    auto from_env = [&](const char* name) -> std::string {
        auto v = env(name);
        return v ? *v : std::string();
    };
    http_config c;
    std::string address = flags.http_addr;
    if (address.empty()) address = from_env("MESHFED_HTTP_ADDR");
    if (address.empty()) address = from_env("CONSUL_HTTP_ADDR");
    if (address.empty()) address = "127.0.0.1:8500";

    // Consul ignores an unparsable CONSUL_HTTP_SSL / _VERIFY (it only logs a warning).
    if (auto ssl = parse_go_bool(from_env("CONSUL_HTTP_SSL")); ssl && *ssl) c.scheme = "https";
    if (auto verify = parse_go_bool(from_env("CONSUL_HTTP_SSL_VERIFY")); verify && !*verify)
        c.verify_tls = false;

    if (auto sep = address.find("://"); sep != std::string::npos) {
        std::string scheme = address.substr(0, sep);
        if (scheme == "https")
            c.scheme = "https";
        else if (scheme == "unix")
            return std::unexpected("unix socket addresses are not supported by meshfed");
        else if (scheme != "http")  // "http://" never downgrades CONSUL_HTTP_SSL=true
            return std::unexpected("Unknown protocol scheme: " + scheme);
        address = address.substr(sep + 3);
    }
    // Without a port Go's HTTP client uses the scheme's default port.
    int default_port = c.scheme == "https" ? 443 : 80;
    std::string port_text;
    if (!address.empty() && address[0] == '[') {
        auto close = address.find(']');
        if (close == std::string::npos)
            return std::unexpected(fmt::format("invalid address \"{}\": missing ']'", address));
        c.host = address.substr(1, close - 1);
        std::string rest = address.substr(close + 1);
        if (!rest.empty()) {
            if (rest[0] != ':')
                return std::unexpected(fmt::format("invalid address \"{}\"", address));
            port_text = rest.substr(1);
        }
    } else if (auto colon = address.rfind(':');
               colon != std::string::npos && address.find(':') == colon) {
        c.host = address.substr(0, colon);
        port_text = address.substr(colon + 1);
    } else {
        c.host = address;  // a host name, or an unbracketed IPv6 address
    }
    if (c.host.empty()) c.host = "127.0.0.1";  // ":8500" dials the local host, as in Go
    if (port_text.empty()) {
        c.port = default_port;
    } else {
        int port = 0;
        for (char ch : port_text) {
            if (ch < '0' || ch > '9' || port > 65535) {
                port = -1;
                break;
            }
            port = port * 10 + (ch - '0');
        }
        if (port <= 0 || port > 65535)
            return std::unexpected(fmt::format("invalid port \":{}\" after host", port_text));
        c.port = port;
    }

    c.token = flags.token.empty() ? from_env("CONSUL_HTTP_TOKEN") : flags.token;
    std::string token_file =
        flags.token_file.empty() ? from_env("CONSUL_HTTP_TOKEN_FILE") : flags.token_file;
    if (!token_file.empty()) {
        std::ifstream f(token_file);
        if (!f) return std::unexpected("Error loading token file: " + open_error(token_file));
        std::ostringstream ss;
        ss << f.rdbuf();
        std::string t = ss.str();
        auto b = t.find_first_not_of(" \t\r\n");
        auto e = t.find_last_not_of(" \t\r\n");
        if (b != std::string::npos) c.token = t.substr(b, e - b + 1);
    }

    c.ca_file = flags.ca_file.empty() ? from_env("CONSUL_CACERT") : flags.ca_file;
    c.ca_path = flags.ca_path.empty() ? from_env("CONSUL_CAPATH") : flags.ca_path;
    c.client_cert = flags.client_cert.empty() ? from_env("CONSUL_CLIENT_CERT") : flags.client_cert;
    c.client_key = flags.client_key.empty() ? from_env("CONSUL_CLIENT_KEY") : flags.client_key;
    if (!c.ca_file.empty() && !readable(c.ca_file))
        return std::unexpected("Error loading CA File: " + open_error(c.ca_file));
    for (const auto* f : {&c.client_cert, &c.client_key})
        if (!f->empty() && !readable(*f)) return std::unexpected(open_error(*f));
    if (c.client_cert.empty() != c.client_key.empty())
        return std::unexpected("both client cert and client key must be provided");

    c.datacenter = flags.datacenter;
    c.stale = flags.stale;
    return c;
}

std::string encode_query(query_params params) {
    std::stable_sort(params.begin(), params.end(),
                     [](const query_param& a, const query_param& b) { return a.key < b.key; });
    std::string out;
    for (const auto& p : params) {
        if (!out.empty()) out.push_back('&');
        out += query_escape(p.key);
        out.push_back('=');
        out += query_escape(p.value);
    }
    return out;
}

std::string escape_path(std::string_view path) {
    static constexpr std::string_view keep = "-_.~$&+,/:;=@";
    std::string out;
    for (unsigned char ch : path) {
        if (std::isalnum(ch) || keep.find(static_cast<char>(ch)) != std::string_view::npos)
            out.push_back(static_cast<char>(ch));
        else
            out += fmt::format("%{:02X}", ch);
    }
    return out;
}

std::string unexpected_response_text(int status, std::string_view body) {
    auto b = body.find_first_not_of(" \t\r\n");
    auto e = body.find_last_not_of(" \t\r\n");
    std::string_view trimmed =
        b == std::string_view::npos ? std::string_view{} : body.substr(b, e - b + 1);
    return fmt::format("Unexpected response code: {} ({})", status, trimmed);
}

std::expected<http_reply, std::string> api_client::request(std::string_view method,
                                                           std::string_view path,
                                                           query_params params, std::string body) {
    if (!config_.datacenter.empty()) params.push_back({"dc", config_.datacenter});
    if (config_.stale) params.push_back({"stale", ""});
    std::string target = escape_path(path);
    std::string query = encode_query(std::move(params));
    if (!query.empty()) target += "?" + query;

    std::unique_ptr<httplib::ClientImpl> client;
    if (config_.scheme == "https") {
        auto ssl = std::make_unique<httplib::SSLClient>(config_.host, config_.port,
                                                        config_.client_cert, config_.client_key);
        if (!config_.ca_file.empty() || !config_.ca_path.empty())
            ssl->set_ca_cert_path(config_.ca_file, config_.ca_path);
        ssl->enable_server_certificate_verification(config_.verify_tls);
        client = std::move(ssl);
    } else {
        client = std::make_unique<httplib::ClientImpl>(config_.host, config_.port);
    }
    client->set_connection_timeout(connect_timeout_s);
    client->set_read_timeout(read_timeout_s);
    client->set_write_timeout(read_timeout_s);

    httplib::Request req;
    req.method = std::string(method);
    req.path = target;
    if (!config_.token.empty()) req.headers.emplace("X-Consul-Token", config_.token);
    if (!body.empty()) {
        req.headers.emplace("Content-Type", "application/json");
        req.body = std::move(body);
    }
    std::string received;
    req.content_receiver = [&received](const char* data, size_t len, uint64_t, uint64_t) {
        if (received.size() + len > max_response_bytes) return false;
        received.append(data, len);
        return true;
    };
    auto result = client->send(req);
    if (!result) {
        // Go's url.Error: `Get "http://host:port/path?query": <cause>`.
        std::string op(method);
        for (size_t i = 1; i < op.size(); ++i)
            op[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(op[i])));
        return std::unexpected(fmt::format("{} \"{}://{}{}\": {}", op, config_.scheme,
                                           config_.host_port(), target,
                                           transport_error_text(result.error(), config_)));
    }
    std::uint64_t index = 0;
    if (auto h = result->get_header_value("X-Consul-Index"); !h.empty()) {
        for (char c : h) {
            if (c < '0' || c > '9') {
                index = 0;
                break;
            }
            index = index * 10 + static_cast<std::uint64_t>(c - '0');
        }
    }
    return http_reply{result->status, std::move(received), index};
}

std::expected<std::string, std::string> api_client::request_ok(std::string_view method,
                                                               std::string_view path,
                                                               query_params params,
                                                               std::string body) {
    auto r = request(method, path, std::move(params), std::move(body));
    if (!r) return std::unexpected(std::move(r.error()));
    if (r->status != 200) return std::unexpected(unexpected_response_text(r->status, r->body));
    return std::move(r->body);
}

}  // namespace meshfed::agent::cli
