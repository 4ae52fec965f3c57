// CLZ4 has no logic of its own: include/CLZ4.h declares functions that liblz4.so.1 defines.
// SwiftPM needs one source file per C target; this one only checks, at compile time, the one
// assumption the Swift side makes about the C types (Int32 crosses as `int`).
#include "CLZ4.h"

_Static_assert(sizeof(int) == 4, "LZ4's block API takes sizes as 32-bit int");
_Static_assert(CLZ4_MAX_INPUT_SIZE > 4096, "a page must be a valid LZ4 input");
