// SPDX-License-Identifier: MIT
/*
 * seccomp.c - the seccomp supervisor of sockout-run (see seccomp.h and
 * docs/guest.md).
 *
 * The child installs a filter that turns the program's socket calls into
 * user notifications and hands the notification descriptor to its parent
 * (through pidfd_getfd), then execs the program.  The parent, sockout-run,
 * stays: it forwards signals, returns the program's exit status, and
 * answers each trapped call.
 *
 * Rules every answer follows:
 *  - the program's memory is read once (process_vm_readv) into our own
 *    copy, and only that copy is acted on: a thread of the program can
 *    change the memory after the trap;
 *  - a thread of the program can also put another file on the call's
 *    descriptor number between our look at it (pidfd_getfd) and the
 *    kernel's execution, so the kernel is let to carry out a call
 *    (SECCOMP_USER_NOTIF_FLAG_CONTINUE) only when no file on that number
 *    could make it leave the guest: queries (getsockname, getsockopt),
 *    setsockopt, shutdown, and accept (no native listener faces out).
 *    Every connect, bind and send is made here, on our copy of the socket
 *    with our copy of the memory; a Unix path is resolved in the caller's
 *    working directory (at_caller());
 *  - the socket is the program's own open file (pidfd_getfd), so a native
 *    operation made here (a loopback connect, a UDP send to loopback) is
 *    the program's, with its O_NONBLOCK;
 *  - what sockoutd hands over is put on the program's descriptor number
 *    with SECCOMP_IOCTL_NOTIF_ADDFD + SETFD, keeping its close-on-exec.
 *
 * Calls are answered by a pool of workers that grows while calls wait
 * (connect, listen, a blocking accept), so one slow connect does not hold
 * the program's other threads; the main thread forwards signals.
 */
#include "seccomp.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/kcmp.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../protocol/addr.h"
#include "gp-client.h"

/* Linux 6.6: the trapped thread and the worker that answers it wake each
 * other on the waker's CPU (the other is about to sleep), as a direct
 * call would run.  Older kernels say EINVAL and keep the usual wake-ups. */
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

#define SC_MAX_EP 8 /* epoll sets one socket is re-added to */
struct ep_reg {
	int epfd; /* the program's number */
	struct epoll_event ev;
};

static const char *sc_sock;
static int sc_lfd = -1;

/* ---- the filter ---------------------------------------------------- */

#define LD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))

/*
 * The machines the filter knows: x86_64 (tested) and aarch64 (built only
 * where a compiler for it is at hand; never run by the tests).  On both,
 * the fifteen socket calls from socket() to recvmsg() are numbered in one
 * run, [SC_SOCK_LO, SC_SOCK_HI].
 */
#if defined(__x86_64__)
#define SC_AUDIT_ARCH AUDIT_ARCH_X86_64
#define SC_SOCK_LO __NR_socket	   /* 41 */
#define SC_SOCK_HI __NR_getsockopt /* 55 */
#define SC_X86 1
/* i386 numbers of the socket calls, for 32-bit code run on x86_64 (its
 * calls arrive with AUDIT_ARCH_I386 and cannot be carried here): they
 * fail, so a 32-bit program has no way around the table either. */
#define I386_SOCKETCALL 102
#define I386_SENDMMSG 345
#define I386_SOCKET_FIRST 359 /* socket .. shutdown */
#define I386_SOCKET_LAST 373
#define I386_IO_URING_SETUP 425
#define SC_FOREIGN_LEN 8 /* instructions for the other architecture */
#elif defined(__aarch64__)
#define SC_AUDIT_ARCH AUDIT_ARCH_AARCH64
#define SC_SOCK_LO __NR_socket	/* 198 */
#define SC_SOCK_HI __NR_recvmsg /* 212 */
#define SC_X86 0
#define SC_FOREIGN_LEN 1
#else
_Static_assert(0, "the seccomp supervisor knows the system calls of x86_64 and aarch64 only");
#endif

#define SC_IN_RANGE(nr) ((nr) >= SC_SOCK_LO && (nr) <= SC_SOCK_HI)
_Static_assert(SC_SOCK_HI - SC_SOCK_LO == 14 && SC_IN_RANGE(__NR_socket) &&
		       SC_IN_RANGE(__NR_socketpair) && SC_IN_RANGE(__NR_bind) &&
		       SC_IN_RANGE(__NR_listen) && SC_IN_RANGE(__NR_accept) &&
		       SC_IN_RANGE(__NR_connect) && SC_IN_RANGE(__NR_getsockname) &&
		       SC_IN_RANGE(__NR_getpeername) && SC_IN_RANGE(__NR_sendto) &&
		       SC_IN_RANGE(__NR_recvfrom) && SC_IN_RANGE(__NR_setsockopt) &&
		       SC_IN_RANGE(__NR_getsockopt) && SC_IN_RANGE(__NR_shutdown) &&
		       SC_IN_RANGE(__NR_sendmsg) && SC_IN_RANGE(__NR_recvmsg),
	       "the fifteen socket calls are numbered in one run");

/*
 * The kernel runs no filter for a system call whose verdict depends on
 * its number and architecture only: it learns those verdicts once, when
 * the filter is installed (seccomp's action cache), so read, write,
 * futex, epoll_wait and the rest of the data path cost the program no
 * instruction here.  What remains to be short is the path of the calls
 * whose arguments are looked at — send() is sendto() with no
 * destination — and the socket calls' range is tested first.
 */
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
#define JEQ(k, t, f) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (t), (f))
#define LD_ARG(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define NOTIF SECCOMP_RET_USER_NOTIF
#define ALLOW SECCOMP_RET_ALLOW

/* Instruction numbers in the comments are relative to N, the LD_NR after
 * the other architecture's block (x86_64: N = 10). */
static struct sock_filter filter[] = {
	LD_ARG(offsetof(struct seccomp_data, arch)),
	JEQ(SC_AUDIT_ARCH, SC_FOREIGN_LEN, 0),
#if SC_X86
	/* not x86_64: i386 */
	LD_NR,
	JEQ(I386_SOCKETCALL, 5, 0),
	JEQ(I386_SENDMMSG, 4, 0),
	JEQ(I386_IO_URING_SETUP, 3, 0),
	BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, I386_SOCKET_FIRST, 0, 1),
	BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, I386_SOCKET_LAST, 0, 1),
	RET(ALLOW),
	RET(SECCOMP_RET_ERRNO | EAFNOSUPPORT),
#else
	/* not aarch64 (32-bit ARM code): not carried, every call fails */
	RET(SECCOMP_RET_ERRNO | ENOSYS),
#endif
	/* N+0 */ LD_NR,
	/* N+1 */ BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, SC_SOCK_HI, 32, 0), /* N+34 */
	/* N+2 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, SC_SOCK_LO, 0, 31), /* N+34 */
	/* N+3: sendto without a destination (send(2), the common data
	 * path) stays in the kernel: only the address could lead out */
	JEQ(__NR_sendto, 0, 6), /* N+10 */
	LD_ARG(ARG_LO(4)),
	JEQ(0, 0, 2),
	LD_ARG(ARG_LO(4) + 4),
	JEQ(0, 1, 0),
	/* N+8 */ RET(NOTIF),
	/* N+9 */ RET(ALLOW),
	/* N+10: setsockopt below SOL_SOCKET: a listener's (sockoutd's
	 * seqpacket) has no TCP options of its own, see on_setsockopt();
	 * but not TCP_NODELAY, which clients set on every connection (a
	 * trap would cost each connect a round trip to us) */
	JEQ(__NR_setsockopt, 0, 7), /* N+18 */
	LD_ARG(ARG_LO(1)),
	JEQ(SOL_SOCKET, 3, 0),	    /* N+16 */
	JEQ(IPPROTO_TCP, 0, 3),	    /* N+17 */
	LD_ARG(ARG_LO(2)),
	JEQ(TCP_NODELAY, 0, 1),
	/* N+16 */ RET(ALLOW),
	/* N+17 */ RET(NOTIF),
	/* N+18: getsockopt(SOL_SOCKET, SO_TYPE/SO_DOMAIN/SO_PROTOCOL/
	 * SO_ACCEPTCONN), and below SOL_SOCKET: what the program asks of a
	 * socket that is really sockoutd's seqpacket (or a host socket of
	 * the other family) */
	JEQ(__NR_getsockopt, 0, 9), /* N+28 */
	LD_ARG(ARG_LO(1)),
	JEQ(SOL_SOCKET, 0, 6), /* N+27 */
	LD_ARG(ARG_LO(2)),
	JEQ(SO_TYPE, 4, 0),
	JEQ(SO_DOMAIN, 3, 0),
	JEQ(SO_PROTOCOL, 2, 0),
	JEQ(SO_ACCEPTCONN, 1, 0),
	/* N+26 */ RET(ALLOW),
	/* N+27 */ RET(NOTIF),
	/* N+28: the other socket calls: these four cannot lead out */
	JEQ(__NR_socket, 4, 0),
	JEQ(__NR_recvfrom, 3, 0),
	JEQ(__NR_recvmsg, 2, 0),
	JEQ(__NR_socketpair, 1, 0),
	/* N+32: connect, accept, sendmsg, shutdown, bind, listen,
	 * getsockname, getpeername */
	RET(NOTIF),
	/* N+33 */ RET(ALLOW),
	/* N+34: outside the socket calls (X: 1 on x86_64, else 0) */
	JEQ(__NR_accept4, 4 + 2 * SC_X86, 0),	/* NOTIF */
	JEQ(__NR_sendmmsg, 3 + 2 * SC_X86, 0),	/* NOTIF */
	/* epoll sets made: install() then looks for registrations */
	JEQ(__NR_epoll_create1, 2 + 2 * SC_X86, 0), /* NOTIF */
