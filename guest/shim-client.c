// SPDX-License-Identifier: MIT
/*
 * shim-client.c - talking to sockoutd, and putting what it hands over in
 * place of the program's socket.
 *
 * One exchange = one Unix stream connection: connect, send the 64-byte
 * request, read the 56-byte reply (the descriptor rides on its first
 * bytes), close.  All of it blocks, even for a program's non-blocking
 * socket: sockoutd answers a CONNECT only when the outcome is known, and
 * bounds that with its connect-timeout.
 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

void shim_warn_once(const char *what, const char *why)
{
	static int said;
	char line[512];
	int n;

	if (__atomic_exchange_n(&said, 1, __ATOMIC_ACQ_REL))
		return;
	/* A daemon that closed its stderr may have a connection there now:
	 * never write into one of the program's TCP streams. */
	int dom = sk_domain(STDERR_FILENO);

	if (dom == AF_INET || dom == AF_INET6)
		return;
	n = snprintf(line, sizeof(line), "sockout: %s: %s\n", what, why);
	if (n > 0) {
		if ((size_t)n >= sizeof(line))
			n = sizeof(line) - 1;
		/* Nothing to do if stderr is gone. */
		if (write(STDERR_FILENO, line, (size_t)n) < 0)
			return;
	}
}

/*
 * The guest socket's path is read once, when the library is loaded:
 * programs may clear their environment before their first socket call
 * (nginx does so in its workers, sshd for its children), and a process
 * image that was started under sockout-run stays a guest of that sockoutd.
 * This is the shim's only constructor, and all it does is copy a string.
 */
static char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];

__attribute__((constructor)) static void shim_load(void)
{
	const char *path = getenv("SOCKOUT_SOCKET");

	if (!path || !*path)
		path = SHIM_DEFAULT_SOCKET;
	/* One byte more than a socket path can hold: a longer one is
	 * detected (and refused) in gp_call rather than cut short. */
	snprintf(socket_path, sizeof(socket_path), "%s", path);
}

const char *shim_socket_path(void)
{
	return socket_path[0] ? socket_path : SHIM_DEFAULT_SOCKET;
}

void take_fds(struct msghdr *m, int *fd)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int f;

			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(f));
			if (*fd < 0)
				*fd = f;
			else
				close(f);
		}
	}
}

static int exchange(int s, const uint8_t *q, uint8_t *p, int *fd)
{
	size_t off = 0;
	ssize_t n;

	while (off < GP_REQ_LEN) {
		n = send(s, q + off, GP_REQ_LEN - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		/* sockoutd may refuse (GP_REFUSED) and close before it has
		 * read anything: its answer is still there to read */
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
			break;
		if (n < 0)
			return -errno;
		off += (size_t)n;
	}
	for (off = 0; off < GP_REPLY_LEN;) {
		union {
			char buf[CMSG_SPACE(4 * sizeof(int))];
			struct cmsghdr align;
		} cm;
		struct iovec iov = { p + off, GP_REPLY_LEN - off };
		struct msghdr m = { .msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cm.buf,
				    .msg_controllen = sizeof(cm.buf) };

		n = recvmsg(s, &m, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		take_fds(&m, fd);
		if (n == 0)
			return -ECONNRESET;
		off += (size_t)n;
	}
	return 0;
}

int gp_call(struct gp_req *req, struct gp_reply *rep, int *fd, int quiet)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = SHIM_REPLY_TIMEOUT_S };
	uint8_t q[GP_REQ_LEN], p[GP_REPLY_LEN];
	const char *path = shim_socket_path();
	const char *why = NULL;
	char whybuf[128];
	int s = -1, r, saved = errno;

	*fd = -1;
	memset(rep, 0, sizeof(*rep));
	if (strlen(path) >= sizeof(sun.sun_path)) {
		r = -ENAMETOOLONG;
		goto out;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	gp_req_encode(q, req);

	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		r = -errno;
		goto out;
	}
	real_setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	real_setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (real_connect(s, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EISCONN)
			break;
		r = -errno;
		goto out;
	}
	if ((r = exchange(s, q, p, fd)) < 0)
		goto out;
	/* GP_REFUSED: sockoutd turned the connection away unread (a
	 * limit); its status is the answer to whatever we asked. */
	if (gp_reply_decode(p, rep) < 0 ||
	    (rep->op != req->op && rep->op != GP_REFUSED)) {
		why = "malformed reply";
		r = -EPROTO;
		goto out;
	}
	if (rep->status == 0 && *fd < 0) {
		why = "reply without a socket";
		r = -EPROTO;
		goto out;
	}
	if (rep->status > 4095) {
		why = "reply with an impossible errno";
		r = -EPROTO;
		goto out;
	}
	if (rep->status && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	r = 0;
out:
	if (s >= 0)
		close(s);
	if (r < 0) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		if (!quiet) {
			if (!why) {
				snprintf(whybuf, sizeof(whybuf), "%s (%s)",
					 r == -ETIMEDOUT ? "no answer"
							 : "cannot reach sockoutd",
					 strerror(-r));
				why = whybuf;
			}
			shim_warn_once(path, why);
		}
		r = r == -ETIMEDOUT ? -ETIMEDOUT : -ENETUNREACH;
	}
	errno = saved;
	return r;
}

int adopt_fd(int fd, int nfd)
{
	int fdfl, fl, nfl, r = 0;

	fdfl = fcntl(fd, F_GETFD);
	fl = fcntl(fd, F_GETFL);
	if (fdfl < 0 || fl < 0) {
		r = -errno;
		goto out;
	}
	if (dup3(nfd, fd, (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
		r = -errno;
		goto out;
	}
	/* Status flags belong to the open file, which came from sockoutd:
	 * make O_NONBLOCK what the program had set on its own socket. */
	nfl = fcntl(fd, F_GETFL);
	if (nfl >= 0 && (nfl & O_NONBLOCK) != (fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, (nfl & ~O_NONBLOCK) | (fl & O_NONBLOCK));
out:
	close(nfd);
	return r;
}

void apply_opts(int fd, const struct sk_entry *e)
{
	int saved = errno;

	for (int i = 0; i < e->nopts; i++)
		real_setsockopt(fd, e->opts[i].level, e->opts[i].name,
				&e->opts[i].value, sizeof(int));
	errno = saved;
}

static int opt_kept(int level, int name)
{
	switch (level) {
	case SOL_SOCKET:
		return name == SO_KEEPALIVE || name == SO_SNDBUF ||
		       name == SO_RCVBUF || name == SO_PRIORITY;
	case IPPROTO_TCP:
		return name == TCP_NODELAY || name == TCP_KEEPIDLE ||
		       name == TCP_KEEPINTVL || name == TCP_KEEPCNT ||
		       name == TCP_USER_TIMEOUT;
	case IPPROTO_IP:
		return name == IP_TOS;
	case IPPROTO_IPV6:
		return name == IPV6_TCLASS;
	}
	return 0;
}

int opt_remember(struct sk_entry *e, int level, int name, const void *val,
		 socklen_t len)
{
	int v, i;

	if (!opt_kept(level, name) || !val || len < sizeof(int))
		return 0;
	memcpy(&v, val, sizeof(v));
	for (i = 0; i < e->nopts; i++)
		if (e->opts[i].level == level && e->opts[i].name == name)
			break;
	if (i == SK_MAX_OPTS)
		return 0;
	e->opts[i] = (struct sk_opt){ level, name, v };
	if (i == e->nopts)
		e->nopts++;
	return 1;
}
