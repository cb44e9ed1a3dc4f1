#include "tls/certgen.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>

#include <fmt/format.h>

#include "tls/names.hpp"
#include "tls/x509.hpp"

namespace meshfed::tls {

const char* const server_cert_warning =
    "==> WARNING: Server Certificates grants authority to become a\n"
    "    server and access all state in the cluster including root keys\n"
    "    and all ACL tokens. Do not distribute them to production hosts\n"
    "    that are not server nodes. Store them as securely as CA keys.";

namespace {

// The CA subject Consul writes. Kept identical so our CAs look like Consul's to operators and
// tools that inspect them (only the layout matters to TLS; nothing matches on these values).
constexpr std::string_view ca_country = "US";
constexpr std::string_view ca_postal_code = "94105";
constexpr std::string_view ca_province = "CA";
constexpr std::string_view ca_locality = "San Francisco";
constexpr std::string_view ca_street = "101 Second Street";
constexpr std::string_view ca_organization = "HashiCorp Inc.";
constexpr std::string_view ca_common_name_prefix = "Consul Agent CA ";

// Consul gives up after this many numbered file names.
constexpr int max_file_index = 10000;

struct gen_free {
    void operator()(BIGNUM* p) const { BN_free(p); }
    // ASN1_INTEGER, ASN1_OCTET_STRING and ASN1_BIT_STRING are all ASN1_STRING.
    void operator()(ASN1_STRING* p) const { ASN1_STRING_free(p); }
    void operator()(AUTHORITY_KEYID* p) const { AUTHORITY_KEYID_free(p); }
    void operator()(BASIC_CONSTRAINTS* p) const { BASIC_CONSTRAINTS_free(p); }
    void operator()(EXTENDED_KEY_USAGE* p) const { EXTENDED_KEY_USAGE_free(p); }
    void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
    void operator()(GENERAL_NAME* p) const { GENERAL_NAME_free(p); }
    void operator()(GENERAL_SUBTREE* p) const { GENERAL_SUBTREE_free(p); }
    void operator()(NAME_CONSTRAINTS* p) const { NAME_CONSTRAINTS_free(p); }
    void operator()(char* p) const { OPENSSL_free(p); }
};
template <typename T>
using gen_ptr = std::unique_ptr<T, gen_free>;

// Everything that differs between the CA and the leaves.
struct cert_spec {
    X509* issuer = nullptr;  // nullptr = self-signed
    EVP_PKEY* subject_key = nullptr;
    EVP_PKEY* signer = nullptr;
    BIGNUM* serial = nullptr;
    int days = 0;
    bool is_ca = false;
    std::string common_name;
    bool ca_subject = false;          // add Consul's CA subject fields before the CN
    std::vector<int> key_usage_bits;  // bit numbers (RFC 5280: 0 digitalSignature, ...)
    std::vector<int> ext_key_usage_nids;
    std::vector<std::string> dns_names;
    std::vector<gen_ptr<ASN1_OCTET_STRING>> ip_addresses;
    std::vector<std::string> uris;
    std::vector<std::string> permitted_dns_domains;
};

std::filesystem::path in_dir(const std::filesystem::path& dir, const std::string& name) {
    // Keep plain names plain, so messages read "==> Saved consul-agent-ca.pem" like Consul's.
    if (dir.empty() || dir == ".") return name;
    return dir / name;
}

bool path_taken(const std::filesystem::path& p) {
    std::error_code ec;
    // symlink_status: a dangling symlink also blocks the name (O_EXCL would refuse it).
    return std::filesystem::symlink_status(p, ec).type() != std::filesystem::file_type::not_found;
}

std::string errno_text(int err) {
    std::string s = std::strerror(err);
    if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
    return s;
}

// Creates `path` (never replacing anything) with `data`. `mode` is applied exactly for keys
// (fchmod, so a permissive umask cannot widen nor an odd one narrow it) and through the umask
// otherwise. A partial file is removed on failure.
std::expected<void, std::string> write_new_file(const std::filesystem::path& path,
                                                std::string_view data, mode_t mode,
                                                bool exact_mode) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        if (errno == EEXIST)
            return std::unexpected(fmt::format("{} already exists.", path.string()));
        return std::unexpected(fmt::format("open {}: {}", path.string(), errno_text(errno)));
    }
    auto fail = [&](std::string_view op) {
        int err = errno;
        ::close(fd);
        ::unlink(path.c_str());
        return std::unexpected(fmt::format("{} {}: {}", op, path.string(), errno_text(err)));
    };
    if (exact_mode && ::fchmod(fd, mode) != 0) return fail("chmod");
    std::size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail("write");
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) return fail("sync");
    if (::close(fd) != 0) {
        int err = errno;
        ::unlink(path.c_str());
        return std::unexpected(fmt::format("close {}: {}", path.string(), errno_text(err)));
    }
    return {};
}

