// RESTinio glue and the route table. This is the only file that includes RESTinio (heavy, and
// it needs Asio's deprecated API: see agent/CMakeLists.txt).
#include "agent/http/http_api.hpp"

#include <algorithm>
#include <cctype>
#include <map>

#include <openssl/ssl.h>

#include <restinio/all.hpp>
#include <restinio/tls.hpp>

#include "common/log.hpp"

namespace meshfed::agent::http {

namespace {

// The RESTinio configuration: the agent's single thread (no strands), Asio timers, a connection
// limit, our own dispatch.
struct server_traits
    : restinio::single_thread_traits_t<restinio::asio_timer_manager_t, restinio::null_logger_t> {
    static constexpr bool use_connection_count_limiter = true;
};
using server_t = restinio::http_server_t<server_traits>;
// The same for HTTPS: RESTinio's asio::ssl socket, handshake before the first read.
struct tls_server_traits : restinio::single_thread_tls_traits_t<restinio::asio_timer_manager_t,
                                                                restinio::null_logger_t> {
    static constexpr bool use_connection_count_limiter = true;
};
using tls_server_t = restinio::http_server_t<tls_server_traits>;

// HTTPS follows certificate reloads (SIGHUP): RESTinio keeps one asio::ssl::context for the
// server's life, so that context only dispatches. Its ClientHello callback moves each new
// connection to the provider's current SSL_CTX (certificate, key, CA store, client CA list);
// the policy that stays with the dispatcher (client-certificate mode, minimum version,
// options, no session cache) is copied from the provider's first context.
using context_provider = std::function<std::shared_ptr<SSL_CTX>()>;

int provider_index() {
    static const int idx = SSL_CTX_get_ex_new_index(
        0, nullptr, nullptr, nullptr, [](void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
            delete static_cast<context_provider*>(ptr);
        });
    return idx;
}

int switch_to_current(SSL* ssl, int* alert, void*) {
    const auto* provider = static_cast<const context_provider*>(
        SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), provider_index()));
    auto current = provider ? (*provider)() : nullptr;
    if (!current || SSL_set_SSL_CTX(ssl, current.get()) == nullptr) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

asio::ssl::context dispatching_context(const std::shared_ptr<SSL_CTX>& first,
                                       context_provider provider) {
    SSL_CTX* raw = SSL_CTX_new(TLS_server_method());
    if (!raw) throw std::runtime_error("cannot create the HTTPS TLS context");
    asio::ssl::context ctx(raw);  // owns raw from here on
    SSL_CTX_set_min_proto_version(raw, SSL_CTX_get_min_proto_version(first.get()));
    SSL_CTX_set_options(raw, SSL_CTX_get_options(first.get()));
    SSL_CTX_set_mode(raw, SSL_CTX_get_mode(first.get()));
    SSL_CTX_set_verify(raw, SSL_CTX_get_verify_mode(first.get()), nullptr);
    SSL_CTX_set_session_cache_mode(raw, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_ex_data(raw, provider_index(), new context_provider(std::move(provider)));
    SSL_CTX_set_client_hello_cb(raw, switch_to_current, nullptr);
    return ctx;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Go's url unescaping: %XX (a bad escape fails the request), '+' is a space in query values.
std::optional<std::string> unescape(std::string_view s, bool plus_is_space) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= s.size()) return std::nullopt;
            int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out.push_back(' ');
        } else {
            out.push_back(c);
        }
    }
    return out;
}

std::optional<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view q) {
    std::vector<std::pair<std::string, std::string>> out;
    while (!q.empty()) {
        auto amp = q.find('&');
        auto part = q.substr(0, amp);
        q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
        if (part.empty()) continue;
        auto eq = part.find('=');
        auto k = unescape(part.substr(0, eq), true);
        auto v =
            unescape(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1), true);
        if (!k || !v) return std::nullopt;
        out.emplace_back(std::move(*k), std::move(*v));
    }
    return out;
}

verb to_verb(const restinio::http_method_id_t& m) {
    if (m == restinio::http_method_get()) return verb::get;
    if (m == restinio::http_method_head()) return verb::head;
    if (m == restinio::http_method_put()) return verb::put;
    if (m == restinio::http_method_post()) return verb::post;
    if (m == restinio::http_method_delete()) return verb::del;
    if (m == restinio::http_method_options()) return verb::options;
    if (m == restinio::http_method_patch()) return verb::patch;
    return verb::other;
}

const char* reason_phrase(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 201:
            return "Created";
        case 204:
            return "No Content";
        case 304:
            return "Not Modified";
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 409:
            return "Conflict";
        case 413:
            return "Request Entity Too Large";
        case 429:
            return "Too Many Requests";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 503:
            return "Service Unavailable";
        default:
            return "Unknown";
    }
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

}  // namespace

std::string_view verb_name(verb v) {
    switch (v) {
        case verb::get:
            return "GET";
        case verb::head:
            return "HEAD";
        case verb::put:
            return "PUT";
        case verb::post:
            return "POST";
        case verb::del:
            return "DELETE";
        case verb::options:
            return "OPTIONS";
        case verb::patch:
            return "PATCH";
        case verb::other:
            break;
    }
    return "UNKNOWN";
}

