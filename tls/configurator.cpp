#include "tls/configurator.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <chrono>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "tls/alpn.hpp"
#include "tls/names.hpp"

namespace meshfed::tls {
namespace {

// Per-SSL storage of the ALPN list a client offered (filled by the ALPN select callback).
void free_offered(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
    delete static_cast<std::vector<std::string>*>(ptr);
}

int offered_index() {
    static const int idx = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, free_offered);
    return idx;
}

std::vector<std::string> parse_alpn_wire(const unsigned char* in, unsigned int inlen) {
    std::vector<std::string> out;
    unsigned int i = 0;
    while (i < inlen) {
        unsigned int len = in[i++];
        if (len == 0 || i + len > inlen) break;  // malformed: keep what parsed
        out.emplace_back(reinterpret_cast<const char*>(in + i), len);
        i += len;
    }
    return out;
}

// Server preference order, like Go's crypto/tls: the first of our protocols the client offers.
int select_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
    auto offered = parse_alpn_wire(in, inlen);
    auto* stored = new std::vector<std::string>(offered);
    delete static_cast<std::vector<std::string>*>(SSL_get_ex_data(ssl, offered_index()));
    SSL_set_ex_data(ssl, offered_index(), stored);
    for (auto ours : alpn::rpc_next_protos) {
        for (unsigned int i = 0; i < inlen;) {
            unsigned int len = in[i];
            if (i + 1 + len > inlen) break;
            if (std::string_view(reinterpret_cast<const char*>(in + i + 1), len) == ours) {
                *out = in + i + 1;
                *outlen = static_cast<unsigned char>(len);
                return SSL_TLSEXT_ERR_OK;
            }
            i += 1 + len;
        }
    }
    // Go answers an ALPN offer it cannot meet with the no_application_protocol alert.
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

std::shared_ptr<SSL_CTX> wrap(SSL_CTX* ctx) {
    return std::shared_ptr<SSL_CTX>(ctx, [](SSL_CTX* c) { SSL_CTX_free(c); });
}

std::string time_text(std::chrono::system_clock::time_point t) {
    return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", std::chrono::floor<std::chrono::seconds>(t));
}

bool has_host(X509* cert, const std::string& name) {
    return X509_check_host(cert, name.data(), name.size(), 0, nullptr) == 1;
}

}  // namespace

int openssl_min_version(std::string_view v) {
    if (v == "TLSv1_0" || v == "tls10") return TLS1_VERSION;
    if (v == "TLSv1_1" || v == "tls11") return TLS1_1_VERSION;
    if (v == "TLSv1_2" || v == "tls12") return TLS1_2_VERSION;
    if (v == "TLSv1_3" || v == "tls13") return TLS1_3_VERSION;
    return 0;
}

std::string configurator::describe_names(X509* cert) {
    if (!cert) return "[no certificate]";
    auto info = inspect_certificate(cert);
    std::vector<std::string> names = info.dns_names;
    if (names.empty() && !info.common_name.empty()) names.push_back("CN=" + info.common_name);
    return fmt::format("[{}]", fmt::join(names, ", "));
}

std::expected<std::shared_ptr<configurator>, std::vector<std::string>> configurator::create(
    const settings& s, const agent_identity& id) {
    std::shared_ptr<configurator> c(new configurator(s, id));
    auto built = c->build();
    if (!built) return std::unexpected(built.error());
    c->current_ = std::move(*built);
    return c;
}

std::vector<std::string> configurator::reload() {
    auto built = build();
    if (!built) return built.error();
    std::lock_guard lock(mu_);
    current_ = std::move(*built);
    return {};
}

bool configurator::enabled() const {
    return settings_.has_identity();
}

std::shared_ptr<SSL_CTX> configurator::incoming_rpc() const {
    std::lock_guard lock(mu_);
    return current_.incoming_rpc;
}
std::shared_ptr<SSL_CTX> configurator::incoming_alpn() const {
    std::lock_guard lock(mu_);
    return current_.incoming_alpn;
}
std::shared_ptr<SSL_CTX> configurator::outgoing() const {
    std::lock_guard lock(mu_);
    return current_.outgoing;
}

