// libTmemRunPreload.so: the part of `tmem run` that lives inside the program (LD_PRELOAD).
//
// It does three things and keeps no other state (see docs/RUN.md):
//   - its constructor makes a userfaultfd for this process image and hands it to the monitor named by
//     $TMEM_RUN_SOCKET, then waits until the monitor has registered the program's memory;
//   - a helper thread moves pages the monitor chose to evict out of the program's ranges into a scratch
//     area (UFFDIO_MOVE, which the kernel allows only from inside the process), where the monitor reads
//     them with process_vm_readv. The scratch is registered with a second userfaultfd of the library's
//     own (no events, nobody reads it): UFFDIO_MOVE needs its destination registered with the context it
//     is called on, but not its source, and clearing a scratch registered this way raises no event;
//   - after a fork, the child reads a token from its id page (the monitor serves it through the child's
//     userfaultfd), says hello with it, and gets that userfaultfd back, so that it holds it open.
// Anything it cannot do ends the process with a message on stderr: a program whose pages cannot come
// back must not run on with wrong bytes.
#include "CTmemRun.h"
#include "registration.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFDIO_MOVE
struct uffdio_move {
    uint64_t dst;
    uint64_t src;
    uint64_t len;
    uint64_t mode;
    int64_t move;
};
#define UFFDIO_MOVE _IOWR(UFFDIO, 0x05, struct uffdio_move)
#endif
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16)
#endif

#define PAGE 4096UL
#define STACK_BYTES (64UL * 1024)
#define SCRATCH_PAGES TMEM_RUN_BATCH
/// Our descriptors sit high, out of the way of programs that expect small numbers to be free.
#define FD_FLOOR 900

static char g_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static int g_sock = -1;
static int g_uffd = -1;
/// The library's own userfaultfd: the scratch is registered with it, and the helper moves pages with it.
static int g_move_uffd = -1;
static char *g_scratch;
static char *g_id;
static char *g_stack;
static unsigned g_dirty;
static size_t g_threshold = 128UL << 10;
static uint32_t g_reply_flags;
static pthread_mutex_t g_fork_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_fork_sock = -1;
/// Posted once the hello is answered: the helper thread starts before the hello, so that its start
/// (glibc touches heap memory there, such as the locale's) faults while no batch can be in flight, and
/// it takes requests only after.
static sem_t g_ready;

static void die(const char *what, int code) {
    char line[400];
    int n = snprintf(line, sizeof line, "tmem run (pid %d): %s%s%s\n", (int)getpid(), what,
                     code ? ": " : "", code ? strerror(code) : "");
    if (n > 0) (void)!write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    // SIGKILL, not exit(): atexit handlers could touch memory whose pages can no longer come back.
    kill(getpid(), SIGKILL);
    _exit(127);
}

static int high_fd(int fd) {
    if (fd < 0) return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, FD_FLOOR);
    if (moved < 0) return fd;
    close(fd);
    return moved;
}

static int connect_monitor(void) {
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0) die("cannot make a socket to the monitor", errno);
    // "@name" names a socket in the abstract namespace: nothing on disk to leave behind.
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    size_t len = strlen(g_path);
    memcpy(addr.sun_path, g_path, len);
    if (g_path[0] == '@') addr.sun_path[0] = 0;
    socklen_t size = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (g_path[0] == '@' ? 0 : 1));
    while (connect(s, (struct sockaddr *)&addr, size) != 0) {
        if (errno != EINTR) die("cannot reach the monitor's socket", errno);
    }
    return high_fd(s);
}

static long recv_retrying(int sock, void *buf, unsigned long len, int *fd) {
    long n;
    do n = tmem_run_recv(sock, buf, len, fd);
    while (n < 0 && errno == EINTR);
    return n;
}

