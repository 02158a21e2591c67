// SPDX-License-Identifier: MIT
/*
 * Unit tests of sockoutd's name resolution engine (dispatcher/resolve.c)
 * through its API, with the real table and loop (linked from the
 * dispatcher's objects): answers are never delivered inside
 * resolve_start(); static answers by family; deny and no rule; bad names;
 * placeholders (stable per name, both families, reverse, routes matched
 * again for who connects, range edges, exhaustion); cancel; the pending
 * quota; a reload with new ranges.  No rule here reaches a resolver.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../common/log.h"
#include "../../dispatcher/resolve.h"
#include "../../dispatcher/sockoutd.h"
#include "t.h"
#include "t-loop.h"

/* what main.c provides in sockoutd */
struct dconf *cfg;
uint64_t start_ms;
struct stats stats;

struct got {
	int calls;
	struct resolve_answer a;
};

static void got_cb(void *arg, const struct resolve_answer *a)
{
	struct got *g = arg;

	g->calls++;
	g->a = *a;
}

static const struct peer_id root = { .uid = 0, .gid = 0, .pid = 1 };
static const struct peer_id u4242 = { .uid = 4242, .gid = 4242, .pid = 1 };

/* Resolve @name for @who and wait for the answer; checks it came once and
 * not inside resolve_start(). */
static struct resolve_answer ask(const struct peer_id *who, const char *name,
				 int family)
{
	struct got g = { 0 };
	struct resolve_query *q;

	CHECK_EQ(resolve_start(who, name, family, got_cb, &g, &q), 0);
	CHECK_EQ(g.calls, 0);
	spin(20);
	CHECK_EQ(g.calls, 1);
	return g.a;
}

static void addr_of(const char *s, struct so_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->addr) == 1)
		a->family = 4;
	else if (inet_pton(AF_INET6, s, a->addr) == 1)
		a->family = 6;
}

static bool addr_is(const struct so_addr *a, const char *s)
{
	struct so_addr b;

	addr_of(s, &b);
	return a->family == b.family && memcmp(a->addr, b.addr, 16) == 0 && !a->port;
}

static struct dconf *load(const char *path, const char *text)
{
	struct conf_errors e = { 0 };
	struct dconf *c = NULL;
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	fputs(text, f);
	fclose(f);
	CHECK_EQ(dconf_load(path, &c, &e), 0);
	if (e.text)
		fputs(e.text, stderr);
	conf_errors_free(&e);
	return c;
}

static const char conf1[] =
	"limit pending 2\n"
	"placeholder-range 100.64.0.0/24\n"
	"placeholder-range fd00:1::/112\n"
	"helper h data /nonexistent/h.data event /nonexistent/h.event\n"
	"resolve a.test address 192.0.2.1 2001:db8::1 192.0.2.11\n"
	"resolve b.test address 192.0.2.2\n"
	"resolve *.deny.test deny\n"
	"resolve x.test from uid 4242 helper h to peer@example.org\n"
	"resolve *.h.test helper h\n"
	"resolve any deny\n";

static void test_static_and_deny(void)
{
	struct resolve_answer a = ask(&root, "A.Test.", AF_UNSPEC);

	CHECK_EQ(a.status, 0);
	CHECK_EQ(a.n, 3u);
	CHECK(addr_is(&a.addr[0], "192.0.2.1")); /* IPv4 first */
	CHECK(addr_is(&a.addr[1], "192.0.2.11"));
	CHECK(addr_is(&a.addr[2], "2001:db8::1"));
	CHECK_EQ(a.ttl, (uint32_t)RESOLVE_STATIC_TTL);
	a = ask(&root, "a.test", AF_INET6);
	CHECK(a.status == 0 && a.n == 1 && addr_is(&a.addr[0], "2001:db8::1"));
	a = ask(&root, "b.test", AF_INET6);
	CHECK_EQ(a.status, -ENODATA);
	CHECK_EQ(a.n, 0u);
	a = ask(&root, "ads.deny.test", AF_INET);
	CHECK_EQ(a.status, -ENOENT);
	/* *.deny.test is not deny.test itself: that falls to `any deny' */
	a = ask(&root, "deny.test", AF_INET);
	CHECK_EQ(a.status, -ENOENT);
	a = ask(&root, "nothing.example", AF_UNSPEC);
	CHECK_EQ(a.status, -ENOENT);

	struct resolve_query *q;
	struct got g = { 0 };
	CHECK_EQ(resolve_start(&root, "a..test", AF_INET, got_cb, &g, &q), -EINVAL);
	CHECK_EQ(resolve_start(&root, "a test", AF_INET, got_cb, &g, &q), -EINVAL);
	CHECK_EQ(resolve_start(&root, "", AF_INET, got_cb, &g, &q), -EINVAL);
	CHECK_EQ(resolve_start(&root, "a.test", AF_UNIX, got_cb, &g, &q), -EINVAL);
	char big[300];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_EQ(resolve_start(&root, big, AF_INET, got_cb, &g, &q), -EINVAL);
	spin(10);
	CHECK_EQ(g.calls, 0);
}