std::expected<configurator::contexts, std::vector<std::string>> configurator::build() const {
    std::vector<std::string> errs;
    const auto& s = settings_;
    contexts out;
    if (s.ca_file.empty() && s.cert_file.empty() && s.key_file.empty()) return out;  // no TLS
    int min_version = openssl_min_version(s.min_version);
    if (!min_version)
        errs.push_back(fmt::format("tls_min_version: unsupported value \"{}\"", s.min_version));

    std::vector<x509_ptr> roots;
    if (s.ca_file.empty()) {
        errs.push_back("tls.defaults.ca_file is not set: a CA is needed to verify peers");
    } else if (auto r = load_certificates_pem(s.ca_file); !r) {
        errs.push_back(fmt::format("ca_file {}: {}", s.ca_file, r.error()));
    } else {
        roots = std::move(*r);
    }

    x509_ptr cert;
    pkey_ptr key;
    if (s.cert_file.empty() != s.key_file.empty()) {
        errs.push_back("tls.defaults.cert_file and key_file must be set together");
    } else if (!s.cert_file.empty()) {
        if (auto r = load_certificate_pem(s.cert_file); !r) {
            errs.push_back(fmt::format("cert_file {}: {}", s.cert_file, r.error()));
        } else {
            cert = std::move(*r);
        }
        if (auto r = load_private_key_pem(s.key_file); !r) {
            errs.push_back(fmt::format("key_file {}: {}", s.key_file, r.error()));
        } else {
            key = std::move(*r);
        }
    } else if (identity_.server) {
        errs.push_back(
            "a server needs its own certificate: set tls.defaults.cert_file and key_file");
    }

    if (cert && key && !key_matches_certificate(cert.get(), key.get()))
        errs.push_back(fmt::format("key_file {} does not match the certificate in cert_file {}",
                                   s.key_file, s.cert_file));
    if (cert) {
        auto info = inspect_certificate(cert.get());
        auto now = std::chrono::system_clock::now();
        bool in_time = true;
        if (now < info.not_before) {
            in_time = false;
            errs.push_back(fmt::format("cert_file {}: certificate is not valid until {}",
                                       s.cert_file, time_text(info.not_before)));
        }
        if (now > info.not_after) {
            in_time = false;
            errs.push_back(fmt::format("cert_file {}: certificate expired at {}", s.cert_file,
                                       time_text(info.not_after)));
        }
        if (in_time && !roots.empty()) {
            if (auto v = verify_certificate(roots, cert.get(), ""); !v)
                errs.push_back(
                    fmt::format("cert_file {}: certificate is not signed by the CA in "
                                "{}: {}",
                                s.cert_file, s.ca_file, v.error()));
        }
        if (identity_.server) {
            std::string want = server_name(identity_.datacenter, identity_.domain);
            if (!has_host(cert.get(), want))
                errs.push_back(fmt::format(
                    "cert_file {}: a server certificate must carry the DNS name {} (it has {}); "
                    "make one with `meshfed tls cert create -server -dc {}`",
                    s.cert_file, want, describe_names(cert.get()), identity_.datacenter));
            if (identity_.mesh_gateway_wan_federation) {
                std::string node =
                    node_server_name(identity_.node_name, identity_.datacenter, identity_.domain);
                if (!has_host(cert.get(), node))
                    errs.push_back(fmt::format(
                        "cert_file {}: WAN federation via mesh gateways needs the DNS name {} in "
                        "the server certificate (it has {}); make one with `meshfed tls cert "
                        "create -server -dc {} -node {}`",
                        s.cert_file, node, describe_names(cert.get()), identity_.datacenter,
                        identity_.node_name));
            }
        }
    }
    if (!errs.empty()) return std::unexpected(errs);

    auto make = [&](const SSL_METHOD* method) -> std::shared_ptr<SSL_CTX> {
        SSL_CTX* raw = SSL_CTX_new(method);
        if (!raw) return nullptr;
        auto ctx = wrap(raw);
        SSL_CTX_set_min_proto_version(raw, min_version);
        SSL_CTX_set_options(raw, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
        // Send exactly the configured certificate, as Go does; peers verify with their CA.
        SSL_CTX_set_mode(raw, SSL_MODE_NO_AUTO_CHAIN);
        X509_STORE* store = SSL_CTX_get_cert_store(raw);
        for (const auto& r : roots) X509_STORE_add_cert(store, r.get());
        if (cert && key) {
            if (SSL_CTX_use_certificate(raw, cert.get()) != 1 ||
                SSL_CTX_use_PrivateKey(raw, key.get()) != 1 || SSL_CTX_check_private_key(raw) != 1)
                return nullptr;
        }
        return ctx;
    };

    out.outgoing = make(TLS_client_method());
    if (!out.outgoing)
        return std::unexpected(std::vector<std::string>{
            fmt::format("cannot build the outgoing TLS context: {}", openssl_error())});
    // Peer verification is decided per connection (configure_client).
    SSL_CTX_set_verify(out.outgoing.get(), SSL_VERIFY_NONE, nullptr);

    if (cert && key) {
        out.incoming_rpc = make(TLS_server_method());
        out.incoming_alpn = make(TLS_server_method());
        if (!out.incoming_rpc || !out.incoming_alpn)
            return std::unexpected(std::vector<std::string>{
                fmt::format("cannot build the incoming TLS context: {}", openssl_error())});
        for (auto* ctx : {out.incoming_rpc.get(), out.incoming_alpn.get()}) {
            for (const auto& r : roots) SSL_CTX_add_client_CA(ctx, r.get());
        }
        // Consul: RequireAndVerifyClientCert with verify_incoming, VerifyClientCertIfGiven
        // without it; the native-TLS (ALPN) path always requires one.
        SSL_CTX_set_verify(
            out.incoming_rpc.get(),
            s.verify_incoming ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER,
            nullptr);
        SSL_CTX_set_verify(out.incoming_alpn.get(),
                           SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
        SSL_CTX_set_alpn_select_cb(out.incoming_alpn.get(), select_alpn, nullptr);
        // Session tickets would let a client resume without presenting its certificate again.
        SSL_CTX_set_options(out.incoming_alpn.get(), SSL_OP_NO_TICKET);
        SSL_CTX_set_options(out.incoming_rpc.get(), SSL_OP_NO_TICKET);
        SSL_CTX_set_session_cache_mode(out.incoming_alpn.get(), SSL_SESS_CACHE_OFF);
        SSL_CTX_set_session_cache_mode(out.incoming_rpc.get(), SSL_SESS_CACHE_OFF);
    }
    return out;
}

std::string configurator::server_sni(const client_target& t) const {
    if (t.node.empty() || t.node == "*") return server_name(t.datacenter, identity_.domain);
    return node_server_name(t.node, t.datacenter, identity_.domain);
}

std::expected<void, std::string> configurator::configure_client(SSL* ssl,
                                                                const client_target& t) const {
    if (t.via_mesh_gateway && !enabled())
        return std::unexpected("cannot dial via a mesh gateway when outgoing TLS is disabled");
    bool check_name = t.via_mesh_gateway || settings_.verify_server_hostname;
    bool verify = t.via_mesh_gateway || settings_.verify_outgoing || check_name;
    if (check_name) {
        std::string sni = server_sni(t);
        if (SSL_set_tlsext_host_name(ssl, sni.c_str()) != 1)
            return std::unexpected(fmt::format("cannot set SNI {}: {}", sni, openssl_error()));
    }
    if (!t.alpn.empty()) {
        if (t.alpn.size() > 255) return std::unexpected("ALPN protocol name too long");
        std::string wire;
        wire.push_back(static_cast<char>(t.alpn.size()));
        wire += t.alpn;
        if (SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(wire.data()),
                                static_cast<unsigned>(wire.size())) != 0)
            return std::unexpected(fmt::format("cannot offer ALPN {}", t.alpn));
    }
    SSL_set_verify(ssl, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
    return {};
}

std::expected<void, std::string> configurator::check_server_peer(SSL* ssl,
                                                                 const client_target& t) const {
    if (!t.alpn.empty()) {
        const unsigned char* sel = nullptr;
        unsigned int len = 0;
        SSL_get0_alpn_selected(ssl, &sel, &len);
        std::string_view got(reinterpret_cast<const char*>(sel), sel ? len : 0);
        if (got != t.alpn)
            return std::unexpected(
                got.empty()
                    ? fmt::format("requested ALPN \"{}\" but the server negotiated no protocol",
                                  t.alpn)
                    : fmt::format("requested ALPN \"{}\" but the server negotiated \"{}\"", t.alpn,
                                  got));
    }
    if (t.via_mesh_gateway || settings_.verify_server_hostname) {
        X509* peer = SSL_get0_peer_certificate(ssl);
        std::string want = server_sni(t);
        if (!peer)
            return std::unexpected(
                fmt::format("server presented no certificate; expected identity {}", want));
        if (!has_host(peer, want))
            return std::unexpected(fmt::format(
                "server certificate does not match the server dialed: expected identity {}, "
                "presented {}",
                want, describe_names(peer)));
    }
    return {};
}

std::expected<void, std::string> configurator::authorize_server_peer(
    SSL* ssl, std::optional<std::string_view> dc) const {
    X509* peer = SSL_get0_peer_certificate(ssl);
    if (!peer)
        return std::unexpected(
            "peer presented no certificate; server-only protocols need a server certificate");
    long vr = SSL_get_verify_result(ssl);
    if (vr != X509_V_OK)
        return std::unexpected(fmt::format("peer certificate {} did not verify: {}",
                                           describe_names(peer),
                                           X509_verify_cert_error_string(vr)));
    if (X509_check_purpose(peer, X509_PURPOSE_SSL_CLIENT, 0) != 1)
        return std::unexpected(fmt::format(
            "peer certificate {} is not valid for client authentication", describe_names(peer)));
    bool ok = false;
    if (dc) {
        ok = has_host(peer, server_name(*dc, identity_.domain));
    } else {
        for (const auto& n : inspect_certificate(peer).dns_names) {
            auto parts = parse_server_name(n, identity_.domain);
            if (parts && parts->node.empty()) ok = true;
        }
    }
    if (!ok)
        return std::unexpected(fmt::format(
            "peer certificate is not a server certificate: expected the DNS name {}, presented {}",
            dc ? server_name(*dc, identity_.domain) : server_name("<datacenter>", identity_.domain),
            describe_names(peer)));
    return {};
}

client_hello configurator::hello_of(SSL* ssl) {
    client_hello h;
    if (const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) h.sni = sni;
    if (auto* offered =
            static_cast<std::vector<std::string>*>(SSL_get_ex_data(ssl, offered_index())))
        h.alpn_offered = *offered;
    return h;
}

}  // namespace meshfed::tls
