// CTmemRun: message decoding and the socket calls of `tmem run`'s monitor. _GNU_SOURCE comes from
// the target's cSettings (process_vm_readv and SO_PEERCRED need it).
#include "CTmemRun.h"

#include <string.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16)
#endif

const uint8_t CTmemRun_EVENT_PAGEFAULT = UFFD_EVENT_PAGEFAULT;
const uint8_t CTmemRun_EVENT_FORK = UFFD_EVENT_FORK;
const uint8_t CTmemRun_EVENT_REMAP = UFFD_EVENT_REMAP;
const uint8_t CTmemRun_EVENT_REMOVE = UFFD_EVENT_REMOVE;
const uint8_t CTmemRun_EVENT_UNMAP = UFFD_EVENT_UNMAP;
const uint64_t CTmemRun_FEATURE_EVENT_FORK = UFFD_FEATURE_EVENT_FORK;
const uint64_t CTmemRun_FEATURE_EVENT_REMAP = UFFD_FEATURE_EVENT_REMAP;
const uint64_t CTmemRun_FEATURE_EVENT_REMOVE = UFFD_FEATURE_EVENT_REMOVE;
const uint64_t CTmemRun_FEATURE_EVENT_UNMAP = UFFD_FEATURE_EVENT_UNMAP;
const uint64_t CTmemRun_FEATURE_MOVE = UFFD_FEATURE_MOVE;

_Static_assert(sizeof(struct uffd_msg) == 32, "uffd_msg is 32 bytes");
_Static_assert(sizeof(struct tmem_run_hello) == 64, "hello layout");

void tmem_run_decode(const struct uffd_msg *msg, struct tmem_run_event *out) {
    memset(out, 0, sizeof *out);
    out->event = msg->event;
    out->fd = -1;
    switch (msg->event) {
    case UFFD_EVENT_PAGEFAULT:
        out->flags = msg->arg.pagefault.flags;
        out->address = msg->arg.pagefault.address;
        out->tid = msg->arg.pagefault.feat.ptid;
        break;
    case UFFD_EVENT_FORK:
        out->fd = (int32_t)msg->arg.fork.ufd;
        break;
    case UFFD_EVENT_REMAP:
        out->address = msg->arg.remap.from;
        out->to = msg->arg.remap.to;
        out->len = msg->arg.remap.len;
        break;
    case UFFD_EVENT_REMOVE:
    case UFFD_EVENT_UNMAP:
        out->address = msg->arg.remove.start;
        out->end = msg->arg.remove.end;
        break;
    default:
        break;
    }
}

long tmem_run_recv(int sock, void *buf, unsigned long len, int *fd) {
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof(int))];
    } control;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.bytes,
                         .msg_controllen = sizeof control.bytes};
    *fd = -1;
    ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0) return -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
            memcpy(fd, CMSG_DATA(c), sizeof(int));
    }
    return n;
}

long tmem_run_send(int sock, const void *buf, unsigned long len, int fd) {
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof(int))];
    } control;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        memset(&control, 0, sizeof control);
        msg.msg_control = control.bytes;
        msg.msg_controllen = sizeof control.bytes;
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

int tmem_run_peer_pid(int sock) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
    return cred.pid;
}

unsigned tmem_run_peer_uid(int sock) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return (unsigned)-1;
    return cred.uid;
}

long tmem_run_read_remote(int pid, void *local, unsigned long len, uint64_t remote) {
    struct iovec l = {.iov_base = local, .iov_len = len};
    struct iovec r = {.iov_base = (void *)(uintptr_t)remote, .iov_len = len};
    return process_vm_readv(pid, &l, 1, &r, 1, 0);
}

int tmem_run_pidfd_open(int pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int tmem_run_set_child_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }

int tmem_run_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

int tmem_run_accept(int listener) { return accept4(listener, NULL, NULL, SOCK_CLOEXEC); }

uint64_t tmem_run_random64(void) {
    uint64_t value = 0;
    if (getrandom(&value, sizeof value, 0) != (ssize_t)sizeof value) return 0;
    return value;
}
