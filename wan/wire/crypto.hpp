#pragma once
// memberlist encryption (security.go, keyring.go): AES-GCM (key length selects AES-128/192/256),
// 12-byte random nonce, 16-byte tag, via OpenSSL EVP.
//
// Encrypted blob: vsn(1) | nonce(12) | ciphertext | tag(16)
//   vsn 0: plaintext PKCS#7-padded to a multiple of 16 before sealing (overhead <= 45)
//   vsn 1: no padding (overhead 29) - what serf/Consul send; we always send 1.
// Additional data: UDP = label bytes (empty without label); TCP = the 5 stream header bytes
//   (0a | u32be L) followed by the label bytes.
// Stream framing: 0a | u32be L | blob   (L = blob size, <= 20 MiB).
//
// Owns: the keyring value type and the seal/open primitives.
// Threading: pure functions; keyring is a plain value (copy it to share; no internal locking).
//   Nonces come from OpenSSL's RAND_bytes (thread-safe).
// Errors: invalid_key (bad key length, unknown key, removing the primary), decrypt_failed (no
//   key authenticates, or bad vsn-0 padding), unsupported_encryption_version (vsn > 1),
//   truncated (shorter than the minimum for its version), crypto_failure (OpenSSL).
#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <string_view>
#include <vector>

#include "wan/wire/errors.hpp"

namespace meshfed::wan::wire {

inline constexpr std::size_t encryption_nonce_size = 12;
inline constexpr std::size_t encryption_tag_size = 16;
inline constexpr std::uint8_t max_encryption_version = 1;
inline constexpr std::size_t max_push_state_bytes = 20u << 20;  // memberlist maxPushStateBytes

// Ordered key list; index 0 is the primary (the only key used to encrypt); decryption tries
// every key in order.
class keyring {
  public:
    keyring() = default;
    // Each key must be 16, 24 or 32 bytes. Duplicates of the primary in `others` are ignored.
    static std::expected<keyring, errc> create(std::span<const std::uint8_t> primary,
                                               std::span<const bytes> others = {});

    // memberlist AddKey: installs a secondary key (no-op if already installed).
    std::expected<void, errc> add_key(std::span<const std::uint8_t> key);
    // memberlist UseKey: makes an installed key primary.
    std::expected<void, errc> use_key(std::span<const std::uint8_t> key);
    // memberlist RemoveKey: the primary cannot be removed; removing an unknown key is a no-op.
    std::expected<void, errc> remove_key(std::span<const std::uint8_t> key);

    bool empty() const noexcept { return keys_.empty(); }
    std::span<const bytes> keys() const noexcept { return keys_; }
    std::span<const std::uint8_t> primary() const noexcept;

    static bool valid_key_size(std::size_t n) noexcept { return n == 16 || n == 24 || n == 32; }

  private:
    std::vector<bytes> keys_;
};

// Standard base64 (with padding), as printed by `serf keygen` / `consul keygen`. The decoded key
// must be 16, 24 or 32 bytes.
std::expected<bytes, errc> decode_base64_key(std::string_view text);
std::string encode_base64(std::span<const std::uint8_t> data);

// Size of the blob for a plaintext of `n` bytes (memberlist encryptedLength).
std::size_t encrypted_length(std::uint8_t vsn, std::size_t n) noexcept;

// Seals with a fresh random nonce.
std::expected<bytes, errc> encrypt_payload(std::uint8_t vsn, std::span<const std::uint8_t> key,
                                           std::span<const std::uint8_t> plaintext,
                                           std::span<const std::uint8_t> additional_data);
// Same with a caller-chosen nonce (tests / golden vectors only: never reuse a nonce).
std::expected<bytes, errc> encrypt_payload_with_nonce(
    std::uint8_t vsn, std::span<const std::uint8_t> key,
    std::span<const std::uint8_t, encryption_nonce_size> nonce,
    std::span<const std::uint8_t> plaintext, std::span<const std::uint8_t> additional_data);

// Opens a blob with each key in order; strips vsn-0 padding.
std::expected<bytes, errc> decrypt_payload(const keyring& keys, std::span<const std::uint8_t> blob,
                                           std::span<const std::uint8_t> additional_data);

// TCP form: 0a | u32be L | blob, with AD = the 5 header bytes || label.
std::expected<bytes, errc> encrypt_stream_frame(std::uint8_t vsn, std::span<const std::uint8_t> key,
                                                std::span<const std::uint8_t> plaintext,
                                                std::string_view label);

}  // namespace meshfed::wan::wire
