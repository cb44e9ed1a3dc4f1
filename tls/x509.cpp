#include "tls/x509.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>

#include <fmt/format.h>

namespace meshfed::tls {

void openssl_free::operator()(X509* p) const {
    X509_free(p);
}
void openssl_free::operator()(EVP_PKEY* p) const {
    EVP_PKEY_free(p);
}
void openssl_free::operator()(X509_STORE* p) const {
    X509_STORE_free(p);
}
void openssl_free::operator()(BIO* p) const {
    BIO_free(p);
}

namespace {

// Local owners for types that only live inside this file.
struct local_free {
    void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
    void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
    void operator()(BASIC_CONSTRAINTS* p) const { BASIC_CONSTRAINTS_free(p); }
    void operator()(EXTENDED_KEY_USAGE* p) const { EXTENDED_KEY_USAGE_free(p); }
    void operator()(NAME_CONSTRAINTS* p) const { NAME_CONSTRAINTS_free(p); }
    void operator()(BIGNUM* p) const { BN_free(p); }
    void operator()(char* p) const { OPENSSL_free(p); }
    void operator()(unsigned char* p) const { OPENSSL_free(p); }
};
template <typename T>
using local_ptr = std::unique_ptr<T, local_free>;

// Go's error strings are lower-case ("no such file or directory"); strerror's are not.
std::string go_errno_text(int err) {
    std::string s = std::strerror(err);
    if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
    return s;
}

bio_ptr memory_bio(std::string_view data) {
    return bio_ptr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

// OpenSSL would otherwise prompt on the terminal for an encrypted key.
int refuse_passphrase(char*, int, int, void*) {
    return -1;
}

std::string asn1_string_text(const ASN1_STRING* s) {
    if (s == nullptr) return {};
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                       static_cast<std::size_t>(ASN1_STRING_length(s)));
}

std::vector<std::uint8_t> asn1_bytes(const ASN1_STRING* s) {
    if (s == nullptr) return {};
    const unsigned char* d = ASN1_STRING_get0_data(s);
    return std::vector<std::uint8_t>(d, d + ASN1_STRING_length(s));
}

std::string ip_text(const ASN1_OCTET_STRING* ip) {
    const unsigned char* d = ASN1_STRING_get0_data(ip);
    int len = ASN1_STRING_length(ip);
    char buf[INET6_ADDRSTRLEN] = {};
    if (len == 4 && ::inet_ntop(AF_INET, d, buf, sizeof buf) != nullptr) return buf;
    if (len == 16 && ::inet_ntop(AF_INET6, d, buf, sizeof buf) != nullptr) return buf;
    return fmt::format("<{} byte address>", len);
}

std::string name_text(const X509_NAME* name) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio) return {};
    X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

std::chrono::system_clock::time_point asn1_time_point(const ASN1_TIME* t) {
    std::tm tm{};
    if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return {};
    return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string block_problem(std::string_view what, const std::filesystem::path& path,
                          const std::string& problem) {
    return fmt::format("{} {}: {}", what, path.string(), problem);
}

}  // namespace

std::string openssl_error(std::string_view fallback) {
    unsigned long last = 0;
    while (unsigned long e = ERR_get_error()) last = e;
    if (last == 0) return std::string(fallback);
    char buf[256];
    ERR_error_string_n(last, buf, sizeof buf);
    // "error:0A000086:SSL routines::certificate verify failed" -> keep the reason only.
    if (const char* reason = ERR_reason_error_string(last)) return reason;
    return buf;
}

std::expected<std::string, std::string> read_text_file(const std::filesystem::path& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return std::unexpected(fmt::format("open {}: {}", path.string(), go_errno_text(errno)));
    }
    std::string out;
    char buf[16384];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int err = errno;
            ::close(fd);
            return std::unexpected(fmt::format("read {}: {}", path.string(), go_errno_text(err)));
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

std::expected<x509_ptr, std::string> parse_certificate_pem(std::string_view pem) {
    bio_ptr bio = memory_bio(pem);
    char* name_raw = nullptr;
    char* header_raw = nullptr;
    unsigned char* data_raw = nullptr;
    long len = 0;
    if (!bio || PEM_read_bio(bio.get(), &name_raw, &header_raw, &data_raw, &len) != 1) {
        ERR_clear_error();
        return std::unexpected("no PEM-encoded data found");
    }
    local_ptr<char> name(name_raw), header(header_raw);
    local_ptr<unsigned char> data(data_raw);
    if (std::string_view(name.get()) != "CERTIFICATE") {
        return std::unexpected("first PEM-block should be CERTIFICATE type");
    }
    const unsigned char* p = data.get();
    x509_ptr cert(d2i_X509(nullptr, &p, len));
    if (!cert) return std::unexpected("x509: " + openssl_error("malformed certificate"));
    return cert;
}

std::expected<x509_ptr, std::string> load_certificate_pem(const std::filesystem::path& path) {
    auto text = read_text_file(path);
    if (!text) return std::unexpected(text.error());
    auto cert = parse_certificate_pem(*text);
    if (!cert) return std::unexpected(block_problem("failed to parse", path, cert.error()));
    return cert;
}

std::expected<std::vector<x509_ptr>, std::string> parse_certificates_pem(std::string_view pem) {
    bio_ptr bio = memory_bio(pem);
    if (!bio) return std::unexpected(openssl_error("out of memory"));
    std::vector<x509_ptr> certs;
    for (;;) {
        char* name_raw = nullptr;
        char* header_raw = nullptr;
        unsigned char* data_raw = nullptr;
        long len = 0;
        if (PEM_read_bio(bio.get(), &name_raw, &header_raw, &data_raw, &len) != 1) break;
        local_ptr<char> name(name_raw), header(header_raw);
        local_ptr<unsigned char> data(data_raw);
        if (std::string_view(name.get()) != "CERTIFICATE") continue;
        const unsigned char* p = data.get();
        x509_ptr cert(d2i_X509(nullptr, &p, len));
        if (!cert) return std::unexpected("x509: " + openssl_error("malformed certificate"));
        certs.push_back(std::move(cert));
    }
    ERR_clear_error();  // the loop always ends on "no start line"
    if (certs.empty()) return std::unexpected("no certificates found");
    return certs;
}

std::expected<std::vector<x509_ptr>, std::string> load_certificates_pem(
    const std::filesystem::path& path) {
    auto text = read_text_file(path);
    if (!text) return std::unexpected(text.error());
    auto certs = parse_certificates_pem(*text);
    if (!certs) return std::unexpected(block_problem("failed to parse", path, certs.error()));
    return certs;
}

std::expected<pkey_ptr, std::string> parse_private_key_pem(std::string_view pem) {
    // Look at the first block's type first so the error says what was found instead.
    {
        bio_ptr bio = memory_bio(pem);
        char* name_raw = nullptr;
        char* header_raw = nullptr;
        unsigned char* data_raw = nullptr;
        long len = 0;
        if (!bio || PEM_read_bio(bio.get(), &name_raw, &header_raw, &data_raw, &len) != 1) {
            ERR_clear_error();
            return std::unexpected("no PEM-encoded data found");
        }
        local_ptr<char> name(name_raw), header(header_raw);
        local_ptr<unsigned char> data(data_raw);
        std::string_view type(name.get());
        if (type != "EC PRIVATE KEY" && type != "PRIVATE KEY" && type != "RSA PRIVATE KEY") {
            return std::unexpected(fmt::format("unknown PEM block type for signing key: {}", type));
        }
    }
    bio_ptr bio = memory_bio(pem);
    pkey_ptr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, refuse_passphrase, nullptr));
    if (!key) return std::unexpected("invalid private key: " + openssl_error("unreadable key"));
    return key;
}