#if SC_X86
	JEQ(__NR_epoll_create, 3, 0), /* NOTIF */
#endif
	JEQ(__NR_io_uring_setup, 2 + SC_X86, 0), /* io_uring's errno */
#if SC_X86
	/* x32 system calls (bit 30) would be another way in */
	BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 3, 0), /* ENOSYS */
#endif
	RET(ALLOW),
	RET(NOTIF),
	RET(SECCOMP_RET_ERRNO | SC_IO_URING_ERRNO),
#if SC_X86
	RET(SECCOMP_RET_ERRNO | ENOSYS),
#endif
};

/* ---- what we know about the sockets sockoutd handed over ------------ */

/*
 * Keyed by the socket's inode (sockfs numbers are handed out in sequence
 * and never shared by two live sockets), so it follows the open file
 * through dup(), fork() and exec, and needs no close() trap: a slot whose
 * inode is not the asked one is simply not found.  Direct-mapped; a
 * collision forgets the older socket, whose getsockname() then says what
 * the kernel says (the host side's address).
 */
enum { SC_NONE, SC_BOUND, SC_CONNECTED, SC_LISTENER };
#define SC_NOPTS 7 /* kept_opts[] */
struct sc_entry {
	ino_t ino;
	uint8_t kind;
	uint8_t family;
	struct so_addr local, peer;
	/* SC_LISTENER: the options the program's TCP socket had, for the
	 * accepted sockets to inherit as TCP's do */
	uint8_t has_opts;
	int opts[SC_NOPTS];
	/* SC_LISTENER: what to ask sockoutd again if it goes away (backlog,
	 * V6ONLY); whether the program shut it down itself (EOF then means
	 * "stop"); whether the descriptor is a placeholder meanwhile
	 * (SC_DEAD_RETRY: a timerfd readable once a second, SC_DEAD_REFUSED:
	 * sockoutd said no when asked again, never readable) */
	uint32_t backlog;
	uint8_t v6only, shut, dead;
};
enum { SC_DEAD_RETRY = 1, SC_DEAD_REFUSED = 2 };
#define SC_SLOTS 16384
static struct sc_entry *sc_tab;
static pthread_mutex_t sc_mu = PTHREAD_MUTEX_INITIALIZER;

static ino_t fd_ino(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

static int tab_get_ino(ino_t ino, struct sc_entry *e)
{
	int found;

	pthread_mutex_lock(&sc_mu);
	found = ino && sc_tab[ino % SC_SLOTS].ino == ino;
	if (found)
		*e = sc_tab[ino % SC_SLOTS];
	pthread_mutex_unlock(&sc_mu);
	if (!found)
		memset(e, 0, sizeof(*e));
	return found;
}

static void tab_set_ino(ino_t ino, const struct sc_entry *e)
{
	if (!ino)
		return;
	pthread_mutex_lock(&sc_mu);
	sc_tab[ino % SC_SLOTS] = *e;
	sc_tab[ino % SC_SLOTS].ino = ino;
	pthread_mutex_unlock(&sc_mu);
}

/*
 * Listener placeholders (timerfds, see relisten()) are not sockets, and
 * all anonymous-inode files share one inode: they are known by their
 * file instead, compared with kcmp(KCMP_FILE) to a copy we keep (which
 * keeps a placeholder the program closed alive, one timerfd per listener
 * sockoutd dropped, until sockoutd takes it back).
 */
#define SC_MAX_PH 64
static struct {
	int fd; /* our copy; 0: a free slot (our stdin is never one) */
	struct sc_entry e;
} sc_ph[SC_MAX_PH];

static int same_file(int a, int b)
{
	return syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, a, b) == 0;
}

