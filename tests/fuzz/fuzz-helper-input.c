// SPDX-License-Identifier: MIT
/*
 * fuzz-helper-input.c - libFuzzer target for what sockoutd reads from a
 * helper: the input is split into a data-socket stream (replies) and an
 * event-socket stream (events) from a fake helper that sockoutd believes
 * is up, with one guest listener registered through it (so ACCEPTED,
 * READ/WRITE replies and CLOSED reach real connections).  sockoutd must
 * neither crash nor leak, whatever arrives: bad frames drop the helper.
 */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../dispatcher/control.c"
/* table.c keeps a static now_ms() of its own (coarse clock, for the host
 * address cache); in this one translation unit it must not clash with
 * loop.h's. */
#define now_ms table_now_ms
#include "../../dispatcher/table.c"
#undef now_ms
#include "../../dispatcher/direct.c"
#include "../../dispatcher/guest.c"
#include "../../dispatcher/helper-link.c"
#include "../../dispatcher/listen.c"
#include "../../dispatcher/pair.c"
#include "../../dispatcher/pump.c"
#include "../../dispatcher/relay.c"

/* what main.c provides in sockoutd */
struct dconf *cfg;
uint64_t start_ms;
struct stats stats;

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

	/* a guest listener through it: id 1, LISTEN outstanding */
	struct gp_req req = { .op = GP_LISTEN, .netns = 1, .pid = 1,
			      .addr = { .family = 4, .port = 9000 } };
	struct waiter w = { .done = fz_done };
	struct glisten *l;
	struct hlisten *hl;
	if (glisten_new(&req, 1, &l) == 0)
		relay_listen(h, l, "x", &w, &hl); /* closes l on failure */

	/* first byte: where the data stream ends and the event stream starts */
	size_t split = (size_t)data[0] * (size - 1) / 255;
	const uint8_t *p = data + 1;
	if (split && write(ds[1], p, split) < 0)
		goto out;
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
