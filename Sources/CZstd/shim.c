// CZstd has no logic of its own: include/CZstd.h declares functions that libzstd.so.1 defines.
// SwiftPM needs one source file per C target; this one only checks, at compile time, that the
// hand-written buffer structs have the layout zstd.h gives them (three pointer-sized fields), since
// the library reads and writes them through the pointers we pass.
#include <stdint.h>

#include "CZstd.h"

_Static_assert(sizeof(ZSTD_inBuffer) == 3 * sizeof(size_t), "ZSTD_inBuffer layout differs from zstd.h");
_Static_assert(sizeof(ZSTD_outBuffer) == 3 * sizeof(size_t), "ZSTD_outBuffer layout differs from zstd.h");
_Static_assert(offsetof(ZSTD_inBuffer, pos) == 2 * sizeof(size_t), "ZSTD_inBuffer.pos offset");
_Static_assert(offsetof(ZSTD_outBuffer, pos) == 2 * sizeof(size_t), "ZSTD_outBuffer.pos offset");
_Static_assert(sizeof(ZSTD_ErrorCode) == sizeof(int), "ZSTD_ErrorCode is int-sized in zstd_errors.h");