std::expected<pkey_ptr, std::string> load_private_key_pem(const std::filesystem::path& path) {
    auto text = read_text_file(path);
    if (!text) return std::unexpected(text.error());
    auto key = parse_private_key_pem(*text);
    if (!key) return std::unexpected(block_problem("failed to parse", path, key.error()));
    return key;
}

std::expected<std::string, std::string> certificate_to_pem(X509* cert) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) {
        return std::unexpected("encoding certificate: " + openssl_error());
    }
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

std::expected<std::string, std::string> private_key_to_pem(EVP_PKEY* key) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PrivateKey_traditional(bio.get(), key, nullptr, nullptr, 0, nullptr,
                                                     nullptr) != 1) {
        return std::unexpected("encoding private key: " + openssl_error());
    }
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

std::expected<std::vector<std::uint8_t>, std::string> public_key_id(EVP_PKEY* key) {
    unsigned char* der_raw = nullptr;
    int len = i2d_PUBKEY(key, &der_raw);
    if (len <= 0) return std::unexpected("encoding public key: " + openssl_error());
    local_ptr<unsigned char> der(der_raw);
    std::vector<std::uint8_t> id(32);
    unsigned int id_len = 0;
    if (EVP_Digest(der.get(), static_cast<std::size_t>(len), id.data(), &id_len, EVP_sha256(),
                   nullptr) != 1 ||
        id_len != id.size()) {
        return std::unexpected("hashing public key: " + openssl_error());
    }
    return id;
}