// Writes the certificate, then the key; removes the certificate again if the key cannot be
// written so no half pair is left behind.
std::expected<void, std::string> write_pair(const std::filesystem::path& cert_file,
                                            const std::string& cert_pem,
                                            const std::filesystem::path& key_file,
                                            const std::string& key_pem) {
    if (auto r = write_new_file(cert_file, cert_pem, 0644, false); !r) return r;
    if (auto r = write_new_file(key_file, key_pem, 0600, true); !r) {
        ::unlink(cert_file.c_str());
        return r;
    }
    return {};
}

std::expected<pkey_ptr, std::string> generate_p256_key() {
    pkey_ptr key(EVP_EC_gen("P-256"));
    if (!key) return std::unexpected("error generating private key: " + openssl_error());
    return key;
}

// Uniform in [1, 2^128): Go's rand.Int(2^128), minus the (2^-128 likely) zero OpenSSL dislikes.
std::expected<gen_ptr<BIGNUM>, std::string> random_serial() {
    unsigned char bytes[16];
    for (;;) {
        if (RAND_bytes(bytes, sizeof bytes) != 1) {
            return std::unexpected("error generating serial number: " + openssl_error());
        }
        gen_ptr<BIGNUM> bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
        if (!bn) return std::unexpected("error generating serial number: " + openssl_error());
        if (!BN_is_zero(bn.get())) return bn;
    }
}

// Go writes PrintableString when the text allows it, else UTF8String; do the same so the
// subject encodes like a Consul-made one.
bool printable(std::string_view s) {
    for (unsigned char c : s) {
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            std::string_view(" '()+,-./:=?*&").find(static_cast<char>(c)) != std::string_view::npos;
        if (!ok) return false;
    }
    return true;
}

bool add_name_entry(X509_NAME* name, int nid, std::string_view value) {
    int type = printable(value) ? V_ASN1_PRINTABLESTRING : V_ASN1_UTF8STRING;
    return X509_NAME_add_entry_by_NID(name, nid, type,
                                      reinterpret_cast<const unsigned char*>(value.data()),
                                      static_cast<int>(value.size()), -1, 0) == 1;
}

bool ia5(std::string_view s) {
    for (unsigned char c : s) {
        if (c > 0x7f) return false;
    }
    return true;
}

gen_ptr<GENERAL_NAME> ia5_general_name(int type, std::string_view value) {
    gen_ptr<GENERAL_NAME> gn(GENERAL_NAME_new());
    ASN1_IA5STRING* s = ASN1_IA5STRING_new();
    if (!gn || s == nullptr ||
        ASN1_STRING_set(s, value.data(), static_cast<int>(value.size())) != 1) {
        ASN1_IA5STRING_free(s);
        return nullptr;
    }
    GENERAL_NAME_set0_value(gn.get(), type, s);
    return gn;
}

