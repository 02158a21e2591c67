// SPDX-License-Identifier: MIT
/*
 * control.c - sockoutd's control socket: one JSON request per line, one
 * JSON reply line per request.
 *
 *   {"cmd":"status"}       version, uptime, counters, rules with hit counts
 *   {"cmd":"connections"}  live relayed connections, pending requests,
 *                          listeners (direct connections are handed to the
 *                          guest and only counted)
 *   {"cmd":"helpers"}      each helper's state, and its own STATUS JSON
 *   {"cmd":"reload"}       reparse the file; on errors the reply carries
 *                          them and the old table keeps running
 *
 * Every reply has "ok": true or false ("error" says why).  The socket is
 * 0600 and the peer's uid must be 0 or ours: the control socket can reload
 * the configuration, so it is for the administrator only.
 *
 * Memory per client is bounded all the same (a stuck or careless script
 * must not grow the daemon that carries every guest's traffic): a request
 * line is at most CTL_LINE_MAX bytes; while a client's unsent replies pass
 * CTL_OUT_HIGH, its further requests wait unread in the kernel (its own
 * writes then block) until it reads; at most CTL_CLIENTS_MAX clients are
 * served at once.
 */
#include <errno.h>
#include <json.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/net.h"
#include "resolve.h"
#include "sockoutd.h"

#define CTL_LINE_MAX 4096
#define CTL_STATUS_TIMEOUT_MS 2000
/* Unsent reply bytes past which a client's requests are left unread.  One
 * reply may overshoot it (a "connections" listing of 10,000 is ~2 MB), a
 * client that never reads cannot make it grow further. */
#define CTL_OUT_HIGH (256 * 1024)
#define CTL_CLIENTS_MAX 64

struct ctl {
	struct ev ev;
	struct buf in, out;
	uint32_t id;
	unsigned waiting; /* helper STATUS replies still due */
	bool busy;	  /* a "helpers" request is waiting for them */
	bool closing;	  /* close once out is flushed */
	bool eof;	  /* the client sent everything: answer, then close */
	struct timer timer;
	LIST_ENTRY(ctl) link;
};

static struct ev ctl_lev = { .fd = -1 };
static char *ctl_path;
static LIST_HEAD(, ctl) ctls = LIST_HEAD_INITIALIZER(ctls);
static uint32_t next_ctl = 1;
static unsigned nctls;
static struct timer ctl_pause; /* out of descriptors: accepts resume */
static const struct control_hooks *hooks;

static void ctl_free(struct ctl *c)
{
	LIST_REMOVE(c, link);
	nctls--;
	int fd = c->ev.fd;
	ev_del(&c->ev);
	close(fd);
	timer_cancel(&c->timer);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}

static json_object *reply_new(bool ok)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(ok));
	return o;
}

static void ctl_send(struct ctl *c, json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);

	if (buf_append(&c->out, s, strlen(s)) < 0 || buf_append(&c->out, "\n", 1) < 0)
		c->closing = true;
	json_object_put(o);
}

static void ctl_error(struct ctl *c, const char *why)
{
	json_object *o = reply_new(false);

	json_object_object_add(o, "error", json_object_new_string(why));
	ctl_send(c, o);
}

static void handle_line(struct ctl *c, const char *line);

/* A client's requests are answered while the replies before them have
 * mostly gone out, and one at a time while a "helpers" request waits. */
static bool ctl_can_answer(const struct ctl *c)
{
	return !c->busy && !c->closing && buf_len(&c->out) < CTL_OUT_HIGH;
}

/* Answer the complete request lines buffered in c->in, as many as may be
 * answered now.  ctl_update() calls it again as the replies drain: no new
 * input will come to wake us for the lines already read. */
static void ctl_parse(struct ctl *c)
{
	while (ctl_can_answer(c) && buf_len(&c->in)) {
		const uint8_t *p = buf_peek(&c->in);
		size_t avail = buf_len(&c->in);
		const uint8_t *nl = memchr(p, '\n', avail);
		size_t len = nl ? (size_t)(nl - p) : avail;

		if (len >= CTL_LINE_MAX) {
			ctl_error(c, "request line too long");
			c->closing = true;
			return;
		}
		/* an unterminated last line counts once the client is done */
		if (!nl && !c->eof)
			return;
		char *line = strndup((const char *)p, len);
		buf_consume(&c->in, nl ? len + 1 : len);
		if (!line) {
			c->closing = true;
			return;
		}
		handle_line(c, line);
		free(line);
	}
}

