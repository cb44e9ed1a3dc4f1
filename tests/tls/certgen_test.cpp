// Tests for tls/certgen (meshfed tls ca create / tls cert create) and tls/x509: every file is
// parsed back and checked field by field against what Consul's generator makes, and the
// results are checked with the openssl command line tool.
#include "tls/certgen.hpp"

#include <sys/stat.h>
#include <sys/wait.h>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/process.hpp"
#include "tls/x509.hpp"

namespace {

using namespace meshfed::tls;
using meshfed::test::read_text;
using meshfed::test::temp_dir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

namespace fs = std::filesystem;
using std::chrono::duration_cast;
using std::chrono::seconds;
using std::chrono::system_clock;

constexpr long day_seconds = 24 * 60 * 60;

struct command_result {
    int status = -1;
    std::string output;
};

// Runs a shell command, stdout+stderr captured.
command_result run(const std::string& cmd) {
    command_result r;
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    if (p == nullptr) return r;
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) r.output.append(buf, n);
    int st = ::pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

std::string quote(const fs::path& p) {
    return "'" + p.string() + "'";
}

x509_ptr load_cert(const fs::path& p) {
    auto c = load_certificate_pem(p);
    EXPECT_TRUE(c.has_value()) << (c ? "" : c.error());
    return c ? std::move(*c) : nullptr;
}

pkey_ptr load_key(const fs::path& p) {
    auto k = load_private_key_pem(p);
    EXPECT_TRUE(k.has_value()) << (k ? "" : k.error());
    return k ? std::move(*k) : nullptr;
}

unsigned file_mode(const fs::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return 0;
    return st.st_mode & 0777;
}

unsigned current_umask() {
    mode_t m = ::umask(0);
    ::umask(m);
    return m;
}

// (short name, value) of every subject entry, in encoding order.
std::vector<std::pair<std::string, std::string>> subject_entries(X509* cert) {
    std::vector<std::pair<std::string, std::string>> out;
    X509_NAME* name = X509_get_subject_name(cert);
    for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
        X509_NAME_ENTRY* e = X509_NAME_get_entry(name, i);
        const ASN1_STRING* v = X509_NAME_ENTRY_get_data(e);
        out.emplace_back(OBJ_nid2sn(OBJ_obj2nid(X509_NAME_ENTRY_get_object(e))),
                         std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(v)),
                                     ASN1_STRING_length(v)));
    }
    return out;
}

// -1 absent, 0 present non-critical, 1 critical.
int ext_critical(X509* cert, int nid) {
    int idx = X509_get_ext_by_NID(cert, nid, -1);
    if (idx < 0) return -1;
    return X509_EXTENSION_get_critical(X509_get_ext(cert, idx)) ? 1 : 0;
}

// Computed here independently of the library: SHA-256 over the DER SubjectPublicKeyInfo.
std::vector<std::uint8_t> sha256_of_pubkey(X509* cert) {
    unsigned char* der = nullptr;
    int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
    std::vector<std::uint8_t> md(EVP_MAX_MD_SIZE);
    unsigned int md_len = 0;
    EVP_Digest(der, static_cast<std::size_t>(len), md.data(), &md_len, EVP_sha256(), nullptr);
    OPENSSL_free(der);
    md.resize(md_len);
    return md;
}

long validity_seconds(const certificate_info& info) {
    return duration_cast<seconds>(info.not_after - info.not_before).count();
}

bool near_now(system_clock::time_point t) {
    auto d = duration_cast<seconds>(system_clock::now() - t).count();
    return d >= -5 && d <= 120;
}

// The key file: SEC1 PEM, ECDSA P-256, mode 0600, and the private half of `cert`.
void expect_p256_key_for(const fs::path& key_file, X509* cert) {
    std::string pem = read_text(key_file);
    EXPECT_THAT(pem, StartsWith("-----BEGIN EC PRIVATE KEY-----\n"));
    EXPECT_EQ(file_mode(key_file), 0600u) << key_file;
    pkey_ptr key = load_key(key_file);
    ASSERT_TRUE(key);
    EXPECT_TRUE(EVP_PKEY_is_a(key.get(), "EC"));
    EXPECT_EQ(EVP_PKEY_get_bits(key.get()), 256);
    EXPECT_TRUE(key_matches_certificate(cert, key.get()));
}

