#pragma once
// Reads a TLS ClientHello just far enough to learn the SNI and the ALPN list, owned by mesh/
// (the mesh gateway routes by SNI and never terminates TLS).
// Sans-IO: feed the bytes received so far; the answer is "need more", the hello's names, or a
// named reason the bytes are not a usable ClientHello. The ClientHello may span several TLS
// records (handshake fragmentation); the total is bounded by max_client_hello.
//
// Layout read (RFC 8446 §4.1.2, RFC 6066 §3, RFC 7301):
//   record:    type(1)=22 | version(2) | length(2) | fragment            (repeated)
//   handshake: msg_type(1)=1 | length(3) | legacy_version(2) | random(32) |
//              session_id<0..32> (u8 len) | cipher_suites<2..2^16-2> (u16 len) |
//              compression_methods<1..255> (u8 len) | extensions<0..2^16-1> (u16 len)
//   extension: type(2) | length(2) | data
//     server_name (0):  list<u16 len> of { name_type(1)=0 | host_name<u16 len> }
//     ALPN (16):        list<u16 len> of protocol<u8 len>
// Threading: pure. Errors: hello_error values, each counted by the caller.
#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <vector>

namespace meshfed::mesh {

inline constexpr std::size_t max_client_hello = 16 * 1024;  // records' payload, all fragments

enum class hello_error : std::uint8_t {
    need_more = 1,     // not an error yet: feed more bytes
    not_tls,           // first record is not a handshake record
    bad_record,        // record length 0 or > 2^14 + 256, or wrong version byte
    not_client_hello,  // first handshake message is not a ClientHello
    too_large,         // ClientHello larger than max_client_hello
    truncated,         // a length inside the hello points past its end
    bad_extension,     // malformed server_name / ALPN extension
    no_sni,            // well-formed hello without a host name
};
const char* to_string(hello_error e);

struct client_hello_info {
    std::string sni;                // lower-cased, no trailing dot
    std::vector<std::string> alpn;  // offered, in order
    std::size_t consumed = 0;       // bytes of records the hello occupied
};

// Parses the ClientHello at the start of `bytes` (everything received so far).
std::expected<client_hello_info, hello_error> parse_client_hello(
    std::span<const std::uint8_t> bytes);

}  // namespace meshfed::mesh
