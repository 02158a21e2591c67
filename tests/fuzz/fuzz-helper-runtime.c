// SPDX-License-Identifier: MIT
/*
 * fuzz-helper-runtime.c - libFuzzer target for the helper runtime's
 * request parsing (protocol/helper-runtime.c), fed as a dispatcher feeds
 * it: through its real data and event sockets.  The overlay is an echo:
 * CONNECT succeeds, fails at once or stays pending by port, LISTEN is
 * refused on odd ports and gets one ACCEPTED per input otherwise, and the
 * bytes WRITTEN come back to READ, with the runtime's flow control.
 *
 * Flags byte: bit 0 - the harness says HELLO and pairs the event socket
 * first (else the input must say its own HELLO, and no event socket
 * comes); bit 1 - the harness reads no reply until it has sent everything
 * (the runtime's SH_OUT_HIGH pause); bit 2 - after the input, the harness
 * hands connections 1 to 4 over (HANDOFF with one end of a socketpair
 * attached, some bytes and EOF written into the other end, which it then
 * drains), and attaches a stray descriptor to the input's first write, which
 * a HANDOFF in the input may take.  Checked besides crashes and leaks:
 * every frame the runtime sends parses, and when the dispatcher goes, all
 * its connections go (ops->close for each).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../common/log.h"
#include "../../common/loop.h"
#include "../../common/net.h"
#include "../../protocol/helper-runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dpath[64], epath[64];
static unsigned nlisteners;
static struct sh_listener *listeners[8];

/* the echo overlay: what the guest wrote comes back */
static void fz_pump(struct sh_conn *c)
{
	size_t n = buf_len(&c->to_overlay);

	if (n) {
		n = sh_deliver(c, buf_peek(&c->to_overlay), n);
		buf_consume(&c->to_overlay, n);
		sh_output_taken(c);
	}
	if (c->guest_shut && !buf_len(&c->to_overlay) && !c->overlay_eof)
		sh_eof(c);
}

static int fz_connect(struct sh_conn *c)
{
	switch (c->req.dst.port % 3) {
	case 0:
		return -ECONNREFUSED;
	case 1:
		sh_connected(c, NULL);
		return 0;
	default:
		return 0; /* pending until CLOSE */
	}
}

static int fz_listen(struct sh_listener *l)
{
	if (l->req.dst.port & 1)
		return -EADDRINUSE;
	for (size_t i = 0; i < 8; i++) {
		if (!listeners[i]) {
			listeners[i] = l;
			nlisteners++;
			return 0;
		}
	}
	return -ENOBUFS;
}

static void fz_unlisten(struct sh_listener *l)
{
	for (size_t i = 0; i < 8; i++) {
		if (listeners[i] == l) {
			listeners[i] = NULL;
			nlisteners--;
			return;
		}
	}
	abort(); /* unlisten of a listener that listen() never took */
}

static void fz_close(struct sh_conn *c, int err)
{
	(void)c, (void)err;
}

static void fz_status(struct buf *j)
{
	buf_append(j, ",\"fuzz\":1", 9);
}

static const struct sh_ops fz_ops = {
	.name = "fuzz",
	.connect = fz_connect,
	.listen = fz_listen,
	.unlisten = fz_unlisten,
	.output = fz_pump,
	.input_room = fz_pump,
	.close = fz_close,
	.status = fz_status,
};

static void fz_stop(struct timer *t)
{
	(void)t;
	loop_stop();
}

static void spin(uint64_t ms)
{
	struct timer t;

	timer_init(&t, fz_stop);
	timer_set(&t, ms);
	loop_run();
	timer_cancel(&t);
}

static void setup(void)
{
	char dir[] = "/tmp/fuzz-helper-runtime.XXXXXX";

	log_init("fuzz-helper-runtime", 0);
	if (loop_init() < 0 || !mkdtemp(dir))
		abort();
	snprintf(dpath, sizeof(dpath), "%s/d", dir);
	snprintf(epath, sizeof(epath), "%s/e", dir);
	if (sh_listen(dpath, epath, &fz_ops) < 0)
		abort();
}

/* Read what @fd has into @r (false at EOF or error), and check that the
 * runtime's frames in it parse. */
static bool drain(int fd, struct buf *r)
{
	struct so_hdr h;
	const uint8_t *p;
	ssize_t n;
	int k;

	while ((n = buf_read_fd(r, fd, 65536)) > 0)
		;
	while ((k = so_next(r, &h, &p)) > 0)
		so_done(r, &h);
	if (k < 0)
		abort(); /* the runtime sent a frame that does not parse */
	return n < 0 && errno == EAGAIN;
}

