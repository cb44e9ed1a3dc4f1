#pragma once
// Asio 1.22 (Debian 12) keeps as_tuple under experimental; later releases moved it. Network
// code uses `co_await op(..., nothrow_awaitable)` and gets error codes, never exceptions.
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

namespace meshfed {

using asio::experimental::as_tuple;
inline constexpr auto nothrow_awaitable = as_tuple(asio::use_awaitable);

}  // namespace meshfed