// A random 128-bit serial: positive, at most 128 bits, and (all but 2^-64 of the time) > 64.
void expect_random_serial(const certificate_info& info) {
    EXPECT_LE(info.serial_bits, 128);
    EXPECT_GT(info.serial_bits, 64);
    EXPECT_NE(info.serial.front(), '-');
}

command_result openssl_verify(const fs::path& ca, const fs::path& cert,
                              const std::string& extra = "") {
    return run("openssl verify " + extra + " -CAfile " + quote(ca) + " " + quote(cert));
}

ca_options ca_in(const temp_dir& dir) {
    ca_options o;
    o.dir = dir.path();
    return o;
}

cert_options cert_in(const temp_dir& dir, cert_kind kind) {
    cert_options o;
    o.kind = kind;
    o.dir = dir.path();
    return o;
}

std::string saved(const fs::path& p) {
    return "==> Saved " + p.string();
}

// ---- CA --------------------------------------------------------------------------------------

TEST(CertgenCa, DefaultsMatchConsul) {
    temp_dir dir;
    auto made = create_ca(ca_in(dir));
    ASSERT_TRUE(made) << made.error();
    EXPECT_EQ(made->cert_file, dir / "consul-agent-ca.pem");
    EXPECT_EQ(made->key_file, dir / "consul-agent-ca-key.pem");
    EXPECT_THAT(made->messages, ElementsAre(saved(dir / "consul-agent-ca.pem"),
                                            saved(dir / "consul-agent-ca-key.pem")));

    x509_ptr ca = load_cert(made->cert_file);
    ASSERT_TRUE(ca);
    auto info = inspect_certificate(ca.get());
    EXPECT_EQ(X509_get_version(ca.get()), X509_VERSION_3);
    expect_random_serial(info);
    EXPECT_EQ(info.common_name, "Consul Agent CA " + info.serial);
    EXPECT_THAT(subject_entries(ca.get()),
                ElementsAre(std::pair<std::string, std::string>{"C", "US"},
                            std::pair<std::string, std::string>{"ST", "CA"},
                            std::pair<std::string, std::string>{"L", "San Francisco"},
                            std::pair<std::string, std::string>{"street", "101 Second Street"},
                            std::pair<std::string, std::string>{"postalCode", "94105"},
                            std::pair<std::string, std::string>{"O", "HashiCorp Inc."},
                            std::pair<std::string, std::string>{"CN", info.common_name}));
    EXPECT_EQ(info.issuer, info.subject);

    EXPECT_TRUE(info.has_basic_constraints);
    EXPECT_TRUE(info.is_ca);
    EXPECT_EQ(info.path_len, -1);
    EXPECT_EQ(ext_critical(ca.get(), NID_basic_constraints), 1);
    EXPECT_TRUE(info.has_key_usage);
    EXPECT_EQ(info.key_usage_bits,
              key_usage::key_cert_sign | key_usage::crl_sign | key_usage::digital_signature);
    EXPECT_EQ(ext_critical(ca.get(), NID_key_usage), 1);
    EXPECT_TRUE(info.ext_key_usages.empty());
    EXPECT_EQ(ext_critical(ca.get(), NID_name_constraints), -1);
    EXPECT_EQ(ext_critical(ca.get(), NID_subject_alt_name), -1);

    EXPECT_EQ(info.subject_key_id.size(), 32u);
    EXPECT_EQ(info.subject_key_id, sha256_of_pubkey(ca.get()));
    EXPECT_EQ(info.authority_key_id, info.subject_key_id);

    EXPECT_EQ(validity_seconds(info), 1825 * day_seconds);
    EXPECT_TRUE(near_now(info.not_before));
    EXPECT_EQ(info.key_algorithm, "EC");
    EXPECT_EQ(info.key_curve, "P-256");
    EXPECT_EQ(info.signature_algorithm, "ecdsa-with-SHA256");

    // Self-signed with its own key.
    pkey_ptr key = load_key(made->key_file);
    ASSERT_TRUE(key);
    EXPECT_EQ(X509_verify(ca.get(), key.get()), 1);
    expect_p256_key_for(made->key_file, ca.get());
    EXPECT_EQ(file_mode(made->cert_file), 0644u & ~current_umask());
}

