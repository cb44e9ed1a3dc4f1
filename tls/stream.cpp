#include "tls/stream.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <fmt/format.h>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "common/asio_compat.hpp"

namespace meshfed::tls {
namespace {

using namespace asio::experimental::awaitable_operators;

std::string endpoint_text(const asio::ip::tcp::socket& s, bool remote) {
    std::error_code ec;
    auto ep = remote ? s.remote_endpoint(ec) : s.local_endpoint(ec);
    if (ec) return "?";
    return fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

// Runs the handshake, racing a timer when a deadline is set.
asio::awaitable<std::error_code> handshake(tls_stream& s, asio::ssl::stream_base::handshake_type t,
                                           std::chrono::milliseconds timeout) {
    auto tok = nothrow_awaitable;
    if (timeout.count() <= 0) {
        auto [ec] = co_await s.async_handshake(t, tok);
        co_return ec;
    }
    asio::steady_timer timer(s.get_executor(), timeout);
    auto r = co_await (s.async_handshake(t, tok) || timer.async_wait(tok));
    if (r.index() == 1) co_return std::make_error_code(std::errc::timed_out);
    co_return std::get<0>(std::get<0>(r));
}

std::string failure_reason(tls_stream& s, std::error_code ec) {
    long vr = SSL_get_verify_result(s.native_handle());
    if (vr != X509_V_OK)
        return fmt::format("certificate verify failed: {}", X509_verify_cert_error_string(vr));
    if (ec == std::errc::timed_out) return "handshake timed out";
    return ec.message();
}

}  // namespace

namespace {
class tls_byte_stream final : public asio_byte_stream<tls_stream> {
  public:
    using asio_byte_stream::asio_byte_stream;
    asio::awaitable<std::pair<std::error_code, std::size_t>> read_some(
        asio::mutable_buffer buf) override {
        using result = std::pair<std::error_code, std::size_t>;
        if (failed_) co_return result{failed_, 0};
        auto [ec, n] = co_await stream().async_read_some(buf, nothrow_awaitable);
        if (ec || n == 0) co_return result{ec, n};
        // Records already in the engine's input decrypt without I/O. No full record, or a
        // close_notify, is left for the next async_read_some to wait for or report; a broken
        // record ends the stream after the plaintext already taken is returned, with OpenSSL's
        // reason (e.g. "bad record mac") rather than the generic one a later read would give.
        SSL* ssl = stream().native_handle();
        auto* p = static_cast<unsigned char*>(buf.data());
        while (n < buf.size()) {
            std::size_t got = 0;
            ERR_clear_error();
            if (SSL_read_ex(ssl, p + n, buf.size() - n, &got) == 1 && got > 0) {
                n += got;
                continue;
            }
            int err = SSL_get_error(ssl, 0);
            if (err == SSL_ERROR_SSL || err == SSL_ERROR_SYSCALL) {
                auto reason = static_cast<int>(ERR_get_error());
                failed_ = reason ? std::error_code(reason, asio::error::get_ssl_category())
                                 : std::error_code(asio::ssl::error::unspecified_system_error);
            }
            ERR_clear_error();
            break;
        }
        co_return result{ec, n};
    }

  private:
    std::error_code failed_;  // a record that failed while draining; reported on the next read
};
}  // namespace

std::unique_ptr<byte_stream> make_byte_stream(tls_stream s) {
    return std::make_unique<tls_byte_stream>(std::move(s));
}

std::unique_ptr<tls_stream> make_stream(asio::ip::tcp::socket sock, SSL_CTX* ctx) {
    // asio::ssl::context takes ownership of the handle it is given: hand it its own reference.
    SSL_CTX_up_ref(ctx);
    asio::ssl::context c(ctx);
    return std::make_unique<tls_stream>(std::move(sock), c);
}

asio::awaitable<std::expected<std::unique_ptr<tls_stream>, std::string>> client_handshake(
    asio::ip::tcp::socket sock, const configurator& cfg, client_target target,
    std::chrono::milliseconds timeout) {
    auto ctx = cfg.outgoing();
    std::string peer = endpoint_text(sock, true);
    if (!ctx)
        co_return std::unexpected(fmt::format("TLS to {}: outgoing TLS is not configured", peer));
    auto s = make_stream(std::move(sock), ctx.get());
    if (auto r = cfg.configure_client(s->native_handle(), target); !r)
        co_return std::unexpected(fmt::format("TLS to {}: {}", peer, r.error()));
    auto ec = co_await handshake(*s, asio::ssl::stream_base::client, timeout);
    std::string sni = cfg.server_sni(target);
    std::string what = fmt::format("TLS to {} (dc={} sni={} alpn={})", peer, target.datacenter, sni,
                                   target.alpn.empty() ? "none" : target.alpn);
    if (ec)
        co_return std::unexpected(
            fmt::format("{}: handshake failed: {}", what, failure_reason(*s, ec)));
    if (auto r = cfg.check_server_peer(s->native_handle(), target); !r)
        co_return std::unexpected(fmt::format("{}: {}", what, r.error()));
    co_return std::move(s);
}

asio::awaitable<std::expected<std::unique_ptr<tls_stream>, std::string>> server_handshake(
    asio::ip::tcp::socket sock, std::shared_ptr<SSL_CTX> ctx, std::chrono::milliseconds timeout) {
    std::string peer = endpoint_text(sock, true);
    if (!ctx) co_return std::unexpected(fmt::format("TLS from {}: TLS is not configured", peer));
    auto s = make_stream(std::move(sock), ctx.get());
    auto ec = co_await handshake(*s, asio::ssl::stream_base::server, timeout);
    if (ec) {
        auto hello = configurator::hello_of(s->native_handle());
        co_return std::unexpected(fmt::format("TLS from {} (sni={}): handshake failed: {}", peer,
                                              hello.sni.empty() ? "none" : hello.sni,
                                              failure_reason(*s, ec)));
    }
    co_return std::move(s);
}

std::string negotiated_alpn(tls_stream& s) {
    const unsigned char* sel = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(s.native_handle(), &sel, &len);
    return sel ? std::string(reinterpret_cast<const char*>(sel), len) : std::string();
}

}  // namespace meshfed::tls
