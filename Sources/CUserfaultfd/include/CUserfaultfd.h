// CUserfaultfd: the userfaultfd(2) system call and its ioctls, for TmemPaging and nothing else.
//
// No logic lives here (STYLE §5): the kernel's structs come straight from <linux/userfaultfd.h>, the
// ioctl request numbers and flag bits (macros, which Swift cannot import when they expand to _IOWR(...))
// are re-exported as `extern const` values, and each function is one system call. Errors are the
// kernel's: -1 with errno set, read by the Swift caller right after the call.
//
// Why the kernel header and not our own copies of the structs: <linux/userfaultfd.h> belongs to
// linux-libc-dev, a hard dependency of libc6-dev, which every Swift toolchain on Debian/Ubuntu needs
// (Glibc's module map imports its headers), so it is on every machine that can build this package.
// Constants newer than the oldest such header we support (Linux 6.1 in Debian 12) are defined in
// shim.c when the header lacks them; their values are kernel ABI and never change.
#ifndef CUSERFAULTFD_H
#define CUSERFAULTFD_H

#include <linux/userfaultfd.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: - ioctl request numbers (unsigned long, as ioctl(2) takes them)

/// UFFDIO_API: handshake; must be the first ioctl on a new userfaultfd.
extern const unsigned long CUserfaultfd_UFFDIO_API;
/// UFFDIO_REGISTER: starts tracking a range (MISSING and/or WP mode).
extern const unsigned long CUserfaultfd_UFFDIO_REGISTER;
/// UFFDIO_UNREGISTER: stops tracking a range; wakes threads waiting on it.
extern const unsigned long CUserfaultfd_UFFDIO_UNREGISTER;
/// UFFDIO_WAKE: wakes threads blocked on faults in a range, without resolving anything.
extern const unsigned long CUserfaultfd_UFFDIO_WAKE;
/// UFFDIO_COPY: atomically fills missing pages with bytes from a buffer, and wakes.
extern const unsigned long CUserfaultfd_UFFDIO_COPY;
/// UFFDIO_ZEROPAGE: maps the shared zero page at missing pages, and wakes.
extern const unsigned long CUserfaultfd_UFFDIO_ZEROPAGE;
/// UFFDIO_WRITEPROTECT: sets or clears userfaultfd write-protection on present pages.
extern const unsigned long CUserfaultfd_UFFDIO_WRITEPROTECT;
/// USERFAULTFD_IOC_NEW: on an fd of /dev/userfaultfd (Linux 6.1+), creates a userfaultfd.
extern const unsigned long CUserfaultfd_USERFAULTFD_IOC_NEW;

// MARK: - Handshake, flags and modes

/// UFFD_API: the API version UFFDIO_API expects (0xAA).
extern const uint64_t CUserfaultfd_UFFD_API;
/// UFFD_USER_MODE_ONLY: a flag of userfaultfd(2) (Linux 5.11+): only faults from user mode are
/// reported, which is allowed even when vm.unprivileged_userfaultfd is 0. Kernel accesses (a read(2)
/// into the range) then fail with EFAULT instead of waiting.
extern const int CUserfaultfd_UFFD_USER_MODE_ONLY;

/// UFFDIO_REGISTER_MODE_MISSING: report faults on pages with no page table entry.
extern const uint64_t CUserfaultfd_REGISTER_MODE_MISSING;
/// UFFDIO_REGISTER_MODE_WP: report writes to pages write-protected with UFFDIO_WRITEPROTECT.
extern const uint64_t CUserfaultfd_REGISTER_MODE_WP;

/// UFFDIO_COPY_MODE_DONTWAKE: fill, but leave blocked threads asleep (wake later with UFFDIO_WAKE).
extern const uint64_t CUserfaultfd_COPY_MODE_DONTWAKE;
/// UFFDIO_COPY_MODE_WP: install the filled pages write-protected.
extern const uint64_t CUserfaultfd_COPY_MODE_WP;
/// UFFDIO_ZEROPAGE_MODE_DONTWAKE: as for COPY.
extern const uint64_t CUserfaultfd_ZEROPAGE_MODE_DONTWAKE;
/// UFFDIO_WRITEPROTECT_MODE_WP: protect (set) rather than resolve (clear).
extern const uint64_t CUserfaultfd_WRITEPROTECT_MODE_WP;
/// UFFDIO_WRITEPROTECT_MODE_DONTWAKE: when clearing, leave blocked threads asleep.
extern const uint64_t CUserfaultfd_WRITEPROTECT_MODE_DONTWAKE;

// MARK: - Features (uffdio_api.features)

/// UFFD_FEATURE_PAGEFAULT_FLAG_WP: the kernel supports write-protect faults (reported, not requested).
extern const uint64_t CUserfaultfd_FEATURE_PAGEFAULT_FLAG_WP;
/// UFFD_FEATURE_THREAD_ID: fault messages carry the faulting thread's id.
extern const uint64_t CUserfaultfd_FEATURE_THREAD_ID;
/// UFFD_FEATURE_WP_UNPOPULATED (Linux 6.4+): write-protecting an unpopulated anonymous page works.
extern const uint64_t CUserfaultfd_FEATURE_WP_UNPOPULATED;

