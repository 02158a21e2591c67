// SPDX-License-Identifier: MIT
/*
 * sockoutctl - ask a running sockoutd how it is doing, or make it reload.
 *
 *   sockoutctl [-s SOCKET] status|connections|helpers|reload [--json]
 *
 * Sends one JSON request line on the control socket and prints the reply
 * as aligned tables, or raw with --json.  Exits 1 when sockoutd says the
 * request failed (a reload that met a broken file prints its errors).
 */
#include <errno.h>
#include <getopt.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/net.h"
#include "table.h"

#define MAX_COLS 10
#define MAX_REPLY (16u * 1024u * 1024u)

/* ---- aligned tables ---- */

struct table {
	int ncols;
	size_t nrows, cap;
	char **cells; /* nrows * ncols */
	unsigned right; /* bitmask: right-aligned columns (numbers) */
};

static void t_row(struct table *t, const char *const *v)
{
	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->cells = realloc(t->cells, t->cap * (size_t)t->ncols * sizeof(char *));
		if (!t->cells) {
			perror("sockoutctl");
			exit(1);
		}
	}
	for (int i = 0; i < t->ncols; i++)
		t->cells[t->nrows * (size_t)t->ncols + (size_t)i] =
			strdup(v[i] ? v[i] : "-");
	t->nrows++;
}

static void t_print(struct table *t, const char *indent)
{
	size_t w[MAX_COLS] = { 0 };

	for (size_t r = 0; r < t->nrows; r++)
		for (int i = 0; i < t->ncols; i++) {
			size_t l = strlen(t->cells[r * (size_t)t->ncols + (size_t)i]);
			if (l > w[i])
				w[i] = l;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		fputs(indent, stdout);
		for (int i = 0; i < t->ncols; i++) {
			const char *s = t->cells[r * (size_t)t->ncols + (size_t)i];
			bool last = i == t->ncols - 1;
			if (t->right & (1u << i))
				printf("%*s", (int)w[i], s);
			else if (last)
				printf("%s", s);
			else
				printf("%-*s", (int)w[i], s);
			if (!last)
				fputs("  ", stdout);
			free(t->cells[r * (size_t)t->ncols + (size_t)i]);
		}
		putchar('\n');
	}
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

/* ---- JSON helpers ---- */

static const char *js(json_object *o, const char *k)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !v)
		return NULL;
	return json_object_get_string(v);
}

static int64_t ji(json_object *o, const char *k)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !v)
		return 0;
	return json_object_get_int64(v);
}

static json_object *jarr(json_object *o, const char *k)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) ||
	    !json_object_is_type(v, json_type_array))
		return NULL;
	return v;
}

static char *num(char *b, size_t n, int64_t v)
{
	snprintf(b, n, "%lld", (long long)v);
	return b;
}

static char *bytes(char *b, size_t n, int64_t v)
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double d = (double)v;
	int i = 0;

	while (d >= 1024 && i < 4) {
		d /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(b, n, "%lld B", (long long)v);
	else
		snprintf(b, n, "%.1f %s", d, u[i]);
	return b;
}