static int is_sock(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* tab_get()/tab_set() - the entry of the open file @fd (ours). */
static int tab_get(int fd, struct sc_entry *e)
{
	if (is_sock(fd))
		return tab_get_ino(fd_ino(fd), e);
	pthread_mutex_lock(&sc_mu);
	for (int i = 0; i < SC_MAX_PH; i++)
		if (sc_ph[i].fd > 0 && same_file(sc_ph[i].fd, fd)) {
			*e = sc_ph[i].e;
			pthread_mutex_unlock(&sc_mu);
			return 1;
		}
	pthread_mutex_unlock(&sc_mu);
	memset(e, 0, sizeof(*e));
	return 0;
}

static void tab_set(int fd, const struct sc_entry *e)
{
	int i, free_slot = -1;

	if (is_sock(fd))
		return tab_set_ino(fd_ino(fd), e);
	pthread_mutex_lock(&sc_mu);
	for (i = 0; i < SC_MAX_PH; i++) {
		if (sc_ph[i].fd > 0 && same_file(sc_ph[i].fd, fd))
			break;
		if (sc_ph[i].fd <= 0 && free_slot < 0)
			free_slot = i;
	}
	if (i == SC_MAX_PH && free_slot >= 0) {
		i = free_slot;
		sc_ph[i].fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	}
	if (i < SC_MAX_PH && sc_ph[i].fd > 0)
		sc_ph[i].e = *e;
	pthread_mutex_unlock(&sc_mu);
}

/* tab_drop() - forget the placeholder @fd (sockoutd took the listener back). */
static void tab_drop(int fd)
{
	pthread_mutex_lock(&sc_mu);
	for (int i = 0; i < SC_MAX_PH; i++)
		if (sc_ph[i].fd > 0 && same_file(sc_ph[i].fd, fd)) {
			close(sc_ph[i].fd);
			sc_ph[i].fd = 0;
		}
	pthread_mutex_unlock(&sc_mu);
}

/* ---- one trapped call ---------------------------------------------- */

/* Ever made by the program (or its children): an epoll set, a listener
 * sockoutd handed over.  Until then a call that only matters for those is
 * answered at once (fast_path(), install()). */
static int sc_epolls, sc_listeners;

struct call {
	struct seccomp_notif n;
	int pidfd; /* the calling thread */
	int fd;	   /* our descriptor for the program's socket (args[0]) */
	int dom, type, proto;
};

static int resp(const struct call *c, int64_t val, int err, int cont)
{
	struct seccomp_notif_resp r = { .id = c->n.id };

	if (cont)
		r.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	else if (err)
		r.error = -err;
	else
		r.val = val;
	/* ENOENT: the call is gone (the thread was interrupted or died) */
	return ioctl(sc_lfd, SECCOMP_IOCTL_NOTIF_SEND, &r) < 0 ? -errno : 0;
}

static int call_valid(const struct call *c)
{
	__u64 id = c->n.id;

	return ioctl(sc_lfd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

/* mem_read()/mem_write() - exactly @len bytes of the caller's memory. */
static int mem_read(const struct call *c, uint64_t addr, void *buf, size_t len)
{
	struct iovec l = { buf, len }, r = { (void *)(uintptr_t)addr, len };
	ssize_t n;

	if (!len)
		return 0;
	n = process_vm_readv((pid_t)c->n.pid, &l, 1, &r, 1, 0);
	if (n < 0)
		return errno == ESRCH ? -ESRCH : -EFAULT;
	/* still pending: the pid was the caller's while we read (a thread
	 * that died would have let its number go to another process) */
	if (!call_valid(c))
		return -ESRCH;
	return (size_t)n == len ? 0 : -EFAULT;
}

static int mem_write(const struct call *c, uint64_t addr, const void *buf,
		     size_t len)
{
	struct iovec l = { (void *)buf, len },
		     r = { (void *)(uintptr_t)addr, len };
	ssize_t n;

	if (!len)
		return 0;
	n = process_vm_writev((pid_t)c->n.pid, &l, 1, &r, 1, 0);
	return n >= 0 && (size_t)n == len ? 0 : -EFAULT;
}

/* read_sa() - the sockaddr at args[@ai] of args[@ai+1] bytes. */
static int read_sa(const struct call *c, uint64_t addr, uint64_t len,
		   struct sockaddr_storage *ss, socklen_t *sl)
{
	memset(ss, 0, sizeof(*ss));
	*sl = 0;
	if (!len)
		return 0; /* no address: the kernel's EINVAL or "none" */
	if (!addr)
		return -EFAULT;
	len = (uint32_t)len; /* an int to the kernel: negative is huge */
	if (len > sizeof(*ss))
		return -EINVAL;
	*sl = (socklen_t)len;
	return mem_read(c, addr, ss, len);
}

/* proc_status() - the number after @key in the caller's
 * /proc/TID/status, read in @base, or -1. */
static long proc_status(const struct call *c, const char *key, int base)
{
	char p[64], buf[2048];
	const char *s;
	int f, n;

	snprintf(p, sizeof(p), "/proc/%u/status", c->n.pid);
	f = open(p, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return -1;
	n = (int)read(f, buf, sizeof(buf) - 1);
	close(f);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	s = strstr(buf, key);
	return s ? strtol(s + strlen(key), NULL, base) : -1;
}

static int same_inode(const char *a, const char *b)
{
	struct stat x, y;

	return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev &&
	       x.st_ino == y.st_ino;
}

/*
 * at_caller() - a Unix socket address in our copy @ss (@sl bytes) is about
 * to be bound, connected or sent to from this worker, on the program's
 * socket: make a path in it resolve as it would for the caller.  Each
 * worker has its own working directory and umask (worker() unshares them),
 * so it moves to the caller's directory and takes its umask (a bound
 * socket's file mode).  A caller whose root or mount namespace is not ours
 * (chroot or unshare in a user namespace) would resolve an absolute path
 * elsewhere, where we cannot follow: EACCES.  Abstract and unnamed
 * addresses name nothing in the file system (the abstract namespace is
 * the socket's network namespace's).
 */
static int at_caller(const struct call *c, const struct sockaddr_storage *ss,
		     socklen_t sl)
{
	const struct sockaddr_un *sun = (const struct sockaddr_un *)ss;
	char root[64], ns[64], cwd[64];
	long mask;
	int d, r;

	if (ss->ss_family != AF_UNIX || sl <= offsetof(struct sockaddr_un, sun_path) ||
	    !sun->sun_path[0])
		return 0;
	snprintf(root, sizeof(root), "/proc/%u/root", c->n.pid);
	snprintf(ns, sizeof(ns), "/proc/%u/ns/mnt", c->n.pid);
	snprintf(cwd, sizeof(cwd), "/proc/%u/cwd", c->n.pid);
	if (!same_inode(root, "/") || !same_inode(ns, "/proc/self/ns/mnt"))
		return -EACCES;
	d = open(cwd, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (d < 0)
		return -EACCES;
	r = fchdir(d) < 0 ? -errno : 0;
	close(d);
	mask = proc_status(c, "Umask:", 8);
	umask(mask >= 0 ? (mode_t)mask : 022);
	/* the numbers were the caller's only if its call is still pending */
	if (!r && !call_valid(c))
		r = -ESRCH;
	return r;
}

/* guest_cloexec() - whether the program's descriptor @fd has FD_CLOEXEC:
 * the "flags:" line of its fdinfo (O_CLOEXEC there means the fd flag). */
static int guest_cloexec(const struct call *c, int fd)
{
	char p[64], buf[256];
	unsigned long fl = 0;
	int f, n;

	snprintf(p, sizeof(p), "/proc/%u/fdinfo/%d", c->n.pid, fd);
	f = open(p, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return 0;
	n = (int)read(f, buf, sizeof(buf) - 1);
	close(f);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	const char *s = strstr(buf, "flags:");
	if (s)
		fl = strtoul(s + 6, NULL, 8);
	return (fl & O_CLOEXEC) != 0;
}

/* install() - put @nfd (ours, closed here) on the program's @gfd, with the
 * program's close-on-exec and O_NONBLOCK (@fl: its status flags). */
static void ep_readd(const struct call *c, int gfd, int nfd,
		     const struct ep_reg *regs, int n);
static int ep_find(const struct call *c, int gfd, ino_t ino, struct ep_reg *regs);

static int install(const struct call *c, int gfd, int nfd, int fl)
{
	struct seccomp_notif_addfd a = { .id = c->n.id };
	int nfl = fcntl(nfd, F_GETFL), r = 0, nep;
	struct ep_reg regs[SC_MAX_EP];

	if (nfl >= 0 && (nfl & O_NONBLOCK) != (fl & O_NONBLOCK))
		fcntl(nfd, F_SETFL, (nfl & ~O_NONBLOCK) | (fl & O_NONBLOCK));
	a.flags = SECCOMP_ADDFD_FLAG_SETFD;
	a.srcfd = (__u32)nfd;
	a.newfd = (__u32)gfd;
	a.newfd_flags = guest_cloexec(c, gfd) ? O_CLOEXEC : 0;
	/* no epoll set made under the filter: none to look through (one
	 * inherited from outside sockout-run is not looked at) */
	nep = __atomic_load_n(&sc_epolls, __ATOMIC_ACQUIRE)
		      ? ep_find(c, gfd, fd_ino(c->fd), regs)
		      : 0;
	if (ioctl(sc_lfd, SECCOMP_IOCTL_NOTIF_ADDFD, &a) < 0)
		r = -errno;
	else
		ep_readd(c, gfd, nfd, regs, nep);
	close(nfd);
	return r;
}

/*
 * epoll registrations made before the swap.  An epoll set watches
 * (descriptor number, open file) pairs and forgets a pair when its file is
 * closed, so a socket put in an epoll set before connect()/listen() (nginx
 * does it for its upstream connections) would silently leave the set when
 * its file is replaced.  The kernel lists each set's pairs in
 * /proc/PID/fdinfo/EPFD ("tfd: N events: E data: D ... ino: I"): the
 * pairs of the old file are found there before the swap and made again
 * for the new file after it, under the program's descriptor number — from
 * a thread that took a private copy of our descriptor table
 * (unshare(CLONE_FILES)) to put the new file at that number.  Go needs
 * none of it: it registers a socket after connect() and listen().
 */
static int ep_find(const struct call *c, int gfd, ino_t ino, struct ep_reg *regs)
{
	char p[64], link[64], line[256];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	snprintf(p, sizeof(p), "/proc/%u/fd", c->n.pid);
	dir = opendir(p);
	if (!dir)
		return 0;
	while ((d = readdir(dir)) && n < SC_MAX_EP) {
		int num = atoi(d->d_name);
		ssize_t l;
		FILE *f;

		if (d->d_name[0] < '0' || d->d_name[0] > '9')
			continue;
		snprintf(p, sizeof(p), "/proc/%u/fd/%d", c->n.pid, num);
		l = readlink(p, link, sizeof(link) - 1);
		if (l < 0)
			continue;
		link[l] = 0;
		if (strcmp(link, "anon_inode:[eventpoll]") != 0)
			continue;
		snprintf(p, sizeof(p), "/proc/%u/fdinfo/%d", c->n.pid, num);
		if (!(f = fopen(p, "re")))
			continue;
		while (n < SC_MAX_EP && fgets(line, sizeof(line), f)) {
			int tfd;
			unsigned int ev;
			unsigned long long data;
			unsigned long tino;
			const char *ip = strstr(line, "ino:");

			if (sscanf(line, "tfd: %d events: %x data: %llx", &tfd, &ev,
				   &data) != 3 || tfd != gfd || !ip ||
			    sscanf(ip, "ino:%lx", &tino) != 1 || tino != ino)
				continue;
			regs[n].epfd = num;
			regs[n].ev.events = ev;
			regs[n].ev.data.u64 = data;
			n++;
		}
		fclose(f);
	}
	closedir(dir);
	return n;
}

struct ep_job {
	const struct call *c;
	int gfd, nfd, n;
	const struct ep_reg *regs;
};

/* The old file's pair is removed too, though it would leave with the
 * file: we still hold the file, and an unconnected socket is always
 * ready (EPOLLOUT|EPOLLHUP), so the program could see it meanwhile. */

/* away() - @fd, or a copy at another number if it is @gfd (which the
 * thread's private table is about to reuse). */
static int away(int fd, int gfd)
{
	return fd == gfd ? fcntl(fd, F_DUPFD, gfd + 1) : fd;
}

static void *ep_thread(void *arg)
{
	struct ep_job *j = arg;
	int oldf, newf;

	if (unshare(CLONE_FILES) < 0)
		return NULL;
	/* our numbers for the files may be the program's: move them */
	oldf = away(j->c->fd, j->gfd);
	newf = away(j->nfd, j->gfd);
	for (int i = 0; i < j->n && oldf >= 0 && newf >= 0; i++) {
		int ep = (int)syscall(SYS_pidfd_getfd, j->c->pidfd, j->regs[i].epfd, 0);
		struct epoll_event ev = j->regs[i].ev;

		if (ep < 0 || (ep = away(ep, j->gfd)) < 0)
			continue;
		if (dup2(oldf, j->gfd) >= 0)
			epoll_ctl(ep, EPOLL_CTL_DEL, j->gfd, NULL);
		if (dup2(newf, j->gfd) >= 0)
			epoll_ctl(ep, EPOLL_CTL_ADD, j->gfd, &ev);
		close(ep);
	}
	return NULL; /* the private table, and the copies in it, go with us */
}

static void ep_readd(const struct call *c, int gfd, int nfd,
		     const struct ep_reg *regs, int n)
{
	struct ep_job j = { c, gfd, nfd, n, regs };
	pthread_t t;

	if (n && pthread_create(&t, NULL, ep_thread, &j) == 0)
		pthread_join(t, NULL);
}

/* Options a program may have set before connect(): copied from its
 * socket to the one that replaces it (buffer sizes are not: setting them
 * would switch the kernel's autotuning off). */
static const struct {
	int level, name;
} kept_opts[] = {
	{ SOL_SOCKET, SO_KEEPALIVE },	  { SOL_SOCKET, SO_PRIORITY },
	{ IPPROTO_TCP, TCP_NODELAY },	  { IPPROTO_TCP, TCP_KEEPIDLE },
	{ IPPROTO_TCP, TCP_KEEPINTVL },	  { IPPROTO_TCP, TCP_KEEPCNT },
	{ IPPROTO_TCP, TCP_USER_TIMEOUT },
};

_Static_assert(sizeof(kept_opts) / sizeof(kept_opts[0]) == SC_NOPTS,
	       "SC_NOPTS is the number of kept_opts");

static void read_opts(int fd, struct sc_entry *e)
{
	for (size_t i = 0; i < SC_NOPTS; i++) {
		socklen_t l = sizeof(e->opts[i]);

		if (getsockopt(fd, kept_opts[i].level, kept_opts[i].name,
			       &e->opts[i], &l) < 0)
			e->opts[i] = -1;
	}
	e->has_opts = 1;
}

static void apply_listener_opts(int fd, const struct sc_entry *e)
{
	for (size_t i = 0; e->has_opts && i < SC_NOPTS; i++) {
		int w = 0;
		socklen_t m = sizeof(w);

		if (e->opts[i] >= 0 &&
		    getsockopt(fd, kept_opts[i].level, kept_opts[i].name, &w, &m) == 0 &&
		    w != e->opts[i])
			setsockopt(fd, kept_opts[i].level, kept_opts[i].name,
				   &e->opts[i], sizeof(int));
	}
}

static void copy_opts(int from, int to)
{
	for (size_t i = 0; i < sizeof(kept_opts) / sizeof(kept_opts[0]); i++) {
		int v = 0, w = 0;
		socklen_t l = sizeof(v), m = sizeof(w);

		if (getsockopt(from, kept_opts[i].level, kept_opts[i].name, &v,
			       &l) == 0 &&
		    getsockopt(to, kept_opts[i].level, kept_opts[i].name, &w,
			       &m) == 0 &&
		    v != w)
			setsockopt(to, kept_opts[i].level, kept_opts[i].name, &v,
				   sizeof(v));
	}
}

/* ask() - one exchange with sockoutd for the caller of @c, whose pidfd
 * goes with the request: sockoutd lists the program's pid, not ours. */
static int ask(const struct call *c, struct gp_req *req, struct gp_reply *rep,
	       int *nfd)
{
	static const struct gpc_ops ops = { connect, setsockopt };
	const char *why;
	int r;

	req->flags |= GP_F_SECCOMP;
	r = gpc_exchange_fd(&ops, sc_sock, req, rep, nfd, &why, c->pidfd);
	if (r < 0 && !(req->flags & GP_F_LOOPBACK)) {
		static int said;

		if (!__atomic_exchange_n(&said, 1, __ATOMIC_ACQ_REL))
			fprintf(stderr, "sockout-run: %s: %s\n", sc_sock,
				why ? why : strerror(-r));
	}
	if (r < 0)
		return r == -ETIMEDOUT ? -ETIMEDOUT : -ENETUNREACH;
	return 0;
}

static int is_inet(const struct call *c)
{
	return c->dom == AF_INET || c->dom == AF_INET6;
}

static int is_tcp(const struct call *c)
{
	return is_inet(c) && c->type == SOCK_STREAM && c->proto == IPPROTO_TCP;
}

/* answer() - @r (a count, or -errno) as the trapped call's result. */
static void answer(const struct call *c, long r)
{
	resp(c, r < 0 ? 0 : r, r < 0 ? (int)-r : 0, 0);
}

static long sys_r(long r)
{
	return r < 0 ? -errno : r;
}

/* Besides loopback: the nameservers (address and port 53) that the
 * guest's DNS stub serves on lo (sockout-run, dns-stub.c). */
static struct so_addr dgram_extra[SC_DGRAM_EXTRA];
static unsigned ndgram_extra;

void sc_allow_dgram(const struct so_addr *a)
{
	if (ndgram_extra < SC_DGRAM_EXTRA)
		dgram_extra[ndgram_extra++] = *a;
}

/* May a datagram socket send to, or be associated with, @a? */
static bool dgram_addr_ok(const struct so_addr *a)
{
	for (unsigned i = 0; i < ndgram_extra; i++)
		if (a->family == dgram_extra[i].family &&
		    a->port == dgram_extra[i].port &&
		    !memcmp(a->addr, dgram_extra[i].addr, sizeof(a->addr)))
			return true;
	return so_addr_is_loopback(a);
}

/*
 * addr_call() - connect() or bind() of a socket that is not an inet one
 * (Unix, netlink, ...), made here on our copy of the program's socket with
 * our copy of the address.  Letting the kernel carry it out instead
 * (SECCOMP_USER_NOTIF_FLAG_CONTINUE) would let another thread of the
 * program put a TCP socket on the descriptor number between our look and
 * the kernel's, which would then connect or bind it natively.
 */
static long addr_call(struct call *c, int bind_)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int r;

	if ((r = read_sa(c, c->n.data.args[1], c->n.data.args[2], &ss, &sl)) < 0 ||
	    (r = at_caller(c, &ss, sl)) < 0)
		return r;
	return sys_r(bind_ ? bind(c->fd, (struct sockaddr *)&ss, sl)
			   : connect(c->fd, (struct sockaddr *)&ss, sl));
}

static void on_connect(struct call *c)
{
	struct sockaddr_storage ss;
	struct gp_req req = { .op = GP_CONNECT };
	struct gp_reply rep;
	struct sc_entry e;
	socklen_t sl = 0;
	int lo, nfd, fl, r;

	if (tab_get(c->fd, &e) && e.kind == SC_LISTENER)
		return answer(c, -EINVAL);
	if (!is_inet(c))
		return answer(c, addr_call(c, 0));
	if ((r = read_sa(c, c->n.data.args[1], c->n.data.args[2], &ss, &sl)) < 0)
		return answer(c, r);
	/* AF_UNSPEC dissolves an association; odd families and lengths get
	 * the kernel's own answer: all made here, on our copy */
	if (!is_tcp(c) || sl < sizeof(sa_family_t) ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) ||
	    (ss.ss_family == AF_INET6 && c->dom == AF_INET) ||
	    so_addr_from_user(&req.addr, (struct sockaddr *)&ss, sl) < 0) {
		struct so_addr a;

		/* a datagram socket may only be associated inside the guest */
		if (!is_tcp(c) && (ss.ss_family == AF_INET ||
				   ss.ss_family == AF_INET6) &&
		    so_addr_from_user(&a, (struct sockaddr *)&ss, sl) == 0 &&
		    !dgram_addr_ok(&a))
			return answer(c, -ENETUNREACH);
		return answer(c, sys_r(connect(c->fd, (struct sockaddr *)&ss, sl)));
	}
	if (e.kind == SC_CONNECTED)
		return answer(c, -EISCONN);
	lo = so_addr_is_loopback(&req.addr);
	if (lo)
		req.flags = GP_F_LOOPBACK;
	r = ask(c, &req, &rep, &nfd);
	if (lo && (r < 0 || rep.status == ENOENT))
		/* the guest's own loopback: connected here, on the program's
		 * own socket and with our copy of the address */
		return answer(c, sys_r(connect(c->fd, (struct sockaddr *)&ss, sl)));
	if (r < 0)
		return answer(c, r);
	if (rep.status)
		return answer(c, -(long)rep.status);
	fl = fcntl(c->fd, F_GETFL);
	copy_opts(c->fd, nfd);
	e.kind = SC_CONNECTED;
	e.family = (uint8_t)c->dom;
	e.local = rep.local;
	e.peer = rep.peer.family ? rep.peer : req.addr;
	tab_set(nfd, &e);
	if ((r = install(c, (int)c->n.data.args[0], nfd, fl < 0 ? 0 : fl)) < 0)
		return answer(c, r == -ENOENT ? -EINTR : r);
	answer(c, 0);
}

static void on_bind(struct call *c)
{
	struct sockaddr_storage ss;
	struct sc_entry e;
	struct so_addr a;
	socklen_t sl = 0;
	int r;

	if (!is_inet(c))
		return answer(c, addr_call(c, 1));
	if ((r = read_sa(c, c->n.data.args[1], c->n.data.args[2], &ss, &sl)) < 0)
		return answer(c, r);
	if (!is_tcp(c) || ss.ss_family != c->dom ||
	    so_addr_from_user(&a, (struct sockaddr *)&ss, sl) < 0 ||
	    so_addr_is_loopback(&a))
		return answer(c, sys_r(bind(c->fd, (struct sockaddr *)&ss, sl)));
	tab_get(c->fd, &e);
	if (e.kind != SC_NONE)
		return answer(c, -EINVAL);
	/* only remembered: sockoutd binds on the host at listen() */
	e.kind = SC_BOUND;
	e.family = (uint8_t)c->dom;
	e.local = a;
	tab_set(c->fd, &e);
	answer(c, 0);
}

static void on_listen(struct call *c)
{
	struct gp_req req = { .op = GP_LISTEN };
	struct gp_reply rep;
	struct sc_entry e;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int nfd, fl, v6only = 0, r;

	/* a second listen() on sockoutd's seqpacket only says yes */
	if (tab_get(c->fd, &e) && e.kind == SC_LISTENER)
		return answer(c, 0);
	if (!is_tcp(c))
		return answer(c, sys_r(listen(c->fd, (int)c->n.data.args[1])));
	if (e.kind == SC_CONNECTED)
		return answer(c, -EINVAL);
	if (e.kind == SC_NONE && getsockname(c->fd, (struct sockaddr *)&ss, &sl) == 0) {
		struct so_addr a;

		/* bound natively to the guest's loopback: a guest-internal
		 * server, the kernel's.  Bound natively elsewhere (on_bind
		 * never does it; a program may find another way): sockoutd
		 * is asked for that address, as if on_bind had noted it. */
		if (so_addr_from_user(&a, (struct sockaddr *)&ss, sl) == 0 &&
		    a.port) {
			if (so_addr_is_loopback(&a))
				return answer(c, sys_r(listen(c->fd, (int)c->n.data.args[1])));
			e.kind = SC_BOUND;
			e.local = a;
		}
	}
	if (e.kind == SC_BOUND)
		req.addr = e.local;
	else
		so_addr_any(&req.addr, c->dom);
	req.backlog = (uint32_t)(int)c->n.data.args[1] > 0
			      ? (uint32_t)(int)c->n.data.args[1]
			      : 1;
	sl = sizeof(v6only);
	if (c->dom == AF_INET6 &&
	    getsockopt(c->fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &sl) == 0 &&
	    v6only)
		req.flags |= GP_F_V6ONLY;
	if ((r = ask(c, &req, &rep, &nfd)) < 0)
		return answer(c, r);
	if (rep.status)
		return answer(c, -(long)rep.status);
	fl = fcntl(c->fd, F_GETFL);
	read_opts(c->fd, &e);
	e.backlog = req.backlog;
	e.v6only = (req.flags & GP_F_V6ONLY) != 0;
	e.shut = 0;
	e.dead = 0;
	e.kind = SC_LISTENER;
	e.family = (uint8_t)c->dom;
	e.local = rep.local;
	memset(&e.peer, 0, sizeof(e.peer));
	__atomic_store_n(&sc_listeners, 1, __ATOMIC_RELEASE);
	tab_set(nfd, &e);
	if ((r = install(c, (int)c->n.data.args[0], nfd, fl < 0 ? 0 : fl)) < 0)
		return answer(c, r == -ENOENT ? -EINTR : r);
	answer(c, 0);
}

/* recv_accept() - one ACCEPT message from the listener's seqpacket: the
 * connection in *@nfd, its addresses in @rep.  Waits as the program's
 * accept would (its file's O_NONBLOCK), looking every 200 ms whether the
 * program still waits: a connection taken for a call that is gone would
 * be lost. */
static int recv_accept(struct call *c, struct gp_reply *rep, int *nfd)
{
	uint8_t p[GP_REPLY_LEN];
	int nonblock = (fcntl(c->fd, F_GETFL) & O_NONBLOCK) != 0;

	for (;;) {
		union {
			char buf[CMSG_SPACE(4 * sizeof(int))];
			struct cmsghdr align;
		} cm;
		struct iovec iov = { p, sizeof(p) };
		struct msghdr m = { .msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cm.buf,
				    .msg_controllen = sizeof(cm.buf) };
		struct pollfd pf = { c->fd, POLLIN, 0 };
		ssize_t n;

		if (!nonblock) {
			int pr = poll(&pf, 1, 200);

			if (pr < 0 && errno != EINTR)
				return -errno;
			if (!call_valid(c))
				return -EINTR;
			if (pr <= 0)
				continue;
		}
		*nfd = -1;
		n = recvmsg(c->fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EAGAIN || errno == EINTR) && !nonblock)
			continue; /* another process took it */
		if (n < 0)
			return -errno;
		gpc_take_fds(&m, nfd);
		/* EOF: the program shut its listener down (to wake a thread
		 * blocked here: TCP then says EINVAL), or sockoutd went away
		 * (-ECONNRESET: the caller asks it again) */
		if (n == 0) {
			struct sc_entry l;

			return tab_get(c->fd, &l) && l.shut ? -EINVAL
								    : -ECONNRESET;
		}
		if (n != GP_REPLY_LEN || gp_reply_decode(p, rep) < 0 ||
		    rep->op != GP_ACCEPT || rep->status || *nfd < 0) {
			if (*nfd >= 0)
				close(*nfd);
			return -ECONNABORTED;
		}
		return 0;
	}
}

/*
 * relisten() - sockoutd dropped the listener @l (a restart): ask it again
 * for the same address and port.  Granted: the new seqpacket replaces the
 * program's descriptor (and c->fd).  Otherwise the descriptor becomes a
 * placeholder, a timerfd readable once a second while sockoutd is away, so
 * a server polling its listener idles instead of spinning on EOF, and each
 * accept looks for sockoutd again; if sockoutd refuses, the placeholder
 * never turns readable and sockoutd is not asked again (as the shim does).
 * Returns 0 when the listener is back, -EAGAIN while it is not.
 */

/*
 * put_listener() - put @nfd (a new listener, or a placeholder) on the
 * program's descriptor @gfd in place of the old one, whose entry @l
 * becomes @n; the supervisor keeps its own duplicate.  0 or -ECONNABORTED.
 */
static int put_listener(struct call *c, int gfd, int nfd, int fl,
			const struct sc_entry *n, struct sc_entry *l)
{
	int keep = fcntl(nfd, F_DUPFD_CLOEXEC, 0);

	tab_set(nfd, n);
	if (keep < 0 || install(c, gfd, nfd, fl < 0 ? 0 : fl) < 0) {
		if (keep >= 0)
			close(keep);
		return -ECONNABORTED;
	}
	if (l->dead)
		tab_drop(c->fd);
	close(c->fd);
	c->fd = keep;
	*l = *n;
	return 0;
}

static int relisten(struct call *c, struct sc_entry *l)
{
	struct gp_req req = { .op = GP_LISTEN, .addr = l->local,
			      .backlog = l->backlog };
	struct itimerspec its = { { 1, 0 }, { 1, 0 } };
	struct gp_reply rep;
	struct sc_entry n = *l;
	int gfd = (int)c->n.data.args[0], fl, nfd, r;
	uint64_t ticks;

	if (l->v6only)
		req.flags |= GP_F_V6ONLY;
	fl = fcntl(c->fd, F_GETFL);
	r = ask(c, &req, &rep, &nfd);
	if (r == 0 && rep.status == 0) {
		n.dead = 0;
		n.shut = 0;
		if (put_listener(c, gfd, nfd, fl, &n, l) < 0)
			return -ECONNABORTED;
		fprintf(stderr, "sockout-run: listener on port %u: made again\n",
			l->local.port);
		return 0;
	}
	if (l->dead) {
		/* already a placeholder: take the tick, stop it if refused */
		if (read(c->fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
			return -ECONNABORTED;
		if (r == 0 && rep.status) {
			memset(&its, 0, sizeof(its));
			timerfd_settime(c->fd, 0, &its, NULL);
			l->dead = SC_DEAD_REFUSED;
			tab_set(c->fd, l);
		}
		return -EAGAIN;
	}
	fprintf(stderr,
		"sockout-run: sockoutd dropped the listener on port %u; it is made again when sockoutd is back\n",
		l->local.port);
	nfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (nfd < 0)
		return -ECONNABORTED;
	n.dead = r == 0 && rep.status ? SC_DEAD_REFUSED : SC_DEAD_RETRY;
	if (n.dead == SC_DEAD_RETRY)
		timerfd_settime(nfd, 0, &its, NULL);
	if (put_listener(c, gfd, nfd, fl, &n, l) < 0)
		return -ECONNABORTED;
	return -EAGAIN;
}

/* wait_placeholder() - a blocking accept on a placeholder: until it ticks
 * (then 0) or the call is gone. */
static int wait_placeholder(struct call *c)
{
	for (;;) {
		struct pollfd pf = { c->fd, POLLIN, 0 };
		int pr = poll(&pf, 1, 200);

		if (pr < 0 && errno != EINTR)
			return -errno;
		if (!call_valid(c))
			return -EINTR;
		if (pr > 0)
			return 0;
	}
}

static void on_accept(struct call *c, int flags)
{
	struct seccomp_notif_addfd a = { .id = c->n.id };
	struct gp_reply rep;
	struct sc_entry e, l;
	uint64_t uaddr = c->n.data.args[1], ulen = c->n.data.args[2];
	socklen_t len = 0;
	int nfd, r;

	if (!tab_get(c->fd, &l) || l.kind != SC_LISTENER)
		/* a native listener (loopback, Unix): accept cannot lead
		 * out of the guest, whatever the program changes */
		return (void)resp(c, 0, 0, 1);
	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return answer(c, -EINVAL);
	if (uaddr && (r = mem_read(c, ulen, &len, sizeof(len))) < 0)
		return answer(c, r);
	if (uaddr && (int)len < 0)
		return answer(c, -EINVAL);
	for (;;) {
		int nonblock = (fcntl(c->fd, F_GETFL) & O_NONBLOCK) != 0;

		if (l.dead) {
			if (!nonblock && (r = wait_placeholder(c)) < 0)
				return answer(c, r);
			if (l.dead == SC_DEAD_REFUSED) {
				if (nonblock)
					return answer(c, -EAGAIN);
				continue; /* as good as closed: wait on */
			}
			r = relisten(c, &l);
			if (r == -EAGAIN && !nonblock)
				continue;
			if (r < 0)
				return answer(c, r);
		}
		r = recv_accept(c, &rep, &nfd);
		if (r == -ECONNRESET) {
			r = relisten(c, &l);
			if (r == -EAGAIN && !nonblock)
				continue;
			if (r < 0)
				return answer(c, r);
			continue;
		}
		if (r < 0)
			return answer(c, r);
		break;
	}
	if (flags & SOCK_NONBLOCK)
		fcntl(nfd, F_SETFL, fcntl(nfd, F_GETFL) | O_NONBLOCK);
	apply_listener_opts(nfd, &l);
	memset(&e, 0, sizeof(e));
	e.kind = SC_CONNECTED;
	e.family = l.family;
	e.local = rep.local.family ? rep.local : l.local;
	e.peer = rep.peer;
	{
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		if (getsockname(nfd, (struct sockaddr *)&ss, &sl) == 0)
			gpc_concrete_local(&e.local, (struct sockaddr *)&ss, sl);
	}
	tab_set(nfd, &e);
	if (uaddr) {
		struct sockaddr_storage ss;
		socklen_t full = sizeof(ss);

		so_addr_to_user(&rep.peer, l.family, (struct sockaddr *)&ss, &full);
		if (mem_write(c, uaddr, &ss, full < len ? full : len) < 0 ||
		    mem_write(c, ulen, &full, sizeof(full)) < 0) {
			close(nfd);
			return answer(c, -EFAULT);
		}
	}
	/* SEND: the descriptor is added and accept returns its number in
	 * one step, so a program interrupted meanwhile gets no stray fd */
	a.flags = SECCOMP_ADDFD_FLAG_SEND;
	a.srcfd = (__u32)nfd;
	a.newfd_flags = (flags & SOCK_CLOEXEC) ? O_CLOEXEC : 0;
	r = ioctl(sc_lfd, SECCOMP_IOCTL_NOTIF_ADDFD, &a);
	close(nfd);
	if (r < 0 && errno != ENOENT)
		answer(c, -errno);
}

static void on_name(struct call *c, int peer)
{
	struct sockaddr_storage ss;
	struct sc_entry e;
	uint64_t uaddr = c->n.data.args[1], ulen = c->n.data.args[2];
	socklen_t len, full = sizeof(ss);
	int r;

	/* only sockets sockoutd handed over (or a remembered bind) have an
	 * entry; for every other the kernel's answer is true */
	if (!tab_get(c->fd, &e))
		return (void)resp(c, 0, 0, 1);
	if (peer && e.kind != SC_CONNECTED)
		return answer(c, -ENOTCONN);
	if ((r = mem_read(c, ulen, &len, sizeof(len))) < 0)
		return answer(c, r);
	if ((int)len < 0)
		return answer(c, -EINVAL);
	so_addr_to_user(peer ? &e.peer : &e.local, e.family,
			(struct sockaddr *)&ss, &full);
	if (mem_write(c, uaddr, &ss, full < len ? full : len) < 0 ||
	    mem_write(c, ulen, &full, sizeof(full)) < 0)
		return answer(c, -EFAULT);
	answer(c, 0);
}

/* shutdown() of a listener: noted, so that the EOF it causes means "stop"
 * (servers shut their listener down to wake a thread in accept), not
 * "sockoutd went away".  The call itself is the kernel's. */
static void on_shutdown(struct call *c)
{
	struct sc_entry e;

	if (tab_get(c->fd, &e) && e.kind == SC_LISTENER) {
		e.shut = 1;
		tab_set(c->fd, &e);
	}
	resp(c, 0, 0, 1);
}

static void on_getsockopt(struct call *c)
{
	uint64_t uval = c->n.data.args[3], ulen = c->n.data.args[4];
	struct sc_entry e;
	socklen_t len;
	int v, r;

	if (!tab_get(c->fd, &e))
		return (void)resp(c, 0, 0, 1); /* read-only: the kernel's */
	if ((int)c->n.data.args[1] != SOL_SOCKET) {
		/* a listener's TCP options: what the program set (see
		 * on_setsockopt), or zero, as under the shim */
		if (e.kind != SC_LISTENER)
			return (void)resp(c, 0, 0, 1);
		v = 0;
		for (size_t i = 0; i < SC_NOPTS; i++)
			if (kept_opts[i].level == (int)c->n.data.args[1] &&
			    kept_opts[i].name == (int)c->n.data.args[2] && e.has_opts &&
			    e.opts[i] > 0)
				v = e.opts[i];
		if ((int)c->n.data.args[1] == IPPROTO_IPV6 &&
		    (int)c->n.data.args[2] == IPV6_V6ONLY)
			v = e.v6only;
	} else switch ((int)c->n.data.args[2]) {
	case SO_TYPE:
		v = SOCK_STREAM;
		break;
	case SO_DOMAIN:
		v = e.family;
		break;
	case SO_PROTOCOL:
		v = IPPROTO_TCP;
		break;
	default: /* SO_ACCEPTCONN */
		v = e.kind == SC_LISTENER;
	}
	if ((r = mem_read(c, ulen, &len, sizeof(len))) < 0)
		return answer(c, r);
	if ((int)len < 0)
		return answer(c, -EINVAL);
	if (len > sizeof(v))
		len = sizeof(v);
	if (mem_write(c, uval, &v, len) < 0 ||
	    mem_write(c, ulen, &len, sizeof(len)) < 0)
		return answer(c, -EFAULT);
	answer(c, 0);
}

/*
 * setsockopt() below the socket level (the filter lets SOL_SOCKET through):
 * a listener's descriptor is sockoutd's Unix seqpacket, which has no TCP
 * or IP options, so the program's TCP socket would have taken them; they
 * are said done, and the kept_opts among them remembered for the sockets
 * it accepts (TCP passes a listener's to them), as under the shim.  Any
 * other socket's are the kernel's (an option cannot lead out).  The
 * filter lets TCP_NODELAY through untrapped (clients set it on every
 * connection), so on a listener it must be set before listen().
 */
static void on_setsockopt(struct call *c)
{
	int level = (int)c->n.data.args[1], name = (int)c->n.data.args[2];
	uint64_t len = (uint32_t)c->n.data.args[4];
	struct sc_entry e;
	int v = 0, r;

	if (!tab_get(c->fd, &e) || e.kind != SC_LISTENER)
		return (void)resp(c, 0, 0, 1);
	for (size_t i = 0; i < SC_NOPTS; i++) {
		if (kept_opts[i].level != level || kept_opts[i].name != name)
			continue;
		if (len < sizeof(int))
			return answer(c, -EINVAL);
		if ((r = mem_read(c, c->n.data.args[3], &v, sizeof(v))) < 0)
			return answer(c, r);
		/* the kernel's boolean options take any non-zero as 1 */
		if (level == IPPROTO_TCP && name == TCP_NODELAY)
			v = v != 0;
		e.opts[i] = v;
		e.has_opts = 1;
		tab_set(c->fd, &e);
	}
	answer(c, 0);
}

/* dgram_dest_ok() - a datagram socket's destination may only be the
 * guest's own loopback (or a nameserver its DNS stub serves there). */
static int dgram_dest_ok(const struct sockaddr_storage *ss, socklen_t sl)
{
	struct so_addr a;

	if (ss->ss_family != AF_INET && ss->ss_family != AF_INET6)
		return -EAFNOSUPPORT;
	if (so_addr_from_user(&a, (const struct sockaddr *)ss, sl) < 0)
		return -EINVAL;
	return dgram_addr_ok(&a) ? 0 : -ENETUNREACH;
}

/*
 * Sends.  Every trapped send is made here, on our copy of the program's
 * socket, from our copies of its name, data and control messages: letting
 * the kernel carry out even a harmless one (a Unix socket's, a TCP send
 * that ignores its destination) would let another thread of the program
 * put a UDP socket on the descriptor number meanwhile, and the kernel
 * would send the datagram wherever the program's memory then says.
 * Only sendto() with a destination and sendmsg()/sendmmsg() trap: send(),
 * write() and sendto() without one stay in the kernel.
 */
#define SC_STREAM_MAX (256 * 1024) /* per call; a stream send may be short */
#define SC_DGRAM_MAX (4 << 20)	   /* more: EMSGSIZE (the kernel's is lower) */
#define SC_CTL_MAX 65536	   /* control bytes; more: ENOBUFS */
#define SC_MAX_RIGHTS 253	   /* SCM_MAX_FD */

/*
 * own_ctl() - make our copy of the program's control messages @m ours:
 * the descriptor numbers of SCM_RIGHTS name the program's table, so each
 * is replaced by our copy of that open file (kept in @fds for the caller
 * to close); SCM_CREDENTIALS naming the program's process names ours (the
 * kernel only accepts the sender's pid, and the receiver then sees
 * sockout-run's, as with any call made here).
 */
static int own_ctl(struct call *c, struct msghdr *m, int *fds, int *nfds)
{
	char *end = (char *)m->msg_control + m->msg_controllen;
	long tgid = -2;

	for (struct cmsghdr *h = CMSG_FIRSTHDR(m); h; h = CMSG_NXTHDR(m, h)) {
		if (h->cmsg_len < CMSG_LEN(0) || (char *)h + h->cmsg_len > end)
			return -EINVAL;
		if (h->cmsg_level != SOL_SOCKET)
			continue;
		if (h->cmsg_type == SCM_RIGHTS) {
			size_t n = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < n; i++) {
				int num, f;

				if (*nfds == SC_MAX_RIGHTS)
					return -EINVAL;
				memcpy(&num, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
				f = (int)syscall(SYS_pidfd_getfd, c->pidfd, num, 0);
				if (f < 0)
					return -EBADF;
				fds[(*nfds)++] = f;
				memcpy(CMSG_DATA(h) + i * sizeof(int), &f, sizeof(int));
			}
		} else if (h->cmsg_type == SCM_CREDENTIALS &&
			   h->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
			struct ucred u;

			memcpy(&u, CMSG_DATA(h), sizeof(u));
			if (tgid == -2)
				tgid = proc_status(c, "Tgid:", 10);
			if (u.pid == tgid)
				u.pid = getpid();
			memcpy(CMSG_DATA(h), &u, sizeof(u));
		}
	}
	return 0;
}

/* send_wait() - sendmsg(@m) on our copy, waiting as the program's call
 * would (its file's O_NONBLOCK, MSG_DONTWAIT) while the call is pending;
 * a blocking stream send goes on until all of @m's one iovec is sent.  An
 * EPIPE raises the program's SIGPIPE unless it said MSG_NOSIGNAL. */
static long send_wait(struct call *c, struct msghdr *m, int flags)
{
	int nonblock = (flags & MSG_DONTWAIT) || (fcntl(c->fd, F_GETFL) & O_NONBLOCK);
	struct iovec *v = m->msg_iov;
	size_t done = 0;

	for (;;) {
		ssize_t n = sendmsg(c->fd, m, flags | MSG_DONTWAIT | MSG_NOSIGNAL);
		struct pollfd pf = { c->fd, POLLOUT, 0 };

		if (n >= 0) {
			if (c->type != SOCK_STREAM)
				return n;
			done += (size_t)n;
			v->iov_base = (char *)v->iov_base + n;
			v->iov_len -= (size_t)n;
			/* control messages ride on the first bytes only */
			m->msg_control = NULL;
			m->msg_controllen = 0;
			if (!v->iov_len || nonblock)
				return (long)done;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN || nonblock) {
			long r = -errno;

			if (done)
				return (long)done;
			if (r == -EPIPE && !(flags & MSG_NOSIGNAL))
				syscall(SYS_tgkill, (pid_t)proc_status(c, "Tgid:", 10),
					(pid_t)c->n.pid, SIGPIPE);
			return r;
		}
		if (poll(&pf, 1, 200) < 0 && errno != EINTR)
			return done ? (long)done : -errno;
		if (!call_valid(c))
			return done ? (long)done : -EINTR;
	}
}

/*
 * send_copy() - one send of the program's: destination @uname (@namelen
 * bytes), the @niov iovecs @iov (ours, pointing into the program's memory),
 * control messages @uctl (@ctllen bytes).  A TCP socket ignores the
 * destination (fast open, which would connect natively, is refused: the
 * kernel's "TFO off"); an inet datagram's must be the guest's loopback; a
 * Unix one's path resolves as the caller's.
 */
static long send_copy(struct call *c, uint64_t uname, uint64_t namelen,
		      const struct iovec *iov, size_t niov, uint64_t uctl,
		      uint64_t ctllen, int flags)
{
	struct sockaddr_storage ss;
	struct msghdr m = { 0 };
	struct iovec one;
	int fds[SC_MAX_RIGHTS], nfds = 0;
	size_t total = 0, cap = c->type == SOCK_STREAM ? SC_STREAM_MAX : SC_DGRAM_MAX;
	socklen_t sl = 0;
	char *buf = NULL, *ctl = NULL;
	long r;

	if (is_tcp(c) && (flags & MSG_FASTOPEN))
		return -EOPNOTSUPP;
	if (uname && (r = read_sa(c, uname, namelen, &ss, &sl)) < 0)
		return r;
	if (is_tcp(c))
		sl = 0;
	else if (is_inet(c) && sl && (r = dgram_dest_ok(&ss, sl)) < 0)
		return r;
	else if (!is_inet(c) && (r = at_caller(c, &ss, sl)) < 0)
		return r;
	for (size_t i = 0; i < niov; i++) {
		if (iov[i].iov_len > SSIZE_MAX)
			return -EINVAL;
		total += iov[i].iov_len;
		if (total > cap && c->type != SOCK_STREAM)
			return -EMSGSIZE;
	}
	if (total > cap)
		total = cap;
	if (ctllen > SC_CTL_MAX)
		return -ENOBUFS;
	if (!(buf = malloc(total ? total : 1)) || !(ctl = malloc(ctllen ? ctllen : 1))) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0, off = 0; i < niov && off < total; i++) {
		size_t n = iov[i].iov_len < total - off ? iov[i].iov_len : total - off;

		if ((r = mem_read(c, (uintptr_t)iov[i].iov_base, buf + off, n)) < 0)
			goto out;
		off += n;
	}
	one.iov_base = buf;
	one.iov_len = total;
	m.msg_name = sl ? &ss : NULL;
	m.msg_namelen = sl;
	m.msg_iov = &one;
	m.msg_iovlen = 1;
	if (ctllen) {
		if ((r = mem_read(c, uctl, ctl, ctllen)) < 0)
			goto out;
		m.msg_control = ctl;
		m.msg_controllen = ctllen;
		if ((r = own_ctl(c, &m, fds, &nfds)) < 0)
			goto out;
	}
	r = send_wait(c, &m, flags);
out:
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	free(buf);
	free(ctl);
	return r;
}

static void on_sendto(struct call *c)
{
	struct iovec v = { (void *)(uintptr_t)c->n.data.args[1],
			   (size_t)c->n.data.args[2] };

	answer(c, send_copy(c, c->n.data.args[4], c->n.data.args[5], &v, 1, 0, 0,
			    (int)c->n.data.args[3]));
}

/* send_msghdr() - the program's struct msghdr at @umsg. */
static long send_msghdr(struct call *c, uint64_t umsg, int flags)
{
	struct msghdr m = { 0 }; /* filled by mem_read (cppcheck cannot tell) */
	struct iovec *iov;
	long r;

	if ((r = mem_read(c, umsg, &m, sizeof(m))) < 0)
		return r;
	if (m.msg_iovlen > 1024) /* UIO_MAXIOV */
		return -EMSGSIZE;
	if (!(iov = calloc(m.msg_iovlen ? m.msg_iovlen : 1, sizeof(*iov))))
		return -ENOMEM;
	r = mem_read(c, (uintptr_t)m.msg_iov, iov, m.msg_iovlen * sizeof(*iov));
	if (r == 0)
		r = send_copy(c, (uintptr_t)m.msg_name, m.msg_namelen, iov,
			      m.msg_iovlen, (uintptr_t)m.msg_control,
			      m.msg_controllen, flags);
	free(iov);
	return r;
}

static void on_sendmsg(struct call *c)
{
	answer(c, send_msghdr(c, c->n.data.args[1], (int)c->n.data.args[2]));
}

static void on_sendmmsg(struct call *c)
{
	uint64_t vec = c->n.data.args[1];
	unsigned int vlen = (unsigned int)c->n.data.args[2], i;
	int flags = (int)c->n.data.args[3];
	long r = 0;

	if (vlen > 1024)
		vlen = 1024; /* UIO_MAXIOV, as the kernel */
	for (i = 0; i < vlen; i++) {
		uint64_t one = vec + i * sizeof(struct mmsghdr);
		unsigned int sent;

		r = send_msghdr(c, one, flags);
		if (r < 0)
			break;
		sent = (unsigned int)r;
		if (mem_write(c, one + offsetof(struct mmsghdr, msg_len), &sent,
			      sizeof(sent)) < 0) {
			r = -EFAULT;
			break;
		}
	}
	answer(c, i ? (long)i : r);
}

static void call_free(struct call *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->pidfd >= 0)
		close(c->pidfd);
	free(c);
}

static void call_thread(struct call *c)
{
	switch (c->n.data.nr) {
	case __NR_connect:
		on_connect(c);
		break;
	case __NR_listen:
		on_listen(c);
		break;
	case __NR_accept:
		on_accept(c, 0);
		break;
	case __NR_accept4:
		on_accept(c, (int)c->n.data.args[3]);
		break;
	}
	call_free(c);
}

/*
 * fast_path() - answer @c without looking at the program, if it only
 * matters once the program has made an epoll set or a listener: an option
 * below SOL_SOCKET (clients set TCP_NODELAY and keep-alive on every
 * connection) is then the kernel's.  The kernel carries out
 * epoll_create*, which is only noted.  True if answered.
 */
static bool fast_path(struct call *c)
{
	switch (c->n.data.nr) {
#ifdef __NR_epoll_create
	case __NR_epoll_create:
#endif
	case __NR_epoll_create1:
		__atomic_store_n(&sc_epolls, 1, __ATOMIC_RELEASE);
		break;
	case __NR_getsockopt:
		if ((int)c->n.data.args[1] == SOL_SOCKET)
			return false; /* SO_TYPE & co of any handed-over socket */
		/* fall through */
	case __NR_setsockopt:
		if (__atomic_load_n(&sc_listeners, __ATOMIC_ACQUIRE))
			return false;
		break;
	default:
		return false;
	}
	resp(c, 0, 0, 1);
	return true;
}

/* handle() - answer one notification, on the worker that took it; @c is
 * ours to free. */
static void handle(struct call *c)
{
	socklen_t l;

	if (fast_path(c))
		return free(c);
	c->fd = c->pidfd = -1;
	c->pidfd = (int)syscall(SYS_pidfd_open, c->n.pid, PIDFD_THREAD);
	if (c->pidfd < 0)
		c->pidfd = (int)syscall(SYS_pidfd_open, c->n.pid, 0);
	/* the pid is only that thread's while the call is pending */
	if (c->pidfd < 0 || !call_valid(c)) {
		resp(c, 0, ESRCH, 0);
		return call_free(c);
	}
	c->fd = (int)syscall(SYS_pidfd_getfd, c->pidfd, (int)c->n.data.args[0], 0);
	if (c->fd < 0) {
		answer(c, errno == EBADF ? -EBADF : -errno);
		return call_free(c);
	}
	l = sizeof(c->dom);
	if (getsockopt(c->fd, SOL_SOCKET, SO_DOMAIN, &c->dom, &l) < 0) {
		struct sc_entry e;

		/* not a socket: ENOTSOCK, as the kernel would say (letting
		 * it say so would let another thread put a socket on the
		 * number meanwhile), unless it is a listener's placeholder
		 * while sockoutd is away */
		if (!tab_get(c->fd, &e) || e.kind != SC_LISTENER) {
			answer(c, -ENOTSOCK);
			return call_free(c);
		}
		c->dom = AF_UNSPEC;
	}
	l = sizeof(c->type);
	getsockopt(c->fd, SOL_SOCKET, SO_TYPE, &c->type, &l);
	l = sizeof(c->proto);
	getsockopt(c->fd, SOL_SOCKET, SO_PROTOCOL, &c->proto, &l);
	switch (c->n.data.nr) {
	case __NR_connect:
	case __NR_listen:
	case __NR_accept:
	case __NR_accept4:
		/* every socket: sockoutd's seqpacket is a Unix one */
		return call_thread(c);
	case __NR_bind:
		on_bind(c);
		break;
	case __NR_getsockname:
		on_name(c, 0);
		break;
	case __NR_getpeername:
		on_name(c, 1);
		break;
	case __NR_sendto:
		on_sendto(c);
		break;
	case __NR_sendmsg:
		on_sendmsg(c);
		break;
	case __NR_sendmmsg:
		on_sendmmsg(c);
		break;
	case __NR_getsockopt:
		on_getsockopt(c);
		break;
	case __NR_setsockopt:
		on_setsockopt(c);
		break;
	case __NR_shutdown:
		on_shutdown(c);
		break;
	default:
		resp(c, 0, ENOSYS, 0);
	}
	call_free(c);
}

/*
 * Workers: each one takes the next notification itself (NOTIF_RECV gives
 * each waiting reader a different one) and answers it, so a call costs no
 * hand-over between threads.  When the last idle worker takes a call that
 * may wait (a connect, a blocking accept), another is started, up to
 * SC_MAX_WORKERS; past that, calls wait in the kernel for a free worker.
 */
#define SC_MAX_WORKERS 256
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned pool_idle, pool_n;

static int pool_grow(void);

static void *worker(void *arg)
{
	(void)arg;
	/* a working directory and umask of our own, for at_caller() */
	if (unshare(CLONE_FS) < 0) {
		pthread_mutex_lock(&pool_mu);
		pool_n--;
		pool_idle--;
		pthread_mutex_unlock(&pool_mu);
		return NULL;
	}
	for (;;) {
		struct call *c = calloc(1, sizeof(*c));
		int spawn;

		if (!c) {
			sleep(1); /* the call waits in the kernel meanwhile */
			continue;
		}
		if (ioctl(sc_lfd, SECCOMP_IOCTL_NOTIF_RECV, &c->n) < 0) {
			struct pollfd pf = { sc_lfd, POLLIN, 0 };

			free(c);
			/* ENOENT: the caller went away meanwhile, or no process
			 * is left under the filter, which RECV says at once:
			 * wait for a call, or for the end (the main thread
			 * then returns) */
			if (poll(&pf, 1, -1) > 0 && (pf.revents & (POLLHUP | POLLERR)))
				pause();
			continue;
		}
		pthread_mutex_lock(&pool_mu);
		spawn = --pool_idle == 0 && pool_n < SC_MAX_WORKERS;
		pthread_mutex_unlock(&pool_mu);
		if (spawn)
			pool_grow();
		handle(c);
		pthread_mutex_lock(&pool_mu);
		pool_idle++;
		pthread_mutex_unlock(&pool_mu);
	}
	return NULL;
}

static int pool_grow(void)
{
	pthread_attr_t at;
	pthread_t t;
	int r;

	pthread_mutex_lock(&pool_mu);
	pool_n++;
	pool_idle++;
	pthread_mutex_unlock(&pool_mu);
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, 256 * 1024);
	r = pthread_create(&t, &at, worker, NULL);
	pthread_attr_destroy(&at);
	if (r) {
		pthread_mutex_lock(&pool_mu);
		pool_n--;
		pool_idle--;
		pthread_mutex_unlock(&pool_mu);
	}
	return -r;
}

/* ---- starting the program and staying its parent --------------------- */

static const int fwd_sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM,
				SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT };

static void child(int wr, int ack, char **argv, const sigset_t *old)
{
	struct sock_fprog prog = { sizeof(filter) / sizeof(filter[0]), filter };
	int lfd, e;
	char b;

	sigprocmask(SIG_SETMASK, old, NULL);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		perror("sockout-run: PR_SET_NO_NEW_PRIVS");
		_exit(125);
	}
	lfd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
			   SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	if (lfd < 0) {
		perror("sockout-run: seccomp");
		_exit(125);
	}
	/* the parent takes the listener with pidfd_getfd, then says so */
	if (write(wr, &lfd, sizeof(lfd)) != sizeof(lfd) || read(ack, &b, 1) != 1)
		_exit(125);
	close(lfd);
	close(wr);
	close(ack);
	execvp(argv[0], argv);
	e = errno;
	fprintf(stderr, "sockout-run: %s: %s\n", argv[0], strerror(e));
	_exit(e == ENOENT ? 127 : 126);
}

