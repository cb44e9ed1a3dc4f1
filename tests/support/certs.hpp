#pragma once
// Test support: a throwaway PKI made with meshfed's own `tls` tooling (certgen), plus leaves
// with arbitrary names and validity for negative tests (expired, wrong names).
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/support/process.hpp"
#include "tls/certgen.hpp"
#include "tls/x509.hpp"

namespace meshfed::test {

struct cert_pair {
    std::string cert, key;
};

class test_pki {
  public:
    // A CA in <dir>/<name>/ with domain "consul".
    explicit test_pki(const std::filesystem::path& dir) : dir_(dir) {
        std::filesystem::create_directories(dir_);
        tls::ca_options o;
        o.dir = dir_;
        auto r = tls::create_ca(o);
        ok_ = r.has_value();
        if (ok_) {
            ca_ = r->cert_file.string();
            ca_key_ = r->key_file.string();
        }
    }
    bool ok() const { return ok_; }
    const std::string& ca() const { return ca_; }

    cert_pair make(tls::cert_kind kind, const std::string& dc, const std::string& node = "") const {
        tls::cert_options o;
        o.kind = kind;
        o.dc = dc;
        o.node = node;
        o.dir = dir_;
        o.ca_file = ca_;
        o.key_file = ca_key_;
        auto r = tls::create_cert(o);
        if (!r) return {};
        return {r->cert_file.string(), r->key_file.string()};
    }
    cert_pair server(const std::string& dc, const std::string& node = "") const {
        return make(tls::cert_kind::server, dc, node);
    }
    cert_pair client(const std::string& dc) const { return make(tls::cert_kind::client, dc); }

    // A leaf signed by this CA with the given DNS names and validity offsets from now (seconds),
    // EKU serverAuth+clientAuth. For expired / not-yet-valid / wrong-name certificates.
    cert_pair custom(const std::string& name, const std::vector<std::string>& dns, long from_s,
                     long to_s) const {
        auto ca = tls::load_certificate_pem(ca_);
        auto ca_key = tls::load_private_key_pem(ca_key_);
        if (!ca || !ca_key) return {};
        EVP_PKEY* key = EVP_EC_gen("P-256");
        X509* x = X509_new();
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial_);
        X509_gmtime_adj(X509_getm_notBefore(x), from_s);
        X509_gmtime_adj(X509_getm_notAfter(x), to_s);
        X509_NAME* subj = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>(dns.front().c_str()), -1,
                                   -1, 0);
        X509_set_issuer_name(x, X509_get_subject_name(ca->get()));
        X509_set_pubkey(x, key);
        std::string san;
        for (const auto& d : dns) san += (san.empty() ? "DNS:" : ",DNS:") + d;
        X509V3_CTX ctx;
        X509V3_set_ctx(&ctx, ca->get(), x, nullptr, nullptr, 0);
        for (auto [nid, val] :
             {std::pair{NID_subject_alt_name, san},
              std::pair{NID_ext_key_usage, std::string("serverAuth,clientAuth")}}) {
            X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, val.c_str());
            X509_add_ext(x, ext, -1);
            X509_EXTENSION_free(ext);
        }
        X509_sign(x, ca_key->get(), EVP_sha256());
        cert_pair out{(dir_ / (name + ".pem")).string(), (dir_ / (name + "-key.pem")).string()};
        std::ofstream(out.cert) << *tls::certificate_to_pem(x);
        std::ofstream(out.key) << *tls::private_key_to_pem(key);
        X509_free(x);
        EVP_PKEY_free(key);
        return out;
    }

  private:
    std::filesystem::path dir_;
    std::string ca_, ca_key_;
    bool ok_ = false;
    mutable long serial_ = 1000;
};

}  // namespace meshfed::test
