#include "wan/wire/crypto.hpp"

#include <algorithm>
#include <memory>
#include <string>

#include <openssl/evp.h>
#include <openssl/rand.h>

namespace meshfed::wan::wire {

namespace {

struct ctx_deleter {
    void operator()(EVP_CIPHER_CTX* c) const noexcept { EVP_CIPHER_CTX_free(c); }
};
using ctx_ptr = std::unique_ptr<EVP_CIPHER_CTX, ctx_deleter>;

const EVP_CIPHER* gcm_for(std::size_t key_size) {
    switch (key_size) {
        case 16:
            return EVP_aes_128_gcm();
        case 24:
            return EVP_aes_192_gcm();
        case 32:
            return EVP_aes_256_gcm();
        default:
            return nullptr;
    }
}

bool equal_key(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
    return std::ranges::equal(a, b);
}

// Seals `plain` and writes ciphertext || tag into out (appending).
std::expected<void, errc> gcm_seal(std::span<const std::uint8_t> key,
                                   std::span<const std::uint8_t> nonce,
                                   std::span<const std::uint8_t> plain,
                                   std::span<const std::uint8_t> ad, bytes& out) {
    const EVP_CIPHER* cipher = gcm_for(key.size());
    if (!cipher) return std::unexpected(errc::invalid_key);
    ctx_ptr ctx(EVP_CIPHER_CTX_new());
    if (!ctx) return std::unexpected(errc::crypto_failure);
    int len = 0;
    if (EVP_EncryptInit_ex(ctx.get(), cipher, nullptr, nullptr, nullptr) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()),
                            nullptr) != 1 ||
        EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), nonce.data()) != 1)
        return std::unexpected(errc::crypto_failure);
    if (!ad.empty() &&
        EVP_EncryptUpdate(ctx.get(), nullptr, &len, ad.data(), static_cast<int>(ad.size())) != 1)
        return std::unexpected(errc::crypto_failure);
    const std::size_t base = out.size();
    out.resize(base + plain.size() + encryption_tag_size);
    int written = 0;
    if (!plain.empty()) {
        if (EVP_EncryptUpdate(ctx.get(), out.data() + base, &len, plain.data(),
                              static_cast<int>(plain.size())) != 1)
            return std::unexpected(errc::crypto_failure);
        written = len;
    }
    if (EVP_EncryptFinal_ex(ctx.get(), out.data() + base + written, &len) != 1)
        return std::unexpected(errc::crypto_failure);
    written += len;
    if (static_cast<std::size_t>(written) != plain.size())
        return std::unexpected(errc::crypto_failure);
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, encryption_tag_size,
                            out.data() + base + written) != 1)
        return std::unexpected(errc::crypto_failure);
    return {};
}

// Opens ciphertext||tag; returns false when authentication fails.
std::expected<bool, errc> gcm_open(std::span<const std::uint8_t> key,
                                   std::span<const std::uint8_t> nonce,
                                   std::span<const std::uint8_t> sealed,
                                   std::span<const std::uint8_t> ad, bytes& plain) {
    const EVP_CIPHER* cipher = gcm_for(key.size());
    if (!cipher) return std::unexpected(errc::invalid_key);
    if (sealed.size() < encryption_tag_size) return false;
    const auto ct = sealed.first(sealed.size() - encryption_tag_size);
    const auto tag = sealed.last(encryption_tag_size);
    ctx_ptr ctx(EVP_CIPHER_CTX_new());
    if (!ctx) return std::unexpected(errc::crypto_failure);
    int len = 0;
    if (EVP_DecryptInit_ex(ctx.get(), cipher, nullptr, nullptr, nullptr) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()),
                            nullptr) != 1 ||
        EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), nonce.data()) != 1)
        return std::unexpected(errc::crypto_failure);
    if (!ad.empty() &&
        EVP_DecryptUpdate(ctx.get(), nullptr, &len, ad.data(), static_cast<int>(ad.size())) != 1)
        return std::unexpected(errc::crypto_failure);
    plain.resize(ct.size());
    int written = 0;
    if (!ct.empty()) {
        if (EVP_DecryptUpdate(ctx.get(), plain.data(), &len, ct.data(),
                              static_cast<int>(ct.size())) != 1)
            return false;
        written = len;
    }
    // OpenSSL takes a non-const pointer for SET_TAG but does not modify it.
    std::uint8_t tag_copy[encryption_tag_size];
    std::copy(tag.begin(), tag.end(), tag_copy);
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, encryption_tag_size, tag_copy) != 1)
        return std::unexpected(errc::crypto_failure);
    if (EVP_DecryptFinal_ex(ctx.get(), plain.data() + written, &len) != 1) return false;
    return true;
}

}  // namespace

// ---- keyring -----------------------------------------------------------------------------------

std::expected<keyring, errc> keyring::create(std::span<const std::uint8_t> primary,
                                             std::span<const bytes> others) {
    if (!valid_key_size(primary.size())) return std::unexpected(errc::invalid_key);
    keyring k;
    k.keys_.emplace_back(primary.begin(), primary.end());
    for (const auto& o : others) {
        if (auto r = k.add_key(o); !r) return std::unexpected(r.error());
    }
    return k;
}

std::expected<void, errc> keyring::add_key(std::span<const std::uint8_t> key) {
    if (!valid_key_size(key.size())) return std::unexpected(errc::invalid_key);
    for (const auto& k : keys_) {
        if (equal_key(k, key)) return {};
    }
    keys_.emplace_back(key.begin(), key.end());
    return {};
}

std::expected<void, errc> keyring::use_key(std::span<const std::uint8_t> key) {
    auto it = std::ranges::find_if(keys_, [&](const bytes& k) { return equal_key(k, key); });
    if (it == keys_.end()) return std::unexpected(errc::invalid_key);
    std::rotate(keys_.begin(), it, it + 1);
    return {};
}

