// SPDX-License-Identifier: MIT
/*
 * Unit tests of sockoutd's byte pump (dispatcher/pump.c), in process: a
 * pump over a real socket pair as the guest end, and a struct helper whose
 * data socket is a socket pair we read the requests from.  Above all the
 * two-socket race: an ARRIVED or WRITABLE event read before the short
 * reply it follows must not be waited for again (else the connection
 * hangs), in both directions, and a full reply read in between must not
 * take it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../common/log.h"
#include "../../dispatcher/pump.c"
#include "t.h"

struct dconf *cfg; /* main.c's: NULL here, the default limits apply */
struct stats stats; /* main.c's too: helper-link.c counts bad hand-backs */
static struct helper h;
static int helper_peer;	  /* the helper's end of the data socket */
static int guest;	  /* the guest's end of the pair */
static int ended = -1;	  /* the err the pump ended with, -1: not ended */
static uint32_t last_arg; /* the arg of the last request sent() saw */

static void on_end(struct pump *p, int err)
{
	ended = err;
	pump_stop(p, err != 0);
}

/* Requests the pump sent since the last call: how many of @type. */
static int sent(uint8_t type)
{
	static struct buf in;
	struct so_hdr hd;
	const uint8_t *pl;
	int n = 0;

	while (buf_read_fd(&in, helper_peer, 1 << 20) > 0)
		;
	while (so_next(&in, &hd, &pl) > 0) {
		if (hd.type == type) {
			n++;
			last_arg = hd.arg;
		}
		so_done(&in, &hd);
	}
	return n;
}

static void setup(struct pump *p)
{
	int d[2], g[2];

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, d), 0);
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, g), 0);
	memset(&h, 0, sizeof(h));
	h.name = "test";
	h.state = H_UP;
	h.dev.fd = d[0];
	h.eev.fd = -1;
	LIST_INIT(&h.blocked);
	helper_peer = d[1];
	guest = g[1];
	ended = -1;
	pump_init(p, &h, 7, on_end);
	CHECK_EQ(pump_open(p, g[0]), 0);
	CHECK_EQ(sent(SO_READ), READS_MAX); /* reads go out at once */
}

static void teardown(struct pump *p)
{
	pump_stop(p, false);
	close(h.dev.fd);
	close(helper_peer);
	close(guest);
	free(h.fifo);
	buf_free(&h.out);
}

static void reply(struct pump *p, uint8_t type, uint32_t arg, uint8_t flags,
		  const void *data, uint32_t len)
{
	struct so_hdr hd = { .type = SO_REPLY, .id = p->id, .arg = arg,
			     .flags = flags, .len = len };

	pump_reply(p, type, &hd, data);
}

/* An empty READ reply, then ARRIVED: the usual order waits, then reads. */
static void test_down_in_order(void)
{
	struct pump p;

	setup(&p);
	reply(&p, SO_READ, 0, 0, NULL, 0);
	CHECK_EQ(sent(SO_READ), 0);
	CHECK(p.down.waiting);
	pump_notify(&p, SO_ARRIVED);
	CHECK_EQ(sent(SO_READ), 1);
	CHECK(!p.down.waiting);
	teardown(&p);
}

/* ARRIVED read before the empty reply it follows: READ again at once. */
static void test_down_event_first(void)
{
	struct pump p;

	setup(&p);
	pump_notify(&p, SO_ARRIVED);
	CHECK_EQ(sent(SO_READ), 0); /* both READs still out */
	reply(&p, SO_READ, 0, 0, NULL, 0);
	CHECK(!p.down.waiting);
	CHECK_EQ(sent(SO_READ), 1);
	teardown(&p);
}

/* ARRIVED, then a reply with data (an earlier READ's), then the empty
 * reply the ARRIVED follows: the data does not use up the ARRIVED. */