certificate_info inspect_certificate(X509* cert) {
    certificate_info info;
    info.subject = name_text(X509_get_subject_name(cert));
    info.issuer = name_text(X509_get_issuer_name(cert));
    X509_NAME* subject = X509_get_subject_name(cert);
    for (int i = -1; (i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) >= 0;) {
        info.common_name =
            asn1_string_text(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i)));
    }
    if (local_ptr<BIGNUM> bn{ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)}) {
        info.serial_bits = BN_num_bits(bn.get());
        if (local_ptr<char> dec{BN_bn2dec(bn.get())}) info.serial = dec.get();
    }
    info.not_before = asn1_time_point(X509_get0_notBefore(cert));
    info.not_after = asn1_time_point(X509_get0_notAfter(cert));

    if (local_ptr<GENERAL_NAMES> sans{static_cast<GENERAL_NAMES*>(
            X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr))}) {
        for (int i = 0; i < sk_GENERAL_NAME_num(sans.get()); ++i) {
            const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans.get(), i);
            if (gn->type == GEN_DNS) info.dns_names.push_back(asn1_string_text(gn->d.dNSName));
            if (gn->type == GEN_IPADD) info.ip_addresses.push_back(ip_text(gn->d.iPAddress));
            if (gn->type == GEN_URI) {
                info.uris.push_back(asn1_string_text(gn->d.uniformResourceIdentifier));
            }
        }
    }
    if (local_ptr<BASIC_CONSTRAINTS> bc{static_cast<BASIC_CONSTRAINTS*>(
            X509_get_ext_d2i(cert, NID_basic_constraints, nullptr, nullptr))}) {
        info.has_basic_constraints = true;
        info.is_ca = bc->ca != 0;
        if (bc->pathlen != nullptr) info.path_len = ASN1_INTEGER_get(bc->pathlen);
    }
    std::uint32_t ku = X509_get_key_usage(cert);
    info.has_key_usage = ku != UINT32_MAX;
    if (info.has_key_usage) info.key_usage_bits = ku;
    if (local_ptr<EXTENDED_KEY_USAGE> eku{static_cast<EXTENDED_KEY_USAGE*>(
            X509_get_ext_d2i(cert, NID_ext_key_usage, nullptr, nullptr))}) {
        for (int i = 0; i < sk_ASN1_OBJECT_num(eku.get()); ++i) {
            const ASN1_OBJECT* obj = sk_ASN1_OBJECT_value(eku.get(), i);
            int nid = OBJ_obj2nid(obj);
            char buf[128];
            if (nid != NID_undef) {
                info.ext_key_usages.emplace_back(OBJ_nid2sn(nid));
            } else {
                OBJ_obj2txt(buf, sizeof buf, obj, 1);
                info.ext_key_usages.emplace_back(buf);
            }
        }
    }
    if (local_ptr<NAME_CONSTRAINTS> nc{static_cast<NAME_CONSTRAINTS*>(
            X509_get_ext_d2i(cert, NID_name_constraints, nullptr, nullptr))}) {
        for (int i = 0; i < sk_GENERAL_SUBTREE_num(nc->permittedSubtrees); ++i) {
            const GENERAL_SUBTREE* st = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, i);
            if (st->base->type == GEN_DNS) {
                info.permitted_dns_domains.push_back(asn1_string_text(st->base->d.dNSName));
            }
        }
    }
    info.subject_key_id = asn1_bytes(X509_get0_subject_key_id(cert));
    info.authority_key_id = asn1_bytes(X509_get0_authority_key_id(cert));

    if (EVP_PKEY* pub = X509_get0_pubkey(cert)) {
        info.key_bits = EVP_PKEY_get_bits(pub);
        if (const char* type = EVP_PKEY_get0_type_name(pub)) info.key_algorithm = type;
        char group[64] = {};
        std::size_t group_len = 0;
        if (EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                           &group_len) == 1) {
            int nid = OBJ_sn2nid(group);
            const char* nist = nid != NID_undef ? EC_curve_nid2nist(nid) : nullptr;
            info.key_curve = nist != nullptr ? nist : group;
        }
    }
    int sig_nid = X509_get_signature_nid(cert);
    if (sig_nid != NID_undef) info.signature_algorithm = OBJ_nid2ln(sig_nid);
    ERR_clear_error();
    return info;
}

bool key_matches_certificate(X509* cert, EVP_PKEY* key) {
    bool ok = X509_check_private_key(cert, key) == 1;
    ERR_clear_error();
    return ok;
}

std::expected<void, std::string> verify_certificate(std::span<const x509_ptr> roots, X509* leaf,
                                                    std::string_view dns_name) {
    x509_store_ptr store(X509_STORE_new());
    local_ptr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
    if (!store || !ctx) return std::unexpected(openssl_error("out of memory"));
    for (const auto& root : roots) {
        if (X509_STORE_add_cert(store.get(), root.get()) != 1) {
            return std::unexpected("adding root certificate: " + openssl_error());
        }
    }
    if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr) != 1) {
        return std::unexpected(openssl_error("verification setup failed"));
    }
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
    X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
    if (!dns_name.empty()) {
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (X509_VERIFY_PARAM_set1_host(param, dns_name.data(), dns_name.size()) != 1) {
            return std::unexpected(openssl_error("invalid host name"));
        }
    }
    int ok = X509_verify_cert(ctx.get());
    int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    if (ok != 1) {
        std::string reason = X509_verify_cert_error_string(err);
        if (err == X509_V_ERR_HOSTNAME_MISMATCH) {
            reason = fmt::format("certificate is not valid for {}", dns_name);
        }
        return std::unexpected(reason);
    }
    return {};
}

}  // namespace meshfed::tls
