// CTmemRun: what `tmem run` (the monitor, in Swift) and its preload library (in C, loaded into the
// program) say to each other, plus the few system calls the monitor makes that Swift's Glibc module
// does not offer in a usable shape. No logic lives here beyond flattening the kernel's unions.
//
// The conversation (SOCK_SEQPACKET, one message per struct; see docs/RUN.md):
//   1. The preload library's constructor connects to $TMEM_RUN_SOCKET and sends a hello: kind NEW with
//      its userfaultfd attached (SCM_RIGHTS) after every exec, or kind FORK with the token it read from
//      its id page after a fork (the monitor then sends back the child's userfaultfd, which the kernel
//      gave the monitor with the FORK event, so that the child holds its own context open).
//   2. The monitor answers with a reply once it has registered the program's memory; a non-zero status
//      makes the library print the monitor's message and end the process.
//   3. Then the library's helper thread serves MOVE requests on the same socket: it moves pages out of
//      the program's ranges into its scratch (UFFDIO_MOVE works only from inside the process). It does
//      so through a second userfaultfd of its own, which has the scratch registered and no events, so
//      that clearing the scratch raises no event the monitor would have to read.
//   A fork without FORK events (no CAP_SYS_PTRACE) is prepared on a connection of its own: PREPARE_FORK.
#ifndef CTMEMRUN_H
#define CTMEMRUN_H

#include <linux/userfaultfd.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The environment variable naming the monitor's socket (a path, or "@name" in the abstract namespace).
#define TMEM_RUN_SOCKET_ENV "TMEM_RUN_SOCKET"
/// The environment variable giving `--threshold` in bytes: the library registers allocations that large.
#define TMEM_RUN_THRESHOLD_ENV "TMEM_RUN_THRESHOLD"
/// 'TMRN': the first field of every message.
#define TMEM_RUN_MAGIC 0x544d524eu
/// Pages one MOVE request carries at most (the scratch has one slot per page).
#define TMEM_RUN_BATCH 64

enum tmem_run_hello_kind {
    /// A new program image (after exec, or the first one): its userfaultfd is attached.
    TMEM_RUN_HELLO_NEW = 1,
    /// A child after fork: `token` names the mm the monitor learned from the FORK event.
    TMEM_RUN_HELLO_FORK = 2,
};

enum tmem_run_hello_flags {
    /// The userfaultfd was made with UFFD_USER_MODE_ONLY (the kernel refused a full one).
    TMEM_RUN_USER_MODE_ONLY = 1,
};

/// Library -> monitor, once per process image (and once per forked child).
struct tmem_run_hello {
    uint32_t magic;
    uint32_t kind;
    int32_t pid;
    uint32_t flags;
    /// The scratch area: MOVE slots 0..<scratch_pages, registered with the library's own userfaultfd.
    uint64_t scratch;
    uint64_t scratch_pages;
    /// One page the monitor registers with the program's userfaultfd and never serves but to a forked
    /// child, with the child's token (so a child can name itself).
    uint64_t id_page;
    /// The helper thread's stack, never paged.
    uint64_t stack;
    uint64_t stack_len;
    /// For TMEM_RUN_HELLO_FORK: the 8 bytes read from the id page.
    uint64_t token;
};

/// Monitor -> library: the answer to a hello. `status` 0: go on; otherwise `message` says why not.
struct tmem_run_reply {
    uint32_t magic;
    int32_t status;
    uint32_t flags;
    char message[244];
};

enum tmem_run_reply_flags {
    /// The monitor gets no FORK events (no CAP_SYS_PTRACE): before a fork the library must ask for every
    /// page back (TMEM_RUN_OP_PREPARE_FORK), and the child runs unpaged.
    TMEM_RUN_NO_FORK_EVENTS = 1,
};

