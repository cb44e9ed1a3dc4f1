#include "agent/keygen.hpp"

#include <stdexcept>

#include <sodium.h>

namespace meshfed::agent {

std::string generate_gossip_key() {
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
    unsigned char key[32];
    randombytes_buf(key, sizeof key);
    char b64[sodium_base64_ENCODED_LEN(sizeof key, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(b64, sizeof b64, key, sizeof key, sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(key, sizeof key);
    return b64;
}

}  // namespace meshfed::agent
