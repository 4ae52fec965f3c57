// CUserfaultfd: one system call per function, constants re-exported, struct layouts checked. No logic.
// _GNU_SOURCE comes from the target's cSettings (syscall(2) and SYS_userfaultfd need it).
#include "CUserfaultfd.h"

#include <stddef.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

// Newer than the oldest header we build against (Linux 6.1). Values are kernel ABI.
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

const unsigned long CUserfaultfd_UFFDIO_API = UFFDIO_API;
const unsigned long CUserfaultfd_UFFDIO_REGISTER = UFFDIO_REGISTER;
const unsigned long CUserfaultfd_UFFDIO_UNREGISTER = UFFDIO_UNREGISTER;
const unsigned long CUserfaultfd_UFFDIO_WAKE = UFFDIO_WAKE;
const unsigned long CUserfaultfd_UFFDIO_COPY = UFFDIO_COPY;
const unsigned long CUserfaultfd_UFFDIO_ZEROPAGE = UFFDIO_ZEROPAGE;
const unsigned long CUserfaultfd_UFFDIO_WRITEPROTECT = UFFDIO_WRITEPROTECT;
const unsigned long CUserfaultfd_USERFAULTFD_IOC_NEW = USERFAULTFD_IOC_NEW;

const uint64_t CUserfaultfd_UFFD_API = UFFD_API;
const int CUserfaultfd_UFFD_USER_MODE_ONLY = UFFD_USER_MODE_ONLY;

const uint64_t CUserfaultfd_REGISTER_MODE_MISSING = UFFDIO_REGISTER_MODE_MISSING;
const uint64_t CUserfaultfd_REGISTER_MODE_WP = UFFDIO_REGISTER_MODE_WP;
const uint64_t CUserfaultfd_COPY_MODE_DONTWAKE = UFFDIO_COPY_MODE_DONTWAKE;
const uint64_t CUserfaultfd_COPY_MODE_WP = UFFDIO_COPY_MODE_WP;
const uint64_t CUserfaultfd_ZEROPAGE_MODE_DONTWAKE = UFFDIO_ZEROPAGE_MODE_DONTWAKE;
const uint64_t CUserfaultfd_WRITEPROTECT_MODE_WP = UFFDIO_WRITEPROTECT_MODE_WP;
const uint64_t CUserfaultfd_WRITEPROTECT_MODE_DONTWAKE = UFFDIO_WRITEPROTECT_MODE_DONTWAKE;

const uint64_t CUserfaultfd_FEATURE_PAGEFAULT_FLAG_WP = UFFD_FEATURE_PAGEFAULT_FLAG_WP;
const uint64_t CUserfaultfd_FEATURE_THREAD_ID = UFFD_FEATURE_THREAD_ID;
const uint64_t CUserfaultfd_FEATURE_WP_UNPOPULATED = UFFD_FEATURE_WP_UNPOPULATED;

const uint64_t CUserfaultfd_IOCTL_BIT_COPY = (uint64_t)1 << _UFFDIO_COPY;
const uint64_t CUserfaultfd_IOCTL_BIT_ZEROPAGE = (uint64_t)1 << _UFFDIO_ZEROPAGE;
const uint64_t CUserfaultfd_IOCTL_BIT_WRITEPROTECT = (uint64_t)1 << _UFFDIO_WRITEPROTECT;

const uint8_t CUserfaultfd_EVENT_PAGEFAULT = UFFD_EVENT_PAGEFAULT;
const uint64_t CUserfaultfd_PAGEFAULT_FLAG_WRITE = UFFD_PAGEFAULT_FLAG_WRITE;
const uint64_t CUserfaultfd_PAGEFAULT_FLAG_WP = UFFD_PAGEFAULT_FLAG_WP;

const int CUserfaultfd_MSG_SIZE = (int)sizeof(struct uffd_msg);

const int CUserfaultfd_EFD_CLOEXEC = EFD_CLOEXEC;
const int CUserfaultfd_EFD_NONBLOCK = EFD_NONBLOCK;

