#pragma once
// Small X.509 / PEM toolkit on OpenSSL 3, owned by tls/: RAII handles for OpenSSL objects,
// PEM loading with error texts that name the file, a plain-data view of a certificate
// (`certificate_info`) and chain verification. Used by the certificate generator (certgen) and
// by the TLS configurator, and handy in tests.
//
// Threading: every function is pure (no shared state); OpenSSL's error queue is thread-local
// and every function leaves it empty on return.
// Errors: std::expected<..., std::string>; nothing throws. Messages name the file (when there
// is one) and the problem, e.g. "open ca.pem: no such file or directory".
#include <openssl/types.h>

#include <chrono>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace meshfed::tls {

// Frees OpenSSL objects; one overload per type held in a unique_ptr below.
struct openssl_free {
    void operator()(X509* p) const;
    void operator()(EVP_PKEY* p) const;
    void operator()(X509_STORE* p) const;
    void operator()(BIO* p) const;
};
using x509_ptr = std::unique_ptr<X509, openssl_free>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, openssl_free>;
using x509_store_ptr = std::unique_ptr<X509_STORE, openssl_free>;
using bio_ptr = std::unique_ptr<BIO, openssl_free>;

// Key usage bits as reported in certificate_info::key_usage (same values as OpenSSL's KU_*).
namespace key_usage {
inline constexpr std::uint32_t digital_signature = 0x0080;
inline constexpr std::uint32_t key_encipherment = 0x0020;
inline constexpr std::uint32_t key_cert_sign = 0x0004;
inline constexpr std::uint32_t crl_sign = 0x0002;
}  // namespace key_usage

// What a certificate says, as plain data.
struct certificate_info {
    std::string subject;      // RFC 2253 form, e.g. "CN=server.dc1.consul"
    std::string issuer;       // RFC 2253 form
    std::string common_name;  // last CN of the subject ("" if none)
    std::string serial;       // decimal
    int serial_bits = 0;
    std::chrono::system_clock::time_point not_before;
    std::chrono::system_clock::time_point not_after;
    std::vector<std::string> dns_names;     // SAN dNSName entries, in certificate order
    std::vector<std::string> ip_addresses;  // SAN iPAddress entries as text ("127.0.0.1", "::1")
    std::vector<std::string> uris;          // SAN URI entries
    bool has_basic_constraints = false;
    bool is_ca = false;
    long path_len = -1;  // -1 = no pathLenConstraint
    bool has_key_usage = false;
    std::uint32_t key_usage_bits = 0;                // key_usage::* flags
    std::vector<std::string> ext_key_usages;         // short names: "serverAuth", "clientAuth"
    std::vector<std::string> permitted_dns_domains;  // name constraints, permitted dNSName subtrees
    std::vector<std::uint8_t> subject_key_id;
    std::vector<std::uint8_t> authority_key_id;
    std::string key_algorithm;  // "EC", "RSA", "ED25519", ...
    std::string key_curve;      // NIST name for EC keys ("P-256"), else ""
    int key_bits = 0;
    std::string signature_algorithm;  // e.g. "ecdsa-with-SHA256"
};

// The text of the most recent OpenSSL error (or `fallback` when the queue is empty); clears
// the thread's error queue.
std::string openssl_error(std::string_view fallback = "unknown OpenSSL error");

// Reads a whole file. Error: "open <path>: <reason>" (Go's wording, which Consul prints).
std::expected<std::string, std::string> read_text_file(const std::filesystem::path& path);

// The first PEM block must be a CERTIFICATE (as Consul's parser demands).
std::expected<x509_ptr, std::string> parse_certificate_pem(std::string_view pem);
std::expected<x509_ptr, std::string> load_certificate_pem(const std::filesystem::path& path);

// Every CERTIFICATE block (other block types are skipped, like Go's AppendCertsFromPEM);
// at least one is required.
std::expected<std::vector<x509_ptr>, std::string> parse_certificates_pem(std::string_view pem);
std::expected<std::vector<x509_ptr>, std::string> load_certificates_pem(
    const std::filesystem::path& path);

// Private key from PEM: "EC PRIVATE KEY" (SEC1), "PRIVATE KEY" (PKCS#8) or "RSA PRIVATE KEY".
// Encrypted keys are refused (never prompts for a passphrase).
std::expected<pkey_ptr, std::string> parse_private_key_pem(std::string_view pem);
std::expected<pkey_ptr, std::string> load_private_key_pem(const std::filesystem::path& path);

// PEM encodings: "CERTIFICATE"; private keys in the traditional form, which for EC keys is
// SEC1 "EC PRIVATE KEY" (what Go's x509.MarshalECPrivateKey gives).
std::expected<std::string, std::string> certificate_to_pem(X509* cert);
std::expected<std::string, std::string> private_key_to_pem(EVP_PKEY* key);

// SHA-256 of the DER SubjectPublicKeyInfo: the (non-RFC) key identifier Consul uses for
// SubjectKeyId/AuthorityKeyId.
std::expected<std::vector<std::uint8_t>, std::string> public_key_id(EVP_PKEY* key);

certificate_info inspect_certificate(X509* cert);

// True when `key` is the private key for `cert`'s public key.
bool key_matches_certificate(X509* cert, EVP_PKEY* key);

// Verifies `leaf` against `roots` at the current time; when `dns_name` is not empty the leaf
// must also be valid for that host name. Purpose "TLS server" like Go's x509.Verify default
// (a leaf with no EKU is accepted). Error: OpenSSL's reason, e.g. "certificate has expired".
std::expected<void, std::string> verify_certificate(std::span<const x509_ptr> roots, X509* leaf,
                                                    std::string_view dns_name);

}  // namespace meshfed::tls