bool push_name(GENERAL_NAMES* names, gen_ptr<GENERAL_NAME> gn) {
    if (!gn || sk_GENERAL_NAME_push(names, gn.get()) <= 0) return false;
    gn.release();  // owned by the stack now
    return true;
}

bool add_ext(X509* cert, int nid, void* value, bool critical) {
    return X509_add1_ext_i2d(cert, nid, value, critical ? 1 : 0, X509V3_ADD_DEFAULT) == 1;
}

std::expected<void, std::string> add_extensions(X509* cert, cert_spec& spec) {
    auto failed = [](std::string_view what) {
        return std::unexpected(fmt::format("adding {}: {}", what, openssl_error()));
    };
    // Same order as Go's x509.CreateCertificate, so the DER looks like a Consul-made one.
    {
        gen_ptr<ASN1_OCTET_STRING> bits(ASN1_BIT_STRING_new());
        if (!bits) return failed("key usage");
        for (int bit : spec.key_usage_bits) {
            if (ASN1_BIT_STRING_set_bit(bits.get(), bit, 1) != 1) return failed("key usage");
        }
        if (!add_ext(cert, NID_key_usage, bits.get(), true)) return failed("key usage");
    }
    if (!spec.ext_key_usage_nids.empty()) {
        gen_ptr<EXTENDED_KEY_USAGE> eku(sk_ASN1_OBJECT_new_null());
        if (!eku) return failed("extended key usage");
        for (int nid : spec.ext_key_usage_nids) {
            if (sk_ASN1_OBJECT_push(eku.get(), OBJ_nid2obj(nid)) <= 0) {
                return failed("extended key usage");
            }
        }
        if (!add_ext(cert, NID_ext_key_usage, eku.get(), false))
            return failed("extended key usage");
    }
    {
        gen_ptr<BASIC_CONSTRAINTS> bc(BASIC_CONSTRAINTS_new());
        if (!bc) return failed("basic constraints");
        bc->ca = spec.is_ca ? 0xff : 0;  // no pathlen: Consul sets no MaxPathLen
        if (!add_ext(cert, NID_basic_constraints, bc.get(), true)) {
            return failed("basic constraints");
        }
    }
    auto own_id = public_key_id(spec.subject_key);
    if (!own_id) return std::unexpected(own_id.error());
    {
        gen_ptr<ASN1_OCTET_STRING> skid(ASN1_OCTET_STRING_new());
        if (!skid ||
            ASN1_OCTET_STRING_set(skid.get(), own_id->data(), static_cast<int>(own_id->size())) !=
                1 ||
            !add_ext(cert, NID_subject_key_identifier, skid.get(), false)) {
            return failed("subject key id");
        }
    }
    // Self-signed: AKID = own id (as Consul's CA template says). Signed by a CA: the CA's SKID,
    // and no AKID at all when the CA has none (what Go does).
    std::vector<std::uint8_t> authority_id = *own_id;
    if (spec.issuer != nullptr) {
        const ASN1_OCTET_STRING* ca_skid = X509_get0_subject_key_id(spec.issuer);
        authority_id.clear();
        if (ca_skid != nullptr) {
            const unsigned char* d = ASN1_STRING_get0_data(ca_skid);
            authority_id.assign(d, d + ASN1_STRING_length(ca_skid));
        }
    }
    if (!authority_id.empty()) {
        gen_ptr<AUTHORITY_KEYID> akid(AUTHORITY_KEYID_new());
        if (!akid) return failed("authority key id");
        akid->keyid = ASN1_OCTET_STRING_new();
        if (akid->keyid == nullptr ||
            ASN1_OCTET_STRING_set(akid->keyid, authority_id.data(),
                                  static_cast<int>(authority_id.size())) != 1 ||
            !add_ext(cert, NID_authority_key_identifier, akid.get(), false)) {
            return failed("authority key id");
        }
    }
    if (!spec.dns_names.empty() || !spec.ip_addresses.empty() || !spec.uris.empty()) {
        gen_ptr<GENERAL_NAMES> sans(sk_GENERAL_NAME_new_null());
        if (!sans) return failed("subject alternative names");
        for (const auto& dns : spec.dns_names) {
            if (!push_name(sans.get(), ia5_general_name(GEN_DNS, dns))) {
                return failed("subject alternative names");
            }
        }
        for (auto& ip : spec.ip_addresses) {
            gen_ptr<GENERAL_NAME> gn(GENERAL_NAME_new());
            if (!gn) return failed("subject alternative names");
            GENERAL_NAME_set0_value(gn.get(), GEN_IPADD, ip.release());
            if (!push_name(sans.get(), std::move(gn))) return failed("subject alternative names");
        }
        for (const auto& uri : spec.uris) {
            if (!push_name(sans.get(), ia5_general_name(GEN_URI, uri))) {
                return failed("subject alternative names");
            }
        }
        if (!add_ext(cert, NID_subject_alt_name, sans.get(), false)) {
            return failed("subject alternative names");
        }
    }
    if (!spec.permitted_dns_domains.empty()) {
        gen_ptr<NAME_CONSTRAINTS> nc(NAME_CONSTRAINTS_new());
        if (!nc) return failed("name constraints");
        nc->permittedSubtrees = sk_GENERAL_SUBTREE_new_null();
        if (nc->permittedSubtrees == nullptr) return failed("name constraints");
        for (const auto& domain : spec.permitted_dns_domains) {
            gen_ptr<GENERAL_SUBTREE> st(GENERAL_SUBTREE_new());
            gen_ptr<GENERAL_NAME> base = ia5_general_name(GEN_DNS, domain);
            if (!st || !base) return failed("name constraints");
            GENERAL_NAME_free(st->base);
            st->base = base.release();
            if (sk_GENERAL_SUBTREE_push(nc->permittedSubtrees, st.get()) <= 0) {
                return failed("name constraints");
            }
            st.release();
        }
        if (!add_ext(cert, NID_name_constraints, nc.get(), true)) return failed("name constraints");
    }
    return {};
}

