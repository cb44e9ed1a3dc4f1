#pragma once
// `meshfed keygen`: a new gossip encryption key, as `consul keygen` makes it: 32 random bytes
// from the OS CSPRNG (libsodium), standard base64. Throws std::runtime_error if libsodium
// cannot initialise (startup-only code path).
#include <string>

namespace meshfed::agent {

std::string generate_gossip_key();

}  // namespace meshfed::agent
