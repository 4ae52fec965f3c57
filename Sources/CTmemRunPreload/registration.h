// The library's registration of new memory (registration.c): the program's userfaultfd is registered
// over a large allocation before malloc, calloc, realloc or mmap returns it, so that no page of
// it becomes resident behind the monitor's back. The monitor's maps scan finds the rest (docs/RUN.md).
#pragma once
#include <stddef.h>

/// Starts registering with `uffd` (this mm's userfaultfd, which the monitor reads): allocations of at
/// least `threshold` bytes, and every growth of the heap's break.
void tmem_run_registration_start(int uffd, size_t threshold);

/// Stops it (in a forked child, until it has its own userfaultfd; and when the library ends).
void tmem_run_registration_stop(void);
