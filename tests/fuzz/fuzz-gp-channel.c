// SPDX-License-Identifier: MIT
/*
 * fuzz-gp-channel.c - libFuzzer target for sequences of guest requests on
 * one connection to sockoutd's guest code (dispatcher/guest.c), the way a
 * channel (GP_F_KEEP, PROTOCOL.md part 2, "Channels") carries them.  Each
 * input byte is a step: a well-formed CONNECT, RESOLVE or REVERSE with or
 * without KEEP, a request KEEP is not allowed on, raw bytes, a pause for
 * the loop (long enough, sometimes, for channel-idle to close the
 * channel), or the end.
 *
 * Checked besides crashes and leaks: every reply decodes; a reply carries
 * KEEP only if some request asked for it, and after a reply without KEEP
 * nothing more comes (the connection is closed); once the client is gone
 * sockoutd holds nothing of it: no request, no channel, no pending or
 * channels unit of the uid.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sockoutd-in-one.h"

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

static void setup(void)
{
	char path[64];
	struct conf_errors e = { 0 };

	log_init("fuzz-gp-channel", 0);
	if (loop_init() < 0 || pair_init() < 0)
		abort();
	snprintf(path, sizeof(path), "/tmp/fuzz-gp-channel.%d", (int)getpid());
	FILE *f = fopen(path, "we");
	if (!f)
		abort();
	fputs("guest-socket /nonexistent/g\n"
	      "control-socket /nonexistent/c\n"
	      "channel-idle 2ms\n"
	      "limit pending 4\n"
	      "resolve a.example address 192.0.2.7\n"
	      "connect port 81 deny\n",
	      f);
	fclose(f);
	if (dconf_load(path, &cfg, &e) < 0)
		abort();
	conf_errors_free(&e);
	unlink(path);
	guest_req_timeout_ms = 5;
	start_ms = now_ms();
}

struct rd {
	uint8_t buf[4096];
	size_t len;
	bool asked_keep; /* a request with KEEP was sent */
	bool last;	 /* a reply without KEEP came: nothing more may */
	bool eof;
};

/* Read and check what sockoutd sent so far. */
static void drain(int fd, struct rd *r)
{
	for (;;) {
		int rfd = -1;
		ssize_t n = net_recv_fd(fd, r->buf + r->len, sizeof(r->buf) - r->len,
					&rfd);

		if (rfd >= 0)
			close(rfd);
		if (n <= 0) {
			if (n == 0 || errno != EAGAIN)
				r->eof = true;
			break;
		}
		if (r->last)
			abort(); /* more after a reply that did not keep */
		r->len += (size_t)n;
		while (r->len >= GP_REPLY_LEN) {
			struct gp_reply rep;

			if (gp_reply_decode(r->buf, &rep) < 0)
				abort();
			if (r->len < GP_REPLY_LEN + rep.anslen)
				break;
			if ((rep.flags & GP_F_KEEP) && !r->asked_keep)
				abort();
			if (!(rep.flags & GP_F_KEEP))
				r->last = true;
			r->len -= GP_REPLY_LEN + rep.anslen;
			memmove(r->buf, r->buf + GP_REPLY_LEN + rep.anslen, r->len);
		}
		if (r->len == sizeof(r->buf))
			abort();
	}
}

static void put(int fd, const void *p, size_t len)
{
	(void)!send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* One well-formed request: @kind 0 CONNECT (denied), 1 RESOLVE, 2 REVERSE,
 * 3 CONNECT LOOPBACK (KEEP makes it malformed). */
static void request(int fd, int kind, bool keep, struct rd *r)
{
	struct gp_req q = { .flags = keep ? GP_F_KEEP : 0 };
	uint8_t p[GP_REQ_LEN + 16];
	size_t len = GP_REQ_LEN;

	switch (kind) {
	case 0:
	case 3:
		q.op = GP_CONNECT;
		q.addr = (struct so_addr){ .family = 4, .port = 81,
					   .addr = { 198, 51, 100, 2 } };
		if (kind == 3) {
			q.flags |= GP_F_LOOPBACK;
			q.addr.addr[0] = 127;
		}
		break;
	case 1:
		q.op = GP_RESOLVE;
		q.namelen = 9;
		memcpy(p + GP_REQ_LEN, "a.example", 9);
		len += 9;
		break;
	default:
		q.op = GP_REVERSE;
		q.addr = (struct so_addr){ .family = 4,
					   .addr = { 100, 64, 0, 1 } };
	}
	gp_req_encode(p, &q);
	r->asked_keep |= keep;
	put(fd, p, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct rd r = { .len = 0 };
	int sv[2];
	uid_t uid = getuid();

	if (!ready) {
		setup();
		ready = 1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       sv) < 0)
		return 0;
	greq_new(sv[0]);
	for (size_t i = 0; i < size && i < 64 && !r.eof; i++) {
		uint8_t b = data[i];

		switch (b & 7) {
		case 0: case 1: case 2: case 3:
			request(sv[1], b & 3, b & 8, &r);
			break;
		case 4: { /* raw bytes: the next (b >> 3) of the input */
			size_t n = b >> 3;
			if (n > size - i - 1)
				n = size - i - 1;
			put(sv[1], data + i + 1, n);
			i += n;
			break;
		}
		case 5: /* a pause: channel-idle is 2 ms */
			spin((b >> 3) & 3);
			break;
		case 6: /* the first half of a CONNECT with KEEP */
			{
				struct gp_req q = { .op = GP_CONNECT, .flags = GP_F_KEEP,
						    .addr = { .family = 4, .port = 81 } };
				uint8_t p[GP_REQ_LEN];
				gp_req_encode(p, &q);
				r.asked_keep = true;
				put(sv[1], p, GP_REQ_LEN / 2);
			}
			break;
		default:
			i = size;
		}
		spin(0);
		drain(sv[1], &r);
	}
	for (int i = 0; i < 3 && !r.eof; i++) {
		spin(1);
		drain(sv[1], &r);
	}
	close(sv[1]);
	/* the client went away: nothing of it stays */
	for (int i = 0; i < 100 && ngreqs; i++)
		spin(1);
	if (ngreqs || guest_channel_count() || guest_pending_count() ||
	    quota_held((uint32_t)uid, Q_PENDING) ||
	    quota_held((uint32_t)uid, Q_CHANNELS))
		abort();
	return 0;
}