static void test_down_event_first_data_between(void)
{
	struct pump p;
	char got[8];

	setup(&p);
	pump_notify(&p, SO_ARRIVED);
	reply(&p, SO_READ, 0, 0, "abc", 3);
	CHECK_EQ(recv(guest, got, sizeof(got), 0), 3);
	CHECK_EQ(sent(SO_READ), 1);
	reply(&p, SO_READ, 0, 0, NULL, 0);
	CHECK(!p.down.waiting);
	CHECK_EQ(sent(SO_READ), 1);
	teardown(&p);
}

/* The guest writes; the WRITE gets a partial reply.  In order: wait for
 * WRITABLE, then send the rest. */
static void test_up_in_order(void)
{
	struct pump p;

	setup(&p);
	CHECK_EQ(send(guest, "hello", 5, 0), 5);
	guest_cb(&p.ev, EPOLLIN);
	CHECK_EQ(sent(SO_WRITE), 1);
	reply(&p, SO_WRITE, 2, 0, NULL, 0);
	CHECK(p.up.waiting);
	CHECK_EQ(sent(SO_WRITE), 0);
	pump_notify(&p, SO_WRITABLE);
	CHECK_EQ(sent(SO_WRITE), 1);
	CHECK_EQ(p.inflight, 3u);
	teardown(&p);
}

/* WRITABLE read before the partial reply it follows: go on at once. */
static void test_up_event_first(void)
{
	struct pump p;

	setup(&p);
	CHECK_EQ(send(guest, "hello", 5, 0), 5);
	guest_cb(&p.ev, EPOLLIN);
	CHECK_EQ(sent(SO_WRITE), 1);
	pump_notify(&p, SO_WRITABLE);
	CHECK_EQ(sent(SO_WRITE), 0); /* one WRITE at a time */
	reply(&p, SO_WRITE, 2, 0, NULL, 0);
	CHECK(!p.up.waiting);
	CHECK_EQ(sent(SO_WRITE), 1);
	CHECK_EQ(p.inflight, 3u);
	teardown(&p);
}

/* A helper claiming more than was sent is dropped, not believed. */
static void test_up_overclaim(void)
{
	struct pump p;

	setup(&p);
	CHECK_EQ(send(guest, "hi", 2, 0), 2);
	guest_cb(&p.ev, EPOLLIN);
	CHECK_EQ(sent(SO_WRITE), 1);
	reply(&p, SO_WRITE, 3, 0, NULL, 0);
	CHECK(h.broken);
	timer_cancel(&h.kill);
	h.broken = false;
	teardown(&p);
}

/* Both sides finish: SHUTDOWN goes out, the guest sees EOF, and the
 * pump ends orderly. */
static void test_both_eof(void)
{
	struct pump p;
	char c;

	setup(&p);
	shutdown(guest, SHUT_WR);
	guest_cb(&p.ev, EPOLLIN);
	CHECK_EQ(sent(SO_SHUTDOWN), 1);
	CHECK_EQ(ended, -1);
	reply(&p, SO_READ, 0, SO_F_EOF, NULL, 0);
	CHECK_EQ(recv(guest, &c, 1, 0), 0);
	CHECK_EQ(ended, 0);
	teardown(&p);
}

static void stop_cb(struct timer *t)
{
	(void)t;
	loop_stop();
}

/* CPU milliseconds the loop burns in 200 ms of wall time. */
static long loop_cpu_ms(void)
{
	struct timer stop;
	clock_t c0 = clock();

	timer_init(&stop, stop_cb);
	timer_set(&stop, 200);
	CHECK_EQ(loop_run(), 0);
	return (long)((clock() - c0) * 1000 / CLOCKS_PER_SEC);
}

/* The guest shuts its end both ways and the helper's peer sends EOF while
 * the WRITE of the guest's last bytes is unanswered: the end reports
 * EPOLLHUP for ever, so the pump must not watch it while it waits on the
 * helper (it did, and the loop spun).  The WRITE reply then finishes it. */
