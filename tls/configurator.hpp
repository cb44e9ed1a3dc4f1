#pragma once
// The TLS configurator, owned by tls/: the one place that turns the operator's TLS settings
// into OpenSSL contexts and decides who a peer is.
//
//   incoming_rpc()   server side of the RPC port's 0x03 upgrade: a client certificate is
//                    required with verify_incoming, otherwise verified when presented.
//   incoming_alpn()  server side of native TLS (first byte > 0x09): always mutual TLS, ALPN
//                    chosen from the protocols the server offers (Consul's IncomingALPNRPCConfig).
//   outgoing()       client side: presents our certificate, verifies the server chain when
//                    verify_outgoing is on (always for mesh-gateway dials, see client_target).
//
// Per connection: configure_client() sets SNI, one ALPN protocol and peer verification on an
// SSL*; check_server_peer() then checks the presented identity with messages that name the
// expected and presented names; authorize_server_peer() is the role check that keeps a client
// certificate from the same CA away from server-only handlers (CVE-2021-37219);
// hello_of() reports the SNI and ALPN list a client offered.
//
// Contexts are built once and shared (std::shared_ptr<SSL_CTX>); reload() (SIGHUP) builds new
// ones from the files and swaps them in, so new connections use new certificates and live
// ones keep theirs. Threading: all members are safe to call from any thread (the swap is
// under a mutex). Errors: create()/reload() return every problem found, each naming the file
// and what is wrong; per-connection checks return std::expected<void, std::string>.
#include <openssl/types.h>

#include <expected>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tls/settings.hpp"
#include "tls/x509.hpp"

namespace meshfed::tls {

// Who this agent is: decides which SANs its own certificate must carry.
struct agent_identity {
    std::string datacenter = "dc1";
    std::string domain = "consul";
    std::string node_name;
    bool server = true;
    // WAN federation via mesh gateways needs <node>.server.<dc>.<domain> in the server cert.
    bool mesh_gateway_wan_federation = false;
};

// Where a client connection is going and how the peer must prove who it is.
struct client_target {
    std::string datacenter;  // the server's datacenter
    std::string node;        // the server's node name; "" = any server of the datacenter
    std::string alpn;        // "" = no ALPN (0x03 upgrade); else exactly this one protocol
    // Through a mesh gateway: always mutual TLS and full verification, SNI and the required
    // identity are <node>.server.<dc>.<domain> (or server.<dc>.<domain> for any server).
    bool via_mesh_gateway = false;
};

// What the client offered in its ClientHello.
struct client_hello {
    std::string sni;                        // "" = none
    std::vector<std::string> alpn_offered;  // in the client's order
};

class configurator {
  public:
    // Loads and checks the CA, certificate and key. An empty `settings` (no files) is valid:
    // the agent then has no TLS and contexts are null.
    static std::expected<std::shared_ptr<configurator>, std::vector<std::string>> create(
        const settings& s, const agent_identity& id);

    // Re-reads the files of the current settings; on success new connections use them. On
    // failure the running contexts are kept and the problems returned.
    std::vector<std::string> reload();

    bool enabled() const;  // CA + certificate + key configured
    bool verify_incoming() const { return settings_.verify_incoming; }
    bool verify_outgoing() const { return settings_.verify_outgoing; }
    const agent_identity& identity() const { return identity_; }

    std::shared_ptr<SSL_CTX> incoming_rpc() const;
    std::shared_ptr<SSL_CTX> incoming_alpn() const;
    std::shared_ptr<SSL_CTX> outgoing() const;

    // The name our outgoing connection sends as SNI and verifies, per Consul's ServerSNI:
    // <node>.server.<dc>.<domain> or server.<dc>.<domain>.
    std::string server_sni(const client_target& t) const;

    // Before the handshake of an outgoing connection.
    std::expected<void, std::string> configure_client(SSL* ssl, const client_target& t) const;

    // After the handshake of an outgoing connection: the negotiated ALPN and the server's
    // identity, when required (verify_server_hostname, or always through a mesh gateway).
    std::expected<void, std::string> check_server_peer(SSL* ssl, const client_target& t) const;

    // Server side, after the handshake: the peer presented a verified certificate that carries
    // a server identity (server.<dc>.<domain>, `dc` = nullopt for any datacenter).
    std::expected<void, std::string> authorize_server_peer(
        SSL* ssl, std::optional<std::string_view> dc = std::nullopt) const;

    // Server side: the SNI and ALPN list the client offered (recorded during the handshake).
    static client_hello hello_of(SSL* ssl);

    // The names a certificate carries, for logs ("[server.dc1.consul, localhost]").
    static std::string describe_names(X509* cert);

  private:
    struct contexts {
        std::shared_ptr<SSL_CTX> incoming_rpc, incoming_alpn, outgoing;
    };
    configurator(settings s, agent_identity id)
        : settings_(std::move(s)), identity_(std::move(id)) {}
    std::expected<contexts, std::vector<std::string>> build() const;

    settings settings_;
    agent_identity identity_;
    mutable std::mutex mu_;
    contexts current_;
};

// Maps tls_min_version ("TLSv1_2", "tls12", ...) to OpenSSL's constant; 0 if unknown.
int openssl_min_version(std::string_view v);

}  // namespace meshfed::tls