// The Swift side reads these structs field by field through the imported types, and passes them to the
// kernel by pointer; a header that disagreed with the ABI would corrupt memory, so check it here.
_Static_assert(sizeof(struct uffd_msg) == 32, "uffd_msg is 32 bytes (kernel ABI)");
_Static_assert(offsetof(struct uffd_msg, event) == 0, "uffd_msg.event is the first byte");
_Static_assert(offsetof(struct uffd_msg, arg.pagefault.flags) == 8, "pagefault.flags at 8");
_Static_assert(offsetof(struct uffd_msg, arg.pagefault.address) == 16, "pagefault.address at 16");
_Static_assert(sizeof(struct uffdio_range) == 16, "uffdio_range is start, len");
_Static_assert(sizeof(struct uffdio_api) == 24, "uffdio_api is api, features, ioctls");
_Static_assert(sizeof(struct uffdio_register) == 32, "uffdio_register is range, mode, ioctls");
_Static_assert(sizeof(struct uffdio_copy) == 40, "uffdio_copy is dst, src, len, mode, copy");
_Static_assert(offsetof(struct uffdio_copy, copy) == 32, "uffdio_copy.copy at 32");
_Static_assert(sizeof(struct uffdio_zeropage) == 32, "uffdio_zeropage is range, mode, zeropage");
_Static_assert(sizeof(struct uffdio_writeprotect) == 24, "uffdio_writeprotect is range, mode");
_Static_assert(sizeof(unsigned long) == 8, "an LP64 target: ioctl request numbers are 64-bit");

int CUserfaultfd_userfaultfd(int flags) { return (int)syscall(SYS_userfaultfd, flags); }

int CUserfaultfd_ioctl_new(int devfd, int flags) { return ioctl(devfd, USERFAULTFD_IOC_NEW, flags); }

int CUserfaultfd_api(int fd, struct uffdio_api *api) { return ioctl(fd, UFFDIO_API, api); }

int CUserfaultfd_register(int fd, struct uffdio_register *reg) { return ioctl(fd, UFFDIO_REGISTER, reg); }

int CUserfaultfd_unregister(int fd, struct uffdio_range *range) { return ioctl(fd, UFFDIO_UNREGISTER, range); }

int CUserfaultfd_wake(int fd, struct uffdio_range *range) { return ioctl(fd, UFFDIO_WAKE, range); }

int CUserfaultfd_copy(int fd, struct uffdio_copy *copy) { return ioctl(fd, UFFDIO_COPY, copy); }

int CUserfaultfd_zeropage(int fd, struct uffdio_zeropage *zero) { return ioctl(fd, UFFDIO_ZEROPAGE, zero); }

int CUserfaultfd_writeprotect(int fd, struct uffdio_writeprotect *wp) {
    return ioctl(fd, UFFDIO_WRITEPROTECT, wp);
}

// UFFDIO_POISON is _IOWR(UFFDIO, _UFFDIO_POISON = 0x08, struct uffdio_poison) in Linux 6.6+.
_Static_assert(sizeof(struct CUserfaultfd_uffdio_poison) == 32, "uffdio_poison is range, mode, updated");
int CUserfaultfd_poison(int fd, struct CUserfaultfd_uffdio_poison *poison) {
    return ioctl(fd, _IOWR(UFFDIO, 0x08, struct CUserfaultfd_uffdio_poison), poison);
}

int CUserfaultfd_eventfd(unsigned int initval, int flags) { return eventfd(initval, flags); }

int CUserfaultfd_pidfd_open(int pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

long CUserfaultfd_process_madvise(int pidfd, const struct iovec *iov, unsigned long vlen, int advice) {
    return syscall(SYS_process_madvise, pidfd, iov, vlen, advice, 0);
}

int CUserfaultfd_sched_setaffinity(int tid, unsigned long size, const uint64_t *mask) {
    return (int)syscall(SYS_sched_setaffinity, tid, size, mask);
}

int CUserfaultfd_getcpu(void) {
    unsigned cpu = 0;
    long result = syscall(SYS_getcpu, &cpu, NULL, NULL);
    return result == 0 ? (int)cpu : -1;
}
