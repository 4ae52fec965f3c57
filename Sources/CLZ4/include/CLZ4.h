// CLZ4: the few functions of liblz4.so.1 (LZ4 block format, v1.9.x) that TmemCompression calls.
//
// Why declared by hand: no liblz4-dev package is assumed on the build machine, only the shared
// object every Debian/Ubuntu carries. The package links it by soname (`-l:liblz4.so.1`). Each
// declaration below repeats the public prototype of lib/lz4.h exactly (LZ4LIB_API is plain default
// visibility), so the dynamic linker resolves the library's own symbols; nothing here is ours.
//
// Only the stable part of the API ("Simple Functions" and version queries) is declared; the
// static-linking-only functions are not exported by the shared object and must not be added.
#ifndef CLZ4_H
#define CLZ4_H

#ifdef __cplusplus
extern "C" {
#endif

/// LZ4_MAX_INPUT_SIZE of lz4.h: the largest srcSize the block API accepts (2 113 929 216 bytes).
#define CLZ4_MAX_INPUT_SIZE 0x7E000000

/// Library version as major*10000 + minor*100 + release (10904 for 1.9.4).
int LZ4_versionNumber(void);

/// Library version as a static string, e.g. "1.9.4".
const char *LZ4_versionString(void);

/// Compresses srcSize bytes of src into dst (capacity dstCapacity).
/// Returns the number of bytes written (<= dstCapacity), or 0 if the result does not fit:
/// compression then stops at once, which is what makes a small dstCapacity a cheap rejection.
int LZ4_compress_default(const char *src, char *dst, int srcSize, int dstCapacity);

/// As LZ4_compress_default with an acceleration factor (1 = default; larger is faster, compresses
/// less; values <= 0 are replaced by 1, values above 65537 are clamped).
int LZ4_compress_fast(const char *src, char *dst, int srcSize, int dstCapacity, int acceleration);

/// Decompresses a block of compressedSize bytes into dst (capacity dstCapacity).
/// Returns the number of bytes decoded, or a negative value if the input is malformed or would
/// overflow dst. Never reads outside src nor writes outside dst, whatever the input.
int LZ4_decompress_safe(const char *src, char *dst, int compressedSize, int dstCapacity);

/// Worst-case compressed size of inputSize bytes, or 0 if inputSize exceeds LZ4_MAX_INPUT_SIZE.
int LZ4_compressBound(int inputSize);

#ifdef __cplusplus
}
#endif

#endif  // CLZ4_H
