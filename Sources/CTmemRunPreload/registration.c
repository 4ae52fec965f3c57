// Registration of new memory from inside the program (see registration.h and docs/RUN.md, "Which memory
// is paged").
//
// Fresh memory (a new mmap, a grown break) has no page present until it is touched, so registering it
// before the allocation returns keeps the monitor's count of resident pages exact: every first touch is
// a MISSING fault, which the monitor serves as a new zero-filled page. The allocation functions are
// glibc's, called through their __libc_ names: the library only looks at what they return.
#include "registration.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void *__libc_valloc(size_t size);
extern void *__libc_pvalloc(size_t size);

#define PAGE 4096UL

static int g_uffd = -1;
static size_t g_threshold = 128UL << 10;
/// The break as last seen (page-aligned up): growth past it is registered by whoever sees it first.
static uintptr_t g_break;

static uintptr_t page_up(uintptr_t address) { return (address + PAGE - 1) & ~(PAGE - 1); }

/// Registers the whole pages of [start, end) with the program's userfaultfd (MISSING mode). A range
/// that cannot be registered (it holds a mapping of another kind) is left to the monitor's scan.
static void register_pages(int uffd, uintptr_t start, uintptr_t end) {
    start = page_up(start);
    end &= ~(PAGE - 1);
    if (end <= start) return;
    struct uffdio_register reg = {.range = {.start = start, .len = end - start}, .mode = UFFDIO_REGISTER_MODE_MISSING};
    int saved = errno;
    (void)ioctl(uffd, UFFDIO_REGISTER, &reg);
    errno = saved;
}

/// After an allocation: registers it when it is large, and the break's growth since it was last seen.
static void registered(void *pointer, size_t size) {
    int uffd = __atomic_load_n(&g_uffd, __ATOMIC_ACQUIRE);
    if (uffd < 0) return;
    if (pointer && size >= g_threshold) register_pages(uffd, (uintptr_t)pointer, (uintptr_t)pointer + size);
    uintptr_t now = page_up((uintptr_t)sbrk(0));
    uintptr_t seen = __atomic_load_n(&g_break, __ATOMIC_RELAXED);
    while (now != seen) {
        if (__atomic_compare_exchange_n(&g_break, &seen, now, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            if (now > seen) register_pages(uffd, seen, now);
            break;
        }
    }
}

void tmem_run_registration_start(int uffd, size_t threshold) {
    if (threshold >= PAGE) g_threshold = threshold;
    __atomic_store_n(&g_break, page_up((uintptr_t)sbrk(0)), __ATOMIC_RELAXED);
    __atomic_store_n(&g_uffd, uffd, __ATOMIC_RELEASE);
}

void tmem_run_registration_stop(void) { __atomic_store_n(&g_uffd, -1, __ATOMIC_RELEASE); }

// MARK: - glibc's allocation calls, interposed

void *malloc(size_t size) {
    void *p = __libc_malloc(size);
    registered(p, size);
    return p;
}

void *calloc(size_t count, size_t size) {
    void *p = __libc_calloc(count, size);
    size_t bytes;
    registered(p, __builtin_mul_overflow(count, size, &bytes) ? 0 : bytes);
    return p;
}

void *realloc(void *pointer, size_t size) {
    void *p = __libc_realloc(pointer, size);
    registered(p, size);
    return p;
}

void *reallocarray(void *pointer, size_t count, size_t size) {
    size_t bytes;
    if (__builtin_mul_overflow(count, size, &bytes)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(pointer, bytes);
}

void *memalign(size_t alignment, size_t size) {
    void *p = __libc_memalign(alignment, size);
    registered(p, size);
    return p;
}

void *aligned_alloc(size_t alignment, size_t size) { return memalign(alignment, size); }

int posix_memalign(void **result, size_t alignment, size_t size) {
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0 || alignment == 0) return EINVAL;
    int saved = errno;
    void *p = memalign(alignment, size);
    if (!p && size) return ENOMEM;
    errno = saved;
    *result = p;
    return 0;
}

void *valloc(size_t size) {
    void *p = __libc_valloc(size);
    registered(p, size);
    return p;
}

void *pvalloc(size_t size) {
    void *p = __libc_pvalloc(size);
    registered(p, size);
    return p;
}

// MARK: - the program's own mappings

static void *mapped(void *p, size_t length, int prot, int flags) {
    if (p != MAP_FAILED && (flags & MAP_ANONYMOUS) && (flags & MAP_TYPE) == MAP_PRIVATE && (prot & PROT_WRITE)
        && !(flags & (MAP_STACK | MAP_GROWSDOWN | MAP_LOCKED)) && length >= g_threshold) {
        int uffd = __atomic_load_n(&g_uffd, __ATOMIC_ACQUIRE);
        if (uffd >= 0) register_pages(uffd, (uintptr_t)p, (uintptr_t)p + length);
    }
    return p;
}

void *mmap(void *address, size_t length, int prot, int flags, int fd, off_t offset) {
    return mapped((void *)syscall(SYS_mmap, address, length, prot, flags, fd, offset), length, prot, flags);
}

void *mmap64(void *address, size_t length, int prot, int flags, int fd, off_t offset) {
    return mmap(address, length, prot, flags, fd, offset);
}

// mremap needs nothing: a registered mapping keeps its registration when it moves or grows in place,
// and an unregistered one is the scan's.