/// The ioctls bit of _UFFDIO_COPY in uffdio_register.ioctls (which range ioctls the range supports).
extern const uint64_t CUserfaultfd_IOCTL_BIT_COPY;
/// The bit of _UFFDIO_ZEROPAGE in uffdio_register.ioctls.
extern const uint64_t CUserfaultfd_IOCTL_BIT_ZEROPAGE;
/// The bit of _UFFDIO_WRITEPROTECT in uffdio_register.ioctls.
extern const uint64_t CUserfaultfd_IOCTL_BIT_WRITEPROTECT;

// MARK: - Events and fault flags (struct uffd_msg)

/// UFFD_EVENT_PAGEFAULT: uffd_msg.event of a page fault.
extern const uint8_t CUserfaultfd_EVENT_PAGEFAULT;
/// UFFD_PAGEFAULT_FLAG_WRITE: the fault was a write.
extern const uint64_t CUserfaultfd_PAGEFAULT_FLAG_WRITE;
/// UFFD_PAGEFAULT_FLAG_WP: the fault hit a write-protected page (a WP fault, not a missing page).
extern const uint64_t CUserfaultfd_PAGEFAULT_FLAG_WP;

/// sizeof(struct uffd_msg): 32 bytes; read(2) returns whole messages.
extern const int CUserfaultfd_MSG_SIZE;

// MARK: - System calls (each returns what the kernel does: -1 and errno on failure)

/// userfaultfd(2) through syscall(2) (glibc has no wrapper before 2.36, and none at all in some libcs).
/// `flags`: O_CLOEXEC, O_NONBLOCK, UFFD_USER_MODE_ONLY.
int CUserfaultfd_userfaultfd(int flags);

/// ioctl(devfd, USERFAULTFD_IOC_NEW, flags) on an open /dev/userfaultfd: a new userfaultfd.
int CUserfaultfd_ioctl_new(int devfd, int flags);

/// ioctl(fd, UFFDIO_API, api).
int CUserfaultfd_api(int fd, struct uffdio_api *api);
/// ioctl(fd, UFFDIO_REGISTER, reg).
int CUserfaultfd_register(int fd, struct uffdio_register *reg);
/// ioctl(fd, UFFDIO_UNREGISTER, range).
int CUserfaultfd_unregister(int fd, struct uffdio_range *range);
/// ioctl(fd, UFFDIO_WAKE, range).
int CUserfaultfd_wake(int fd, struct uffdio_range *range);
/// ioctl(fd, UFFDIO_COPY, copy); copy->copy receives the bytes copied or a negated errno.
int CUserfaultfd_copy(int fd, struct uffdio_copy *copy);
/// ioctl(fd, UFFDIO_ZEROPAGE, zero); zero->zeropage receives the bytes mapped or a negated errno.
int CUserfaultfd_zeropage(int fd, struct uffdio_zeropage *zero);
/// ioctl(fd, UFFDIO_WRITEPROTECT, wp).
int CUserfaultfd_writeprotect(int fd, struct uffdio_writeprotect *wp);

/// struct uffdio_poison (Linux 6.6+; newer than the oldest header we build against, so declared here
/// with the kernel's layout).
struct CUserfaultfd_uffdio_poison {
    struct uffdio_range range;
    uint64_t mode;
    int64_t updated;
};
/// ioctl(fd, UFFDIO_POISON, poison) (Linux 6.6+): marks missing pages poisoned, so an access raises
/// SIGBUS (as a page the kernel could not read back from swap does), and wakes; poison->updated receives
/// the bytes marked or a negated errno.
int CUserfaultfd_poison(int fd, struct CUserfaultfd_uffdio_poison *poison);

// MARK: - Other system calls the fault handler makes (not in Glibc's Swift module map without _GNU_SOURCE)

struct iovec;

/// pidfd_open(2) (Linux 5.3+): a pidfd for `pid` (the handler opens one for its own process).
int CUserfaultfd_pidfd_open(int pid);
/// process_madvise(2) (Linux 5.10+; MADV_DONTNEED on one's own pidfd since 6.13, with one TLB flush per
/// call since 6.16): advice over `vlen` ranges at once. Returns the bytes advised, or -1 and errno.
long CUserfaultfd_process_madvise(int pidfd, const struct iovec *iov, unsigned long vlen, int advice);
/// sched_setaffinity(2) of thread `tid` (0: the calling thread), with the kernel's raw mask (`size`
/// bytes of CPU bits).
int CUserfaultfd_sched_setaffinity(int tid, unsigned long size, const uint64_t *mask);
/// getcpu(2): the CPU the calling thread runs on now, or -1 and errno.
int CUserfaultfd_getcpu(void);

/// eventfd(2) (its header is not in Glibc's Swift module map): the handler thread's stop/wake signal.
int CUserfaultfd_eventfd(unsigned int initval, int flags);
/// EFD_CLOEXEC, EFD_NONBLOCK for CUserfaultfd_eventfd.
extern const int CUserfaultfd_EFD_CLOEXEC;
extern const int CUserfaultfd_EFD_NONBLOCK;

#ifdef __cplusplus
}
#endif

#endif  // CUSERFAULTFD_H
