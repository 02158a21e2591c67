// SPDX-License-Identifier: MIT
/*
 * gp-client.c - one exchange with sockoutd (see gp-client.h).
 *
 * One exchange = one Unix stream connection: connect, send the 64-byte
 * request, read the 56-byte reply (the descriptor rides on its first
 * bytes), close.  All of it blocks: sockoutd answers a CONNECT only when
 * the outcome is known, and bounds that with its connect-timeout.
 */
#include "gp-client.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

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

/* Read exactly @len bytes into @p (descriptors into *@fd). */
static int read_all(int s, uint8_t *p, size_t len, int *fd)
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
		    int passfd)
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
	return read_all(s, p, GP_REPLY_LEN, fd);
}

static int exchange_full(const struct gpc_ops *ops, const char *path,
			 const struct gp_req *req, struct gp_reply *rep,
			 int *fd, struct gp_answer *ans, const char **why,
			 int passfd);

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
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = GPC_REPLY_TIMEOUT_S };
	uint8_t q[GP_REQ_LEN + GP_NAME_MAX], p[GP_REPLY_LEN], a[GP_ANSWER_MAX];
	size_t qlen = GP_REQ_LEN;
	int s = -1, r, saved = errno;
	/* RESOLVE and REVERSE are answered without a descriptor */
	bool named = req->op == GP_RESOLVE || req->op == GP_REVERSE;

	*fd = -1;
	*why = NULL;
	memset(rep, 0, sizeof(*rep));
	if (strlen(path) >= sizeof(sun.sun_path)) {
		r = -ENAMETOOLONG;
		goto out;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	gp_req_encode(q, req);
	if (req->op == GP_RESOLVE) {
		memcpy(q + GP_REQ_LEN, req->name, req->namelen);
		qlen += req->namelen;
	}

	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		r = -errno;
		goto out;
	}
	ops->setsockopt_fn(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ops->setsockopt_fn(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (ops->connect_fn(s, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EISCONN)
			break;
		r = -errno;
		goto out;
	}
	if ((r = exchange(s, q, qlen, p, fd, passfd)) < 0)
		goto out;
	/* GP_REFUSED: sockoutd turned the connection away unread (a
	 * limit); its status is the answer to whatever we asked. */
	if (gp_reply_decode(p, rep) < 0 ||
	    (rep->op != req->op && rep->op != GP_REFUSED)) {
		*why = "malformed reply";
		r = -EPROTO;
		goto out;
	}
	if (named && rep->op == req->op && rep->status == 0) {
		if (!ans || !rep->anslen ||
		    (r = read_all(s, a, rep->anslen, fd)) < 0 ||
		    gp_answer_decode(a, rep->anslen, ans) < 0) {
			*why = "malformed answer";
			r = -EPROTO;
			goto out;
		}
	}
	if (rep->status == 0 && *fd < 0 && !named) {
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
	r = 0;
out:
	if (s >= 0)
		close(s);
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