static void test_placeholders(void)
{
	struct resolve_answer a = ask(&root, "w.h.test", AF_UNSPEC);
	struct resolve_answer b = ask(&root, "W.H.TEST.", AF_UNSPEC);
	struct resolve_answer c = ask(&root, "v.h.test", AF_INET);
	struct resolve_route rt;
	char name[256];

	CHECK(a.status == 0 && a.n == 2);
	CHECK(a.addr[0].family == 4 && a.addr[1].family == 6);
	CHECK(resolve_is_placeholder(&a.addr[0]) && resolve_is_placeholder(&a.addr[1]));
	CHECK(a.addr[0].addr[0] == 100 && a.addr[0].addr[1] == 64 && a.addr[0].addr[2] == 0);
	CHECK(a.addr[0].addr[3] != 0 && a.addr[0].addr[3] != 255);
	CHECK(b.status == 0 && b.n == 2 && memcmp(&a.addr[0], &b.addr[0], sizeof(a.addr[0])) == 0 &&
	      memcmp(&a.addr[1], &b.addr[1], sizeof(a.addr[1])) == 0);
	CHECK(c.status == 0 && c.n == 1 && c.addr[0].family == 4);
	CHECK(memcmp(c.addr[0].addr, a.addr[0].addr, 4) != 0);
	CHECK_EQ(a.ttl, (uint32_t)RESOLVE_PLACEHOLDER_TTL);
	/* the same slot in both ranges */
	CHECK_EQ(a.addr[1].addr[15], a.addr[0].addr[3]);
	CHECK_EQ(resolve_reverse(&a.addr[0], name, sizeof(name)), 0);
	CHECK_STR(name, "w.h.test");
	CHECK_EQ(resolve_reverse(&a.addr[1], name, sizeof(name)), 0);
	CHECK_STR(name, "w.h.test");
	CHECK_EQ(resolve_reverse(&a.addr[0], name, 4), -ENAMETOOLONG);

	/* a connect to it, with a port, by the mapped IPv4 spelling too */
	struct so_addr m = a.addr[0];
	m.port = 443;
	so_addr_map(&m);
	CHECK(resolve_is_placeholder(&m));
	CHECK_EQ(resolve_route(&m, &root, &rt), 0);
	CHECK_STR(rt.name, "w.h.test");
	CHECK_EQ(rt.helper, 0);
	CHECK_STR(rt.target, "");
	CHECK(rt.rule && rt.rule->action == ACT_HELPER);

	/* from: only uid 4242 gets x.test routed, with its target */
	a = ask(&root, "x.test", AF_INET);
	CHECK_EQ(a.status, -ENOENT);
	a = ask(&u4242, "x.test", AF_INET);
	CHECK(a.status == 0 && a.n == 1);
	CHECK_EQ(resolve_route(&a.addr[0], &u4242, &rt), 0);
	CHECK_STR(rt.target, "peer@example.org");
	CHECK_EQ(resolve_route(&a.addr[0], &root, &rt), -EACCES);

	/* addresses in the range that stand for nothing, and outside it */
	struct so_addr x;
	addr_of("100.64.0.250", &x);
	CHECK(resolve_is_placeholder(&x));
	CHECK_EQ(resolve_route(&x, &root, &rt), -ENOENT);
	CHECK_EQ(resolve_reverse(&x, name, sizeof(name)), -ENOENT);
	addr_of("100.64.0.0", &x);
	CHECK_EQ(resolve_reverse(&x, name, sizeof(name)), -ENOENT);
	addr_of("100.64.0.255", &x);
	CHECK_EQ(resolve_reverse(&x, name, sizeof(name)), -ENOENT);
	addr_of("100.64.1.1", &x);
	CHECK(!resolve_is_placeholder(&x));
	addr_of("fd00:1::1ff", &x); /* beyond the table (slots come from IPv4) */
	CHECK(resolve_is_placeholder(&x));
	CHECK_EQ(resolve_reverse(&x, name, sizeof(name)), -ENOENT);
	addr_of("fd00:2::1", &x);
	CHECK(!resolve_is_placeholder(&x));

	/* 254 slots in a /24, a uid may hold a quarter (63): uid 0 holds 2
	 * and gets 61 more; uids 1-3 63 each; then one is left (uid 4242
	 * holds x.test) for uid 4, and the table is full */
	static const struct peer_id us[] = { { .uid = 0 }, { .uid = 1 }, { .uid = 2 },
					     { .uid = 3 }, { .uid = 4 } };
	static const int want[] = { 61, 63, 63, 63, 1 };
	for (int u = 0; u < 5; u++) {
		int ok = 0, again = 0;
		for (int i = 0; i < 70; i++) {
			char n[32];
			snprintf(n, sizeof(n), "n%d-%d.h.test", u, i);
			a = ask(&us[u], n, AF_INET);
			ok += a.status == 0;
			again += a.status == -EAGAIN;
		}
		CHECK_EQ(ok, want[u]);
		CHECK_EQ(again, 70 - want[u]);
	}
	a = ask(&u4242, "late.h.test", AF_INET);
	CHECK_EQ(a.status, -EAGAIN);
	/* names that have a slot still get theirs, whoever asks */
	a = ask(&us[4], "w.h.test", AF_INET);
	CHECK_EQ(a.status, 0);
	a = ask(&us[1], "n0-5.h.test", AF_INET);
	CHECK_EQ(a.status, 0);
}

