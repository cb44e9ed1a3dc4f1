// Keyring and AES-GCM payload encryption (memberlist security.go / keyring.go), checked against
// the encrypted captures of gossip-protocol.md §14.6-14.8.
#include "wan/wire/crypto.hpp"

#include <gtest/gtest.h>

#include "tests/wan/wire_test_util.hpp"

namespace {

using namespace meshfed::wan::wire;
using meshfed::wan::wire::testing::from_hex;
using meshfed::wan::wire::testing::to_hex;

constexpr std::string_view doc_key_b64 = "rGIPt7bScsbddgm1QvL24tsgJygmi9DQG2xKkVWiAnA=";

// §14.6
constexpr std::string_view enc_ping_hex =
    "0103281b1fa6c1c562d86b76c59debaa31c3f5e35676d086f06e264acb1aa3b3e32d507607f4f44a4e043ea767"
    "51bb4079971fcd990180767768413e6641a9610068058ef5126e9729d6cecb18b757aad532efd057ce1c7c19d3";
constexpr std::string_view enc_ping_plain_hex =
    "0085a44e6f6465a27332a55365714e6f01aa536f7572636541646472a47f000001aa536f757263654e6f6465a2"
    "7331aa536f75726365506f7274cd4624";
// §14.8 (after the 10-byte label header)
constexpr std::string_view label_ping_hex =
    "f40877616e2d7465737401f8ab8359e0bf43ef3814c4b9d204d14a072600679ec40057fe42b73a845cac887b1f"
    "5f549ba79870c524845499b54bdb65a3a84b922f46d72a8cb647ed53d8e1b8df6526264386536c911484515"
    "9d1e3d8a15560307dc73a92";
constexpr std::string_view label_ping_plain_hex =
    "0085a44e6f6465a26c62a55365714e6f01aa536f7572636541646472a47f000001aa536f757263654e6f6465a2"
    "6c61aa536f75726365506f7274cd4c91";

keyring doc_keyring() {
    auto key = decode_base64_key(doc_key_b64);
    EXPECT_TRUE(key);
    return *keyring::create(*key);
}

std::span<const std::uint8_t> sv(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

TEST(WireCrypto, Base64KeyDecoding) {
    auto key = decode_base64_key(doc_key_b64);
    ASSERT_TRUE(key);
    EXPECT_EQ(key->size(), 32u);
    EXPECT_EQ(encode_base64(*key), doc_key_b64);
    EXPECT_EQ(decode_base64_key("AAAA").error(), errc::invalid_key);  // 3 bytes
    EXPECT_EQ(decode_base64_key("not base64!!").error(), errc::invalid_key);
    EXPECT_EQ(decode_base64_key("").error(), errc::invalid_key);
    EXPECT_EQ(decode_base64_key(encode_base64(bytes(16, 1)))->size(), 16u);
    EXPECT_EQ(decode_base64_key(encode_base64(bytes(24, 1)))->size(), 24u);
}

TEST(WireCrypto, GoldenEncryptedPingDecrypts) {
    const auto kr = doc_keyring();
    const auto blob = from_hex(enc_ping_hex);
    ASSERT_EQ(blob.size(), 90u);
    auto plain = decrypt_payload(kr, blob, {});
    ASSERT_TRUE(plain);
    EXPECT_EQ(to_hex(*plain), enc_ping_plain_hex);
}

TEST(WireCrypto, GoldenEncryptedPingReencryptsByteIdenticalWithItsNonce) {
    const auto kr = doc_keyring();
    const auto blob = from_hex(enc_ping_hex);
    std::array<std::uint8_t, 12> nonce{};
    std::copy(blob.begin() + 1, blob.begin() + 13, nonce.begin());
    auto again =
        encrypt_payload_with_nonce(1, kr.primary(), nonce, from_hex(enc_ping_plain_hex), {});
    ASSERT_TRUE(again);
    EXPECT_EQ(to_hex(*again), enc_ping_hex);
}

TEST(WireCrypto, GoldenLabelledPingUsesLabelAsAdditionalData) {
    const auto kr = doc_keyring();
    const auto wire = from_hex(label_ping_hex);
    ASSERT_EQ(wire.size(), 100u);
    const auto blob = std::span(wire).subspan(10);
    auto plain = decrypt_payload(kr, blob, sv("wan-test"));
    ASSERT_TRUE(plain);
    EXPECT_EQ(to_hex(*plain), label_ping_plain_hex);
    EXPECT_EQ(decrypt_payload(kr, blob, {}).error(), errc::decrypt_failed);
    EXPECT_EQ(decrypt_payload(kr, blob, sv("wan-tesT")).error(), errc::decrypt_failed);
}

TEST(WireCrypto, WrongKeyFailsAndSecondaryKeyIsTried) {
    const auto good = *decode_base64_key(doc_key_b64);
    const bytes other(32, 0x42);
    auto wrong = *keyring::create(other);
    const auto blob = from_hex(enc_ping_hex);
    EXPECT_EQ(decrypt_payload(wrong, blob, {}).error(), errc::decrypt_failed);
    ASSERT_TRUE(wrong.add_key(good));
    EXPECT_TRUE(decrypt_payload(wrong, blob, {}));
}

TEST(WireCrypto, TamperedTagOrCiphertextFails) {
    const auto kr = doc_keyring();
    for (std::size_t pos : {1u, 13u, 40u, 89u}) {
        auto blob = from_hex(enc_ping_hex);
        blob[pos] ^= 0x01;
        EXPECT_EQ(decrypt_payload(kr, blob, {}).error(), errc::decrypt_failed) << pos;
    }
}

TEST(WireCrypto, VersionAndLengthChecks) {
    const auto kr = doc_keyring();
    auto blob = from_hex(enc_ping_hex);
    blob[0] = 2;
    EXPECT_EQ(decrypt_payload(kr, blob, {}).error(), errc::unsupported_encryption_version);
    EXPECT_EQ(decrypt_payload(kr, bytes(28, 1), {}).error(), errc::truncated);  // < 29
    bytes v0(44, 0);                                                            // vsn 0 needs >= 45
    EXPECT_EQ(decrypt_payload(kr, v0, {}).error(), errc::truncated);
    EXPECT_EQ(decrypt_payload(kr, {}, {}).error(), errc::truncated);
    EXPECT_EQ(encrypted_length(1, 10), 39u);
    EXPECT_EQ(encrypted_length(0, 10), 45u);
    EXPECT_EQ(encrypted_length(0, 16), 61u);
}

TEST(WireCrypto, Version0PaddedRoundTripAllKeySizes) {
    for (std::size_t ks : {16u, 24u, 32u}) {
        auto kr = *keyring::create(bytes(ks, 7));
        for (std::size_t n : {0u, 1u, 15u, 16u, 17u, 100u}) {
            const bytes plain(n, 0x5a);
            for (std::uint8_t vsn : {0, 1}) {
                auto blob = encrypt_payload(vsn, kr.primary(), plain, sv("ad"));
                ASSERT_TRUE(blob);
                EXPECT_EQ(blob->size(), encrypted_length(vsn, n));
                auto back = decrypt_payload(kr, *blob, sv("ad"));
                ASSERT_TRUE(back) << ks << " " << n << " " << int(vsn);
                EXPECT_EQ(*back, plain);
            }
        }
    }
}

TEST(WireCrypto, Version0BadPaddingRejected) {
    auto kr = *keyring::create(bytes(16, 7));
    std::array<std::uint8_t, 12> nonce{};
    // Seal a "padded" plaintext whose last byte claims 0 or 17 bytes of padding (as vsn 1, then
    // relabel as vsn 0: the version byte is not authenticated by GCM).
    for (std::uint8_t last : {0, 17}) {
        bytes plain(16, 1);
        plain.back() = last;
        auto blob = *encrypt_payload_with_nonce(1, kr.primary(), nonce, plain, {});
        blob[0] = 0;
        EXPECT_EQ(decrypt_payload(kr, blob, {}).error(), errc::decrypt_failed);
    }
}

TEST(WireCrypto, KeyringOperations) {
    EXPECT_EQ(keyring::create(bytes(15, 1)).error(), errc::invalid_key);
    const bytes k1(32, 1), k2(16, 2), k3(24, 3);
    auto kr = *keyring::create(k1, std::vector<bytes>{k2, k1});
    ASSERT_EQ(kr.keys().size(), 2u);
    EXPECT_TRUE(std::ranges::equal(kr.primary(), k1));
    EXPECT_EQ(kr.add_key(bytes(33, 1)).error(), errc::invalid_key);
    ASSERT_TRUE(kr.add_key(k3));
    ASSERT_TRUE(kr.add_key(k3));  // no-op
    EXPECT_EQ(kr.keys().size(), 3u);
    EXPECT_EQ(kr.use_key(bytes(16, 9)).error(), errc::invalid_key);
    ASSERT_TRUE(kr.use_key(k3));
    EXPECT_TRUE(std::ranges::equal(kr.primary(), k3));
    EXPECT_EQ(kr.remove_key(k3).error(), errc::invalid_key);  // primary
    ASSERT_TRUE(kr.remove_key(k1));
    EXPECT_EQ(kr.keys().size(), 2u);
    ASSERT_TRUE(kr.remove_key(k1));  // unknown: no-op
    keyring empty;
    EXPECT_TRUE(empty.empty());
    EXPECT_TRUE(empty.primary().empty());
    EXPECT_EQ(decrypt_payload(empty, from_hex(enc_ping_hex), {}).error(), errc::decrypt_failed);
}

TEST(WireCrypto, StreamFrameAuthenticatesHeaderAndLabel) {
    const auto kr = doc_keyring();
    const bytes msg{0x00, 0x80};
    auto frame = encrypt_stream_frame(1, kr.primary(), msg, "wan-test");
    ASSERT_TRUE(frame);
    ASSERT_EQ(frame->size(), 5u + 29u + 2u);
    EXPECT_EQ(to_hex(std::span(*frame).first(5)), "0a0000001f");
    bytes ad(frame->begin(), frame->begin() + 5);
    ad.insert(ad.end(), {'w', 'a', 'n', '-', 't', 'e', 's', 't'});
    EXPECT_EQ(*decrypt_payload(kr, std::span(*frame).subspan(5), ad), msg);
    EXPECT_EQ(decrypt_payload(kr, std::span(*frame).subspan(5), std::span(*frame).first(5)).error(),
              errc::decrypt_failed);
}

}  // namespace