TEST(CertgenCa, DaysDomainCommonNameAndClusterId) {
    temp_dir dir;
    auto opts = ca_in(dir);
    opts.days = 30;
    opts.domain = "mesh.test";
    opts.common_name = "Meshfed Test CA";
    opts.cluster_id = "11111111-2222-3333-4444-555555555555";
    auto made = create_ca(opts);
    ASSERT_TRUE(made) << made.error();
    EXPECT_EQ(made->cert_file, dir / "mesh.test-agent-ca.pem");
    EXPECT_EQ(made->key_file, dir / "mesh.test-agent-ca-key.pem");
    x509_ptr ca = load_cert(made->cert_file);
    ASSERT_TRUE(ca);
    auto info = inspect_certificate(ca.get());
    EXPECT_EQ(info.common_name, "Meshfed Test CA");
    EXPECT_EQ(validity_seconds(info), 30 * day_seconds);
    EXPECT_THAT(info.uris, ElementsAre("spiffe://11111111-2222-3333-4444-555555555555.mesh.test"));
    EXPECT_TRUE(info.permitted_dns_domains.empty());  // no -name-constraint: domain unused
}

TEST(CertgenCa, NameConstraints) {
    temp_dir dir;
    auto opts = ca_in(dir);
    opts.name_constraint = true;
    opts.additional_name_constraints = {"example.com", "ui.internal"};
    auto made = create_ca(opts);
    ASSERT_TRUE(made) << made.error();
    x509_ptr ca = load_cert(made->cert_file);
    ASSERT_TRUE(ca);
    auto info = inspect_certificate(ca.get());
    EXPECT_THAT(info.permitted_dns_domains,
                ElementsAre("example.com", "ui.internal", "consul", "localhost"));
    EXPECT_EQ(ext_critical(ca.get(), NID_name_constraints), 1);
}

TEST(CertgenCa, AdditionalConstraintsNeedTheFlag) {
    temp_dir dir;
    auto opts = ca_in(dir);
    opts.additional_name_constraints = {"example.com"};
    auto made = create_ca(opts);
    ASSERT_TRUE(made) << made.error();
    x509_ptr ca = load_cert(made->cert_file);
    ASSERT_TRUE(ca);
    EXPECT_EQ(ext_critical(ca.get(), NID_name_constraints), -1);
}

TEST(CertgenCa, RefusesToOverwrite) {
    temp_dir dir;
    ASSERT_TRUE(create_ca(ca_in(dir)));
    std::string before = read_text(dir / "consul-agent-ca.pem");
    auto again = create_ca(ca_in(dir));
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error(), (dir / "consul-agent-ca.pem").string() + " already exists.");
    EXPECT_EQ(read_text(dir / "consul-agent-ca.pem"), before);

    // Only the key is in the way: refused too, and no certificate is left behind.
    temp_dir other;
    other.write("consul-agent-ca-key.pem", "precious");
    auto blocked = create_ca(ca_in(other));
    ASSERT_FALSE(blocked);
    EXPECT_EQ(blocked.error(), (other / "consul-agent-ca-key.pem").string() + " already exists.");
    EXPECT_FALSE(fs::exists(other / "consul-agent-ca.pem"));
    EXPECT_EQ(read_text(other / "consul-agent-ca-key.pem"), "precious");
}