/// Sends a hello and waits for the monitor's answer; returns the descriptor that came with it, if any.
static int hello(uint32_t kind, uint32_t flags, uint64_t token, int uffd) {
    struct tmem_run_hello h = {
        .magic = TMEM_RUN_MAGIC, .kind = kind, .pid = (int32_t)getpid(), .flags = flags,
        .scratch = (uint64_t)(uintptr_t)g_scratch, .scratch_pages = SCRATCH_PAGES, .id_page = (uint64_t)(uintptr_t)g_id,
        .stack = (uint64_t)(uintptr_t)g_stack, .stack_len = STACK_BYTES, .token = token,
    };
    if (tmem_run_send(g_sock, &h, sizeof h, uffd) != (long)sizeof h) die("cannot send the hello", errno);
    struct tmem_run_reply r;
    int fd = -1;
    long n = recv_retrying(g_sock, &r, sizeof r, &fd);
    if (n != (long)sizeof r || r.magic != TMEM_RUN_MAGIC) die("the monitor did not answer the hello", n < 0 ? errno : 0);
    if (r.status != 0) {
        r.message[sizeof r.message - 1] = 0;
        die(r.message, 0);
    }
    g_reply_flags = r.flags;
    return fd;
}

static void *helper(void *unused) {
    (void)unused;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    while (sem_wait(&g_ready) != 0) {
        if (errno != EINTR) die("the helper thread cannot wait for the hello", errno);
    }
    struct tmem_run_request q;
    struct tmem_run_response a;
    for (;;) {
        int fd = -1;
        long n = recv_retrying(g_sock, &q, sizeof q, &fd);
        if (fd >= 0) close(fd);
        if (n == 0) die("the monitor is gone; this process's evicted pages cannot come back", 0);
        if (n != (long)sizeof q || q.magic != TMEM_RUN_MAGIC || q.op != TMEM_RUN_OP_MOVE || q.count > TMEM_RUN_BATCH)
            die("a malformed request from the monitor", n < 0 ? errno : 0);
        if (g_dirty) {
            // No event: the scratch is registered only with the library's own userfaultfd.
            if (madvise(g_scratch, SCRATCH_PAGES * PAGE, MADV_DONTNEED) != 0) die("cannot clear the scratch", errno);
            g_dirty = 0;
        }
        memset(&a, 0, sizeof a);
        a.magic = TMEM_RUN_MAGIC;
        a.op = q.op;
        a.count = q.count;
        for (uint32_t i = 0; i < q.count; i++) {
            struct uffdio_move mv = {
                .dst = (uint64_t)(uintptr_t)(g_scratch + i * PAGE), .src = q.addr[i], .len = PAGE, .mode = 0};
            a.result[i] = ioctl(g_move_uffd, UFFDIO_MOVE, &mv) == 0 ? 0 : errno;
        }
        g_dirty = q.count;
        if (tmem_run_send(g_sock, &a, sizeof a, -1) != (long)sizeof a) die("cannot answer the monitor", errno);
    }
    return NULL;
}

/// Makes the library's own userfaultfd (MOVE, no events) and registers the scratch with it (write-protect
/// mode: a missing slot reads as zeros instead of waiting for a handler nobody runs).
static void open_move_uffd(uint32_t flags) {
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | ((flags & TMEM_RUN_USER_MODE_ONLY) ? UFFD_USER_MODE_ONLY : 0));
    if (fd < 0) die("cannot make the helper's userfaultfd", errno);
    struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_MOVE};
    if (ioctl(fd, UFFDIO_API, &api) != 0) die("this kernel has no UFFDIO_MOVE (Linux 6.8+ is needed)", errno);
    struct uffdio_register reg = {
        .range = {.start = (uint64_t)(uintptr_t)g_scratch, .len = SCRATCH_PAGES * PAGE}, .mode = UFFDIO_REGISTER_MODE_WP};
    if (ioctl(fd, UFFDIO_REGISTER, &reg) != 0) die("cannot register the scratch", errno);
    g_move_uffd = high_fd(fd);
}

static void start_helper(void) {
    if (sem_init(&g_ready, 0, 0) != 0) die("cannot make the helper's semaphore", errno);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, g_stack, STACK_BYTES);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    int code = pthread_create(&thread, &attr, helper, NULL);
    pthread_attr_destroy(&attr);
    if (code != 0) die("cannot start the helper thread", code);
}

// MARK: - fork

