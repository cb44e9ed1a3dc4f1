#pragma once
// TLS over Asio for the modules that own sockets (rpc/, wan/, mesh/): handshakes with a
// deadline, built on the configurator's shared contexts. Asio's ssl::stream does the record
// layer; this file only decides how a connection is set up and checked.
// Threading: the returned stream belongs to the caller's executor/strand. Errors: the
// awaitables return std::expected with a message that says which side, which peer and why.
#include <chrono>
#include <expected>
#include <memory>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/stream.hpp>

#include "common/byte_stream.hpp"
#include "tls/configurator.hpp"

namespace meshfed::tls {

using tls_stream = asio::ssl::stream<asio::ip::tcp::socket>;

// Wraps an SSL_CTX (shared) for a new stream: each SSL holds its own reference to the context.
std::unique_ptr<tls_stream> make_stream(asio::ip::tcp::socket sock, SSL_CTX* ctx);

// Client: configure_client(), handshake (deadline `timeout`, 0 = none), check_server_peer().
// `target` is taken by value: coroutine parameters must own what they use after a suspension
// (and g++ 12 mishandles braced temporaries bound to references in co_await expressions).
asio::awaitable<std::expected<std::unique_ptr<tls_stream>, std::string>> client_handshake(
    asio::ip::tcp::socket sock, const configurator& cfg, client_target target,
    std::chrono::milliseconds timeout);

// Server: handshake with `ctx` (incoming_rpc() or incoming_alpn()) under the deadline.
asio::awaitable<std::expected<std::unique_ptr<tls_stream>, std::string>> server_handshake(
    asio::ip::tcp::socket sock, std::shared_ptr<SSL_CTX> ctx, std::chrono::milliseconds timeout);

// A finished TLS stream as a byte_stream. Its read_some also returns the plaintext of every
// further record already received and buffered (SSL_read without I/O), not one record per call
// as ssl::stream::async_read_some does: peers that write small records (Go's yamux writes a
// frame's header and body separately) then cost one wake-up per batch instead of per record.
std::unique_ptr<byte_stream> make_byte_stream(tls_stream s);

// The protocol ALPN negotiated on a finished handshake ("" = none).
std::string negotiated_alpn(tls_stream& s);

}  // namespace meshfed::tls