std::optional<std::string> request::query_value(std::string_view key) const {
    for (const auto& [k, v] : query)
        if (k == key) return v;
    return std::nullopt;
}

std::string request::header(std::string_view name) const {
    for (const auto& [k, v] : headers)
        if (iequals(k, name)) return v;
    return {};
}

struct http_api::impl : std::enable_shared_from_this<http_api::impl> {
    struct route {
        std::vector<verb> methods;
        handler_fn handler;
    };

    asio::io_context& io;
    http_config cfg;
    rpc_call_fn rpc;
    http_stats stats;
    std::map<std::string, route, std::less<>> routes;  // pattern -> route
    std::unique_ptr<server_t> server;
    std::unique_ptr<tls_server_t> tls_server;
    std::uint16_t bound_port = 0;
    std::uint16_t bound_tls_port = 0;
    std::shared_ptr<spdlog::logger> log = get_logger("agent.http");

    impl(asio::io_context& i, http_config c, rpc_call_fn r)
        : io(i), cfg(std::move(c)), rpc(std::move(r)) {}

    // Exact pattern first, then the longest prefix pattern ("/v1/catalog/service/").
    const std::pair<const std::string, route>* match(std::string_view path) const {
        if (auto it = routes.find(path); it != routes.end()) return &*it;
        const std::pair<const std::string, route>* best = nullptr;
        for (const auto& entry : routes) {
            const auto& p = entry.first;
            if (p.empty() || p.back() != '/' || !path.starts_with(p)) continue;
            if (!best || p.size() > best->first.size()) best = &entry;
        }
        return best;
    }

    void count(const response& r) {
        if (r.status >= 500) {
            ++stats.responses_5xx;
        } else if (r.status >= 400) {
            ++stats.responses_4xx;
        } else {
            ++stats.responses_2xx;
        }
    }

    void dispatch(request req, respond_fn respond) {
        ++stats.requests;
        std::weak_ptr<impl> weak = weak_from_this();
        ++stats.pending;
        auto counted = [weak, respond = std::move(respond)](response r) {
            if (auto self = weak.lock()) {
                --self->stats.pending;
                self->count(r);
            }
            respond(std::move(r));
        };
        if (req.body.size() > cfg.max_body) {
            ++stats.too_large;
            return counted({413,
                            fmt::format("Request body too large, max size: {} bytes", cfg.max_body),
                            "text/plain; charset=utf-8",
                            {}});
        }
        const auto* m = match(req.path);
        if (!m) {
            ++stats.not_found;
            return counted({404, "404 page not found\n", "text/plain; charset=utf-8", {}});
        }
        const auto& rt = m->second;
        if (std::find(rt.methods.begin(), rt.methods.end(), req.method) == rt.methods.end()) {
            ++stats.method_not_allowed;
            std::string allow;
            for (auto v : rt.methods)
                allow += (allow.empty() ? "" : ",") + std::string(verb_name(v));
            return counted({405,
                            fmt::format("method {} not allowed", verb_name(req.method)),
                            "text/plain; charset=utf-8",
                            {{"Allow", allow}}});
        }
        if (m->first.back() == '/') req.suffix = req.path.substr(m->first.size());
        // Copy the handler: a handler may add routes (rehashing nothing, but keep it simple).
        auto h = rt.handler;
        try {
            h(req, std::move(counted));
        } catch (const std::exception& e) {
            // A handler must not throw; if one does, the request still gets an answer only if
            // `counted` was not consumed. Log loudly: this is a bug.
            ++stats.handler_exceptions;
            log->error("handler for {} {} threw: {}", verb_name(req.method), req.path, e.what());
        }
    }