static void test_hup_while_writing(void)
{
	struct pump p;
	char c;

	setup(&p);
	CHECK_EQ(send(guest, "hi", 2, 0), 2);
	shutdown(guest, SHUT_RDWR);
	guest_cb(&p.ev, EPOLLIN);
	if (!p.up.eof)
		guest_cb(&p.ev, EPOLLIN | EPOLLHUP);
	CHECK(p.up.eof);
	CHECK_EQ(sent(SO_WRITE), 1);
	reply(&p, SO_READ, 0, SO_F_EOF, NULL, 0);
	CHECK(p.down.done);
	CHECK_EQ(recv(guest, &c, 1, MSG_DONTWAIT), 0);
	CHECK_EQ(ended, -1);
	CHECK(p.ev.fd < 0);   /* nothing to wait for on the guest end */
	CHECK(loop_cpu_ms() < 100);
	reply(&p, SO_WRITE, 2, 0, NULL, 0);
	CHECK_EQ(sent(SO_SHUTDOWN), 1);
	CHECK_EQ(ended, 0);
	teardown(&p);
}

/* A full upq takes the end out of epoll; the WRITE reply that makes room
 * puts it back, and what the guest sent meanwhile goes on. */
static void test_rewatch(void)
{
	struct pump p;
	static char blob[65536];

	setup(&p);
	/* feed the guest end until the pump's queue is full (bounded) */
	for (int i = 0; i < 1000 && p.ev.fd >= 0; i++) {
		if (send(guest, blob, sizeof(blob), MSG_DONTWAIT) < 0)
			CHECK_EQ(errno, EAGAIN);
		guest_cb(&p.ev, EPOLLIN);
	}
	CHECK_EQ(buf_len(&p.upq), UP_MAX);
	CHECK(p.ev.fd < 0);
	CHECK_EQ(sent(SO_WRITE), 1);
	reply(&p, SO_WRITE, p.inflight, 0, NULL, 0);
	CHECK(p.ev.fd >= 0);
	CHECK_EQ(p.up.out, 1); /* the next WRITE (queued on h.out) */
	teardown(&p);
}

/* With the queue budget spent, a connection still moves, in small
 * windows: READs ask DOWN_MIN, the guest is read UP_MIN ahead at most.
 * With room again, both grow back. */
static void test_budget(void)
{
	static struct dconf c;
	static char blob[UP_MAX];
	struct pump p;

	c.limits.helper_queue = 1 << 20;
	cfg = &c;
	setup(&p);
	CHECK_EQ(last_arg, SO_MAX_DATA);
	queued += c.limits.helper_queue; /* others spent it */
	reply(&p, SO_READ, 0, 0, "abc", 3);
	CHECK_EQ(sent(SO_READ), 1);
	CHECK_EQ(last_arg, DOWN_MIN);
	CHECK(send(guest, blob, sizeof(blob), MSG_DONTWAIT) > (ssize_t)UP_MIN);
	for (int i = 0; i < 10 && p.ev.fd >= 0; i++)
		guest_cb(&p.ev, EPOLLIN);
	CHECK_EQ(buf_len(&p.upq), UP_MIN);
	CHECK(p.ev.fd < 0); /* window full: not reading the guest */
	queued -= c.limits.helper_queue;
	reply(&p, SO_READ, 0, 0, "abc", 3);
	CHECK_EQ(sent(SO_READ), 1);
	CHECK_EQ(last_arg, SO_MAX_DATA);
	reply(&p, SO_WRITE, p.inflight, 0, NULL, 0);
	CHECK(p.ev.fd >= 0);
	guest_cb(&p.ev, EPOLLIN);
	CHECK(buf_len(&p.upq) > UP_MIN); /* the full window again */
	teardown(&p);
	CHECK_EQ(queued, 0);
	cfg = NULL;
}

int main(void)
{
	log_init("test-pump", 0);
	CHECK_EQ(loop_init(), 0);
	test_down_in_order();
	test_down_event_first();
	test_down_event_first_data_between();
	test_up_in_order();
	test_up_event_first();
	test_up_overclaim();
	test_both_eof();
	test_hup_while_writing();
	test_rewatch();
	test_budget();
	T_DONE();
}
