// SPDX-License-Identifier: MIT
/*
 * fuzz-control.c - libFuzzer target for sockoutd's control socket: the
 * input, after a flags byte, is what a client sends on a connection that
 * control.c serves like an accepted one (framing into lines, the length
 * cap, the JSON parsing, every command, the flow control of the replies).
 *
 * Flags byte: bit 0 - the client shuts its write side after sending (so
 * every request must then be answered before sockoutd closes); bit 1 - the
 * client reads no reply until it has sent everything.
 *
 * Checked besides crashes and leaks: every reply line is a JSON object
 * with a boolean "ok"; with bit 0 and no overlong line, there is one reply
 * per request; the client is always freed once it goes away.
 */
#include <json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sockoutd-in-one.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* reload: fail every other time, as a broken file would */
static int fz_reload(char **errors)
{
	static unsigned n;

	*errors = NULL;
	if (n++ & 1) {
		*errors = strdup("line 1: broken\n");
		return -EINVAL;
	}
	return 0;
}

static const struct control_hooks fz_hooks = { .reload = fz_reload };

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

	log_init("fuzz-control", 0);
	if (loop_init() < 0 || pair_init() < 0)
		abort();
	relay_init();
	snprintf(path, sizeof(path), "/tmp/fuzz-control.%d", (int)getpid());
	FILE *f = fopen(path, "we");
	if (!f)
		abort();
	fputs("guest-socket /nonexistent/g\n"
	      "control-socket /nonexistent/c\n"
	      "helper h data /nonexistent/d event /nonexistent/e\n"
	      "connect port 81 deny\n"
	      "connect 198.51.100.0/24 direct\n"
	      "connect port 7000 helper h to 198.51.100.2:7000\n"
	      "accept port 9100 direct\n",
	      f);
	fclose(f);
	if (dconf_load(path, &cfg, &e) < 0)
		abort();
	conf_errors_free(&e);
	unlink(path);
	hooks = &fz_hooks;
	start_ms = now_ms();
}

/* Count the reply lines in @r and check each; the last may be partial
 * only when the connection was cut. */
static size_t check_replies(struct buf *r)
{
	size_t n = 0;

	while (buf_len(r)) {
		const uint8_t *p = buf_peek(r);
		const uint8_t *nl = memchr(p, '\n', buf_len(r));
		if (!nl)
			return n;
		size_t len = (size_t)(nl - p);
		char *line = strndup((const char *)p, len);
		if (!line)
			abort();
		json_object *o = json_tokener_parse(line), *ok;
		if (!o || !json_object_is_type(o, json_type_object) ||
		    !json_object_object_get_ex(o, "ok", &ok) ||
		    !json_object_is_type(ok, json_type_boolean))
			abort();
		json_object_put(o);
		free(line);
		buf_consume(r, len + 1);
		n++;
	}
	return n;
}

/* Read what is there from @fd into @r; returns false at EOF or error. */
static bool drain(int fd, struct buf *r)
{
	for (;;) {
		ssize_t n = buf_read_fd(r, fd, 65536);
		if (n > 0)
			continue;
		return n < 0 && errno == EAGAIN;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	int sv[2];

	if (!ready) {
		setup();
		ready = 1;
	}
	if (size < 1)
		return 0;
	bool shut = data[0] & 1, lazy = data[0] & 2;
	const uint8_t *in = data + 1;
	size_t len = size - 1, off = 0, replies = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       sv) < 0)
		return 0;
	ctl_new(sv[0]);
	if (LIST_EMPTY(&ctls))
		abort();

	struct buf r;
	buf_init(&r);
	bool open = true;
	/* send it all, reading the replies unless lazy */
	for (int i = 0; i < 10000 && off < len; i++) {
		ssize_t n = write(sv[1], in + off, len - off);
		if (n > 0)
			off += (size_t)n;
		else if (n < 0 && errno != EAGAIN)
			break;
		spin(0);
		if (!lazy) {
			open = drain(sv[1], &r);
			replies += check_replies(&r);
			if (!open)
				break;
		}
	}
	/* then read the rest of the replies until sockoutd closes or, when
	 * the client keeps its side open, nothing more comes */
	if (open && off == len && shut)
		shutdown(sv[1], SHUT_WR);
	for (int i = 0; i < 10000 && open; i++) {
		size_t before = buf_len(&r) + replies;
		spin(0);
		open = drain(sv[1], &r);
		replies += check_replies(&r);
		if (!shut && buf_len(&r) + replies == before)
			break;
	}
	if (shut && open)
		abort(); /* did not close after answering everything */

	/* one reply per request when every line was short enough */
	if (shut && off == len) {
		size_t reqs = 0, start = 0;
		bool overlong = false;
		for (size_t i = 0; i <= len; i++) {
			if (i == len || in[i] == '\n') {
				if (i - start >= CTL_LINE_MAX)
					overlong = true;
				if (i < len || i > start)
					reqs++;
				start = i + 1;
			}
		}
		if (!overlong && replies != reqs)
			abort();
	}
	close(sv[1]);
	buf_free(&r);
	/* the client went away: sockoutd frees it */
	for (int i = 0; i < 100 && !LIST_EMPTY(&ctls); i++)
		spin(0);
	if (!LIST_EMPTY(&ctls))
		abort();
	return 0;
}