static int take_listener(pid_t pid, int rd, int ack, int *pidfd)
{
	int num = -1, lfd;

	if (read(rd, &num, sizeof(num)) != sizeof(num))
		return -EIO;
	*pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (*pidfd < 0)
		return -errno;
	lfd = (int)syscall(SYS_pidfd_getfd, *pidfd, num, 0);
	if (lfd < 0)
		return -errno;
	if (write(ack, "k", 1) != 1) {
		close(lfd);
		return -EIO;
	}
	return lfd;
}

static int status_of(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	/* die the same way, so our parent sees what the program did */
	int sig = WTERMSIG(st);
	sigset_t s;

	signal(sig, SIG_DFL);
	sigemptyset(&s);
	sigaddset(&s, sig);
	sigprocmask(SIG_UNBLOCK, &s, NULL);
	raise(sig);
	return 128 + sig;
}

int sc_run(const char *sock, char **argv)
{
	struct seccomp_notif_sizes sz;
	int to[2], back[2], sfd, pidfd = -1, st;
	sigset_t mask, old;
	pid_t pid;

	sc_sock = sock;
	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz) < 0) {
		perror("sockout-run: seccomp user notification");
		return 125;
	}
	if (sz.seccomp_notif > sizeof(struct seccomp_notif)) {
		/* the kernel's struct grew: it only ever appends */
		sz.seccomp_notif = sizeof(struct seccomp_notif);
	}
	sc_tab = calloc(SC_SLOTS, sizeof(*sc_tab));
	if (!sc_tab || pipe2(to, O_CLOEXEC) < 0 || pipe2(back, O_CLOEXEC) < 0) {
		perror("sockout-run");
		return 125;
	}
	sigemptyset(&mask);
	for (size_t i = 0; i < sizeof(fwd_sigs) / sizeof(fwd_sigs[0]); i++)
		sigaddset(&mask, fwd_sigs[i]);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, &old);
	pid = fork();
	if (pid < 0) {
		perror("sockout-run: fork");
		return 125;
	}
	if (pid == 0)
		child(to[1], back[0], argv, &old);
	close(to[1]);
	close(back[0]);
	sc_lfd = take_listener(pid, to[0], back[1], &pidfd);
	close(to[0]);
	close(back[1]);
	if (sc_lfd < 0) {
		/* the child says why it could not start, or is left
		 * without our help: it must not run unsupervised */
		if (sc_lfd != -EIO)
			fprintf(stderr, "sockout-run: seccomp listener: %s\n",
				strerror(-sc_lfd));
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		return WIFEXITED(st) && WEXITSTATUS(st) != 0 ? WEXITSTATUS(st)
							     : 125;
	}
	if (pidfd >= 0)
		close(pidfd);
	(void)ioctl(sc_lfd, SECCOMP_IOCTL_NOTIF_SET_FLAGS,
		    (unsigned long)SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		perror("sockout-run: signalfd");
		kill(pid, SIGKILL);
	}
	/* two workers: one waits for the next call while one answers */
	if (pool_grow() < 0 || pool_grow() < 0) {
		perror("sockout-run: thread");
		kill(pid, SIGKILL);
	}
	for (;;) {
		/* the workers read the listener; this only watches it end */
		struct pollfd pf[2] = { { sc_lfd, 0, 0 }, { sfd, POLLIN, 0 } };

		if (poll(pf, sfd >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si) &&
			    si.ssi_signo != SIGCHLD)
				kill(pid, (int)si.ssi_signo);
			if (waitpid(pid, &st, WNOHANG) == pid)
				return status_of(st);
		}
		if (pf[0].revents & (POLLHUP | POLLERR))
			break; /* no process left under the filter */
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 125;
	return status_of(st);
}

