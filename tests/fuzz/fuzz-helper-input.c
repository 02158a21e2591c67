// SPDX-License-Identifier: MIT
/*
 * fuzz-helper-input.c - libFuzzer target for what sockoutd reads from a
 * helper: the input is split into a data-socket stream (replies) and an
 * event-socket stream (events) from a fake helper that sockoutd believes
 * is up, with one guest listener registered through it (so ACCEPTED,
 * READ/WRITE replies and CLOSED reach real connections; with a descriptor
 * on the event stream, hand-backs are refused).  sockoutd must
 * neither crash nor leak, whatever arrives: bad frames drop the helper.
 */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "sockoutd-in-one.h"

/* the guest waiting for the LISTEN reply */
static void fz_done(struct waiter *w, int status, const struct so_addr *local,
		    const struct so_addr *peer, int fd)
{
	(void)w, (void)status, (void)local, (void)peer;
	if (fd >= 0)
		close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct helper_conf hc = { .name = "fz", .data = "/nonexistent/d",
				  .event = "/nonexistent/e" };
	int ds[2], es[2];

	if (!ready) {
		log_init("fuzz-helper-input", 0);
		if (loop_init() < 0 || pair_init() < 0)
			abort();
		relay_init();
		ready = 1;
	}
	if (size < 1)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ds) < 0)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, es) < 0) {
		close(ds[0]);
		close(ds[1]);
		return 0;
	}
	/* a helper that has said HELLO and EVHELLO */
	struct helper *h = helper_new(&hc);
	if (!h)
		abort();
	TAILQ_INSERT_HEAD(&helpers, h, link);
	net_set_nonblock(ds[0]);
	net_set_nonblock(es[0]);
	ev_add(&h->dev, ds[0], EPOLLIN, data_cb);
	ev_add(&h->eev, es[0], EPOLLIN, event_cb);
	h->state = H_UP;
	h->down_logged = true;
	/* bit 0 of the first byte: the helper offered hand-back, so flagged
	 * CONNECTED/ACCEPTED take their descriptor (SO_F_FD) */
	h->caps = (data[0] & 1) ? SO_CAP_HANDBACK : 0;

	/* a guest listener through it: id 1, LISTEN outstanding */
	struct gp_req req = { .op = GP_LISTEN,
			      .addr = { .family = 4, .port = 9000 } };
	struct peer_id who = { .uid = 1, .pid = 1, .netns = 1 };
	struct waiter w = { .done = fz_done };
	struct glisten *l;
	struct hlisten *hl;
	if (glisten_new(&req, &who, NULL, &l) == 0)
		relay_listen(h, l, "x", &w, &hl); /* closes l on failure */

	/* first byte: where the data stream ends and the event stream starts */
	size_t split = (size_t)data[0] * (size - 1) / 255;
	const uint8_t *p = data + 1;
	if (split && write(ds[1], p, split) < 0)
		goto out;
	/* bit 1: the event stream's first bytes bring a descriptor (a TCP
	 * socket that is not connected: every hand-back it lands on is
	 * refused, closed, and must not leak) */
	if (size - 1 > split && (data[0] & 2)) {
		int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		size_t first = size - 1 - split < 64 ? size - 1 - split : 64;
		if (t >= 0 && net_send_fd(es[1], p + split, first, t) == 0)
			split += first;
		if (t >= 0)
			close(t);
	}
	if (size - 1 > split && write(es[1], p + split, size - 1 - split) < 0)
		goto out;
	spin(2);
	/* what a well-behaved peer would do next: close both sockets */
	close(ds[1]);
	close(es[1]);
	ds[1] = es[1] = -1;
	spin(1);
out:
	if (ds[1] >= 0)
		close(ds[1]);
	if (es[1] >= 0)
		close(es[1]);
	/* forget the helper, its connections and its listeners */
	TAILQ_REMOVE(&helpers, h, link);
	helper_free(h, "fuzz case over");
	glisten_shutdown();
	spin(1);
	return 0;
}
