#pragma once
// Certificate tooling, owned by tls/: what `meshfed tls ca create` and `meshfed tls cert create`
// do, made like `consul tls ca create` / `consul tls cert create` make them, so the files are
// interchangeable with Consul's:
//   * keys: ECDSA P-256, PEM "EC PRIVATE KEY" (SEC1), written with mode 0600;
//   * random 128-bit serials; SubjectKeyId (and the CA's AuthorityKeyId) = SHA-256 of the
//     DER public key; leaf AuthorityKeyId = the CA's SubjectKeyId;
//   * CA: Consul's subject layout, CN "Consul Agent CA <serial>", critical CA:TRUE without a
//     path length, KeyUsage certSign|cRLSign|digitalSignature, optional critical name
//     constraints (permitted DNS: additional..., <domain>, localhost);
//   * leaves: CN/SANs/EKUs per kind (see create_cert), KeyUsage digitalSignature|keyEncipherment,
//     critical CA:FALSE; verified against the CA for the CN before anything is written.
// Files are created with O_EXCL: existing files are never overwritten.
//
// Threading: pure functions, no shared state (only the file system is touched).
// Errors: std::expected<..., std::string>; nothing throws. Texts follow Consul's where it has
// one ("consul-agent-ca.pem already exists.", "Error reading CA: open x.pem: no such file or
// directory", "-node requires -server") and otherwise name the file and the problem.
#include <expected>
#include <filesystem>
#include <string>
#include <vector>

namespace meshfed::tls {

struct ca_options {
    int days = 1825;
    std::string domain = "consul";
    bool name_constraint = false;
    std::vector<std::string> additional_name_constraints;  // only used with name_constraint
    std::string common_name;                               // "" = "Consul Agent CA <serial>"
    std::string cluster_id;  // "" = none; else URI SAN spiffe://<cluster_id>.<domain>
    std::filesystem::path dir = ".";
};

enum class cert_kind { server, client, cli };

struct cert_options {
    cert_kind kind = cert_kind::server;
    std::string dc = "dc1";
    std::string domain = "consul";
    int days = 365;
    std::string node;  // server only: adds <node>.server.<dc>.<domain>
    // Explicit paths are used as given (relative = to the working directory, not dir).
    std::string ca_file;   // "" = <domain>-agent-ca.pem in dir; "#DOMAIN#" is replaced
    std::string key_file;  // "" = <domain>-agent-ca-key.pem in dir; "#DOMAIN#" is replaced
    std::vector<std::string> dns_names;     // -additional-dnsname (trimmed, empty skipped)
    std::vector<std::string> ip_addresses;  // -additional-ipaddress
    std::filesystem::path dir = ".";        // where the new files go
};

struct created {
    std::filesystem::path cert_file;
    std::filesystem::path key_file;
    // What the CLI prints, one entry per call of Consul's UI (print each followed by "\n").
    // The server-certificate WARNING is one entry spanning four lines.
    std::vector<std::string> messages;
};

// Writes <domain>-agent-ca.pem (0644 minus umask) and <domain>-agent-ca-key.pem (0600) in dir.
std::expected<created, std::string> create_ca(const ca_options& opts);

// Writes <dc>-<kind>-<domain>-<N>.pem and <dc>-<kind>-<domain>-<N>-key.pem in dir, N the first
// number for which neither file exists. Per kind:
//   server: CN server.<dc>.<domain>; DNS additional..., [<node>.server.<dc>.<domain>],
//           server.<dc>.<domain>, localhost; IP additional..., 127.0.0.1; EKU serverAuth,
//           clientAuth.
//   client: CN client.<dc>.<domain>; DNS additional..., client.<dc>.<domain>, localhost;
//           IP additional..., 127.0.0.1; EKU clientAuth, serverAuth.
//   cli:    CN cli.<dc>.<domain>; DNS cli.<dc>.<domain>, localhost (Consul drops additional DNS
//           names here); IP additional... only; no EKU extension.
std::expected<created, std::string> create_cert(const cert_options& opts);

// The CLI's "exactly one of -server, -client, -cli" rule, with Consul's error text.
std::expected<cert_kind, std::string> cert_kind_from_flags(bool server, bool client, bool cli);

// The text printed before a server certificate is made (Consul's, verbatim; four lines).
extern const char* const server_cert_warning;

}  // namespace meshfed::tls
