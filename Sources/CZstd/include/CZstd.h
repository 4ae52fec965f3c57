// CZstd: the few functions and types of libzstd.so.1 (Zstandard, v1.5.x) that TmemCompression calls.
//
// Why declared by hand: no libzstd-dev package is assumed on the build machine, only the shared
// object every Debian/Ubuntu carries. The package links it by soname (`-l:libzstd.so.1`). Each
// declaration repeats the public prototype of lib/zstd.h (or lib/zstd_errors.h) exactly, with the
// library's own names, so the dynamic linker binds them to libzstd's symbols.
//
// Only the stable API is declared (nothing from the ZSTD_STATIC_LINKING_ONLY section: those symbols
// may change between versions and are not meant for a shared library). Keep it that way.
#ifndef CZSTD_H
#define CZSTD_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// ZSTD_MAGICNUMBER of zstd.h: the first four bytes (little-endian) of every Zstandard frame.
#define CZSTD_MAGICNUMBER 0xFD2FB528U

// MARK: - Version, bounds, errors

/// Library version as major*10000 + minor*100 + release (10504 for 1.5.4).
unsigned ZSTD_versionNumber(void);

/// Maximum compressed size of srcSize bytes in a single-pass compression (worst case).
size_t ZSTD_compressBound(size_t srcSize);

/// Tells whether a size_t result of a zstd function is an error code (1) or a size (0).
unsigned ZSTD_isError(size_t code);

/// A readable, static string for an error code (never NULL).
const char *ZSTD_getErrorName(size_t code);

/// Error codes of zstd_errors.h that the Swift side tells apart. The values are part of zstd's
/// stable ABI (they "shall not change" across versions); only the ones used are listed, the C enum
/// has more. The enum is int-sized, like the library's.
typedef enum {
    ZSTD_error_no_error = 0,
    ZSTD_error_GENERIC = 1,
    ZSTD_error_prefix_unknown = 10,
    ZSTD_error_corruption_detected = 20,
    ZSTD_error_checksum_wrong = 22,
    ZSTD_error_memory_allocation = 64,
    ZSTD_error_dstSize_tooSmall = 70,
    ZSTD_error_srcSize_wrong = 72,
} ZSTD_ErrorCode;

/// Converts a size_t result into a ZSTD_ErrorCode (ZSTD_error_no_error if it is not an error).
ZSTD_ErrorCode ZSTD_getErrorCode(size_t functionResult);

/// Smallest (fastest, negative) compression level the library accepts.
int ZSTD_minCLevel(void);

/// Largest compression level the library accepts (22 in 1.5.x).
int ZSTD_maxCLevel(void);

// MARK: - Explicit contexts (one-shot)

/// Compression context, opaque. Reusing one across calls avoids re-allocating its tables.
typedef struct ZSTD_CCtx_s ZSTD_CCtx;

/// Allocates a compression context; NULL if memory is exhausted.
ZSTD_CCtx *ZSTD_createCCtx(void);

/// Frees a compression context (NULL is accepted); returns 0 or an error code.
size_t ZSTD_freeCCtx(ZSTD_CCtx *cctx);

/// Compresses src into dst as one complete frame (content size recorded in the header).
/// Returns the compressed size, or an error code (ZSTD_error_dstSize_tooSmall when it does not fit).
size_t ZSTD_compressCCtx(ZSTD_CCtx *cctx, void *dst, size_t dstCapacity, const void *src, size_t srcSize,
                         int compressionLevel);

/// Decompression context, opaque. Also serves as the streaming decoder (ZSTD_DStream is a typedef
/// of it in zstd.h).
typedef struct ZSTD_DCtx_s ZSTD_DCtx;

/// Allocates a decompression context; NULL if memory is exhausted.
ZSTD_DCtx *ZSTD_createDCtx(void);

/// Frees a decompression context (NULL is accepted); returns 0 or an error code.
size_t ZSTD_freeDCtx(ZSTD_DCtx *dctx);

/// Decompresses every frame in src into dst. Returns the number of bytes written, or an error code
/// (corrupt input, truncated input, or content that does not fit dstCapacity).
size_t ZSTD_decompressDCtx(ZSTD_DCtx *dctx, void *dst, size_t dstCapacity, const void *src, size_t srcSize);

// MARK: - Streaming decompression

/// Input window of a streaming call: the decoder reads src[pos..<size] and advances pos.
typedef struct ZSTD_inBuffer_s {
    const void *src;
    size_t size;
    size_t pos;
} ZSTD_inBuffer;

/// Output window of a streaming call: the decoder writes dst[pos..<size] and advances pos.
typedef struct ZSTD_outBuffer_s {
    void *dst;
    size_t size;
    size_t pos;
} ZSTD_outBuffer;

/// Streaming decoder; in zstd.h `typedef ZSTD_DCtx ZSTD_DStream`.
typedef ZSTD_DCtx ZSTD_DStream;

/// Decodes as much of input as fits into output. Returns 0 when a frame is completely decoded and
/// flushed, a hint (> 0) of the input still expected otherwise, or an error code. Handles several
/// concatenated frames and frames whose content size is not recorded.
size_t ZSTD_decompressStream(ZSTD_DStream *zds, ZSTD_outBuffer *output, ZSTD_inBuffer *input);

/// Recommended input buffer size for ZSTD_decompressStream.
size_t ZSTD_DStreamInSize(void);

/// Recommended output buffer size for ZSTD_decompressStream: large enough to flush a whole block.
size_t ZSTD_DStreamOutSize(void);

#ifdef __cplusplus
}
#endif

#endif  // CZSTD_H
