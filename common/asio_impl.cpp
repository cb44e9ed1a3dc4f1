// The single translation unit that compiles Asio (ASIO_SEPARATE_COMPILATION is defined for the
// whole project), so no other file pays for Asio's implementation.
#include <asio/impl/src.hpp>
#include <asio/ssl/impl/src.hpp>
