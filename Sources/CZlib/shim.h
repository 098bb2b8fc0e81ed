// zlib (Debian zlib1g-dev), called only by the _Inflate module (its Inflater, gzip writer and
// crc32), which the LHE importer (EventDatabase) and the archive reader and writer (EFTHF) use.
//
// `inflateInit2` and `deflateInit2` are macros that passes ZLIB_VERSION and sizeof(z_stream) to `inflateInit2_`;
// Swift cannot import function-like macros, so the inline functions below wrap it.
#ifndef EFTHF_CZLIB_SHIM_H
#define EFTHF_CZLIB_SHIM_H

#include <zlib.h>

/// Starts inflating with automatic gzip/zlib header detection (window bits 15 + 32).
static inline int czlib_inflate_init_auto(z_streamp stream) { return inflateInit2(stream, 15 + 32); }

/// Starts inflating a raw deflate stream without header or trailer (window bits -15), as a ZIP
/// member's data is stored (APPNOTE.TXT 4.4.5, method 8).
static inline int czlib_inflate_init_raw(z_streamp stream) { return inflateInit2(stream, -15); }

/// Starts deflating into a gzip stream (RFC 1952; window bits 15 + 16) at `level` (0-9), memory
/// level 8, the default strategy.
static inline int czlib_deflate_init_gzip(z_streamp stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}

#endif
