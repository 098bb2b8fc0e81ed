// zlib (Debian zlib1g-dev) for the EventDatabase module's gzip reader (LHE import).
//
// `inflateInit2` is a macro that passes ZLIB_VERSION and sizeof(z_stream) to `inflateInit2_`;
// Swift cannot import function-like macros, so the inline function below wraps it.
#ifndef EFTHF_CZLIB_SHIM_H
#define EFTHF_CZLIB_SHIM_H

#include <zlib.h>

/// Starts inflating with automatic gzip/zlib header detection (window bits 15 + 32).
static inline int czlib_inflate_init_auto(z_streamp stream) { return inflateInit2(stream, 15 + 32); }

#endif
