// SPDX-License-Identifier: MIT
/*
 * Unit test of the helper runtime (protocol/helper-runtime.c) over real Unix
 * sockets.  A child process runs the runtime with an "echo" overlay that
 * hands every byte the guest writes straight back; the parent plays the
 * dispatcher with blocking sockets and checks replies, events, flow control
 * (partial WRITE, WRITABLE), ARRIVED, EOF, pipelined requests whose
 * replies pile up, errors and malformed input.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../common/loop.h"
#include "../../common/net.h"
#include "../../protocol/helper-runtime.h"
#include "t.h"

/* ---- the echo overlay (child) ---- */

static void echo_pump(struct sh_conn *c)
{
	size_t n = buf_len(&c->to_overlay);

	/* "stall": an overlay that takes nothing, like one whose peer
	 * stopped reading */
	if (strcmp(c->req.target, "stall") == 0)
		return;

	if (n) {
		size_t took = sh_deliver(c, buf_peek(&c->to_overlay), n);
		buf_consume(&c->to_overlay, took);
		sh_output_taken(c);
	}
	if (c->guest_shut && !buf_len(&c->to_overlay) && !c->overlay_eof)
		sh_eof(c);
}

static int echo_connect(struct sh_conn *c)
{
	if (strcmp(c->req.target, "fail") == 0)
		return -ECONNREFUSED;
	sh_connected(c, NULL);
	return 0;
}
static int echo_listen(struct sh_listener *l)
{
	return l->req.dst.port == 1 ? -EADDRINUSE : 0;
}
static void echo_unlisten(struct sh_listener *l) { (void)l; }
static void echo_close(struct sh_conn *c, int err) { (void)c; (void)err; }