std::expected<x509_ptr, std::string> build_certificate(cert_spec& spec) {
    auto failed = [](std::string_view what) {
        return std::unexpected(
            fmt::format("error generating certificate ({}): {}", what, openssl_error()));
    };
    x509_ptr cert(X509_new());
    if (!cert) return failed("allocation");
    if (X509_set_version(cert.get(), X509_VERSION_3) != 1) return failed("version");
    gen_ptr<ASN1_INTEGER> serial(BN_to_ASN1_INTEGER(spec.serial, nullptr));
    if (!serial || X509_set_serialNumber(cert.get(), serial.get()) != 1) return failed("serial");

    X509_NAME* subject = X509_get_subject_name(cert.get());
    if (spec.ca_subject) {
        // Go's pkix.Name order: C, ST, L, street, postalCode, O, then CN.
        if (!add_name_entry(subject, NID_countryName, ca_country) ||
            !add_name_entry(subject, NID_stateOrProvinceName, ca_province) ||
            !add_name_entry(subject, NID_localityName, ca_locality) ||
            !add_name_entry(subject, NID_streetAddress, ca_street) ||
            !add_name_entry(subject, NID_postalCode, ca_postal_code) ||
            !add_name_entry(subject, NID_organizationName, ca_organization)) {
            return failed("subject");
        }
    }
    if (!add_name_entry(subject, NID_commonName, spec.common_name)) return failed("subject");
    X509_NAME* issuer_name = spec.issuer != nullptr ? X509_get_subject_name(spec.issuer) : subject;
    if (X509_set_issuer_name(cert.get(), issuer_name) != 1) return failed("issuer");

    std::time_t now = std::time(nullptr);
    if (X509_time_adj_ex(X509_getm_notBefore(cert.get()), 0, 0, &now) == nullptr ||
        X509_time_adj_ex(X509_getm_notAfter(cert.get()), spec.days, 0, &now) == nullptr) {
        return failed("validity");
    }
    if (X509_set_pubkey(cert.get(), spec.subject_key) != 1) return failed("public key");
    if (auto r = add_extensions(cert.get(), spec); !r) return std::unexpected(r.error());

    // ECDSA and RSA sign over SHA-256 (as Go does for P-256); EdDSA takes no digest.
    const EVP_MD* md =
        (EVP_PKEY_is_a(spec.signer, "ED25519") || EVP_PKEY_is_a(spec.signer, "ED448"))
            ? nullptr
            : EVP_sha256();
    if (X509_sign(cert.get(), spec.signer, md) <= 0) return failed("signing");
    return cert;
}

