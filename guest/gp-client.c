// SPDX-License-Identifier: MIT
/*
 * gp-client.c - one exchange with sockoutd (see gp-client.h).
 *
 * One exchange = one Unix stream connection: connect, send the 64-byte
 * request, read the 56-byte reply (the descriptor rides on its first
 * bytes), close.  All of it blocks: sockoutd answers a CONNECT only when
 * the outcome is known, and bounds that with its connect-timeout.
 *
 * The channel: CONNECT (but LOOPBACK), RESOLVE and REVERSE over the Unix
 * guest socket go over one connection kept open per process (GP_F_KEEP,
 * PROTOCOL.md part 2, "Channels"), which saves the connect and sockoutd's
 * accept, identification and epoll work on each.  sockoutd judges every
 * request on it by the credentials the kernel recorded when it was
 * connected, so it is used only while nothing of them changed: the same
 * process (a forked child never speaks through its parent's channel), the
 * same real/effective/saved uids and gids and supplementary groups
 * (checked before every use; a process that dropped privileges connects
 * anew).  The network namespace is not checked: no request that goes on
 * a channel depends on it.  One thread at a time uses it; another that
 * finds it busy opens its own connection as before, never waits.  The
 * descriptor is the shim's, in a program that may close or dup2() over
 * it: it is used only while fstat() still shows the socket it was, and
 * left alone (not closed: no longer ours) when not.  sockoutd closes a
 * channel only while idle with nothing read, so a request that meets a
 * closed one (EPIPE, or the end before any byte of the reply) was never
 * seen: it is sent once more on a new connection, never after a part of
 * a reply.
 *
 * Stream mode (a tcp: or vsock: transport, for a guest in a VM): the same
 * exchange over a TCP or vsock stream, with GP_F_STREAM set; no descriptor
 * comes back, and on success the stream itself is kept as the connection
 * (CONNECT, CLAIM) or as the listener's notice stream (LISTEN).
 */
#include "gp-client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

