#pragma once
// A type-erased async byte stream (TCP socket, TLS stream, a test pipe), shared by every module
// that moves bytes over a connection it did not open itself: rpc/ (yamux over TCP or TLS), wan/
// (memberlist streams and packets tunnelled through mesh gateways) and mesh/ (the dialer).
// Threading: all calls on the stream's executor. Errors: std::error_code; no exceptions.
#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/write.hpp>
#include <memory>
#include <system_error>
#include <utility>

#include "common/asio_compat.hpp"

namespace meshfed {

class byte_stream {
  public:
    virtual ~byte_stream() = default;
    virtual asio::any_io_executor get_executor() = 0;
    // One read of up to buf.size() bytes (> 0 unless an error is returned).
    virtual asio::awaitable<std::pair<std::error_code, std::size_t>> read_some(
        asio::mutable_buffer buf) = 0;
    // Writes all of buf.
    virtual asio::awaitable<std::error_code> write_all(asio::const_buffer buf) = 0;
    virtual void close() = 0;
};

// Wraps any Asio AsyncReadStream/AsyncWriteStream with a lowest_layer() (tcp::socket,
// ssl::stream<tcp::socket>; tls/stream.hpp refines reads for the latter).
template <class Stream>
class asio_byte_stream : public byte_stream {
  public:
    explicit asio_byte_stream(Stream s) : stream_(std::move(s)) {}
    asio::any_io_executor get_executor() override { return stream_.get_executor(); }
    asio::awaitable<std::pair<std::error_code, std::size_t>> read_some(
        asio::mutable_buffer buf) override {
        auto [ec, n] = co_await stream_.async_read_some(buf, nothrow_awaitable);
        co_return std::pair<std::error_code, std::size_t>{ec, n};
    }
    asio::awaitable<std::error_code> write_all(asio::const_buffer buf) override {
        auto [ec, n] = co_await asio::async_write(stream_, buf, nothrow_awaitable);
        (void)n;
        co_return ec;
    }
    void close() override {
        std::error_code ec;
        stream_.lowest_layer().close(ec);
    }
    Stream& stream() { return stream_; }

  private:
    Stream stream_;
};

template <class Stream>
std::unique_ptr<byte_stream> make_byte_stream(Stream s) {
    return std::make_unique<asio_byte_stream<Stream>>(std::move(s));
}

}  // namespace meshfed
