#pragma once
// The agent's HTTP API (Consul's port 8500), owned by agent/http/. A RESTinio server bound to
// client_addr:ports.http on the agent's io_context, and when https_port is set a second one
// speaking TLS on client_addr:ports.https (Consul's 8501) with the agent's certificate; both
// serve the same route table. RESTinio stays inside http_api.cpp.
//
// Routing: a table of (pattern, allowed methods, handler). A pattern ending in '/' matches
//   every path under it (the remainder is request::suffix, URL-decoded), any other pattern
//   matches exactly. The longest matching pattern wins. No match: 404 "404 page not found"; a
//   match whose methods do not include the request's: 405 "method X not allowed" (Consul's
//   texts). Other modules add their routes with add_route() before or after start().
// Handlers answer exactly once through `respond`, now or later (a blocking query answers when
//   its RPC does); RESTinio keeps the connection open meanwhile (up to request_timeout).
// Data access: handlers never touch the state store; they call RPC methods through
//   rpc_call(dc, method, msgpack body, reply), which the agent wires to the local handler table
//   (dc empty or local) or to the forwarder (another datacenter), as RPCs from the network.
// Bounds: bodies above max_body get 413 (up to hard_max_body; beyond that the connection is
//   closed before the body is read), URL, header and field-count limits close the connection,
//   at most max_connections connections at once.
// Threading: construct, call and destroy on the io_context's thread; the io_context must be
//   run by exactly one thread. Errors: start() returns what prevented serving (bind errors);
//   request problems are answered with Consul's status codes and counted in http_stats.
//   A TLS handshake that fails (no client certificate with verify_incoming, plain HTTP sent to
//   the HTTPS port) closes that connection before any request is read.
#include <openssl/types.h>

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rpc/handler.hpp"

namespace asio {
class io_context;
}

namespace meshfed::agent::http {

enum class verb : std::uint8_t { get, head, put, post, del, options, patch, other };
std::string_view verb_name(verb v);  // "GET", "PUT", "DELETE", ...

struct request {
    verb method = verb::get;
    std::string path;    // URL-decoded path, without the query
    std::string suffix;  // for prefix routes: the part of `path` after the pattern
    std::vector<std::pair<std::string, std::string>> query;    // URL-decoded, in order
    std::vector<std::pair<std::string, std::string>> headers;  // as received
    std::string body;
    std::string remote;  // "ip:port" of the client

    // First value of a query parameter; present-but-empty ("?passing") gives "".
    std::optional<std::string> query_value(std::string_view key) const;
    bool has_query(std::string_view key) const { return query_value(key).has_value(); }
    // Case-insensitive header lookup; "" when absent.
    std::string header(std::string_view name) const;
};

struct response {
    int status = 200;
    std::string body;
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;
};

using respond_fn = std::function<void(response)>;  // call exactly once, on the io thread
using handler_fn = std::function<void(const request&, respond_fn)>;
// Routes an RPC: dc "" = the local datacenter. The reply comes on the io thread.
using rpc_call_fn = std::function<void(std::string dc, std::string method,
                                       std::vector<std::uint8_t> body, rpc::reply_fn reply)>;

struct http_config {
    std::string bind_addr = "127.0.0.1";  // client_addr
    int port = 8500;                      // 0 = any free port; < 0 = HTTP disabled
    int https_port = -1;                  // 0 = any free port; < 0 = HTTPS disabled
    // The server-side TLS context for HTTPS (the agent's certificate, CA and client-certificate
    // policy, e.g. tls::configurator::incoming_rpc()). Asked at start() (required when
    // https_port >= 0; its client-certificate mode, minimum version and options hold for the
    // server's life) and again at each handshake, so reloaded certificates reach new
    // connections. Called on the io thread.
    std::function<std::shared_ptr<SSL_CTX>()> https_context;
    std::string datacenter = "dc1";      // the default for ?dc=
    std::size_t max_body = 1024 * 1024;  // larger bodies: 413
    std::size_t hard_max_body = 8 * 1024 * 1024;
    std::size_t max_url = 16 * 1024;
    std::size_t max_header_value = 64 * 1024;
    std::size_t max_header_name = 1024;
    std::size_t max_header_count = 128;
    std::size_t max_connections = 4096;
    // A blocking query may wait 600 s + 1/16 jitter; the connection must outlive it.
    std::chrono::seconds request_timeout{660};
    std::chrono::seconds idle_timeout{90};
};

struct http_stats {
    std::uint64_t requests = 0;
    std::uint64_t responses_2xx = 0, responses_4xx = 0, responses_5xx = 0;
    std::uint64_t not_found = 0, method_not_allowed = 0, too_large = 0;
    std::uint64_t handler_exceptions = 0;  // a handler threw: answered 500
    std::uint64_t pending = 0;             // accepted, not answered yet
};

class http_api {
  public:
    http_api(asio::io_context& io, http_config cfg, rpc_call_fn rpc);
    ~http_api();
    http_api(const http_api&) = delete;
    http_api& operator=(const http_api&) = delete;

    void add_route(std::string pattern, std::vector<verb> methods, handler_fn handler);

    // Binds and starts accepting (HTTP, then HTTPS). Errors: "cannot bind the HTTP port
    // ip:port: reason" (HTTPS likewise), "HTTPS needs a TLS certificate ..." when https_port is
    // set without a context.
    std::expected<void, std::string> start();
    void stop();                       // closes the listeners and open connections
    std::uint16_t port() const;        // the bound HTTP port (after start)
    std::uint16_t https_port() const;  // the bound HTTPS port (after start), 0 if none

    const http_config& config() const;
    const rpc_call_fn& rpc() const;
    const http_stats& stats() const;
    // Dispatches `req` through the route table as if it came from the network (tests, and
    // the RESTinio glue).
    void dispatch(request req, respond_fn respond);

  private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace meshfed::agent::http