TEST(CertgenCa, RejectsBadOptions) {
    temp_dir dir;
    auto opts = ca_in(dir);
    opts.days = 0;
    auto made = create_ca(opts);
    ASSERT_FALSE(made);
    EXPECT_THAT(made.error(), HasSubstr("-days"));
    EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(CertgenCa, PlainNamesInCurrentDirectory) {
    // dir "." (the CLI's case): messages and paths are bare file names, like Consul's.
    temp_dir dir;
    auto old = fs::current_path();
    fs::current_path(dir.path());
    auto made = create_ca(ca_options{});
    fs::current_path(old);
    ASSERT_TRUE(made) << made.error();
    EXPECT_EQ(made->cert_file, fs::path("consul-agent-ca.pem"));
    EXPECT_THAT(made->messages,
                ElementsAre("==> Saved consul-agent-ca.pem", "==> Saved consul-agent-ca-key.pem"));
    EXPECT_TRUE(fs::exists(dir / "consul-agent-ca.pem"));
}

// ---- leaf certificates -----------------------------------------------------------------------

class CertgenCert : public ::testing::Test {
  protected:
    void SetUp() override {
        auto made = create_ca(ca_in(dir_));
        ASSERT_TRUE(made) << made.error();
        ca_file_ = made->cert_file;
        ca_key_file_ = made->key_file;
        ca_ = load_cert(ca_file_);
        ASSERT_TRUE(ca_);
    }

    // Checks everything leaves have in common and returns the parsed certificate's info.
    certificate_info check_leaf(const created& made, int days = 365) {
        x509_ptr cert = load_cert(made.cert_file);
        if (!cert) {
            ADD_FAILURE() << "no certificate in " << made.cert_file;
            return {};
        }
        auto info = inspect_certificate(cert.get());
        auto ca_info = inspect_certificate(ca_.get());
        EXPECT_EQ(X509_get_version(cert.get()), X509_VERSION_3);
        expect_random_serial(info);
        EXPECT_NE(info.serial, ca_info.serial);
        EXPECT_EQ(info.subject, "CN=" + info.common_name);
        EXPECT_EQ(info.issuer, ca_info.subject);
        EXPECT_TRUE(info.has_basic_constraints);
        EXPECT_FALSE(info.is_ca);
        EXPECT_EQ(ext_critical(cert.get(), NID_basic_constraints), 1);
        EXPECT_EQ(info.key_usage_bits, key_usage::digital_signature | key_usage::key_encipherment);
        EXPECT_EQ(ext_critical(cert.get(), NID_key_usage), 1);
        EXPECT_EQ(info.subject_key_id, sha256_of_pubkey(cert.get()));
        EXPECT_EQ(info.subject_key_id.size(), 32u);
        EXPECT_EQ(info.authority_key_id, ca_info.subject_key_id);
        EXPECT_EQ(validity_seconds(info), days * day_seconds);
        EXPECT_TRUE(near_now(info.not_before));
        EXPECT_EQ(info.key_curve, "P-256");
        EXPECT_EQ(info.signature_algorithm, "ecdsa-with-SHA256");
        pkey_ptr ca_key = load_key(ca_key_file_);
        EXPECT_EQ(X509_verify(cert.get(), ca_key.get()), 1) << "not signed by the CA key";
        expect_p256_key_for(made.key_file, cert.get());
        EXPECT_EQ(file_mode(made.cert_file), 0644u & ~current_umask());
        return info;
    }

    temp_dir dir_;
    fs::path ca_file_, ca_key_file_;
    x509_ptr ca_;
};

TEST_F(CertgenCert, ServerDefaults) {
    auto made = create_cert(cert_in(dir_, cert_kind::server));
    ASSERT_TRUE(made) << made.error();
    EXPECT_EQ(made->cert_file, dir_ / "dc1-server-consul-0.pem");
    EXPECT_EQ(made->key_file, dir_ / "dc1-server-consul-0-key.pem");
    EXPECT_THAT(made->messages,
                ElementsAre(std::string(server_cert_warning),
                            "==> Using " + ca_file_.string() + " and " + ca_key_file_.string(),
                            saved(made->cert_file), saved(made->key_file)));
    EXPECT_EQ(std::string(server_cert_warning),
              "==> WARNING: Server Certificates grants authority to become a\n"
              "    server and access all state in the cluster including root keys\n"
              "    and all ACL tokens. Do not distribute them to production hosts\n"
              "    that are not server nodes. Store them as securely as CA keys.");
    auto info = check_leaf(*made);
    EXPECT_EQ(info.common_name, "server.dc1.consul");
    EXPECT_THAT(info.dns_names, ElementsAre("server.dc1.consul", "localhost"));
    EXPECT_THAT(info.ip_addresses, ElementsAre("127.0.0.1"));
    EXPECT_THAT(info.ext_key_usages, ElementsAre("serverAuth", "clientAuth"));
}

TEST_F(CertgenCert, ServerWithNodeExtrasDcAndDays) {
    temp_dir other;
    ca_options ca_opts = ca_in(other);
    ca_opts.domain = "mesh";
    ASSERT_TRUE(create_ca(ca_opts));
    auto opts = cert_in(other, cert_kind::server);
    opts.dc = "dc2";
    opts.domain = "mesh";
    opts.node = "n1";
    opts.days = 10;
    opts.dns_names = {"extra.example.com", "  spaced.example.com ", ""};
    opts.ip_addresses = {"10.0.0.1", " ::1", ""};
    auto made = create_cert(opts);
    ASSERT_TRUE(made) << made.error();
    EXPECT_EQ(made->cert_file, other / "dc2-server-mesh-0.pem");
    EXPECT_EQ(made->key_file, other / "dc2-server-mesh-0-key.pem");
    EXPECT_EQ(made->messages.at(1), "==> Using " + (other / "mesh-agent-ca.pem").string() +
                                        " and " + (other / "mesh-agent-ca-key.pem").string());
    x509_ptr cert = load_cert(made->cert_file);
    ASSERT_TRUE(cert);
    auto info = inspect_certificate(cert.get());
    EXPECT_EQ(info.common_name, "server.dc2.mesh");
    EXPECT_THAT(info.dns_names, ElementsAre("extra.example.com", "spaced.example.com",
                                            "n1.server.dc2.mesh", "server.dc2.mesh", "localhost"));
    EXPECT_THAT(info.ip_addresses, ElementsAre("10.0.0.1", "::1", "127.0.0.1"));
    EXPECT_EQ(validity_seconds(info), 10 * day_seconds);
}

TEST_F(CertgenCert, FirstFreeNumber) {
    auto first = create_cert(cert_in(dir_, cert_kind::server));
    auto second = create_cert(cert_in(dir_, cert_kind::server));
    ASSERT_TRUE(first) << first.error();
    ASSERT_TRUE(second) << second.error();
    EXPECT_EQ(first->cert_file, dir_ / "dc1-server-consul-0.pem");
    EXPECT_EQ(second->cert_file, dir_ / "dc1-server-consul-1.pem");
    EXPECT_EQ(second->key_file, dir_ / "dc1-server-consul-1-key.pem");
    EXPECT_NE(read_text(first->cert_file), read_text(second->cert_file));
    // A number counts as taken when either of its two files exists.
    dir_.write("dc1-server-consul-2-key.pem", "stray");
    auto third = create_cert(cert_in(dir_, cert_kind::server));
    ASSERT_TRUE(third) << third.error();
    EXPECT_EQ(third->cert_file, dir_ / "dc1-server-consul-3.pem");
    EXPECT_FALSE(fs::exists(dir_ / "dc1-server-consul-2.pem"));
    EXPECT_EQ(read_text(dir_ / "dc1-server-consul-2-key.pem"), "stray");
    // Other kinds count separately.
    auto client = create_cert(cert_in(dir_, cert_kind::client));
    ASSERT_TRUE(client) << client.error();
    EXPECT_EQ(client->cert_file, dir_ / "dc1-client-consul-0.pem");
}

TEST_F(CertgenCert, Client) {
    auto opts = cert_in(dir_, cert_kind::client);
    opts.dns_names = {"client.example.com"};
    auto made = create_cert(opts);
    ASSERT_TRUE(made) << made.error();
    EXPECT_EQ(made->cert_file, dir_ / "dc1-client-consul-0.pem");
    EXPECT_EQ(made->key_file, dir_ / "dc1-client-consul-0-key.pem");
    EXPECT_THAT(made->messages,
                ElementsAre("==> Using " + ca_file_.string() + " and " + ca_key_file_.string(),
                            saved(made->cert_file), saved(made->key_file)));
    auto info = check_leaf(*made);
    EXPECT_EQ(info.common_name, "client.dc1.consul");
    EXPECT_THAT(info.dns_names,
                ElementsAre("client.example.com", "client.dc1.consul", "localhost"));
    EXPECT_THAT(info.ip_addresses, ElementsAre("127.0.0.1"));
    EXPECT_THAT(info.ext_key_usages, ElementsAre("clientAuth", "serverAuth"));
}

TEST_F(CertgenCert, Cli) {
    auto opts = cert_in(dir_, cert_kind::cli);
    opts.dns_names = {"dropped.example.com"};  // Consul ignores these for -cli ...
    opts.ip_addresses = {"192.0.2.7"};         // ... but keeps these
    auto made = create_cert(opts);
    ASSERT_TRUE(made) << made.error();
    EXPECT_EQ(made->cert_file, dir_ / "dc1-cli-consul-0.pem");
    EXPECT_EQ(made->key_file, dir_ / "dc1-cli-consul-0-key.pem");
    EXPECT_EQ(made->messages.size(), 3u);
    auto info = check_leaf(*made);
    EXPECT_EQ(info.common_name, "cli.dc1.consul");
    EXPECT_THAT(info.dns_names, ElementsAre("cli.dc1.consul", "localhost"));
    EXPECT_THAT(info.ip_addresses, ElementsAre("192.0.2.7"));
    EXPECT_TRUE(info.ext_key_usages.empty());
    x509_ptr cert = load_cert(made->cert_file);
    EXPECT_EQ(ext_critical(cert.get(), NID_ext_key_usage), -1);
}

TEST_F(CertgenCert, NodeRequiresServer) {
    for (auto kind : {cert_kind::client, cert_kind::cli}) {
        auto opts = cert_in(dir_, kind);
        opts.node = "n1";
        auto made = create_cert(opts);
        ASSERT_FALSE(made);
        EXPECT_EQ(made.error(), "-node requires -server");
    }
    EXPECT_FALSE(fs::exists(dir_ / "dc1-client-consul-0.pem"));
    EXPECT_FALSE(fs::exists(dir_ / "dc1-cli-consul-0.pem"));
}

TEST(CertgenFlags, ExactlyOneKind) {
    EXPECT_EQ(cert_kind_from_flags(true, false, false), cert_kind::server);
    EXPECT_EQ(cert_kind_from_flags(false, true, false), cert_kind::client);
    EXPECT_EQ(cert_kind_from_flags(false, false, true), cert_kind::cli);
    for (auto [s, c, l] : {std::tuple{false, false, false}, std::tuple{true, true, false},
                           std::tuple{true, false, true}, std::tuple{true, true, true}}) {
        auto k = cert_kind_from_flags(s, c, l);
        ASSERT_FALSE(k);
        EXPECT_EQ(k.error(), "Please provide either -server, -client, or -cli");
    }
}

TEST(CertgenCertErrors, MissingCaFiles) {
    temp_dir dir;
    auto made = create_cert(cert_in(dir, cert_kind::server));
    ASSERT_FALSE(made);
    EXPECT_EQ(made.error(), "Error reading CA: open " + (dir / "consul-agent-ca.pem").string() +
                                ": no such file or directory");

    ASSERT_TRUE(create_ca(ca_in(dir)));
    fs::remove(dir / "consul-agent-ca-key.pem");
    made = create_cert(cert_in(dir, cert_kind::client));
    ASSERT_FALSE(made);
    EXPECT_EQ(made.error(), "Error reading CA key: open " +
                                (dir / "consul-agent-ca-key.pem").string() +
                                ": no such file or directory");

    auto opts = cert_in(dir, cert_kind::cli);
    opts.ca_file = (dir / "nowhere" / "#DOMAIN#-ca.pem").string();
    made = create_cert(opts);
    ASSERT_FALSE(made);
    EXPECT_THAT(made.error(), HasSubstr((dir / "nowhere" / "consul-ca.pem").string()));
    EXPECT_THAT(made.error(), StartsWith("Error reading CA: "));

    // Nothing but the CA certificate is left.
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir.path())) files.push_back(e.path());
    EXPECT_THAT(files, ElementsAre(dir / "consul-agent-ca.pem"));
}