static const struct sh_ops echo_ops = {
	.name = "echo",
	.connect = echo_connect,
	.listen = echo_listen,
	.unlisten = echo_unlisten,
	.output = echo_pump,
	.input_room = echo_pump,
	.close = echo_close,
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

static int readn(int fd, void *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (uint8_t *)p + got, n - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* Receive one message; payload (if any) into a static buffer. */
static uint8_t payload[SO_MAX_PAYLOAD];
static int xrecv(int fd, struct so_hdr *h)
{
	uint8_t raw[SO_HDR_LEN];

	if (readn(fd, raw, sizeof(raw)) < 0 || so_hdr_decode(raw, h) < 0)
		return -1;
	return readn(fd, payload, h->len);
}

/*
 * Pipelined requests whose replies pass SH_OUT_HIGH: the runtime stops
 * parsing while its reply queue is that full, and must pick up the requests
 * it already read once the queue drains, although no new byte arrives.
 */
static void test_pipeline(void)
{
	struct so_hdr h;
	struct so_connect req = { .dst = { .family = 4, .port = 80 } };
	static uint8_t chunk[SO_MAX_DATA];
	uint8_t enc[300];
	enum { ID = 10, NREAD = SH_QUEUE_MAX / SO_MAX_DATA };
	size_t n = so_connect_encode(enc, &req);

	xsend(dfd, SO_CONNECT, ID, 0, enc, n);
	CHECK_EQ(xrecv(dfd, &h), 0);
	CHECK_EQ(xrecv(efd, &h), 0);
	CHECK(h.type == SO_CONNECTED && h.id == ID);
	/* SH_QUEUE_MAX bytes wait to be READ: twice SH_OUT_HIGH */
	for (int i = 0; i < NREAD; i++) {
		xsend(dfd, SO_WRITE, ID, 0, chunk, sizeof(chunk));
		CHECK_EQ(xrecv(dfd, &h), 0);
		CHECK_EQ(h.arg, (uint32_t)sizeof(chunk));
	}

	/* every READ, a STATUS and the CLOSE in one go, before reading a
	 * reply */
	struct buf b;
	buf_init(&b);
	for (int i = 0; i < NREAD; i++)
		so_send(&b, SO_READ, 0, ID, SO_MAX_DATA, NULL, 0);
	so_send(&b, SO_STATUS, 0, 0, 0, NULL, 0);
	so_send(&b, SO_CLOSE, 0, ID, 0, NULL, 0);
	CHECK_EQ(write(dfd, buf_peek(&b), buf_len(&b)), (ssize_t)buf_len(&b));
	buf_free(&b);

	/* a stalled runtime shows as a receive timeout, not a hang */
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(dfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	uint64_t got = 0;
	int replies = 0;
	for (int i = 0; i < NREAD; i++) {
		if (xrecv(dfd, &h) < 0)
			break;
		replies++;
		got += h.len;
	}
	CHECK_EQ(replies, NREAD);
	CHECK_EQ(got, (uint64_t)SH_QUEUE_MAX);
	CHECK_EQ(xrecv(dfd, &h), 0);
	CHECK(h.type == SO_REPLY && h.len > 0); /* STATUS */
	CHECK_EQ(xrecv(dfd, &h), 0);
	CHECK(h.type == SO_REPLY && h.id == ID && !(h.flags & SO_F_ERROR));
	tv.tv_sec = 0;
	setsockopt(dfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/*
 * A handed connection (HANDOFF) behind an overlay that takes nothing: the
 * runtime reads the guest's socket into to_overlay only while that queue
 * is at most half its window, so it stops between SH_QUEUE_MAX / 2 and
 * that plus one read (SO_MAX_DATA).  Reading into every bit of room that
 * opened kept the queue full to its block's end, and each read then slid
 * the whole queue (buf_reserve()'s memmove): about 4 MiB moved per 64 KiB
 * read behind a slow overlay.
 */
static void test_handed_window(void)
{
	struct so_hdr h;
	struct so_connect req = { .dst = { .family = 4, .port = 80 } };
	static uint8_t chunk[65536];
	uint8_t enc[300], hdr[SO_HDR_LEN];
	enum { ID = 20 };
	uint64_t wrote = 0;
	int sv[2], idle = 0;

	strcpy(req.target, "stall");
	size_t n = so_connect_encode(enc, &req);
	xsend(dfd, SO_CONNECT, ID, 0, enc, n);
	CHECK_EQ(xrecv(dfd, &h), 0);
	CHECK(h.type == SO_REPLY && !(h.flags & SO_F_ERROR));
	CHECK_EQ(xrecv(efd, &h), 0);
	CHECK(h.type == SO_CONNECTED && h.id == ID);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		CHECK(0);
		return;
	}
	so_hdr_encode(hdr, &(struct so_hdr){ .type = SO_HANDOFF, .id = ID });
	CHECK_EQ(net_send_fd(dfd, hdr, sizeof(hdr), sv[1]), 0);
	close(sv[1]);
	CHECK_EQ(xrecv(dfd, &h), 0);
	CHECK(h.type == SO_REPLY && h.id == ID && !(h.flags & SO_F_ERROR));

	/* write until the runtime has stopped taking: 20 idle rounds of
	 * 10 ms in a row, at most 5 s in all */
	CHECK_EQ(net_set_nonblock(sv[0]), 0);
	for (int round = 0; round < 500 && idle < 20; round++) {
		ssize_t w = send(sv[0], chunk, sizeof(chunk), MSG_NOSIGNAL);
		if (w > 0) {
			wrote += (uint64_t)w;
			idle = 0;
			continue;
		}
		CHECK(errno == EAGAIN);
		idle++;
		usleep(10000);
	}
	CHECK_EQ(idle, 20);
	/* what the socket itself holds: its send buffer, at most */
	int sndbuf = 0;
	socklen_t sl = sizeof(sndbuf);
	getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, &sl);
	fprintf(stderr, "handed, overlay stalled: %llu bytes taken (send buffer %d)\n",
		(unsigned long long)wrote, sndbuf);
	CHECK(wrote > SH_QUEUE_MAX / 2);
	CHECK(wrote <= SH_QUEUE_MAX / 2 + SO_MAX_DATA + (uint64_t)sndbuf);
	close(sv[0]);
	xsend(dfd, SO_CLOSE, ID, 0, NULL, 0);
	CHECK_EQ(xrecv(dfd, &h), 0);
}

static void test_session(void)
{
	struct so_hdr h;
	struct so_connect req = { .dst = { .family = 4, .port = 80 } };
	uint8_t enc[300];
	size_t n;

	xsend(dfd, SO_HELLO, 0, SO_PROTO_VERSION, "unit", 4);
	CHECK_EQ(xrecv(dfd, &h), 0);
	CHECK_EQ(h.type, SO_REPLY);
	CHECK_EQ(h.arg, (uint32_t)SO_PROTO_VERSION);
	xsend(efd, SO_EVHELLO, h.id, 0, NULL, 0);

	/* connect and echo */
	n = so_connect_encode(enc, &req);
	xsend(dfd, SO_CONNECT, 1, 0, enc, n);
	CHECK_EQ(xrecv(dfd, &h), 0);
	CHECK(h.type == SO_REPLY && h.id == 1 && !(h.flags & SO_F_ERROR));
	CHECK_EQ(xrecv(efd, &h), 0);
	CHECK(h.type == SO_CONNECTED && h.id == 1);

	xsend(dfd, SO_READ, 1, 65536, NULL, 0);
	CHECK_EQ(xrecv(dfd, &h), 0);
	CHECK(h.type == SO_REPLY && h.arg == 0 && h.len == 0);
	xsend(dfd, SO_WRITE, 1, 0, "hello", 5);
	CHECK_EQ(xrecv(dfd, &h), 0);
	CHECK_EQ(h.arg, 5u);
	CHECK_EQ(xrecv(efd, &h), 0);
	CHECK(h.type == SO_ARRIVED && h.id == 1);
	xsend(dfd, SO_READ, 1, 65536, NULL, 0);
	CHECK_EQ(xrecv(dfd, &h), 0);
	CHECK(h.len == 5 && memcmp(payload, "hello", 5) == 0);

	/* fill both queues until a WRITE is partial, then drain and expect
	 * WRITABLE; every byte must come back in order */
	static uint8_t chunk[SO_MAX_DATA];
	uint64_t sent = 0, got = 0;
	int partial = 0;
	for (int i = 0; i < 64 && !partial; i++) {
		for (size_t k = 0; k < sizeof(chunk); k++)
			chunk[k] = (uint8_t)((sent + k) * 7);
		xsend(dfd, SO_WRITE, 1, 0, chunk, sizeof(chunk));
		CHECK_EQ(xrecv(dfd, &h), 0);
		sent += h.arg;
		partial = h.arg < sizeof(chunk);
	}
	CHECK(partial);
	CHECK_EQ(sent, 2ull * SH_QUEUE_MAX);
	int bad = 0;
	while (got < sent) {
		xsend(dfd, SO_READ, 1, SO_MAX_DATA, NULL, 0);
		if (xrecv(dfd, &h) < 0 || !h.len)
			break;
		for (uint32_t k = 0; k < h.len; k++)
			bad |= payload[k] != (uint8_t)((got + k) * 7);
		got += h.len;
	}
	CHECK_EQ(got, sent);
	CHECK(!bad);
	CHECK_EQ(xrecv(efd, &h), 0);
	CHECK(h.type == SO_WRITABLE && h.id == 1);

	/* half-close comes back as EOF */
	xsend(dfd, SO_SHUTDOWN, 1, 0, NULL, 0);
	CHECK_EQ(xrecv(dfd, &h), 0);
	CHECK(!(h.flags & SO_F_ERROR));
	xsend(dfd, SO_READ, 1, 100, NULL, 0);
	CHECK_EQ(xrecv(dfd, &h), 0);
	CHECK(h.flags & SO_F_EOF);
	xsend(dfd, SO_WRITE, 1, 0, "x", 1);
	CHECK_EQ(xrecv(dfd, &h), 0);
	CHECK((h.flags & SO_F_ERROR) && h.arg == EPIPE);
	xsend(dfd, SO_CLOSE, 1, 0, NULL, 0);
	CHECK_EQ(xrecv(dfd, &h), 0);

	/* errors */
	xsend(dfd, SO_READ, 1, 100, NULL, 0);
	CHECK_EQ(xrecv(dfd, &h), 0);
	CHECK((h.flags & SO_F_ERROR) && h.arg == ENOTCONN);
	strcpy(req.target, "fail");
	n = so_connect_encode(enc, &req);
	xsend(dfd, SO_CONNECT, 2, 0, enc, n);
	CHECK_EQ(xrecv(dfd, &h), 0);
	CHECK_EQ(xrecv(efd, &h), 0);
	CHECK(h.type == SO_CONNECT_FAILED && h.id == 2 &&
	      h.arg == ECONNREFUSED);
	xsend(dfd, SO_CLOSE, 2, 0, NULL, 0);
	CHECK_EQ(xrecv(dfd, &h), 0);
	xsend(dfd, SO_CONNECT, SO_ID_HELPER | 5, 0, enc, n);
	CHECK_EQ(xrecv(dfd, &h), 0);
	CHECK((h.flags & SO_F_ERROR) && h.arg == EEXIST);
	req.dst.port = 1;
	n = so_connect_encode(enc, &req);
	xsend(dfd, SO_LISTEN, 3, 0, enc, n);
	CHECK_EQ(xrecv(dfd, &h), 0);
	CHECK((h.flags & SO_F_ERROR) && h.arg == EADDRINUSE);

	xsend(dfd, SO_STATUS, 0, 0, NULL, 0);
	CHECK_EQ(xrecv(dfd, &h), 0);
	payload[h.len] = 0;
	CHECK(strstr((char *)payload, "\"helper\":\"echo\"") != NULL);

	test_pipeline();
	test_handed_window();

	/* a malformed header drops the session */
	uint8_t junk[SO_HDR_LEN];
	memset(junk, 0xff, sizeof(junk));
	CHECK_EQ(write(dfd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	CHECK(xrecv(dfd, &h) < 0);
}

int main(void)
{
	char dir[] = "/tmp/sockout-unit.XXXXXX", dp[64], ep[64];

	if (!mkdtemp(dir))
		return 1;
	snprintf(dp, sizeof(dp), "%s/d", dir);
	snprintf(ep, sizeof(ep), "%s/e", dir);
	if (loop_init() < 0 || sh_listen(dp, ep, &echo_ops) < 0)
		return 1;
	pid_t pid = fork();
	if (pid == 0) {
		loop_run();
		_exit(0);
	}
	dfd = net_unix_connect(dp, SOCK_STREAM);
	efd = net_unix_connect(ep, SOCK_STREAM);
	CHECK(dfd >= 0 && efd >= 0);
	if (dfd >= 0 && efd >= 0)
		test_session();
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	unlink(dp);
	unlink(ep);
	rmdir(dir);
	T_DONE();
}