/* ---- which mechanism --------------------------------------------------- */

static int find_in_path(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH");

	if (strchr(name, '/')) {
		snprintf(out, len, "%s", name);
		return 0;
	}
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		const char *e = strchrnul(path, ':');
		struct stat st;

		snprintf(out, len, "%.*s/%s", (int)(e - path), path, name);
		if (stat(out, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(out, X_OK) == 0)
			return 0;
		path = *e ? e + 1 : e;
	}
	return -ENOENT;
}

int sc_wants_seccomp(const char *name)
{
	char path[PATH_MAX];
	Elf64_Ehdr eh;
	int fd, want = 0;

	if (find_in_path(name, path, sizeof(path)) < 0)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
	    eh.e_phnum > 256)
		goto out;
	want = 1; /* until a PT_INTERP shows it is dynamically linked */
	for (int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))) !=
		    sizeof(ph)) {
			want = 0;
			goto out;
		}
		if (ph.p_type == PT_INTERP)
			want = 0;
	}
	if (want || eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum > 4096 ||
	    eh.e_shstrndx >= eh.e_shnum)
		goto out;
	/* A dynamically linked Go program (cgo) still makes its socket
	 * calls itself: Go's section names give it away. */
	Elf64_Shdr strh;

	if (pread(fd, &strh, sizeof(strh),
		  (off_t)(eh.e_shoff + eh.e_shstrndx * sizeof(strh))) != sizeof(strh) ||
	    strh.sh_size > 1 << 20)
		goto out;
	char *names = malloc(strh.sh_size + 1);

	if (!names)
		goto out;
	if (pread(fd, names, strh.sh_size, (off_t)strh.sh_offset) ==
	    (ssize_t)strh.sh_size) {
		names[strh.sh_size] = 0;
		for (int i = 0; i < eh.e_shnum && !want; i++) {
			Elf64_Shdr sh;

			if (pread(fd, &sh, sizeof(sh),
				  (off_t)(eh.e_shoff + i * sizeof(sh))) != sizeof(sh) ||
			    sh.sh_name >= strh.sh_size)
				break;
			if (!strcmp(names + sh.sh_name, ".go.buildinfo") ||
			    !strcmp(names + sh.sh_name, ".note.go.buildid"))
				want = 1;
		}
	}
	free(names);
out:
	close(fd);
	return want;
}