void trim(std::string& s) {
    constexpr std::string_view space = " \t\r\n\v\f";
    auto b = s.find_first_not_of(space);
    if (b == std::string::npos) {
        s.clear();
        return;
    }
    s = s.substr(b, s.find_last_not_of(space) - b + 1);
}

std::string replace_domain(std::string path, const std::string& domain) {
    // Consul replaces the first "#DOMAIN#" only.
    if (auto pos = path.find("#DOMAIN#"); pos != std::string::npos) {
        path.replace(pos, std::string_view("#DOMAIN#").size(), domain);
    }
    return path;
}

std::expected<void, std::string> check_days(int days) {
    if (days < 1) return std::unexpected(fmt::format("invalid -days {}: must be at least 1", days));
    return {};
}

}  // namespace

std::expected<cert_kind, std::string> cert_kind_from_flags(bool server, bool client, bool cli) {
    if (int{server} + int{client} + int{cli} != 1) {
        return std::unexpected("Please provide either -server, -client, or -cli");
    }
    return server ? cert_kind::server : client ? cert_kind::client : cert_kind::cli;
}

std::expected<created, std::string> create_ca(const ca_options& opts) {
    if (auto r = check_days(opts.days); !r) return std::unexpected(r.error());
    if (opts.domain.empty()) return std::unexpected("invalid -domain: must not be empty");

    created out;
    out.cert_file = in_dir(opts.dir, opts.domain + "-agent-ca.pem");
    out.key_file = in_dir(opts.dir, opts.domain + "-agent-ca-key.pem");
    // Checked before the (slow-ish) key generation; O_EXCL below closes the race.
    for (const auto& f : {out.cert_file, out.key_file}) {
        if (path_taken(f)) return std::unexpected(fmt::format("{} already exists.", f.string()));
    }

    auto key = generate_p256_key();
    if (!key) return std::unexpected(key.error());
    auto serial = random_serial();
    if (!serial) return std::unexpected(serial.error());

    cert_spec spec;
    spec.subject_key = key->get();
    spec.signer = key->get();
    spec.serial = serial->get();
    spec.days = opts.days;
    spec.is_ca = true;
    spec.ca_subject = true;
    spec.common_name = opts.common_name;
    if (spec.common_name.empty()) {
        gen_ptr<char> dec(BN_bn2dec(serial->get()));
        if (!dec) return std::unexpected("error generating CA certificate: " + openssl_error());
        spec.common_name = std::string(ca_common_name_prefix) + dec.get();
    }
    spec.key_usage_bits = {0 /*digitalSignature*/, 5 /*keyCertSign*/, 6 /*cRLSign*/};
    if (opts.name_constraint) {
        // Consul: the additional constraints first, then the domain and localhost.
        for (auto c : opts.additional_name_constraints) {
            trim(c);
            if (!c.empty()) spec.permitted_dns_domains.push_back(std::move(c));
        }
        spec.permitted_dns_domains.push_back(opts.domain);
        spec.permitted_dns_domains.push_back("localhost");
        for (const auto& d : spec.permitted_dns_domains) {
            if (!ia5(d)) {
                return std::unexpected(
                    fmt::format("name constraint \"{}\" cannot be encoded as an IA5String", d));
            }
        }
    }
    if (!opts.cluster_id.empty()) {
        spec.uris.push_back(fmt::format("spiffe://{}.{}", opts.cluster_id, opts.domain));
    }

    auto cert = build_certificate(spec);
    if (!cert) return std::unexpected(cert.error());
    auto cert_pem = certificate_to_pem(cert->get());
    if (!cert_pem) return std::unexpected(cert_pem.error());
    auto key_pem = private_key_to_pem(key->get());
    if (!key_pem) return std::unexpected(key_pem.error());

    if (auto r = write_pair(out.cert_file, *cert_pem, out.key_file, *key_pem); !r) {
        return std::unexpected(r.error());
    }
    out.messages.push_back("==> Saved " + out.cert_file.string());
    out.messages.push_back("==> Saved " + out.key_file.string());
    return out;
}

