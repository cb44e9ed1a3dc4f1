#pragma once
// The HTTP client side of the CLI verbs (`meshfed members`, `catalog ...`, `join`, `keyring`,
// ...): Consul's common HTTP flags with Consul's environment variables, and a small blocking
// client for the agent's HTTP API. Error texts are the ones Consul's Go API client produces, so
// the verbs can print them after Consul's prefixes:
//   "Unexpected response code: 500 (No path to datacenter)"
//   `Get "http://127.0.0.1:8500/v1/agent/members?segment=_all": dial tcp 127.0.0.1:8500:
//    connect: connection refused`
// Threading: none; one request at a time on the caller's thread.
// Errors: std::expected carrying the text; nothing throws.
#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace meshfed::agent::cli {

// Raw flag values as given on the command line; empty means "not given".
struct http_flags {
    std::string http_addr, token, token_file, ca_file, ca_path, client_cert, client_key;
    std::string datacenter;  // server flag (catalog verbs)
    bool stale = false;      // server flag
};

// Environment lookup, injectable so tests need not touch the process environment.
using env_lookup = std::function<std::optional<std::string>(const std::string&)>;
env_lookup process_env();

struct http_config {
    std::string scheme = "http";
    std::string host = "127.0.0.1";  // without IPv6 brackets
    int port = 8500;
    std::string token, datacenter, ca_file, ca_path, client_cert, client_key;
    bool stale = false;
    bool verify_tls = true;

    std::string host_port() const;  // "127.0.0.1:8500", "[::1]:8500"
};

// Consul's api.DefaultConfig + HTTPFlags.MergeOntoConfig + api.NewClient checks:
// address from -http-addr, else MESHFED_HTTP_ADDR, else CONSUL_HTTP_ADDR, else
// 127.0.0.1:8500; "http://", "https://" prefixes (CONSUL_HTTP_SSL=true also selects https,
// CONSUL_HTTP_SSL_VERIFY=false skips verification); token from -token, else
// CONSUL_HTTP_TOKEN, replaced by the content of -token-file / CONSUL_HTTP_TOKEN_FILE when that
// is set; CONSUL_CACERT, CONSUL_CAPATH, CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY.
// The error is the text Consul prints after "Error connecting to Consul agent: ".
std::expected<http_config, std::string> resolve_http_config(const http_flags& flags,
                                                            const env_lookup& env);

struct query_param {
    std::string key, value;
};
using query_params = std::vector<query_param>;

// Go's url.Values.Encode: keys sorted (stable for repeated keys), QueryEscape'd.
std::string encode_query(query_params params);
// Go's url.URL.EscapedPath for a path we build ("/v1/agent/join/" + addr).
std::string escape_path(std::string_view path);

// "Unexpected response code: 500 (No path to datacenter)" (body trimmed, as api.StatusError).
std::string unexpected_response_text(int status, std::string_view body);

struct http_reply {
    int status = 0;
    std::string body;
    std::uint64_t index = 0;  // X-Consul-Index (blocking queries); 0 when absent
};

class api_client {
  public:
    explicit api_client(http_config config) : config_(std::move(config)) {}

    // One request; adds `dc` (when -datacenter is set), `stale` and the X-Consul-Token
    // header as Consul's client does. Transport failures come back as Go's url.Error text.
    std::expected<http_reply, std::string> request(std::string_view method, std::string_view path,
                                                   query_params params, std::string body = {});
    // request() and require a 200; the value is the body.
    std::expected<std::string, std::string> request_ok(std::string_view method,
                                                       std::string_view path, query_params params,
                                                       std::string body = {});

    const http_config& config() const { return config_; }

  private:
    http_config config_;
};

}  // namespace meshfed::agent::cli