std::expected<void, errc> keyring::remove_key(std::span<const std::uint8_t> key) {
    if (!keys_.empty() && equal_key(keys_.front(), key)) return std::unexpected(errc::invalid_key);
    std::erase_if(keys_, [&](const bytes& k) { return equal_key(k, key); });
    return {};
}

std::span<const std::uint8_t> keyring::primary() const noexcept {
    if (keys_.empty()) return {};
    return keys_.front();
}

// ---- base64 ------------------------------------------------------------------------------------

std::expected<bytes, errc> decode_base64_key(std::string_view text) {
    if (text.empty() || text.size() % 4 != 0 || text.size() > 64)
        return std::unexpected(errc::invalid_key);
    bytes out(text.size() / 4 * 3);
    const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                  static_cast<int>(text.size()));
    if (n < 0) return std::unexpected(errc::invalid_key);
    std::size_t pad = 0;
    if (text.back() == '=') ++pad;
    if (text.size() >= 2 && text[text.size() - 2] == '=') ++pad;
    out.resize(static_cast<std::size_t>(n) - pad);
    if (!keyring::valid_key_size(out.size())) return std::unexpected(errc::invalid_key);
    return out;
}

std::string encode_base64(std::span<const std::uint8_t> data) {
    std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(),
                                  static_cast<int>(data.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

// ---- seal / open -------------------------------------------------------------------------------

std::size_t encrypted_length(std::uint8_t vsn, std::size_t n) noexcept {
    if (vsn >= 1) return 1 + encryption_nonce_size + n + encryption_tag_size;
    return 1 + encryption_nonce_size + n + (16 - n % 16) + encryption_tag_size;
}

std::expected<bytes, errc> encrypt_payload_with_nonce(
    std::uint8_t vsn, std::span<const std::uint8_t> key,
    std::span<const std::uint8_t, encryption_nonce_size> nonce,
    std::span<const std::uint8_t> plaintext, std::span<const std::uint8_t> additional_data) {
    if (vsn > max_encryption_version) return std::unexpected(errc::invalid_argument);
    if (!keyring::valid_key_size(key.size())) return std::unexpected(errc::invalid_key);
    bytes out;
    out.reserve(encrypted_length(vsn, plaintext.size()));
    out.push_back(vsn);
    out.insert(out.end(), nonce.begin(), nonce.end());
    std::expected<void, errc> sealed;
    if (vsn == 0) {
        bytes padded(plaintext.begin(), plaintext.end());
        const std::size_t more = 16 - plaintext.size() % 16;
        padded.insert(padded.end(), more, static_cast<std::uint8_t>(more));
        sealed = gcm_seal(key, nonce, padded, additional_data, out);
    } else {
        sealed = gcm_seal(key, nonce, plaintext, additional_data, out);
    }
    if (!sealed) return std::unexpected(sealed.error());
    return out;
}

std::expected<bytes, errc> encrypt_payload(std::uint8_t vsn, std::span<const std::uint8_t> key,
                                           std::span<const std::uint8_t> plaintext,
                                           std::span<const std::uint8_t> additional_data) {
    std::uint8_t nonce[encryption_nonce_size];
    if (RAND_bytes(nonce, static_cast<int>(sizeof nonce)) != 1)
        return std::unexpected(errc::crypto_failure);
    return encrypt_payload_with_nonce(vsn, key, std::span<const std::uint8_t, 12>(nonce), plaintext,
                                      additional_data);
}

std::expected<bytes, errc> decrypt_payload(const keyring& keys, std::span<const std::uint8_t> blob,
                                           std::span<const std::uint8_t> additional_data) {
    if (blob.empty()) return std::unexpected(errc::truncated);
    const std::uint8_t vsn = blob[0];
    if (vsn > max_encryption_version) return std::unexpected(errc::unsupported_encryption_version);
    if (blob.size() < encrypted_length(vsn, 0)) return std::unexpected(errc::truncated);
    const auto nonce = blob.subspan(1, encryption_nonce_size);
    const auto sealed = blob.subspan(1 + encryption_nonce_size);
    bytes plain;
    for (const auto& key : keys.keys()) {
        auto ok = gcm_open(key, nonce, sealed, additional_data, plain);
        if (!ok) return std::unexpected(ok.error());
        if (!*ok) continue;
        if (vsn == 0) {
            // PKCS#7: pad length 1..16 (memberlist does not check more; neither do we).
            if (plain.empty()) return std::unexpected(errc::decrypt_failed);
            const std::size_t pad = plain.back();
            if (pad == 0 || pad > 16 || pad > plain.size())
                return std::unexpected(errc::decrypt_failed);
            plain.resize(plain.size() - pad);
        }
        return plain;
    }
    return std::unexpected(errc::decrypt_failed);
}

std::expected<bytes, errc> encrypt_stream_frame(std::uint8_t vsn, std::span<const std::uint8_t> key,
                                                std::span<const std::uint8_t> plaintext,
                                                std::string_view label) {
    const std::size_t len = encrypted_length(vsn, plaintext.size());
    if (len > max_push_state_bytes) return std::unexpected(errc::oversized);
    bytes ad;
    ad.push_back(static_cast<std::uint8_t>(message_type::encrypt));
    for (int i = 3; i >= 0; --i) ad.push_back(static_cast<std::uint8_t>(len >> (8 * i)));
    bytes header = ad;
    ad.insert(ad.end(), label.begin(), label.end());
    auto blob = encrypt_payload(vsn, key, plaintext, ad);
    if (!blob) return blob;
    header.insert(header.end(), blob->begin(), blob->end());
    return header;
}

}  // namespace meshfed::wan::wire