std::expected<created, std::string> create_cert(const cert_options& opts) {
    // Flag checks in Consul's order.
    if (!opts.node.empty() && opts.kind != cert_kind::server) {
        return std::unexpected("-node requires -server");
    }
    if (auto r = check_days(opts.days); !r) return std::unexpected(r.error());
    if (opts.dc.empty()) return std::unexpected("invalid -dc: must not be empty");
    if (opts.domain.empty()) return std::unexpected("invalid -domain: must not be empty");

    cert_spec spec;
    spec.days = opts.days;
    for (auto d : opts.dns_names) {
        trim(d);
        if (d.empty()) continue;
        if (!ia5(d)) {
            return std::unexpected(
                fmt::format("DNS name \"{}\" cannot be encoded as an IA5String", d));
        }
        spec.dns_names.push_back(std::move(d));
    }
    for (auto ip : opts.ip_addresses) {
        trim(ip);
        if (ip.empty()) continue;
        gen_ptr<ASN1_OCTET_STRING> raw(a2i_IPADDRESS(ip.c_str()));
        if (!raw) {
            ERR_clear_error();
            return std::unexpected(fmt::format("invalid IP address \"{}\"", ip));
        }
        spec.ip_addresses.push_back(std::move(raw));
    }
    auto add_loopback = [&]() -> bool {
        gen_ptr<ASN1_OCTET_STRING> lo(a2i_IPADDRESS("127.0.0.1"));
        if (!lo) return false;
        spec.ip_addresses.push_back(std::move(lo));
        return true;
    };

    std::string kind_word;
    switch (opts.kind) {
        case cert_kind::server:
            kind_word = "server";
            spec.common_name = server_name(opts.dc, opts.domain);
            if (!opts.node.empty()) {
                spec.dns_names.push_back(node_server_name(opts.node, opts.dc, opts.domain));
            }
            spec.dns_names.push_back(spec.common_name);
            spec.dns_names.push_back("localhost");
            spec.ext_key_usage_nids = {NID_server_auth, NID_client_auth};
            if (!add_loopback()) return std::unexpected("encoding 127.0.0.1: " + openssl_error());
            break;
        case cert_kind::client:
            kind_word = "client";
            spec.common_name = fmt::format("client.{}.{}", opts.dc, opts.domain);
            spec.dns_names.push_back(spec.common_name);
            spec.dns_names.push_back("localhost");
            spec.ext_key_usage_nids = {NID_client_auth, NID_server_auth};
            if (!add_loopback()) return std::unexpected("encoding 127.0.0.1: " + openssl_error());
            break;
        case cert_kind::cli:
            kind_word = "cli";
            spec.common_name = fmt::format("cli.{}.{}", opts.dc, opts.domain);
            // Consul replaces (not extends) the DNS names for -cli; additional IPs stay.
            spec.dns_names = {spec.common_name, "localhost"};
            break;
    }
    spec.key_usage_bits = {0 /*digitalSignature*/, 2 /*keyEncipherment*/};

    created out;
    std::string prefix = fmt::format("{}-{}-{}", opts.dc, kind_word, opts.domain);
    for (int i = 0;; ++i) {
        auto cert_file = in_dir(opts.dir, fmt::format("{}-{}.pem", prefix, i));
        auto key_file = in_dir(opts.dir, fmt::format("{}-{}-key.pem", prefix, i));
        if (!path_taken(cert_file) && !path_taken(key_file)) {
            out.cert_file = std::move(cert_file);
            out.key_file = std::move(key_file);
            break;
        }
        if (i == max_file_index) {
            return std::unexpected("Could not find a filename that doesn't already exist");
        }
    }

    std::string ca_file = replace_domain(
        opts.ca_file.empty() ? in_dir(opts.dir, "#DOMAIN#-agent-ca.pem").string() : opts.ca_file,
        opts.domain);
    std::string ca_key_file = replace_domain(
        opts.key_file.empty() ? in_dir(opts.dir, "#DOMAIN#-agent-ca-key.pem").string()
                              : opts.key_file,
        opts.domain);
    auto ca_pem = read_text_file(ca_file);
    if (!ca_pem) return std::unexpected("Error reading CA: " + ca_pem.error());
    auto ca_key_pem = read_text_file(ca_key_file);
    if (!ca_key_pem) return std::unexpected("Error reading CA key: " + ca_key_pem.error());

    if (opts.kind == cert_kind::server) out.messages.push_back(server_cert_warning);
    out.messages.push_back(fmt::format("==> Using {} and {}", ca_file, ca_key_file));

    auto ca_key = parse_private_key_pem(*ca_key_pem);
    if (!ca_key) {
        return std::unexpected(
            fmt::format("failed to parse CA key {}: {}", ca_key_file, ca_key.error()));
    }
    auto ca_cert = parse_certificate_pem(*ca_pem);
    if (!ca_cert) {
        return std::unexpected(fmt::format("failed to parse CA {}: {}", ca_file, ca_cert.error()));
    }
    auto roots = parse_certificates_pem(*ca_pem);
    if (!roots) {
        return std::unexpected(fmt::format("failed to parse CA {}: {}", ca_file, roots.error()));
    }
    // Go refuses to sign with a key that is not the parent's; say which files disagree.
    if (!key_matches_certificate(ca_cert->get(), ca_key->get())) {
        return std::unexpected(fmt::format(
            "failed to create certificate: CA key {} does not match CA certificate {} (x509: "
            "provided PrivateKey doesn't match parent's PublicKey)",
            ca_key_file, ca_file));
    }

    auto key = generate_p256_key();
    if (!key) return std::unexpected(key.error());
    auto serial = random_serial();
    if (!serial) return std::unexpected(serial.error());
    spec.issuer = ca_cert->get();
    spec.subject_key = key->get();
    spec.signer = ca_key->get();
    spec.serial = serial->get();

    auto cert = build_certificate(spec);
    if (!cert) return std::unexpected(cert.error());
    // Like Consul: never write a certificate its own CA would not accept for its name.
    if (auto ok = verify_certificate(*roots, cert->get(), spec.common_name); !ok) {
        return std::unexpected(fmt::format("the new certificate does not verify against CA {}: {}",
                                           ca_file, ok.error()));
    }
    auto cert_pem = certificate_to_pem(cert->get());
    if (!cert_pem) return std::unexpected(cert_pem.error());
    auto key_pem = private_key_to_pem(key->get());
    if (!key_pem) return std::unexpected(key_pem.error());

    if (auto r = write_pair(out.cert_file, *cert_pem, out.key_file, *key_pem); !r) {
        return std::unexpected(r.error());
    }
    out.messages.push_back("==> Saved " + out.cert_file.string());
    out.messages.push_back("==> Saved " + out.key_file.string());
    return out;
}

}  // namespace meshfed::tls
