#pragma once
// The one way to include cpp-httplib in meshfed. Debian builds httplib as a shared library
// (libcpp-httplib.so, linked by meshfed_agent) with OpenSSL, zlib and brotli support, and the
// header's classes change layout with those macros: every translation unit must see the same
// settings as the library (an ODR violation otherwise), so define them here, as the package's
// pkg-config Cflags do. Include from .cpp files only, never from a public header.
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#define CPPHTTPLIB_OPENSSL_SUPPORT
#endif
#ifndef CPPHTTPLIB_ZLIB_SUPPORT
#define CPPHTTPLIB_ZLIB_SUPPORT
#endif
#ifndef CPPHTTPLIB_BROTLI_SUPPORT
#define CPPHTTPLIB_BROTLI_SUPPORT
#endif
#include <httplib.h>
