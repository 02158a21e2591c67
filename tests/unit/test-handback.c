// SPDX-License-Identifier: MIT
/*
 * Unit test of hand-back in the helper runtime (SO_CAP_HANDBACK,
 * protocol/helper-runtime.h): a child runs the runtime with an overlay
 * that connects a real TCP socket on loopback and names it in
 * ops->handback_fd; the parent plays the dispatcher.  HELLO offers the
 * capability; CONNECTED comes flagged SO_F_FD with exactly that socket;
 * the runtime has forgotten the id (READ: ENOTCONN; STATUS: no
 * connections) and the overlay let go of its descriptor without touching
 * the connection (bytes still flow both ways, no EOF).  A connection the
 * overlay does not offer goes the ordinary way.
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../common/loop.h"
#include "../../common/net.h"
#include "../../protocol/helper-runtime.h"
#include "t.h"

/* ---- the overlay (child): one loopback TCP socket per connection ---- */

static int hb_connect(struct sh_conn *c)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(c->req.dst.port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), e;

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		e = -errno;
		close(fd);
		return e;
	}
	c->priv = (void *)(intptr_t)(fd + 1);
	sh_connected(c, NULL); /* may free c */
	return 0;
}

static int hb_fd(struct sh_conn *c)
{
	if (strcmp(c->req.target, "keep") == 0)
		return -1;
	return (int)(intptr_t)c->priv - 1;
}

static int hb_listen(struct sh_listener *l) { (void)l; return 0; }
static void hb_unlisten(struct sh_listener *l) { (void)l; }
static void hb_nop(struct sh_conn *c) { (void)c; }

/* Handed back, the socket is the guest's: close() only.  Else end the
 * connection as an overlay would, which the peer would see. */
static void hb_close(struct sh_conn *c, int err)
{
	int fd = (int)(intptr_t)c->priv - 1;

	(void)err;
	if (fd < 0)
		return;
	if (!c->handed_back)
		shutdown(fd, SHUT_RDWR);
	close(fd);
}

static const struct sh_ops hb_ops = {
	.name = "hb",
	.connect = hb_connect,
	.listen = hb_listen,
	.unlisten = hb_unlisten,
	.output = hb_nop,
	.input_room = hb_nop,
	.close = hb_close,
	.handback_fd = hb_fd,
};

/* ---- the dispatcher (parent) ---- */

static int dfd, efd;

static void xsend(int fd, uint8_t type, uint32_t id, uint32_t arg,
		  const void *p, size_t len)
{
	struct buf b;

	buf_init(&b);
	so_send(&b, type, 0, id, arg, p, len);
	while (buf_len(&b))
		if (buf_write_fd(&b, fd) < 0)
			break;
	buf_free(&b);
}

static uint8_t payload[SO_MAX_PAYLOAD];