TEST(CertgenCertErrors, CaKeyOfAnotherCa) {
    temp_dir a, b;
    ASSERT_TRUE(create_ca(ca_in(a)));
    ASSERT_TRUE(create_ca(ca_in(b)));
    auto opts = cert_in(a, cert_kind::server);
    opts.key_file = (b / "consul-agent-ca-key.pem").string();
    auto made = create_cert(opts);
    ASSERT_FALSE(made);
    EXPECT_THAT(made.error(), HasSubstr("does not match"));
    EXPECT_THAT(made.error(), HasSubstr((b / "consul-agent-ca-key.pem").string()));
    EXPECT_THAT(made.error(), HasSubstr((a / "consul-agent-ca.pem").string()));
    EXPECT_FALSE(fs::exists(a / "dc1-server-consul-0.pem"));
    EXPECT_FALSE(fs::exists(a / "dc1-server-consul-0-key.pem"));
}

TEST(CertgenCertErrors, UnparsableCaFiles) {
    temp_dir dir;
    ASSERT_TRUE(create_ca(ca_in(dir)));
    auto opts = cert_in(dir, cert_kind::server);

    dir.write("garbage.pem", "not a pem file\n");
    opts.ca_file = (dir / "garbage.pem").string();
    auto made = create_cert(opts);
    ASSERT_FALSE(made);
    EXPECT_EQ(made.error(), "failed to parse CA " + (dir / "garbage.pem").string() +
                                ": no PEM-encoded data found");

    opts.ca_file = (dir / "consul-agent-ca-key.pem").string();  // a key where the CA should be
    made = create_cert(opts);
    ASSERT_FALSE(made);
    EXPECT_THAT(made.error(), HasSubstr("first PEM-block should be CERTIFICATE type"));

    opts.ca_file.clear();
    opts.key_file =
        (dir / "consul-agent-ca.pem").string();  // a certificate where the key should be
    made = create_cert(opts);
    ASSERT_FALSE(made);
    EXPECT_EQ(made.error(), "failed to parse CA key " + (dir / "consul-agent-ca.pem").string() +
                                ": unknown PEM block type for signing key: CERTIFICATE");
    EXPECT_FALSE(fs::exists(dir / "dc1-server-consul-0.pem"));
}