/// Without FORK events the child would lose its registration and read zeros where pages were evicted:
/// so the monitor brings every page back first, and holds eviction until the fork is done.
static void before_fork(void) {
    if (!(g_reply_flags & TMEM_RUN_NO_FORK_EVENTS) || g_uffd < 0) return;
    pthread_mutex_lock(&g_fork_lock);
    g_fork_sock = connect_monitor();
    struct tmem_run_request q = {.magic = TMEM_RUN_MAGIC, .op = TMEM_RUN_OP_PREPARE_FORK, .count = 0};
    q.addr[0] = (uint64_t)getpid();
    struct tmem_run_response a;
    int fd = -1;
    if (tmem_run_send(g_fork_sock, &q, sizeof q, -1) != (long)sizeof q ||
        recv_retrying(g_fork_sock, &a, sizeof a, &fd) != (long)sizeof a || a.result[0] != 0)
        die("the monitor could not prepare a fork", errno);
}

static void after_fork_parent(void) {
    if (g_fork_sock < 0) return;
    close(g_fork_sock);  // the monitor resumes eviction when this connection closes
    g_fork_sock = -1;
    pthread_mutex_unlock(&g_fork_lock);
}

static void after_fork_child(void) {
    tmem_run_registration_stop();  // the inherited descriptor is the parent's
    if (g_uffd < 0) return;
    close(g_sock);
    close(g_uffd);
    close(g_move_uffd);  // its context had no FORK feature: the child's scratch is no longer registered
    g_sock = g_uffd = g_move_uffd = -1;
    if (g_fork_sock >= 0) {
        close(g_fork_sock);
        g_fork_sock = -1;
        pthread_mutex_unlock(&g_fork_lock);
    }
    if (g_reply_flags & TMEM_RUN_NO_FORK_EVENTS) return;  // the child's ranges are plain memory now
    // The id page faults through the child's userfaultfd; the monitor answers with this mm's token.
    uint64_t token = *(volatile uint64_t *)g_id;
    // Dropped again, so that this child's own children fault on it and read their own token.
    if (madvise(g_id, PAGE, MADV_DONTNEED) != 0) die("cannot clear the id page", errno);
    if (madvise(g_scratch, SCRATCH_PAGES * PAGE, MADV_DONTNEED) != 0) die("cannot clear the scratch", errno);
    g_dirty = 0;
    open_move_uffd(0);
    start_helper();
    g_sock = connect_monitor();
    int fd = hello(TMEM_RUN_HELLO_FORK, 0, token, -1);
    if (fd < 0) die("the monitor sent no userfaultfd for this child", 0);
    g_uffd = high_fd(fd);
    tmem_run_registration_start(g_uffd, g_threshold);
    sem_post(&g_ready);
}

// MARK: - start

__attribute__((constructor)) static void tmem_run_start(void) {
    const char *path = getenv(TMEM_RUN_SOCKET_ENV);
    if (!path || !*path) return;
    if (strlen(path) >= sizeof g_path) die("$" TMEM_RUN_SOCKET_ENV " is too long for a socket path", 0);
    strcpy(g_path, path);

    uint32_t flags = 0;
    int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (uffd < 0 && (errno == EPERM || errno == EACCES)) {
        uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
        flags |= TMEM_RUN_USER_MODE_ONLY;
    }
    if (uffd < 0) die("cannot make a userfaultfd", errno);
    uffd = high_fd(uffd);

    g_scratch = mmap(NULL, SCRATCH_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    g_stack = mmap(NULL, STACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    g_id = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g_scratch == MAP_FAILED || g_stack == MAP_FAILED || g_id == MAP_FAILED) die("cannot map the scratch", errno);
    open_move_uffd(flags);

    start_helper();
    g_sock = connect_monitor();
    int extra = hello(TMEM_RUN_HELLO_NEW, flags, 0, uffd);
    if (extra >= 0) close(extra);
    g_uffd = uffd;
    const char *threshold = getenv(TMEM_RUN_THRESHOLD_ENV);
    if (threshold && *threshold) g_threshold = strtoul(threshold, NULL, 10);
    tmem_run_registration_start(g_uffd, g_threshold);
    if (pthread_atfork(before_fork, after_fork_parent, after_fork_child) != 0) die("cannot register fork handlers", 0);
    sem_post(&g_ready);
}
