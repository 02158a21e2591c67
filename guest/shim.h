/* SPDX-License-Identifier: MIT */
/*
 * shim.h - internals of libsockout-guest.so, the LD_PRELOAD shim that hands
 * a guest program's TCP sockets to sockoutd (see docs/guest.md).
 *
 * Theory of operation.  The shim never touches data: each intercepted call
 * that needs sockoutd opens one Unix stream to the guest socket, sends one
 * struct gp_req and receives one struct gp_reply plus a descriptor, which is
 * dup2()ed onto the program's socket.  From then on read/write/poll/epoll/
 * sendfile/fork work natively on that descriptor.  What the kernel can no
 * longer say truthfully (the addresses sockoutd chose, the identity of a
 * listening socket that is really a SOCK_SEQPACKET) is kept in a small
 * per-fd table and answered by getsockname/getpeername/getsockopt.
 *
 * close() and dup() are not intercepted: every table entry remembers the
 * st_dev/st_ino of the file it describes, so an entry left behind by a
 * closed descriptor whose number was reused is recognised as stale.
 */
#ifndef SOCKOUT_GUEST_SHIM_H
#define SOCKOUT_GUEST_SHIM_H

#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "../protocol/guestproto.h"
#include "gp-client.h"

/* Only the intercepted functions leave the library (-fvisibility=hidden). */
#define SHIM_EXPORT __attribute__((visibility("default")))

/* glibc declares the address arguments as transparent unions for GNU C. */
#if defined(__USE_GNU) && defined(__GNUC__) && !defined(__cplusplus)
#define SA_IN(a) ((a).__sockaddr__)
#else
#define SA_IN(a) (a)
#endif

/* Fail the way a system call does. */
static inline int shim_fail(int err)
{
	errno = err;
	return -1;
}

#define SHIM_DEFAULT_SOCKET "/run/sockout/guest.sock"

/* shim-real.c: the next definition of each function (libc's), found
 * lazily with dlsym(RTLD_NEXT) so the shim never calls itself. */
int real_connect(int fd, const struct sockaddr *sa, socklen_t len);
int real_bind(int fd, const struct sockaddr *sa, socklen_t len);
int real_listen(int fd, int backlog);
int real_accept(int fd, struct sockaddr *sa, socklen_t *len);
int real_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags);
int real_getsockname(int fd, struct sockaddr *sa, socklen_t *len);
int real_getpeername(int fd, struct sockaddr *sa, socklen_t *len);
int real_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
int real_setsockopt(int fd, int level, int name, const void *val,
		    socklen_t len);
int real_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int real_shutdown(int fd, int how);

/* shim-table.c: what the shim knows about one descriptor. */
enum sk_kind {
	SK_NONE,      /* only remembered socket options */
	SK_BOUND,     /* bind() recorded, not bound natively */
	SK_CONNECTED, /* descriptor from sockoutd (connect or accept) */
	SK_LISTENER,  /* descriptor is sockoutd's SOCK_SEQPACKET */
};

enum sk_dead {
	SK_DEAD_RETRY = 1,   /* sockoutd is away: look for it again */
	SK_DEAD_REFUSED = 2, /* sockoutd said no when asked again */
};

/* Socket options that must survive the dup2() of a new socket over the
 * program's one (set before connect, or on a listener for its accepted
 * sockets to inherit, as TCP sockets do). */
#define SK_MAX_OPTS 10
struct sk_opt {
	int level, name, value;
};

struct sk_entry {
	dev_t dev;
	ino_t ino;
	uint8_t kind;
	/* The descriptor is not a TCP socket of the program's family (a
	 * seqpacket listener, a Unix socket, an AF_INET socket behind an
	 * AF_INET6 one): its identity and IP-level options are answered
	 * here. */
	uint8_t fake;
	int family; /* AF_INET or AF_INET6, as the program created it */
	struct so_addr local, peer;
	int nopts;
	struct sk_opt opts[SK_MAX_OPTS];
	/* The epoll set the program put the socket in before the shim
	 * replaced it (nginx registers before connect()): closing the old
	 * file drops that registration, so it is made again. */
	uint8_t ep_set;
	int epfd;
	struct epoll_event ep_ev;
	/* SK_LISTENER: the backlog to ask for again, and whether sockoutd
	 * dropped the listener (the descriptor is then a placeholder until
	 * sockoutd is back, see shim-listen.c). */
	uint32_t backlog;
	uint8_t dead; /* 0, SK_DEAD_RETRY or SK_DEAD_REFUSED */
	/* SK_LISTENER: the program shut it down itself (to wake a thread
	 * blocked in accept): EOF then means "stop", not "sockoutd left". */
	uint8_t shut;
};