static void test_cancel_and_quota(void)
{
	struct got g1 = { 0 }, g2 = { 0 }, g3 = { 0 };
	struct resolve_query *q1, *q2, *q3;

	/* limit pending 2: a third query in flight is refused */
	CHECK_EQ(resolve_start(&root, "a.test", AF_INET, got_cb, &g1, &q1), 0);
	CHECK_EQ(resolve_start(&root, "b.test", AF_INET, got_cb, &g2, &q2), 0);
	CHECK_EQ(resolve_start(&root, "a.test", AF_INET, got_cb, &g3, &q3), -EAGAIN);
	CHECK_EQ(quota_held(0, Q_PENDING), 2u);
	/* another uid has its own */
	CHECK_EQ(resolve_start(&u4242, "a.test", AF_INET, got_cb, &g3, &q3), 0);
	resolve_cancel(q1);
	CHECK_EQ(quota_held(0, Q_PENDING), 1u);
	spin(20);
	CHECK_EQ(g1.calls, 0);
	CHECK_EQ(g2.calls, 1);
	CHECK_EQ(g3.calls, 1);
	CHECK_EQ(quota_held(0, Q_PENDING), 0u);
	CHECK_EQ(quota_held(4242, Q_PENDING), 0u);
}

static void test_reload(const char *path)
{
	struct resolve_answer a = ask(&root, "w.h.test", AF_INET);
	char name[256];

	CHECK_EQ(a.status, 0);
	/* the same ranges: placeholders stay */
	struct dconf *n = load(path, conf1);
	dconf_free(cfg);
	cfg = n;
	resolve_apply(cfg);
	CHECK_EQ(resolve_reverse(&a.addr[0], name, sizeof(name)), 0);
	/* other ranges: they go */
	n = load(path, "placeholder-range 100.65.0.0/16\n"
		       "helper h data /nonexistent/h.data event /nonexistent/h.event\n"
		       "resolve any helper h\n");
	dconf_free(cfg);
	cfg = n;
	resolve_apply(cfg);
	CHECK(!resolve_is_placeholder(&a.addr[0]));
	CHECK_EQ(resolve_reverse(&a.addr[0], name, sizeof(name)), -ENOENT);
	a = ask(&root, "w.h.test", AF_INET6);
	CHECK(a.status == 0 && a.n == 1 && a.addr[0].family == 6);
	/* the default IPv6 range */
	CHECK(a.addr[0].addr[0] == 0xfd && a.addr[0].addr[1] == 0x73);
	CHECK_EQ(resolve_reverse(&a.addr[0], name, sizeof(name)), 0);
	CHECK_STR(name, "w.h.test");
}

int main(void)
{
	char dir[] = "/tmp/test-resolve.XXXXXX", path[64];

	log_init("test-resolve", 0);
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/sockoutd.conf", dir);
	CHECK_EQ(loop_init(), 0);
	cfg = load(path, conf1);
	if (!cfg)
		T_DONE();
	resolve_apply(cfg);
	test_static_and_deny();
	test_placeholders();
	test_cancel_and_quota();
	test_reload(path);
	resolve_shutdown();
	dconf_free(cfg);
	unlink(path);
	rmdir(dir);
	T_DONE();
}