TEST(CertgenCertErrors, InvalidIpAddress) {
    temp_dir dir;
    ASSERT_TRUE(create_ca(ca_in(dir)));
    auto opts = cert_in(dir, cert_kind::server);
    opts.ip_addresses = {"10.0.0.300"};
    auto made = create_cert(opts);
    ASSERT_FALSE(made);
    EXPECT_EQ(made.error(), "invalid IP address \"10.0.0.300\"");
}

TEST(CertgenCertErrors, VerifiedAgainstCaBeforeWriting) {
    // A name-constrained CA cannot vouch for a name outside its constraints: the new
    // certificate fails verification and nothing is written.
    temp_dir dir;
    auto ca_opts = ca_in(dir);
    ca_opts.name_constraint = true;
    ASSERT_TRUE(create_ca(ca_opts));
    auto opts = cert_in(dir, cert_kind::server);
    opts.dns_names = {"evil.example.com"};
    auto made = create_cert(opts);
    ASSERT_FALSE(made);
    EXPECT_THAT(made.error(), HasSubstr("does not verify against CA"));
    EXPECT_THAT(made.error(), HasSubstr("permitted subtree violation"));
    EXPECT_FALSE(fs::exists(dir / "dc1-server-consul-0.pem"));
    EXPECT_FALSE(fs::exists(dir / "dc1-server-consul-0-key.pem"));

    // Inside the constraints it works.
    opts.dns_names = {"n9.server.dc1.consul"};
    made = create_cert(opts);
    ASSERT_TRUE(made) << made.error();
}