    restinio::request_handling_status_t on_request(restinio::request_handle_t rh) {
        request req;
        const auto& hdr = rh->header();
        req.method = to_verb(hdr.method());
        auto path = unescape(hdr.path(), false);
        auto query = parse_query(hdr.query());
        hdr.for_each_field([&](const restinio::http_header_field_t& f) {
            req.headers.emplace_back(std::string(f.name()), std::string(f.value()));
        });
        req.body = rh->body();
        {
            const auto& ep = rh->remote_endpoint();
            auto ip = ep.address().to_string();
            req.remote = fmt::format("{}:{}", ip, ep.port());
        }
        auto respond = [rh](response r) {
            auto resp = rh->create_response(restinio::http_status_line_t{
                restinio::http_status_code_t{static_cast<std::uint16_t>(r.status)},
                reason_phrase(r.status)});
            resp.append_header(restinio::http_field::content_type, r.content_type);
            for (auto& [k, v] : r.headers) resp.append_header(std::move(k), std::move(v));
            resp.set_body(std::move(r.body));
            resp.done();
        };
        if (!path || !query) {
            // Go's net/http rejects bad escapes before routing.
            ++stats.requests;
            ++stats.responses_4xx;
            respond({400, "400 Bad Request: invalid URL escape", "text/plain; charset=utf-8", {}});
            return restinio::request_accepted();
        }
        req.path = std::move(*path);
        req.query = std::move(*query);
        log->debug("request: method={} url={} from={}", verb_name(req.method), hdr.request_target(),
                   req.remote);
        dispatch(std::move(req), std::move(respond));
        return restinio::request_accepted();
    }
    // The settings both listeners share: limits, timeouts, the bound-port report and the
    // handler that feeds the one route table.
    template <typename Traits>
    restinio::server_settings_t<Traits> settings_for(int port, std::uint16_t impl::*bound) {
        auto limits = restinio::incoming_http_msg_limits_t{}
                          .max_url_size(cfg.max_url)
                          .max_field_name_size(cfg.max_header_name)
                          .max_field_value_size(cfg.max_header_value)
                          .max_field_count(cfg.max_header_count)
                          .max_body_size(cfg.hard_max_body);
        std::weak_ptr<impl> weak = weak_from_this();
        restinio::server_settings_t<Traits> settings;
        settings.address(asio::ip::make_address(cfg.bind_addr))
            .port(static_cast<std::uint16_t>(port))
            .incoming_http_msg_limits(limits)
            .max_parallel_connections(cfg.max_connections)
            .handle_request_timeout(cfg.request_timeout)
            .read_next_http_message_timelimit(cfg.idle_timeout)
            .write_http_response_timelimit(std::chrono::seconds(30))
            .acceptor_post_bind_hook([weak, bound](asio::ip::tcp::acceptor& a) {
                if (auto self = weak.lock()) (*self).*bound = a.local_endpoint().port();
            })
            .request_handler([weak](restinio::request_handle_t rh) {
                auto self = weak.lock();
                if (!self) return restinio::request_rejected();
                return self->on_request(std::move(rh));
            });
        return settings;
    }
};

http_api::http_api(asio::io_context& io, http_config cfg, rpc_call_fn rpc)
    : impl_(std::make_shared<impl>(io, std::move(cfg), std::move(rpc))) {}

http_api::~http_api() {
    stop();
}

void http_api::add_route(std::string pattern, std::vector<verb> methods, handler_fn handler) {
    impl_->routes[std::move(pattern)] = impl::route{std::move(methods), std::move(handler)};
}

std::expected<void, std::string> http_api::start() {
    auto& s = *impl_;
    if (s.cfg.port >= 0) {
        try {
            s.server = std::make_unique<server_t>(
                restinio::external_io_context(s.io),
                s.settings_for<server_traits>(s.cfg.port, &impl::bound_port));
            s.server->open_sync();
        } catch (const std::exception& e) {
            s.server.reset();
            return std::unexpected(fmt::format("cannot bind the HTTP port {}:{}: {}",
                                               s.cfg.bind_addr, s.cfg.port, e.what()));
        }
        s.log->info("serving HTTP on {}:{}", s.cfg.bind_addr, s.bound_port);
    }
    if (s.cfg.https_port >= 0) {
        auto ctx = s.cfg.https_context ? s.cfg.https_context() : nullptr;
        if (!ctx) {
            stop();
            return std::unexpected(fmt::format(
                "HTTPS needs a TLS certificate: ports.https = {} is set but the agent has no "
                "certificate; set tls.defaults.ca_file, cert_file and key_file",
                s.cfg.https_port));
        }
        try {
            auto settings =
                s.settings_for<tls_server_traits>(s.cfg.https_port, &impl::bound_tls_port);
            settings.tls_context(dispatching_context(ctx, s.cfg.https_context));
            s.tls_server = std::make_unique<tls_server_t>(restinio::external_io_context(s.io),
                                                          std::move(settings));
            s.tls_server->open_sync();
        } catch (const std::exception& e) {
            s.tls_server.reset();
            stop();
            return std::unexpected(fmt::format("cannot bind the HTTPS port {}:{}: {}",
                                               s.cfg.bind_addr, s.cfg.https_port, e.what()));
        }
        s.log->info("serving HTTPS on {}:{} (client certificates {})", s.cfg.bind_addr,
                    s.bound_tls_port,
                    SSL_CTX_get_verify_mode(ctx.get()) & SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                        ? "required"
                        : "verified when presented");
    }
    return {};
}

namespace {
template <typename Server>
void close_server(std::unique_ptr<Server>& server, spdlog::logger& log, const char* what) {
    if (!server) return;
    try {
        server->close_sync();
    } catch (const std::exception& e) {
        log.warn("closing the {} server: {}", what, e.what());
    }
    server.reset();
}
}  // namespace

void http_api::stop() {
    auto& s = *impl_;
    close_server(s.server, *s.log, "HTTP");
    close_server(s.tls_server, *s.log, "HTTPS");
}

std::uint16_t http_api::port() const {
    return impl_->bound_port;
}
std::uint16_t http_api::https_port() const {
    return impl_->bound_tls_port;
}
const http_config& http_api::config() const {
    return impl_->cfg;
}
const rpc_call_fn& http_api::rpc() const {
    return impl_->rpc;
}
const http_stats& http_api::stats() const {
    return impl_->stats;
}
void http_api::dispatch(request req, respond_fn respond) {
    impl_->dispatch(std::move(req), std::move(respond));
}

}  // namespace meshfed::agent::http
