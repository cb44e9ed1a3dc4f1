#pragma once
// Test support: the bytes an OpenSSL TLS client sends first (its ClientHello records), with a
// given SNI ("" = none) and ALPN list. Used by tests/mesh and by fuzz/seedgen.cpp.
#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <cstdint>
#include <string>
#include <vector>

namespace meshfed::test {

inline std::vector<std::uint8_t> openssl_client_hello(const std::string& sni,
                                                      const std::vector<std::string>& alpn) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL* ssl = SSL_new(ctx);
    BIO* rbio = BIO_new(BIO_s_mem());
    BIO* wbio = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl, rbio, wbio);
    if (!sni.empty()) SSL_set_tlsext_host_name(ssl, sni.c_str());
    std::string wire;
    for (const auto& p : alpn) {
        wire.push_back(static_cast<char>(p.size()));
        wire += p;
    }
    if (!wire.empty())
        SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
    SSL_connect(ssl);  // writes the ClientHello, then wants to read
    std::vector<std::uint8_t> out(static_cast<std::size_t>(BIO_pending(wbio)));
    BIO_read(wbio, out.data(), static_cast<int>(out.size()));
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return out;
}

}  // namespace meshfed::test