TEST(CertgenCertErrors, LeafAsCaIsRefused) {
    // An invalid CA (here: not a CA at all, a leaf used as CA) fails the pre-write check.
    temp_dir dir;
    ASSERT_TRUE(create_ca(ca_in(dir)));
    auto leaf = create_cert(cert_in(dir, cert_kind::client));
    ASSERT_TRUE(leaf) << leaf.error();
    auto opts = cert_in(dir, cert_kind::server);
    opts.ca_file = leaf->cert_file.string();
    opts.key_file = leaf->key_file.string();
    auto made = create_cert(opts);
    ASSERT_FALSE(made);
    EXPECT_THAT(made.error(), HasSubstr("does not verify against CA"));
    EXPECT_FALSE(fs::exists(dir / "dc1-server-consul-0.pem"));
}

// ---- the openssl command line tool accepts what we make ---------------------------------------

TEST_F(CertgenCert, OpensslVerifyAcceptsAllKinds) {
    auto server = create_cert(cert_in(dir_, cert_kind::server));
    auto client = create_cert(cert_in(dir_, cert_kind::client));
    auto cli = create_cert(cert_in(dir_, cert_kind::cli));
    ASSERT_TRUE(server && client && cli);
    for (const auto* made : {&*server, &*client, &*cli}) {
        auto r = openssl_verify(ca_file_, made->cert_file);
        EXPECT_EQ(r.status, 0) << r.output;
        EXPECT_EQ(r.output, made->cert_file.string() + ": OK\n");
        r = openssl_verify(ca_file_, made->cert_file, "-x509_strict");
        EXPECT_EQ(r.output, made->cert_file.string() + ": OK\n");
    }
    auto r = openssl_verify(ca_file_, server->cert_file,
                            "-purpose sslserver -verify_hostname server.dc1.consul");
    EXPECT_EQ(r.output, server->cert_file.string() + ": OK\n");
    r = openssl_verify(ca_file_, server->cert_file, "-purpose sslclient");
    EXPECT_EQ(r.output, server->cert_file.string() + ": OK\n");
    r = openssl_verify(ca_file_, client->cert_file, "-purpose sslclient");
    EXPECT_EQ(r.output, client->cert_file.string() + ": OK\n");
    r = openssl_verify(ca_file_, ca_file_, "-x509_strict");
    EXPECT_EQ(r.output, ca_file_.string() + ": OK\n");

    // ... and rejects a certificate from another CA (so the checks above can fail).
    temp_dir other;
    ASSERT_TRUE(create_ca(ca_in(other)));
    r = openssl_verify(other / "consul-agent-ca.pem", server->cert_file);
    EXPECT_NE(r.status, 0);
    EXPECT_THAT(r.output, HasSubstr("unable to get local issuer certificate"));
}