/* A decimal in [0, max] spanning exactly [s, end). */
static int num(const char *s, const char *end, unsigned long max,
	       unsigned long *out)
{
	unsigned long v = 0;

	if (s == end || end - s > 10)
		return -EINVAL;
	for (const char *c = s; c < end; c++) {
		if (*c < '0' || *c > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*c - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int gpc_stream_addr(const char *spec, struct sockaddr_storage *ss,
		    socklen_t *len)
{
	unsigned long cid, port;
	const char *colon;
	char host[INET6_ADDRSTRLEN + 2];

	memset(ss, 0, sizeof(*ss));
	if (strncmp(spec, "vsock:", 6) == 0) {
		struct sockaddr_vm *vm = (struct sockaddr_vm *)ss;

		spec += 6;
		colon = strchr(spec, ':');
		if (!colon || num(spec, colon, 0xffffffffUL, &cid) < 0 ||
		    num(colon + 1, colon + strlen(colon), 0xffffffffUL, &port) < 0)
			return -EINVAL;
		vm->svm_family = AF_VSOCK;
		vm->svm_cid = (unsigned)cid;
		vm->svm_port = (unsigned)port;
		*len = sizeof(*vm);
		return 1;
	}
	if (strncmp(spec, "tcp:", 4) != 0)
		return 0;
	spec += 4;
	colon = strrchr(spec, ':');
	if (!colon || (size_t)(colon - spec) >= sizeof(host) ||
	    num(colon + 1, colon + strlen(colon), 65535, &port) < 0 || !port)
		return -EINVAL;
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = 0;
	if (host[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		size_t hl = strlen(host);

		if (hl < 3 || host[hl - 1] != ']')
			return -EINVAL;
		host[hl - 1] = 0;
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
			return -EINVAL;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		return 1;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
		return -EINVAL;
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	*len = sizeof(*s4);
	return 1;
}

int gpc_is_stream(const char *spec)
{
	return strncmp(spec, "tcp:", 4) == 0 || strncmp(spec, "vsock:", 6) == 0;
}

void gpc_take_fds(struct msghdr *m, int *fd)
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

/* Read exactly @len bytes into @p (descriptors into *@fd).  *@none (if
 * not NULL): the connection ended before the first byte. */
static int read_all(int s, uint8_t *p, size_t len, int *fd, bool *none)
{
	ssize_t n;

	for (size_t off = 0; off < len;) {
		union {
			char buf[CMSG_SPACE(4 * sizeof(int))];
			struct cmsghdr align;
		} cm;
		struct iovec iov = { p + off, len - off };
		struct msghdr m = { .msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cm.buf,
				    .msg_controllen = sizeof(cm.buf) };

		n = recvmsg(s, &m, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (none && !off && (n == 0 || (n < 0 && errno == ECONNRESET)))
			*none = true;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		gpc_take_fds(&m, fd);
		if (n == 0)
			return -ECONNRESET;
		off += (size_t)n;
	}
	return 0;
}

static int exchange(int s, const uint8_t *q, size_t qlen, uint8_t *p, int *fd,
		    int passfd, bool *none)
{
	size_t off = 0;
	ssize_t n;

	while (off < qlen) {
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} cm;
		struct iovec iov = { (void *)(q + off), qlen - off };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

		/* @passfd rides on the first bytes */
		if (passfd >= 0 && off == 0) {
			struct cmsghdr *c;

			memset(&cm, 0, sizeof(cm));
			m.msg_control = cm.buf;
			m.msg_controllen = sizeof(cm.buf);
			c = CMSG_FIRSTHDR(&m);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &passfd, sizeof(int));
		}
		n = sendmsg(s, &m, MSG_NOSIGNAL);
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
	return read_all(s, p, GP_REPLY_LEN, fd, none);
}

static int exchange_full(const struct gpc_ops *ops, const char *path,
			 const struct gp_req *req, struct gp_reply *rep,
			 int *fd, struct gp_answer *ans, const char **why,
			 int passfd);

/* ---- the channel (top of the file) ---- */

#define CHAN_GROUPS 64 /* a process with more keeps no channel */

/* What sockoutd was told about us by the kernel when the channel was
 * connected (captured before the connect: a change racing with it only
 * makes the channel look stale, never fresh). */
struct chan_id {
	pid_t pid;
	uid_t uid[3]; /* real, effective, saved */
	gid_t gid[3];
	int ngroups;
	gid_t groups[CHAN_GROUPS];
};

static struct {
	int fd; /* -1: none; taken out (-1) while a request uses it */
	dev_t dev;
	ino_t ino;
	struct chan_id id;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* to whom */
} chan = { .fd = -1 };
/* 0, or the pid of the process one of whose threads uses the channel */
static pid_t chan_lock;
/* sockoutd dropped a request with GP_F_KEEP and answered it without: it
 * predates channels, ask no more */
static int chan_off;

static int chan_id_get(struct chan_id *id)
{
	int n;

	memset(id, 0, sizeof(*id));
	id->pid = getpid();
	if (getresuid(&id->uid[0], &id->uid[1], &id->uid[2]) < 0 ||
	    getresgid(&id->gid[0], &id->gid[1], &id->gid[2]) < 0 ||
	    (n = getgroups(CHAN_GROUPS, id->groups)) < 0)
		return -1;
	id->ngroups = n;
	return 0;
}

/* The channel for a thread of process @me, or false (another thread has
 * it: the caller connects on its own).  A holder that is not of this
 * process is a thread of the parent we were forked from, which did not
 * come along: the channel is this process's to (re)open now. */
static bool chan_lock_take(pid_t me)
{
	pid_t exp = 0;

	if (__atomic_compare_exchange_n(&chan_lock, &exp, me, false,
					__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return true;
	return exp != me &&
	       __atomic_compare_exchange_n(&chan_lock, &exp, me, false,
					   __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

static void chan_lock_give(void)
{
	__atomic_store_n(&chan_lock, 0, __ATOMIC_RELEASE);
}

/* The kept connection, if it is still ours and speaks for @id; taken out
 * of the cache (the caller puts it back or closes it). */
static int chan_get(const struct chan_id *id, const char *path)
{
	struct stat st;
	int s = chan.fd;

	chan.fd = -1;
	if (s < 0)
		return -1;
	/* closed or replaced by the program: its number is not ours */
	if (fstat(s, &st) < 0 || !S_ISSOCK(st.st_mode) || st.st_dev != chan.dev ||
	    st.st_ino != chan.ino)
		return -1;
	/* another process (a forked child), other credentials, another
	 * sockoutd */
	if (memcmp(id, &chan.id, sizeof(*id)) != 0 || strcmp(path, chan.path)) {
		close(s);
		return -1;
	}
	return s;
}

static void chan_put(int s, const struct chan_id *id, const char *path)
{
	struct stat st;

	if (fstat(s, &st) < 0 || strlen(path) >= sizeof(chan.path)) {
		close(s);
		return;
	}
	chan.dev = st.st_dev;
	chan.ino = st.st_ino;
	chan.id = *id;
	strcpy(chan.path, path);
	chan.fd = s;
}

/* A new connection to sockoutd: @s or -errno. */
static int gpc_connect(const struct gpc_ops *ops,
		       const struct sockaddr_storage *ss, socklen_t sl)
{
	struct timeval tv = { .tv_sec = GPC_REPLY_TIMEOUT_S };
	int s = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

	if (s < 0)
		return -errno;
	ops->setsockopt_fn(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ops->setsockopt_fn(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (ops->connect_fn(s, (const struct sockaddr *)ss, sl) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EISCONN)
			break;
		r = -errno;
		close(s);
		return r;
	}
	return s;
}

int gpc_exchange(const struct gpc_ops *ops, const char *path,
		 const struct gp_req *req, struct gp_reply *rep, int *fd,
		 const char **why)
{
	return exchange_full(ops, path, req, rep, fd, NULL, why, -1);
}

int gpc_exchange_answer(const struct gpc_ops *ops, const char *path,
			const struct gp_req *req, struct gp_reply *rep, int *fd,
			struct gp_answer *ans, const char **why)
{
	return exchange_full(ops, path, req, rep, fd, ans, why, -1);
}

int gpc_exchange_fd(const struct gpc_ops *ops, const char *path,
		    const struct gp_req *req, struct gp_reply *rep, int *fd,
		    const char **why, int passfd)
{
	return exchange_full(ops, path, req, rep, fd, NULL, why, passfd);
}

static int exchange_full(const struct gpc_ops *ops, const char *path,
			 const struct gp_req *req, struct gp_reply *rep,
			 int *fd, struct gp_answer *ans, const char **why,
			 int passfd)
{
	struct sockaddr_storage ss;
	struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
	socklen_t sl = sizeof(*sun);
	struct timeval tv = { .tv_sec = GPC_REPLY_TIMEOUT_S };
	uint8_t q[GP_REQ_LEN + GP_NAME_MAX], p[GP_REPLY_LEN], a[GP_ANSWER_MAX];
	size_t qlen = GP_REQ_LEN;
	struct gp_req sreq = *req;
	int s = -1, r, saved = errno, stream, tries = 0;
	/* RESOLVE and REVERSE are answered without a descriptor */
	bool named = req->op == GP_RESOLVE || req->op == GP_REVERSE;
	bool locked = false, reused = false, probe = false, none;
	struct chan_id id;

	*fd = -1;
	*why = NULL;
	memset(rep, 0, sizeof(*rep));
	if ((stream = gpc_stream_addr(path, &ss, &sl)) < 0) {
		*why = "malformed tcp:HOST:PORT or vsock:CID:PORT";
		r = -EINVAL;
		goto out;
	}
	if (!stream) {
		if (strlen(path) >= sizeof(sun->sun_path)) {
			r = -ENAMETOOLONG;
			goto out;
		}
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, path, strlen(path) + 1);
	} else {
		sreq.flags |= GP_F_STREAM;
	}
	if (req->op == GP_RESOLVE) {
		memcpy(q + GP_REQ_LEN, req->name, req->namelen);
		qlen += req->namelen;
	}
	/* the channel, for the requests that may use one */
	if (!stream && !__atomic_load_n(&chan_off, __ATOMIC_RELAXED) &&
	    (named || (req->op == GP_CONNECT && !(req->flags & GP_F_LOOPBACK))) &&
	    chan_id_get(&id) == 0 && id.ngroups < CHAN_GROUPS &&
	    (locked = chan_lock_take(id.pid))) {
		s = chan_get(&id, path);
		reused = s >= 0;
		sreq.flags |= GP_F_KEEP;
	}
again:
	gp_req_encode(q, &sreq);
	if (s < 0 && (s = gpc_connect(ops, &ss, sl)) < 0) {
		r = s;
		s = -1;
		goto out;
	}
	none = false;
	if ((r = exchange(s, q, qlen, p, fd, passfd, &none)) < 0) {
		/* ended before the reply began: not seen (above) */
		if (none && (sreq.flags & GP_F_KEEP) && tries++ == 0) {
			close(s);
			s = -1;
			/* a new connection too: perhaps a sockoutd that does
			 * not know GP_F_KEEP, which drops what it cannot read */
			if (!reused) {
				sreq.flags &= (uint8_t)~GP_F_KEEP;
				probe = true;
			}
			reused = false;
			goto again;
		}
		goto out;
	}
	if (probe)
		__atomic_store_n(&chan_off, 1, __ATOMIC_RELAXED);
	/* GP_REFUSED: sockoutd turned the connection away unread (a
	 * limit); its status is the answer to whatever we asked.
	 * GP_F_KEEP: the channel we asked for is kept. */
	if (gp_reply_decode(p, rep) < 0 ||
	    (rep->flags & ~(sreq.flags & GP_F_KEEP)) ||
	    (rep->op != req->op && rep->op != GP_REFUSED)) {
		*why = "malformed reply";
		r = -EPROTO;
		goto out;
	}
	if (named && rep->op == req->op && rep->status == 0) {
		if (!ans || !rep->anslen ||
		    (r = read_all(s, a, rep->anslen, fd, NULL)) < 0 ||
		    gp_answer_decode(a, rep->anslen, ans) < 0) {
			*why = "malformed answer";
			r = -EPROTO;
			goto out;
		}
	}
	if (rep->status == 0 && *fd < 0 && !named && !stream) {
		*why = "reply without a socket";
		r = -EPROTO;
		goto out;
	}
	if (named && *fd >= 0) {
		*why = "answer with a socket";
		r = -EPROTO;
		goto out;
	}
	if (rep->status > 4095) {
		*why = "reply with an impossible errno";
		r = -EPROTO;
		goto out;
	}
	if (rep->status && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	if (stream && *fd >= 0) {
		*why = "a descriptor in stream mode";
		r = -EPROTO;
		goto out;
	}
	if (stream && rep->status == 0 && !named) {
		/* the stream is the program's socket now: without our
		 * timeouts, which would make its blocking calls time out */
		tv.tv_sec = 0;
		ops->setsockopt_fn(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		ops->setsockopt_fn(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		*fd = s;
		s = -1;
	}
	if (locked && (rep->flags & GP_F_KEEP)) {
		chan_put(s, &id, path);
		s = -1;
	}
	r = 0;
out:
	if (s >= 0)
		close(s);
	if (locked)
		chan_lock_give();
	if (r < 0 && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	errno = saved;
	return r;
}

void gpc_concrete_local(struct so_addr *local, const struct sockaddr *sa,
			socklen_t len)
{
	static const uint8_t zero[16];
	struct so_addr h;

	if (memcmp(local->addr, zero, 16) != 0 ||
	    so_addr_from_user(&h, sa, len) < 0 || so_addr_is_loopback(&h))
		return;
	h.port = local->port;
	*local = h;
}

int gpc_stream_accept(const struct gpc_ops *ops, const char *spec, int lfd,
		      int cloexec, struct gp_reply *rep, int *fd)
{
	uint8_t p[GP_REPLY_LEN];
	struct gp_reply note;
	struct gp_req claim = { .op = GP_CLAIM };
	const char *why;
	ssize_t n;
	int saved = errno, r, nb = fcntl(lfd, F_GETFL);

	*fd = -1;
	/* Notices are 56-byte writes: a part of one is the rest in flight.
	 * A non-blocking listener says EAGAIN until it is whole. */
	n = recv(lfd, p, sizeof(p), MSG_PEEK);
	if (n > 0 && n < GP_REPLY_LEN && !(nb >= 0 && (nb & O_NONBLOCK)))
		n = recv(lfd, p, sizeof(p), MSG_PEEK | MSG_WAITALL);
	if (n < 0) {
		r = -errno;
		goto out;
	}
	if (n == 0) {
		r = -EPIPE;
		goto out;
	}
	if (n < GP_REPLY_LEN) {
		r = -EAGAIN;
		goto out;
	}
	/* Another process sharing the listener may have taken it since
	 * the peek: then wait for the next (unless non-blocking). */
	n = recv(lfd, p, sizeof(p),
		 nb >= 0 && (nb & O_NONBLOCK) ? MSG_DONTWAIT : MSG_WAITALL);
	if (n < 0) {
		r = -errno;
		goto out;
	}
	if (n != GP_REPLY_LEN ||
	    gp_reply_decode(p, &note) < 0 || note.op != GP_ACCEPT ||
	    note.flags != GP_F_STREAM) {
		r = -ECONNABORTED;
		goto out;
	}
	claim.token = note.token;
	if ((r = gpc_exchange(ops, spec, &claim, rep, fd, &why)) < 0)
		goto out;
	if (rep->status) {
		/* the connection went away (or its claim timed out): what
		 * accept() says about a connection reset while queued */
		r = -ECONNABORTED;
		goto out;
	}
	if (!cloexec)
		fcntl(*fd, F_SETFD, 0);
	r = 0;
out:
	errno = saved;
	return r;
}
