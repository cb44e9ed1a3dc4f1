#pragma once
// The receiving side's options of the two memberlist targets (packet and stream), from their
// mode byte. mode & 3:
//   0  no encryption;
//   1  the captures' keyring, verify_incoming = false (plaintext fallback); bit 2 skips the
//      inbound label check: the captured encrypted datagrams and streams decode here;
//   2  keyring, verify_incoming: the caller seals the payload with the key first (fixed nonce,
//      encryption version 1, bit 2: version 0), so the fuzzer drives what follows decryption;
//   3  keyring, verify_incoming, the payload as sent (hostile ciphertext).
// Bit 3: our label is "wan-test" (else none).
#include <cstdint>
#include <string_view>

#include "fuzz/fuzz_input.hpp"
#include "wan/wire/crypto.hpp"

namespace meshfed::fuzz {

inline const wan::wire::keyring& capture_keyring() {
    static const auto kr =
        *wan::wire::keyring::create(*wan::wire::decode_base64_key(capture_key_b64));
    return kr;
}

// Sets keys / verify_incoming / label / skip_inbound_label_check on a packet or stream
// decode_options. Returns true when the caller must seal the payload (mode 2).
template <class Options>
bool apply_wire_mode(Options& opts, std::uint8_t mode) {
    opts.label = (mode & 8) ? capture_label : std::string_view{};
    if ((mode & 3) == 0) return false;
    opts.keys = &capture_keyring();
    if ((mode & 3) == 1) {
        opts.verify_incoming = false;
        opts.skip_inbound_label_check = (mode & 4) != 0;
    }
    return (mode & 3) == 2;
}

// The encryption version a mode-2 payload is sealed with.
inline std::uint8_t seal_version(std::uint8_t mode) {
    return (mode & 4) ? 0 : 1;
}

}  // namespace meshfed::fuzz
