#pragma once
// TLS settings as an operator writes them (`tls { defaults {...} internal_rpc {...} }` and the
// legacy top-level keys). Owned by tls/: the configurator (a later issue) turns these into
// OpenSSL contexts. Plain data; no threading concerns.
#include <string>

namespace meshfed::tls {

struct settings {
    std::string ca_file;
    std::string cert_file;
    std::string key_file;
    bool verify_incoming = false;
    bool verify_outgoing = false;
    bool verify_server_hostname = false;  // tls.internal_rpc.verify_server_hostname
    std::string min_version = "TLSv1_2";  // tls_min_version, Consul's spelling

    // True when the agent can do mutual TLS: it has a CA and its own certificate and key.
    bool has_identity() const {
        return !ca_file.empty() && !cert_file.empty() && !key_file.empty();
    }
};

// Consul accepts TLSv1_0 .. TLSv1_3 (and the pre-1.12 spellings tls10 .. tls13).
bool is_valid_min_version(const std::string& v);

}  // namespace meshfed::tls