/* ctl_flush() - write what c->out holds.  Returns 0, or -1 when the client
 * is gone (and @c freed). */
static int ctl_flush(struct ctl *c)
{
	if (buf_len(&c->out) && buf_write_fd(&c->out, c->ev.fd) < 0 &&
	    errno != EAGAIN && errno != EINTR) {
		ctl_free(c);
		return -1;
	}
	return 0;
}

/* Write what may be written, answer what may be answered, and watch for
 * what can move next.  May free @c. */
static void ctl_update(struct ctl *c)
{
	/* Until nothing more can be answered: a flush that drains the
	 * replies at once leaves no EPOLLOUT to come back for the request
	 * lines already read, and while c->in holds CTL_LINE_MAX bytes of
	 * them nothing is read either (68-control-flood stalled so). */
	for (;;) {
		size_t before = buf_len(&c->in);

		if (ctl_flush(c) < 0)
			return;
		ctl_parse(c);
		if (buf_len(&c->in) == before || c->closing)
			break;
	}
	if (ctl_flush(c) < 0)
		return;
	if (!buf_len(&c->out) &&
	    (c->closing || (c->eof && !c->busy && !buf_len(&c->in)))) {
		ctl_free(c);
		return;
	}
	/* Not reading while the replies pile up is the bound: the client's
	 * further requests wait in the kernel, then block its writes. */
	bool want_in = ctl_can_answer(c) && !c->eof &&
		       buf_len(&c->in) < CTL_LINE_MAX;
	ev_mod(&c->ev, (want_in ? EPOLLIN : 0) | (buf_len(&c->out) ? EPOLLOUT : 0));
}

static json_object *jaddr(const struct so_addr *a)
{
	char b[NET_ADDRSTRLEN];

	if (!a->family)
		return NULL;
	return json_object_new_string(so_addr_str(a, b, sizeof(b)));
}