/* Send @len bytes on @fd as the socket takes them, spinning the loop in
 * between (reading replies unless @lazy).  Returns bytes sent. */
static size_t send_all(int fd, const uint8_t *p, size_t len, bool lazy,
		       struct buf *r)
{
	size_t off = 0;

	for (int i = 0; i < 10000 && off < len; i++) {
		ssize_t n = write(fd, p + off, len - off);
		if (n > 0)
			off += (size_t)n;
		else if (n < 0 && errno != EAGAIN)
			break;
		spin(0);
		if (!lazy && !drain(fd, r))
			break;
	}
	return off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;

	if (!ready) {
		setup();
		ready = 1;
	}
	if (size < 1)
		return 0;
	bool pair = data[0] & 1, lazy = data[0] & 2;
	int dfd = net_unix_connect(dpath, SOCK_STREAM), efd = -1;
	struct buf r, er;

	if (dfd < 0)
		abort();
	net_set_nonblock(dfd);
	buf_init(&r);
	buf_init(&er);
	if (pair) {
		/* HELLO, and EVHELLO with the token its reply carries */
		struct buf hello;
		struct so_hdr h;
		const uint8_t *p;
		buf_init(&hello);
		so_send(&hello, SO_HELLO, 0, 0, SO_PROTO_VERSION, "fz", 2);
		send_all(dfd, buf_peek(&hello), buf_len(&hello), true, &r);
		buf_free(&hello);
		/* the reply carries the capabilities: header and 4 bytes */
		for (int i = 0; i < 100 && buf_len(&r) < SO_HDR_LEN + SO_CAPS_LEN;
		     i++) {
			spin(0);
			buf_read_fd(&r, dfd,
				    SO_HDR_LEN + SO_CAPS_LEN - buf_len(&r));
		}
		if (so_next(&r, &h, &p) <= 0 || h.type != SO_REPLY ||
		    (h.flags & SO_F_ERROR))
			abort();
		so_done(&r, &h);
		efd = net_unix_connect(epath, SOCK_STREAM);
		if (efd < 0)
			abort();
		net_set_nonblock(efd);
		buf_init(&hello);
		so_send(&hello, SO_EVHELLO, 0, h.id, 0, NULL, 0);
		send_all(efd, buf_peek(&hello), buf_len(&hello), true, &er);
		buf_free(&hello);
	}
	int gends[4];
	size_t ngends = 0, off = 1;
	if ((data[0] & 4) && size > 1) {
		int sp[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp) < 0)
			abort();
		/* a stray descriptor on the input's first byte */
		if (net_send_fd(dfd, data + 1, 1, sp[0]) == 0)
			off = 2;
		close(sp[0]);
		close(sp[1]);
	}
	send_all(dfd, data + off, size - off, lazy, &r);
	for (uint32_t id = 1; (data[0] & 4) && id <= 4; id++) {
		uint8_t m[SO_HDR_LEN];
		struct so_hdr h = { .type = SO_HANDOFF, .id = id };
		int sp[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp) < 0)
			abort();
		so_hdr_encode(m, &h);
		spin(0);
		drain(dfd, &r);
		if (net_send_fd(dfd, m, sizeof(m), sp[0]) < 0) {
			close(sp[1]);
		} else {
			if (write(sp[1], "handed", 6) < 0 ||
			    shutdown(sp[1], SHUT_WR) < 0)
				abort();
			gends[ngends++] = sp[1];
		}
		close(sp[0]);
	}
	/* one incoming connection on each listener, then let it all settle */
	for (size_t i = 0; i < 8; i++)
		if (listeners[i])
			sh_accepted(listeners[i], NULL);
	for (int i = 0; i < 10000; i++) {
		size_t before = buf_len(&r) + buf_len(&er);
		spin(0);
		bool open = drain(dfd, &r);
		if (efd >= 0)
			drain(efd, &er);
		for (size_t g = 0; g < ngends; g++) {
			char junk[4096];
			while (read(gends[g], junk, sizeof(junk)) > 0)
				;
		}
		if (!open || buf_len(&r) + buf_len(&er) == before)
			break;
	}
	/* the dispatcher goes: every connection and listener goes with it */
	for (size_t g = 0; g < ngends; g++)
		close(gends[g]);
	close(dfd);
	if (efd >= 0)
		close(efd);
	for (int i = 0; i < 100 && (sh_conn_count() || nlisteners); i++)
		spin(0);
	if (sh_conn_count() || nlisteners)
		abort();
	buf_free(&r);
	buf_free(&er);
	return 0;
}