/* One message, with the descriptors it brought (up to 4) in @fds. */
static int xrecv_fds(int fd, struct so_hdr *h, int *fds, int *nfds)
{
	uint8_t raw[SO_HDR_LEN];
	union {
		char b[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = raw, .iov_len = sizeof(raw) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.b, .msg_controllen = sizeof(u.b) };
	size_t got = 0;

	*nfds = 0;
	/* the header's first bytes bring the descriptors */
	ssize_t n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC | MSG_WAITALL);
	if (n != (ssize_t)sizeof(raw) || so_hdr_decode(raw, h) < 0)
		return -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
		for (size_t i = 0; c->cmsg_type == SCM_RIGHTS &&
				   i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		     i++)
			memcpy(&fds[(*nfds)++], CMSG_DATA(c) + i * sizeof(int),
			       sizeof(int));
	while (got < h->len) {
		n = read(fd, payload + got, h->len - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

static int xrecv(int fd, struct so_hdr *h)
{
	int fds[4], n, r = xrecv_fds(fd, h, fds, &n);

	while (n > 0)
		close(fds[--n]);
	return r;
}

static void test_handback(void)
{
	struct so_hdr h;
	struct so_connect req = { .dst = { .family = 4 } };
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	uint8_t enc[300];
	uint32_t caps = 0;
	int lfd, sfd, fds[4], nfds;
	char b[16];

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(lfd >= 0 && bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	      listen(lfd, 8) == 0 &&
	      getsockname(lfd, (struct sockaddr *)&a, &al) == 0);
	req.dst.port = ntohs(a.sin_port);

	xsend(dfd, SO_HELLO, 0, SO_PROTO_VERSION, "unit", 4);
	CHECK_EQ(xrecv(dfd, &h), 0);
	CHECK_EQ(so_caps_decode(payload, h.len, &caps), 0);
	CHECK(caps & SO_CAP_HANDBACK);
	xsend(efd, SO_EVHELLO, h.id, 0, NULL, 0);

	/* an overlay that does not offer the socket: the ordinary way.  Its
	 * CONNECTED also says the runtime has paired the event socket (events
	 * wait until EVHELLO is read; a descriptor cannot: the runtime hands
	 * back only on a paired, empty event socket) */
	strcpy(req.target, "keep");
	xsend(dfd, SO_CONNECT, 2, 0, enc, so_connect_encode(enc, &req));
	CHECK_EQ(xrecv(dfd, &h), 0);
	CHECK_EQ(xrecv_fds(efd, &h, fds, &nfds), 0);
	CHECK(h.type == SO_CONNECTED && h.id == 2 && !(h.flags & SO_F_FD));
	CHECK_EQ(nfds, 0);
	sfd = accept(lfd, NULL, NULL); /* its peer: out of the queue */
	if (sfd >= 0)
		close(sfd);
	xsend(dfd, SO_CLOSE, 2, 0, NULL, 0);
	CHECK_EQ(xrecv(dfd, &h), 0);
	CHECK(h.type == SO_REPLY && !(h.flags & SO_F_ERROR));

	/* CONNECTED with the socket itself */
	req.target[0] = '\0';
	xsend(dfd, SO_CONNECT, 1, 0, enc, so_connect_encode(enc, &req));
	CHECK_EQ(xrecv(dfd, &h), 0);
	CHECK(h.type == SO_REPLY && h.id == 1 && !(h.flags & SO_F_ERROR));
	CHECK_EQ(xrecv_fds(efd, &h, fds, &nfds), 0);
	CHECK(h.type == SO_CONNECTED && h.id == 1 && (h.flags & SO_F_FD));
	CHECK_EQ(nfds, 1);
	sfd = accept(lfd, NULL, NULL);
	CHECK(sfd >= 0);

	/* the runtime forgot the id, and the overlay its descriptor */
	xsend(dfd, SO_READ, 1, 100, NULL, 0);
	CHECK_EQ(xrecv(dfd, &h), 0);
	CHECK((h.flags & SO_F_ERROR) && h.arg == ENOTCONN);
	xsend(dfd, SO_STATUS, 0, 0, NULL, 0);
	CHECK_EQ(xrecv(dfd, &h), 0);
	payload[h.len] = 0;
	CHECK(strstr((char *)payload, "\"connections\":0") != NULL);

	/* the connection is whole both ways: no shutdown reached it */
	if (nfds == 1 && sfd >= 0) {
		struct timeval tv = { .tv_sec = 5 };
		setsockopt(sfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fds[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		CHECK_EQ(write(fds[0], "up", 2), 2);
		CHECK_EQ(read(sfd, b, sizeof(b)), 2);
		CHECK_EQ(write(sfd, "down", 4), 4);
		CHECK_EQ(read(fds[0], b, sizeof(b)), 4);
		CHECK(memcmp(b, "down", 4) == 0);
		close(fds[0]);
		CHECK_EQ(read(sfd, b, sizeof(b)), 0); /* ours was the last */
	}
	if (sfd >= 0)
		close(sfd);

	close(lfd);
}

int main(void)
{
	char dir[] = "/tmp/sockout-unit.XXXXXX", dp[64], ep[64];
	struct timeval tv = { .tv_sec = 10 };

	if (!mkdtemp(dir))
		return 1;
	snprintf(dp, sizeof(dp), "%s/d", dir);
	snprintf(ep, sizeof(ep), "%s/e", dir);
	sh_set_handback(true);
	if (loop_init() < 0 || sh_listen(dp, ep, &hb_ops) < 0)
		return 1;
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
		loop_run();
		_exit(0);
	}
	signal(SIGPIPE, SIG_IGN); /* a broken connection is a failed check */
	dfd = net_unix_connect(dp, SOCK_STREAM);
	efd = net_unix_connect(ep, SOCK_STREAM);
	CHECK(dfd >= 0 && efd >= 0);
	/* a runtime that stalls fails the test instead of hanging it */
	setsockopt(dfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(efd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (dfd >= 0 && efd >= 0)
		test_handback();
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	unlink(dp);
	unlink(ep);
	rmdir(dir);
	T_DONE();
}
