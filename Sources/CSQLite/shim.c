// CSQLite has no logic of its own: include/CSQLite.h declares what libsqlite3.so.0 defines, plus the
// layout of Tmem's own file subclass. This file only checks, at compile time, what the Swift side
// assumes about that layout.
#include <stddef.h>
#include "CSQLite.h"

_Static_assert(sizeof(tmem_sqlite3_file) % sizeof(void *) == 0, "the wrapped file follows pointer-aligned");
_Static_assert(offsetof(tmem_sqlite3_file, base) == 0, "SQLite sees the header as a plain sqlite3_file");
_Static_assert(sizeof(sqlite3_int64) == 8, "sqlite3_int64 crosses as Int64");
_Static_assert(SQLITE_IOERR_SHORT_READ == (SQLITE_IOERR | (2 << 8)), "extended codes as sqlite3.h defines them");
_Static_assert(SQLITE_IOERR_FSTAT == (SQLITE_IOERR | (7 << 8)), "extended codes as sqlite3.h defines them");