static char *duration(char *b, size_t n, int64_t s)
{
	if (s < 60)
		snprintf(b, n, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(b, n, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
	else
		snprintf(b, n, "%lldh%02lldm", (long long)(s / 3600),
			 (long long)(s / 60 % 60));
	return b;
}

/* ---- commands ---- */

static void show_status(json_object *o)
{
	json_object *cnt = NULL, *rules = jarr(o, "rules");
	char up[32];
	struct table t = { .ncols = 3, .right = 3 };

	json_object_object_get_ex(o, "counts", &cnt);
	printf("sockoutd %s (pid %lld), up %s\n", js(o, "version"),
	       (long long)ji(o, "pid"), duration(up, sizeof(up), ji(o, "uptime")));
	printf("config %s, guest socket %s\n", js(o, "config"), js(o, "guest_socket"));
	if (cnt) {
		printf("requests %lld: direct %lld (failed %lld), relayed %lld (failed %lld, open %lld), "
		       "loopback %lld, denied %lld (no rule %lld), malformed %lld\n",
		       (long long)ji(cnt, "requests"), (long long)ji(cnt, "direct"),
		       (long long)ji(cnt, "direct_failed"), (long long)ji(cnt, "relayed"),
		       (long long)ji(cnt, "relay_failed"), (long long)ji(cnt, "relayed_open"),
		       (long long)ji(cnt, "loopback"), (long long)ji(cnt, "denied"),
		       (long long)ji(cnt, "no_rule"), (long long)ji(cnt, "bad_requests"));
		printf("listeners %lld, accepted %lld, pending requests %lld\n",
		       (long long)ji(cnt, "listeners"), (long long)ji(cnt, "accepted"),
		       (long long)ji(cnt, "pending"));
		/* connections helpers gave back: the guest has the socket */
		printf("handed back %lld (refused %lld)\n",
		       (long long)ji(cnt, "handed_back"),
		       (long long)ji(cnt, "handback_refused"));
		printf("guest connections %lld, channels %lld (requests on them %lld, closed idle %lld, not kept by limit %lld)\n",
		       (long long)ji(cnt, "guest_connections"),
		       (long long)ji(cnt, "channels"),
		       (long long)ji(cnt, "channel_requests"),
		       (long long)ji(cnt, "channels_idle_closed"),
		       (long long)ji(cnt, "refused_channels"));
		printf("helper queues %lld of %lld bytes\n",
		       (long long)ji(cnt, "helper_queued"),
		       (long long)ji(cnt, "helper_queue_limit"));
		printf("refused by limits: pending %lld, listeners %lld, connections %lld, guests %lld\n",
		       (long long)ji(cnt, "refused_pending"),
		       (long long)ji(cnt, "refused_listeners"),
		       (long long)ji(cnt, "refused_connections"),
		       (long long)ji(cnt, "refused_guests"));
		printf("names: %lld queries, %lld from cache, %lld host lookups (%lld failed, %lld in flight), %lld cached, %lld placeholders\n",
		       (long long)ji(cnt, "resolve_queries"),
		       (long long)ji(cnt, "resolve_cache_hits"),
		       (long long)ji(cnt, "resolve_host_lookups"),
		       (long long)ji(cnt, "resolve_host_failed"),
		       (long long)ji(cnt, "resolve_inflight"),
		       (long long)ji(cnt, "resolve_cached"),
		       (long long)ji(cnt, "placeholders"));
	}
	json_object *hs = jarr(o, "helpers");
	if (hs && json_object_array_length(hs)) {
		fputs("helpers", stdout);
		for (size_t i = 0; i < json_object_array_length(hs); i++) {
			json_object *x = json_object_array_get_idx(hs, i);
			printf("%s %s %s", i ? "," : "", js(x, "name"), js(x, "state"));
		}
		putchar('\n');
	}
	if (!rules)
		return;
	putchar('\n');
	const char *h[] = { "LINE", "HITS", "RULE" };
	t_row(&t, h);
	for (size_t i = 0; i < json_object_array_length(rules); i++) {
		json_object *r = json_object_array_get_idx(rules, i);
		char l[24], n[24];
		const char *v[] = { num(l, sizeof(l), ji(r, "line")),
				    num(n, sizeof(n), ji(r, "hits")), js(r, "rule") };
		t_row(&t, v);
	}
	t_print(&t, "");
	printf("(no matching rule: deny)\n");
}

static void show_connections(json_object *o)
{
	json_object *a = jarr(o, "connections"), *ls = jarr(o, "listeners");
	struct table t = { .ncols = 9, .right = (1u << 2) | (1u << 5) | (1u << 6) | (1u << 8) };
	size_t n = a ? json_object_array_length(a) : 0;

	if (!n) {
		printf("no relayed connections\n");
	} else {
		const char *h[] = { "ID", "ROUTE", "PID", "MECH", "DESTINATION", "UP", "DOWN", "STATE", "AGE" };
		t_row(&t, h);
		for (size_t i = 0; i < n; i++) {
			json_object *c = json_object_array_get_idx(a, i);
			char id[24], pid[24], up[32], down[32], age[32];
			snprintf(id, sizeof(id), "%#llx", (long long)ji(c, "id"));
			const char *v[] = { id, js(c, "route"), num(pid, sizeof(pid), ji(c, "pid")),
					    js(c, "mech"), js(c, "dst"), bytes(up, sizeof(up), ji(c, "bytes_up")),
					    bytes(down, sizeof(down), ji(c, "bytes_down")),
					    js(c, "state"), duration(age, sizeof(age), ji(c, "age")) };
			t_row(&t, v);
		}
		t_print(&t, "");
	}
	printf("direct connections handed to guests: %lld; guest loopback pairs: %lld "
	       "(not tracked after handoff)\n",
	       (long long)ji(o, "direct_total"), (long long)ji(o, "loopback_total"));
	n = ls ? json_object_array_length(ls) : 0;
	if (!n)
		return;
	struct table l = { .ncols = 6, .right = (1u << 3) | (1u << 5) };
	const char *h[] = { "LISTENER", "ROUTE", "HOST", "PID", "MECH", "ACCEPTED" };
	putchar('\n');
	t_row(&l, h);
	for (size_t i = 0; i < n; i++) {
		json_object *c = json_object_array_get_idx(ls, i);
		char pid[24], acc[24];
		const char *v[] = { js(c, "bound"), js(c, "route"), js(c, "host"),
				    num(pid, sizeof(pid), ji(c, "pid")), js(c, "mech"),
				    num(acc, sizeof(acc), ji(c, "accepted")) };
		t_row(&l, v);
	}
	t_print(&l, "");
}

static void show_helpers(json_object *o)
{
	json_object *a = jarr(o, "helpers");
	struct table t = { .ncols = 6, .right = (1u << 2) | (1u << 3) };
	size_t n = a ? json_object_array_length(a) : 0;

	if (!n) {
		printf("no helpers configured\n");
		return;
	}
	const char *h[] = { "NAME", "STATE", "CONNS", "TOTAL", "DATA SOCKET", "LAST ERROR" };
	t_row(&t, h);
	for (size_t i = 0; i < n; i++) {
		json_object *c = json_object_array_get_idx(a, i);
		char cn[24], tot[24];
		const char *v[] = { js(c, "name"), js(c, "state"),
				    num(cn, sizeof(cn), ji(c, "connections")),
				    num(tot, sizeof(tot), ji(c, "total_connections")),
				    js(c, "data"), js(c, "error") };
		t_row(&t, v);
	}
	t_print(&t, "");
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		json_object *c = json_object_array_get_idx(a, i), *st;
		if (!json_object_object_get_ex(c, "status", &st) || !st)
			continue;
		if (first)
			putchar('\n');
		first = false;
		printf("%s status: %s\n", js(c, "name"),
			       json_object_to_json_string_ext(st, JSON_C_TO_STRING_PLAIN));
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: sockoutctl [-s SOCKET] status|connections|helpers|reload [--json]\n"
		   "  -s SOCKET  control socket (default %s)\n"
		   "  --json     print sockoutd's JSON reply as is\n",
		DCONF_CONTROL_SOCKET);
}

int main(int argc, char **argv)
{
	const char *sock = DCONF_CONTROL_SOCKET, *cmd = NULL;
	bool json = false;
	static const struct option lo[] = { { "json", no_argument, NULL, 'j' },
					    { "socket", required_argument, NULL, 's' },
					    { "help", no_argument, NULL, 'h' },
					    { NULL, 0, NULL, 0 } };
	int c;

	while ((c = getopt_long(argc, argv, "s:jh", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			sock = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	if (strcmp(cmd, "status") != 0 && strcmp(cmd, "connections") != 0 &&
	    strcmp(cmd, "helpers") != 0 && strcmp(cmd, "reload") != 0) {
		fprintf(stderr, "sockoutctl: unknown command `%s'\n", cmd);
		usage(stderr);
		return 2;
	}

	int fd = net_unix_connect(sock, SOCK_STREAM);
	if (fd < 0) {
		fprintf(stderr, "sockoutctl: %s: %s\n", sock, strerror(-fd));
		return 1;
	}
	char req[64];
	int rl = snprintf(req, sizeof(req), "{\"cmd\":\"%s\"}\n", cmd);
	/* sockoutd closes at once on a refused uid: an error, not SIGPIPE */
	if (send(fd, req, (size_t)rl, MSG_NOSIGNAL) != rl) {
		fprintf(stderr, "sockoutctl: %s: %s\n", sock, strerror(errno));
		return 1;
	}
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (!buf) {
			perror("sockoutctl");
			return 1;
		}
		if (len + 1 >= cap) {
			if (cap >= MAX_REPLY) {
				fprintf(stderr, "sockoutctl: reply too long\n");
				free(buf);
				return 1;
			}
			cap *= 2;
			char *nb = realloc(buf, cap);
			if (!nb)
				free(buf);
			buf = nb;
			continue;
		}
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(buf + len - (size_t)n, '\n', (size_t)n))
			break;
	}
	close(fd);
	buf[len] = '\0';
	if (!len) {
		fprintf(stderr, "sockoutctl: no reply from sockoutd\n");
		free(buf);
		return 1;
	}
	json_object *o = json_tokener_parse(buf);
	if (!o) {
		fprintf(stderr, "sockoutctl: unreadable reply: %s", buf);
		free(buf);
		return 1;
	}
	json_object *okv;
	bool ok = json_object_object_get_ex(o, "ok", &okv) && json_object_get_boolean(okv);
	if (json) {
		fputs(buf, stdout);
		if (buf[len - 1] != '\n')
			putchar('\n');
	} else if (!ok) {
		const char *e = js(o, "error");
		if (strcmp(cmd, "reload") == 0)
			fprintf(stderr, "sockoutctl: reload failed, the running configuration is kept:\n%s",
				e ? e : "?\n");
		else
			fprintf(stderr, "sockoutctl: %s\n", e ? e : "request failed");
	} else if (strcmp(cmd, "status") == 0) {
		show_status(o);
	} else if (strcmp(cmd, "connections") == 0) {
		show_connections(o);
	} else if (strcmp(cmd, "helpers") == 0) {
		show_helpers(o);
	} else {
		printf("configuration reloaded\n");
	}
	json_object_put(o);
	free(buf);
	return ok ? 0 : 1;
}