enum tmem_run_op {
    /// Move `count` pages (addresses in `addr`) into scratch slots 0..<count, after clearing every slot.
    /// Answered with one result per page: 0 or the errno of UFFDIO_MOVE.
    TMEM_RUN_OP_MOVE = 1,
    /// Library -> monitor (the forking thread, on its own connection): a fork without a FORK event is
    /// about to happen; the monitor brings every page of this process back and stops evicting. `addr[0]`
    /// is the pid; the answer's `result[0]` is 0 or an errno. Eviction resumes when the connection closes.
    TMEM_RUN_OP_PREPARE_FORK = 2,
    /// Reserved: the library ends a prepared fork by closing that connection.
    TMEM_RUN_OP_RESUME = 3,
};

/// Monitor -> library (helper thread) requests, and library -> monitor notices.
struct tmem_run_request {
    uint32_t magic;
    uint32_t op;
    uint32_t count;
    uint32_t reserved;
    uint64_t addr[TMEM_RUN_BATCH];
};

/// Library -> monitor answer to a request.
struct tmem_run_response {
    uint32_t magic;
    uint32_t op;
    uint32_t count;
    uint32_t reserved;
    int32_t result[TMEM_RUN_BATCH];
};

// MARK: - The monitor's side

/// One userfaultfd message, flattened (the kernel's struct uffd_msg is a union).
struct tmem_run_event {
    /// UFFD_EVENT_*.
    uint8_t event;
    /// PAGEFAULT: flags and address. REMAP: from (address), to, len. REMOVE/UNMAP: start (address), end.
    uint64_t flags;
    uint64_t address;
    uint64_t to;
    uint64_t len;
    uint64_t end;
    /// FORK: the child's new userfaultfd.
    int32_t fd;
    /// PAGEFAULT with UFFD_FEATURE_THREAD_ID: the faulting thread.
    uint32_t tid;
};

/// Decodes one 32-byte message.
void tmem_run_decode(const struct uffd_msg *msg, struct tmem_run_event *out);

extern const uint8_t CTmemRun_EVENT_PAGEFAULT;
extern const uint8_t CTmemRun_EVENT_FORK;
extern const uint8_t CTmemRun_EVENT_REMAP;
extern const uint8_t CTmemRun_EVENT_REMOVE;
extern const uint8_t CTmemRun_EVENT_UNMAP;
extern const uint64_t CTmemRun_FEATURE_EVENT_FORK;
extern const uint64_t CTmemRun_FEATURE_EVENT_REMAP;
extern const uint64_t CTmemRun_FEATURE_EVENT_REMOVE;
extern const uint64_t CTmemRun_FEATURE_EVENT_UNMAP;
extern const uint64_t CTmemRun_FEATURE_MOVE;

/// recvmsg(2) of one message of at most `len` bytes, with at most one descriptor (SCM_RIGHTS) stored in
/// *fd (-1 if none came). Returns the bytes received, 0 at end of stream, or -1 and errno.
long tmem_run_recv(int sock, void *buf, unsigned long len, int *fd);
/// sendmsg(2) of one message, with `fd` attached when it is not -1. Returns bytes sent or -1 and errno.
long tmem_run_send(int sock, const void *buf, unsigned long len, int fd);
/// The peer's pid from SO_PEERCRED, or -1 and errno.
int tmem_run_peer_pid(int sock);
/// The peer's uid from SO_PEERCRED, or (unsigned)-1 and errno.
unsigned tmem_run_peer_uid(int sock);
/// process_vm_readv(2) of one remote range into one local buffer.
long tmem_run_read_remote(int pid, void *local, unsigned long len, uint64_t remote);
/// pidfd_open(2): a descriptor that polls readable when the process ends. -1 and errno on failure.
int tmem_run_pidfd_open(int pid);
/// prctl(PR_SET_CHILD_SUBREAPER, 1): orphaned descendants are re-parented to the caller.
int tmem_run_set_child_subreaper(void);
/// eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK).
int tmem_run_eventfd(void);
/// accept4(2) with SOCK_CLOEXEC.
int tmem_run_accept(int listener);
/// 64 random bits from getrandom(2) (0 if it fails).
uint64_t tmem_run_random64(void);

#ifdef __cplusplus
}
#endif

#endif  // CTMEMRUN_H