/** fdt_get() - copy @fd's entry into @e; 1 if there is a current one. */
int fdt_get(int fd, struct sk_entry *e);
/** fdt_set() - store @e for @fd, stamped with @fd's current identity.
 * Returns 0 or -errno. */
int fdt_set(int fd, const struct sk_entry *e);
void fdt_clear(int fd);
/** fdt_kind_hint() - @fd's entry kind without checking that it is
 * current (no system call); SK_NONE if there is none. */
int fdt_kind_hint(int fd);
/** fdt_free_all() - drop the whole table (for leak checkers in tests). */
void fdt_free_all(void);
/**
 * fdt_find_file() - look @fd's open file up under any descriptor number:
 * the program dup()ed a socket the shim knows (socket.fromfd, dup2 to a
 * fixed number).  Only called where the kernel's answer shows the shim's
 * help is needed, since it scans the table.  1 if found (and then also
 * recorded for @fd).
 */
int fdt_find_file(int fd, struct sk_entry *e);

/** fdt_ep_update() - follow EPOLL_CTL_MOD/DEL of @fd in @epfd, if
 * the table holds @fd's registration there (no system call). */
void fdt_ep_update(int fd, int epfd, int op, const struct epoll_event *ev);

/* shim-epoll.c */
/** ep_detach()/ep_attach() - around the replacement of @fd: take the old
 * file out of the epoll set the program put it in, put the new one in. */
void ep_detach(int fd, const struct sk_entry *e);
void ep_attach(int fd, const struct sk_entry *e);

/* shim-addr.c */
/** sk_inet_stream() - 1 if @fd is an AF_INET/AF_INET6 TCP socket (its
 * family in *@family), 0 otherwise. */
int sk_inet_stream(int fd, int *family);
/** sk_domain() - SO_DOMAIN of @fd or -1; errno is left alone. */
int sk_domain(int fd);
int is_socket_fd(int fd);
/** is_fake() - 1 if the kernel would describe @nfd differently from the
 * @family TCP socket the program made (see struct sk_entry.fake). */
int is_fake(int nfd, int family);

/* shim-client.c */
/**
 * gp_call() - one exchange with sockoutd.
 * @req:    the request (sockoutd learns who sends it from the kernel)
 * @rep:    the decoded reply
 * @fd:     set to the received descriptor (close-on-exec) or -1
 * @quiet:  do not print the once-per-process line when sockoutd is
 *          unreachable (loopback connects fall back silently)
 *
 * Returns 0 when a well-formed reply of the same op (or a GP_REFUSED
 * one, always with a status) arrived (then
 * @rep->status may still be an errno for the program), -ENETUNREACH if
 * sockoutd could not be reached or answered nonsense.
 */
int gp_call(struct gp_req *req, struct gp_reply *rep, int *fd, int quiet);
/** gp_stream_accept() - stream mode (a tcp:/vsock: SOCKOUT_SOCKET): the
 *  next connection of the listen stream @lfd, claimed on a new stream
 *  (gpc_stream_accept()).  The stream, or -errno. */
int gp_stream_accept(int lfd, int cloexec, struct gp_reply *rep);
/** shim_stream_mode() - SOCKOUT_SOCKET names a stream transport: what
 *  sockoutd hands over is a stream to sockoutd, never the connection's
 *  own socket (its names are sockoutd's to say: struct sk_entry.fake). */
int shim_stream_mode(void);
/** shim_socket_path() - the guest socket the shim talks to. */
const char *shim_socket_path(void);
/** shim_warn_once() - the shim's only output: one stderr line per process. */
void shim_warn_once(const char *what, const char *why);
/** adopt_fd() - put @nfd in place of @fd keeping @fd's close-on-exec and
 * O_NONBLOCK; @nfd is closed in every case.  0 or -errno. */
int adopt_fd(int fd, int nfd);
/** apply_opts() - set every remembered option of @e on @fd (best effort). */
void apply_opts(int fd, const struct sk_entry *e);
/** opt_remember() - record an option in @e if it is one worth keeping. */
int opt_remember(struct sk_entry *e, int level, int name, const void *val,
		 socklen_t len);

#endif