static void add_u64(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

static json_object *do_status(void)
{
	json_object *o = reply_new(true), *cnt = json_object_new_object();
	json_object *rules = json_object_new_array();

	json_object_object_add(o, "version", json_object_new_string(SOCKOUTD_VERSION));
	add_u64(o, "pid", (uint64_t)getpid());
	add_u64(o, "uptime", (now_ms() - start_ms) / 1000);
	json_object_object_add(o, "config", json_object_new_string(cfg->path));
	json_object_object_add(o, "guest_socket",
			       json_object_new_string(cfg->guest_socket));
	add_u64(cnt, "requests", stats.guest_requests);
	add_u64(cnt, "bad_requests", stats.bad_requests);
	add_u64(cnt, "denied", stats.denied);
	add_u64(cnt, "no_rule", stats.no_rule);
	add_u64(cnt, "direct", stats.direct);
	add_u64(cnt, "direct_failed", stats.direct_failed);
	add_u64(cnt, "relayed", stats.relayed);
	add_u64(cnt, "relay_failed", stats.relay_failed);
	add_u64(cnt, "relayed_open", relay_count());
	add_u64(cnt, "handed_back", stats.handed_back);
	add_u64(cnt, "handback_refused", stats.handback_refused);
	add_u64(cnt, "loopback", stats.loopback);
	add_u64(cnt, "accepted", stats.accepted);
	add_u64(cnt, "listeners", glisten_count());
	add_u64(cnt, "pending", guest_pending_count());
	add_u64(cnt, "bytes_up", stats.bytes_up);
	add_u64(cnt, "bytes_down", stats.bytes_down);
	/* bytes held for the helper route, against `limit helper-queue' */
	add_u64(cnt, "helper_queued", pump_queued());
	add_u64(cnt, "helper_queue_limit", cfg->limits.helper_queue);
	/* refusals by limit (quota.c) */
	add_u64(cnt, "refused_pending", quota_stats.refused[Q_PENDING]);
	add_u64(cnt, "refused_listeners", quota_stats.refused[Q_LISTENERS]);
	add_u64(cnt, "refused_connections", quota_stats.refused[Q_CONNECTIONS]);
	add_u64(cnt, "refused_guests", quota_stats.refused_guests);
	/* kept guest connections (GP_F_KEEP, guest.c) */
	add_u64(cnt, "guest_connections", stats.guest_connections);
	add_u64(cnt, "channels", guest_channel_count());
	add_u64(cnt, "channel_requests", stats.channel_requests);
	add_u64(cnt, "channels_idle_closed", stats.channels_idle_closed);
	add_u64(cnt, "refused_channels", quota_stats.refused[Q_CHANNELS]);
	/* names (resolve.c) */
	struct resolve_stats rs;
	resolve_get_stats(&rs);
	add_u64(cnt, "resolve_queries", rs.queries);
	add_u64(cnt, "resolve_cache_hits", rs.cache_hits);
	add_u64(cnt, "resolve_host_lookups", rs.host_lookups);
	add_u64(cnt, "resolve_host_failed", rs.host_failed);
	add_u64(cnt, "resolve_cached", rs.cached);
	add_u64(cnt, "resolve_inflight", rs.inflight);
	add_u64(cnt, "placeholders", rs.placeholders);
	json_object_object_add(o, "counts", cnt);
	for (size_t i = 0; i < cfg->nrules; i++) {
		const struct rule *r = &cfg->rules[i];
		json_object *j = json_object_new_object();
		add_u64(j, "line", (uint64_t)r->line);
		json_object_object_add(j, "rule", json_object_new_string(r->text));
		json_object_object_add(j, "direction",
				       json_object_new_string(r->dir == RULE_ACCEPT ? "accept" :
							      r->dir == RULE_RESOLVE ? "resolve" :
										       "connect"));
		json_object_object_add(j, "action",
				       json_object_new_string(rule_action_name(r)));
		if (r->action == ACT_HELPER) {
			json_object_object_add(j, "helper",
					       json_object_new_string(cfg->helpers[r->helper].name));
			json_object_object_add(j, "target",
					       json_object_new_string(r->target));
		}
		add_u64(j, "hits", r->hits);
		json_object_array_add(rules, j);
	}
	json_object_object_add(o, "rules", rules);
	json_object *hs = json_object_new_array();
	struct helper *h;
	TAILQ_FOREACH(h, &helpers, link) {
		json_object *j = json_object_new_object();
		json_object_object_add(j, "name", json_object_new_string(h->name));
		json_object_object_add(j, "state",
				       json_object_new_string(helper_state_name(h)));
		json_object_array_add(hs, j);
	}
	json_object_object_add(o, "helpers", hs);
	return o;
}

static void add_rconn(struct rconn *c, void *arg)
{
	struct rconn_info i;
	json_object *j = json_object_new_object();
	char route[96];

	rconn_info(c, &i);
	snprintf(route, sizeof(route), "helper %s", i.helper);
	add_u64(j, "id", i.id);
	json_object_object_add(j, "route", json_object_new_string(route));
	add_u64(j, "pid", i.pid);
	json_object_object_add(j, "mech", json_object_new_string(i.seccomp ? "seccomp" : "shim"));
	json_object_object_add(j, "dst", jaddr(&i.dst));
	add_u64(j, "bytes_up", i.bytes_up);
	add_u64(j, "bytes_down", i.bytes_down);
	json_object_object_add(j, "state", json_object_new_string(i.state));
	add_u64(j, "age", i.age_ms / 1000);
	json_object_array_add(arg, j);
}

static void add_greq(struct greq *g, void *arg)
{
	const struct gp_req *r = greq_req(g);
	json_object *j;

	/* Requests still being read or waiting on a helper connection are
	 * shown through that connection; show the direct ones. */
	if (strcmp(greq_state(g), "connecting") != 0)
		return;
	j = json_object_new_object();
	add_u64(j, "id", 0);
	json_object_object_add(j, "route", json_object_new_string("direct"));
	add_u64(j, "pid", greq_pid(g));
	json_object_object_add(j, "mech", json_object_new_string(
		(r->flags & GP_F_SECCOMP) ? "seccomp" : "shim"));
	json_object_object_add(j, "dst", jaddr(&r->addr));
	json_object_object_add(j, "state", json_object_new_string("connecting"));
	json_object_array_add(arg, j);
}

static void add_listener(struct glisten *l, void *arg)
{
	json_object *j = json_object_new_object();
	char route[96];

	if (l->feed)
		snprintf(route, sizeof(route), "helper %s", l->feed->name);
	else
		snprintf(route, sizeof(route), "direct");
	json_object_object_add(j, "route", json_object_new_string(route));
	json_object_object_add(j, "bound", jaddr(&l->bound));
	if (!l->feed)
		json_object_object_add(j, "host", jaddr(&l->host));
	add_u64(j, "pid", l->pid);
	json_object_object_add(j, "mech", json_object_new_string(l->seccomp ? "seccomp" : "shim"));
	add_u64(j, "accepted", l->accepted);
	json_object_array_add(arg, j);
}

static json_object *do_connections(void)
{
	json_object *o = reply_new(true), *a = json_object_new_array();
	json_object *ls = json_object_new_array();

	relay_foreach(add_rconn, a);
	guest_foreach_pending(add_greq, a);
	glisten_foreach(add_listener, ls);
	json_object_object_add(o, "connections", a);
	json_object_object_add(o, "listeners", ls);
	/* handed to the guest: sockoutd no longer sees them */
	add_u64(o, "direct_total", stats.direct);
	add_u64(o, "loopback_total", stats.loopback);
	add_u64(o, "handed_back_total", stats.handed_back);
	return o;
}

static json_object *do_helpers(void)
{
	json_object *o = reply_new(true), *a = json_object_new_array();
	struct helper *h;

	TAILQ_FOREACH(h, &helpers, link) {
		json_object *j = json_object_new_object();
		json_object_object_add(j, "name", json_object_new_string(h->name));
		json_object_object_add(j, "data", json_object_new_string(h->data_path));
		json_object_object_add(j, "event", json_object_new_string(h->event_path));
		json_object_object_add(j, "state",
				       json_object_new_string(helper_state_name(h)));
		if (h->state != H_UP && h->last_error[0])
			json_object_object_add(j, "error",
					       json_object_new_string(h->last_error));
		add_u64(j, "connections", h->nconns);
		add_u64(j, "total_connections", h->total_conns);
		json_object *st = NULL;
		if (h->state == H_UP && h->status_json)
			st = json_tokener_parse(h->status_json);
		json_object_object_add(j, "status", st);
		json_object_array_add(a, j);
	}
	json_object_object_add(o, "helpers", a);
	return o;
}

static void helpers_reply(struct ctl *c)
{
	c->busy = false;
	c->waiting = 0;
	timer_cancel(&c->timer);
	ctl_send(c, do_helpers());
}

static void status_timeout(struct timer *t)
{
	struct ctl *c = container_of(t, struct ctl, timer);

	helpers_reply(c);
	ctl_update(c);
}

/* A helper answered STATUS (h NULL: it went down first). */
static void status_done(uint32_t id, struct helper *h)
{
	struct ctl *c;

	(void)h;
	LIST_FOREACH(c, &ctls, link) {
		if (c->id == id && c->busy) {
			if (c->waiting)
				c->waiting--;
			if (!c->waiting) {
				helpers_reply(c);
				ctl_update(c);
			}
			return;
		}
	}
}

static void handle_line(struct ctl *c, const char *line)
{
	json_object *req = json_tokener_parse(line), *cmd = NULL, *o;
	const char *s;

	if (!req || !json_object_object_get_ex(req, "cmd", &cmd) ||
	    !json_object_is_type(cmd, json_type_string)) {
		ctl_error(c, "expected {\"cmd\": \"...\"}");
		json_object_put(req);
		return;
	}
	s = json_object_get_string(cmd);
	if (strcmp(s, "status") == 0) {
		ctl_send(c, do_status());
	} else if (strcmp(s, "connections") == 0) {
		ctl_send(c, do_connections());
		/* a listing of 10,000 connections is a big short-lived JSON
		 * tree: give its memory back rather than keep it resident */
		malloc_trim(0);
	} else if (strcmp(s, "helpers") == 0) {
		/* ask every up helper for its STATUS first */
		c->busy = true;
		c->waiting = helper_status_all(c->id, status_done);
		if (!c->waiting)
			helpers_reply(c);
		else
			timer_set(&c->timer, CTL_STATUS_TIMEOUT_MS);
	} else if (strcmp(s, "reload") == 0) {
		char *errors = NULL;
		info("reload requested on the control socket");
		int r = hooks->reload(&errors);
		o = reply_new(r == 0);
		if (r < 0)
			json_object_object_add(o, "error",
					       json_object_new_string(errors ? errors :
									       "reload failed"));
		free(errors);
		ctl_send(c, o);
	} else {
		ctl_error(c, "unknown command");
	}
	json_object_put(req);
}

static void ctl_cb(struct ev *ev, uint32_t events)
{
	struct ctl *c = container_of(ev, struct ctl, ev);

	/* HUP cannot be masked: a client gone while its "helpers" request
	 * waits must go now, or the loop would spin on it. */
	if (c->busy && (events & (EPOLLHUP | EPOLLERR))) {
		ctl_free(c);
		return;
	}
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && ctl_can_answer(c) &&
	    !c->eof && buf_len(&c->in) < CTL_LINE_MAX) {
		ssize_t n = buf_read_fd(&c->in, ev->fd, CTL_LINE_MAX);
		if (n == 0) {
			c->eof = true; /* answer what came, then close */
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			ctl_free(c);
			return;
		}
	}
	ctl_update(c);
}