TEST(CertgenOpenssl, NameConstrainedCaVerifies) {
    temp_dir dir;
    auto ca_opts = ca_in(dir);
    ca_opts.name_constraint = true;
    ASSERT_TRUE(create_ca(ca_opts));
    auto opts = cert_in(dir, cert_kind::server);
    opts.node = "n1";
    auto made = create_cert(opts);
    ASSERT_TRUE(made) << made.error();
    auto r = openssl_verify(dir / "consul-agent-ca.pem", made->cert_file, "-x509_strict");
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(r.output, made->cert_file.string() + ": OK\n");
    // The openssl tool parses the extensions as we intended.
    auto text = run("openssl x509 -noout -text -in " + quote(dir / "consul-agent-ca.pem"));
    EXPECT_THAT(text.output, HasSubstr("X509v3 Name Constraints: critical"));
    EXPECT_THAT(text.output, HasSubstr("DNS:consul"));
    EXPECT_THAT(text.output, HasSubstr("CA:TRUE"));
}

// ---- x509 helpers ------------------------------------------------------------------------------

TEST(X509Helpers, LoadErrorsNameTheFile) {
    temp_dir dir;
    auto missing = load_certificate_pem(dir / "none.pem");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error(),
              "open " + (dir / "none.pem").string() + ": no such file or directory");
    dir.write("junk.pem", "junk");
    auto junk = load_certificates_pem(dir / "junk.pem");
    ASSERT_FALSE(junk);
    EXPECT_EQ(junk.error(),
              "failed to parse " + (dir / "junk.pem").string() + ": no certificates found");
    auto key = load_private_key_pem(dir / "junk.pem");
    ASSERT_FALSE(key);
    EXPECT_THAT(key.error(), HasSubstr("no PEM-encoded data found"));
}

TEST(X509Helpers, BundleAndVerify) {
    temp_dir a, b;
    ASSERT_TRUE(create_ca(ca_in(a)));
    ASSERT_TRUE(create_ca(ca_in(b)));
    // A bundle of both CAs with a non-certificate block in between.
    a.write("bundle.pem", read_text(a / "consul-agent-ca.pem") +
                              read_text(a / "consul-agent-ca-key.pem") +
                              read_text(b / "consul-agent-ca.pem"));
    auto roots = load_certificates_pem(a / "bundle.pem");
    ASSERT_TRUE(roots) << roots.error();
    EXPECT_EQ(roots->size(), 2u);

    auto opts = cert_in(b, cert_kind::server);
    opts.node = "n2";
    auto made = create_cert(opts);
    ASSERT_TRUE(made) << made.error();
    x509_ptr leaf = load_cert(made->cert_file);
    ASSERT_TRUE(leaf);
    EXPECT_TRUE(verify_certificate(*roots, leaf.get(), "n2.server.dc1.consul"));
    EXPECT_TRUE(verify_certificate(*roots, leaf.get(), ""));
    auto wrong_name = verify_certificate(*roots, leaf.get(), "server.dc2.consul");
    ASSERT_FALSE(wrong_name);
    EXPECT_THAT(wrong_name.error(), HasSubstr("server.dc2.consul"));
    auto only_a = load_certificates_pem(a / "consul-agent-ca.pem");
    ASSERT_TRUE(only_a);
    EXPECT_FALSE(verify_certificate(*only_a, leaf.get(), ""));
}

}  // namespace