static void ctl_resume(struct timer *t)
{
	(void)t;
	ev_mod(&ctl_lev, EPOLLIN);
}

/* Serve a new client on @fd (taken over, closed on failure). */
static void ctl_new(int fd)
{
	struct ctl *c = calloc(1, sizeof(*c));

	if (!c) {
		close(fd);
		return;
	}
	c->id = next_ctl++;
	timer_init(&c->timer, status_timeout);
	if (ev_add(&c->ev, fd, EPOLLIN, ctl_cb) < 0) {
		close(fd);
		free(c);
		return;
	}
	LIST_INSERT_HEAD(&ctls, c, link);
	nctls++;
}

static void ctl_accept_cb(struct ev *ev, uint32_t events)
{
	static uint64_t last_pause, last_full;
	uid_t uid;

	(void)events;
	int fd = accept4(ev->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		accept_pause(ev, &ctl_pause, &last_pause, "control socket");
		return;
	}
	/* The 0600 socket file is the real gate; this checks again in case
	 * the directory or the file were opened up by hand. */
	if (net_peer_uid(fd, &uid) < 0 || (uid != 0 && uid != geteuid())) {
		warn("control socket: refusing uid %u", (unsigned)uid);
		close(fd);
		return;
	}
	/* Closing at once tells the surplus client so, where not accepting
	 * would leave it hanging on a full backlog. */
	if (nctls >= CTL_CLIENTS_MAX) {
		if (ratelimit(&last_full))
			warn("control socket: %u clients already, refusing more",
			     nctls);
		close(fd);
		return;
	}
	ctl_new(fd);
}

int control_init(const char *path, const struct control_hooks *h)
{
	int fd, r;

	hooks = h;
	timer_init(&ctl_pause, ctl_resume);
	fd = net_unix_listen(path, 0600);
	if (fd < 0)
		return fd;
	if ((r = ev_add(&ctl_lev, fd, EPOLLIN, ctl_accept_cb)) < 0) {
		close(fd);
		return r;
	}
	ctl_path = strdup(path);
	return 0;
}

void control_shutdown(void)
{
	while (!LIST_EMPTY(&ctls))
		ctl_free(LIST_FIRST(&ctls));
	timer_cancel(&ctl_pause);
	unix_unlisten(&ctl_lev, &ctl_path);
}
