// SPDX-License-Identifier: MIT
/*
 * resolve.c - name resolution routed by the dispatch table; see resolve.h.
 *
 * Theory of operation.  resolve_start() normalises the name, takes a
 * pending unit of the asker's quota and matches the `resolve' rules.  Every
 * answer, even one known at once, is put into the query and delivered by
 * the query's own zero-length timer, so a callback never runs inside
 * resolve_start() and a caller may free things in it.
 *
 * direct: the host's resolver through c-ares, driven by this loop (c-ares
 * tells us its sockets through the sock_state callback, we watch them and
 * hand readiness back with ares_process_fd(); one timer follows
 * ares_timeout()).  Queries for the same name and family share one lookup;
 * its answer is cached for its TTL (NXDOMAIN and NODATA for
 * RESOLVE_NEG_TTL, temporary failures not at all), at most
 * RESOLVE_CACHE_MAX entries, the oldest dropped first.  A lookup cannot be
 * cancelled alone in c-ares: a cancelled query just leaves its lookup,
 * which still fills the cache.  The channel is made at the first lookup
 * and dropped at a reload when idle, so that it reads resolv.conf again.
 *
 * helper: placeholders.  Slot k of the table stands for address k + 1 of
 * both placeholder ranges (IPv4 and IPv6), so an address maps to its slot
 * by arithmetic and a name to its slot through a hash.  A slot is held
 * RESOLVE_HOLD_MS after it was last handed out or connected to, longer
 * than any sane program keeps an answer, then it may be reused.  A connect
 * to a placeholder matches the name against the rules again for the guest
 * that connects (resolve_route()): what is routed is always what the
 * running table says for that guest, whoever asked first.
 */
#include "resolve.h"

#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "../common/hash.h"
#include "../common/log.h"
#include "../common/loop.h"
#include "sockoutd.h"

#define RESOLVE_HOLD_MS (30ull * 60 * 1000) /* a placeholder's life */
#define RESOLVE_SLOTS_MAX 16384u	    /* placeholders at once */
#define RESOLVE_TTL_MAX 86400u		    /* longest TTL we keep */
#define NBUCKETS 1024u

struct lookup;

struct resolve_query {
	struct timer t; /* delivers @ans from the loop */
	resolve_cb cb;
	void *arg;
	struct quota *quota;
	struct lookup *lk; /* waiting on a host lookup, else NULL */
	struct resolve_answer ans;
	TAILQ_ENTRY(resolve_query) wlink;
};

/* A host lookup in progress, shared by the queries for one name+family. */
struct lookup {
	char name[RESOLVE_NAME_MAX + 1];
	int family;
	TAILQ_HEAD(, resolve_query) waiting;
	LIST_ENTRY(lookup) link;
};

/* A cached direct answer. */
struct centry {
	char name[RESOLVE_NAME_MAX + 1];
	int family;
	uint64_t stored_ms, expires_ms;
	struct resolve_answer ans;
	LIST_ENTRY(centry) hlink;
	TAILQ_ENTRY(centry) olink; /* oldest first */
};

/* A placeholder slot. */
struct pslot {
	char name[RESOLVE_NAME_MAX + 1];
	unsigned k; /* its index */
	uint32_t uid; /* who made it take a slot: counted against that uid */
	uint64_t until_ms;
	LIST_ENTRY(pslot) hlink;
};

/* How many slots a uid made us take: one uid may hold at most a quarter
 * of them, so that a guest asking for names by the thousand cannot leave
 * the others without. */
struct powner {
	uint32_t uid;
	unsigned n;
	uint64_t swept_ms; /* the last owner_sweep(): at most once a second */
	LIST_ENTRY(powner) link;
};
#define OBUCKETS 256u

/* c-ares's sockets, as it tells us about them */
struct asock {
	struct ev ev;
	LIST_ENTRY(asock) link;
};

static struct {
	ares_channel ch;
	bool ch_ok;
	struct timer t;	/* ares_timeout() */
	struct timer down; /* drop a stale channel once idle */
	bool stale;	/* a reload came while lookups were in flight */
	LIST_HEAD(, asock) socks;
	LIST_HEAD(, lookup) lookups;
	unsigned inflight;
	LIST_HEAD(, centry) cache[NBUCKETS];
	TAILQ_HEAD(, centry) order;
	unsigned ncached;
	struct dconf_range range[2];
	struct pslot **slots;
	unsigned nslots, cursor, nused;
	LIST_HEAD(, pslot) ph[NBUCKETS];
	LIST_HEAD(, powner) owners[OBUCKETS];
	struct resolve_stats st;
	bool inited, lib;
} R;

static uint32_t name_hash(const char *s, int family)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)family;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return hash_u64(h);
}

static void ares_timer_cb(struct timer *t);
static void down_cb(struct timer *t);

static void init_once(void)
{
	if (R.inited)
		return;
	R.inited = true;
	TAILQ_INIT(&R.order);
	timer_init(&R.t, ares_timer_cb);
	timer_init(&R.down, down_cb);
}

/* ---- delivering answers ---- */

static void query_fire(struct timer *t)
{
	struct resolve_query *q = container_of(t, struct resolve_query, t);

	quota_give(q->quota, Q_PENDING);
	q->cb(q->arg, &q->ans);
	free(q);
}

/* @q's answer is in q->ans: deliver it at the loop's next turn. */
static void query_answer(struct resolve_query *q)
{
	q->lk = NULL;
	timer_set(&q->t, 0);
}

static void query_status(struct resolve_query *q, int status, uint32_t ttl)
{
	memset(&q->ans, 0, sizeof(q->ans));
	q->ans.status = status;
	q->ans.ttl = ttl;
	query_answer(q);
}

/* ---- the cache ---- */

static void centry_drop(struct centry *c)
{
	LIST_REMOVE(c, hlink);
	TAILQ_REMOVE(&R.order, c, olink);
	R.ncached--;
	free(c);
}

static void cache_flush(void)
{
	while (!TAILQ_EMPTY(&R.order))
		centry_drop(TAILQ_FIRST(&R.order));
}

/* A live entry for @name/@family, or NULL (an expired one is dropped). */
static struct centry *cache_find(const char *name, int family)
{
	struct centry *c;

	LIST_FOREACH(c, &R.cache[hash_slot(name_hash(name, family), NBUCKETS)], hlink) {
		if (c->family != family || strcmp(c->name, name) != 0)
			continue;
		if (now_ms() >= c->expires_ms) {
			centry_drop(c);
			return NULL;
		}
		return c;
	}
	return NULL;
}

static void cache_put(const char *name, int family, const struct resolve_answer *a)
{
	struct centry *c;

	if (!a->ttl || a->status == -EAGAIN)
		return;
	if ((c = cache_find(name, family)))
		centry_drop(c);
	if (R.ncached >= RESOLVE_CACHE_MAX)
		centry_drop(TAILQ_FIRST(&R.order));
	if (!(c = malloc(sizeof(*c))))
		return; /* not cached: the next query asks again */
	strcpy(c->name, name);
	c->family = family;
	c->ans = *a;
	c->stored_ms = now_ms();
	c->expires_ms = c->stored_ms + (uint64_t)a->ttl * 1000;
	LIST_INSERT_HEAD(&R.cache[hash_slot(name_hash(name, family), NBUCKETS)], c, hlink);
	TAILQ_INSERT_TAIL(&R.order, c, olink);
	R.ncached++;
}

/* ---- c-ares in our loop ---- */

static void ares_rearm(void)
{
	struct timeval tv, *tp;

	if (!R.ch_ok)
		return;
	tp = ares_timeout(R.ch, NULL, &tv);
	if (!tp)
		timer_cancel(&R.t);
	else
		timer_set(&R.t, (uint64_t)tp->tv_sec * 1000 +
					(uint64_t)(tp->tv_usec + 999) / 1000);
}

static void asock_cb(struct ev *ev, uint32_t events)
{
	int fd = ev->fd;
	ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;

	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		rfd = fd;
	if (events & EPOLLOUT)
		wfd = fd;
	ares_process_fd(R.ch, rfd, wfd);
	ares_rearm();
}

static void ares_timer_cb(struct timer *t)
{
	(void)t;
	ares_process_fd(R.ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	ares_rearm();
}

static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct asock *s;
	uint32_t want = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);

	(void)data;
	LIST_FOREACH(s, &R.socks, link)
		if (s->ev.fd == fd)
			break;
	if (!want) {
		if (s) {
			ev_del(&s->ev);
			LIST_REMOVE(s, link);
			free(s);
		}
		return;
	}
	if (s) {
		ev_mod(&s->ev, want);
		return;
	}
	/* Without a watch c-ares would wait for its timeout: a slower
	 * answer, not a wrong one. */
	if (!(s = calloc(1, sizeof(*s))))
		return;
	if (ev_add(&s->ev, fd, want, asock_cb) < 0) {
		free(s);
		return;
	}
	LIST_INSERT_HEAD(&R.socks, s, link);
}

static int channel_up(void)
{
	struct ares_options o;
	int r;

	if (R.ch_ok)
		return 0;
	memset(&o, 0, sizeof(o));
	o.sock_state_cb = sock_state_cb;
	o.timeout = 2000; /* ms per try: c-ares's 5 s default is long for a guest */
	o.tries = 2;
	if (!R.lib && (r = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		warn("resolver: %s", ares_strerror(r));
		return -EAGAIN;
	}
	R.lib = true;
	r = ares_init_options(&R.ch, &o, ARES_OPT_SOCK_STATE_CB |
				       ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (r != ARES_SUCCESS) {
		warn("resolver: %s", ares_strerror(r));
		return -EAGAIN;
	}
	R.ch_ok = true;
	return 0;
}

static void channel_down(void)
{
	R.stale = false;
	timer_cancel(&R.down);
	if (!R.ch_ok)
		return;
	/* ares_destroy() answers what is in flight with ARES_EDESTRUCTION:
	 * the lookups' waiters get -EAGAIN, from the loop */
	ares_destroy(R.ch);
	R.ch_ok = false;
	timer_cancel(&R.t);
	while (!LIST_EMPTY(&R.socks)) {
		struct asock *s = LIST_FIRST(&R.socks);
		ev_del(&s->ev);
		LIST_REMOVE(s, link);
		free(s);
	}
}

/* A reload asked for a fresh channel while lookups were in flight; now
 * there are none (unless a new one started meanwhile). */
static void down_cb(struct timer *t)
{
	(void)t;
	if (!R.inflight)
		channel_down();
}

/* Put the addresses of family @fam from @ai into @a (no duplicates). */
static void take_addrs(struct resolve_answer *a, const struct ares_addrinfo *ai,
		       int fam)
{
	for (const struct ares_addrinfo_node *n = ai->nodes; n; n = n->ai_next) {
		struct so_addr x;
		bool dup = false;

		if (n->ai_family != fam || a->n >= RESOLVE_MAX_ADDRS)
			continue;
		so_addr_from_sa(&x, n->ai_addr);
		x.port = 0;
		for (unsigned i = 0; i < a->n; i++)
			dup |= memcmp(&a->addr[i], &x, sizeof(x)) == 0;
		if (!dup)
			a->addr[a->n++] = x;
	}
}

/* The answer c-ares gave for @lk's name, in our terms. */
static void make_answer(struct resolve_answer *a, const struct lookup *lk,
			int status, const struct ares_addrinfo *ai)
{
	uint32_t ttl = RESOLVE_TTL_MAX;
	const char *cur = lk->name;

	memset(a, 0, sizeof(*a));
	switch (status) {
	case ARES_SUCCESS:
		break;
	case ARES_ENOTFOUND:
	case ARES_ENONAME:
		a->status = -ENOENT;
		a->ttl = RESOLVE_NEG_TTL;
		return;
	case ARES_ENODATA:
		a->status = -ENODATA;
		a->ttl = RESOLVE_NEG_TTL;
		return;
	default:
		a->status = -EAGAIN;
		return;
	}
	take_addrs(a, ai, AF_INET);
	take_addrs(a, ai, AF_INET6);
	if (!a->n) {
		a->status = -ENODATA;
		a->ttl = RESOLVE_NEG_TTL;
		return;
	}
	for (const struct ares_addrinfo_node *n = ai->nodes; n; n = n->ai_next)
		if (n->ai_ttl >= 0 && (uint32_t)n->ai_ttl < ttl)
			ttl = (uint32_t)n->ai_ttl;
	/* follow the chain from the name asked: its end is the canonical
	 * name (a bounded walk: a loop in the records cannot hold us) */
	for (int hop = 0; hop < 16; hop++) {
		const struct ares_addrinfo_cname *c = ai->cnames;
		for (; c; c = c->next)
			if (c->alias && c->name && strcasecmp(c->alias, cur) == 0)
				break;
		if (!c)
			break;
		if (c->ttl >= 0 && (uint32_t)c->ttl < ttl)
			ttl = (uint32_t)c->ttl;
		cur = c->name;
	}
	if (cur != lk->name && strlen(cur) < sizeof(a->canon))
		strcpy(a->canon, cur);
	a->ttl = ttl;
}

static void lookup_done(void *arg, int status, int timeouts,
			struct ares_addrinfo *ai)
{
	struct lookup *lk = arg;
	struct resolve_answer a;
	struct resolve_query *q;

	(void)timeouts;
	make_answer(&a, lk, status, ai);
	if (ai)
		ares_freeaddrinfo(ai);
	if (a.status == -EAGAIN) {
		R.st.host_failed++;
		debug("resolve %s: %s", lk->name, ares_strerror(status));
	}
	cache_put(lk->name, lk->family, &a);
	while ((q = TAILQ_FIRST(&lk->waiting))) {
		TAILQ_REMOVE(&lk->waiting, q, wlink);
		q->ans = a;
		query_answer(q);
	}
	LIST_REMOVE(lk, link);
	R.inflight--;
	free(lk);
	/* not from inside c-ares (this runs in ares_process_fd) */
	if (R.stale && !R.inflight)
		timer_set(&R.down, 0);
}

/* direct: from the cache, a lookup in flight, or a new lookup. */
static void start_direct(struct resolve_query *q, const char *name, int family)
{
	struct centry *c = cache_find(name, family);
	struct lookup *lk;

	if (c) {
		R.st.cache_hits++;
		q->ans = c->ans;
		/* what is left of the TTL, at least 1 s: it is still valid */
		uint64_t left = (c->expires_ms - now_ms() + 999) / 1000;
		q->ans.ttl = (uint32_t)(left ? left : 1);
		query_answer(q);
		return;
	}
	LIST_FOREACH(lk, &R.lookups, link)
		if (lk->family == family && strcmp(lk->name, name) == 0)
			break;
	if (!lk) {
		struct ares_addrinfo_hints h = { .ai_family = family,
						 .ai_flags = ARES_AI_NOSORT };
		if (R.inflight >= RESOLVE_INFLIGHT_MAX || channel_up() < 0 ||
		    !(lk = calloc(1, sizeof(*lk)))) {
			R.st.host_failed++;
			query_status(q, -EAGAIN, 0);
			return;
		}
		strcpy(lk->name, name);
		lk->family = family;
		TAILQ_INIT(&lk->waiting);
		LIST_INSERT_HEAD(&R.lookups, lk, link);
		R.inflight++;
		R.st.host_lookups++;
		TAILQ_INSERT_TAIL(&lk->waiting, q, wlink);
		q->lk = lk;
		/* may answer at once (hosts file): lookup_done() then only
		 * arms the query's timer */
		ares_getaddrinfo(R.ch, name, NULL, &h, lookup_done, lk);
		ares_rearm();
		return;
	}
	TAILQ_INSERT_TAIL(&lk->waiting, q, wlink);
	q->lk = lk;
}

/* ---- static answers ---- */

static void start_address(struct resolve_query *q, const struct rule *r, int family)
{
	memset(&q->ans, 0, sizeof(q->ans));
	q->ans.ttl = RESOLVE_STATIC_TTL;
	for (int pass = 0; pass < 2; pass++) {
		uint8_t f = pass ? 6 : 4;
		if ((f == 4 && family == AF_INET6) || (f == 6 && family == AF_INET))
			continue;
		for (unsigned i = 0; i < r->naddrs && q->ans.n < RESOLVE_MAX_ADDRS; i++)
			if (r->addrs[i].family == f)
				q->ans.addr[q->ans.n++] = r->addrs[i];
	}
	if (!q->ans.n) {
		q->ans.status = -ENODATA;
		q->ans.ttl = RESOLVE_NEG_TTL;
	}
	query_answer(q);
}

/* ---- placeholders ---- */

static bool ranges_equal(const struct dconf_range *a, const struct dconf_range *b)
{
	return a->family == b->family && a->prefix == b->prefix &&
	       memcmp(a->addr, b->addr, 16) == 0;
}

static struct powner *owner(uint32_t uid, bool make)
{
	unsigned b = hash_slot(hash_u64(uid), OBUCKETS);
	struct powner *o;

	LIST_FOREACH(o, &R.owners[b], link)
		if (o->uid == uid)
			return o;
	if (!make || !(o = calloc(1, sizeof(*o))))
		return NULL;
	o->uid = uid;
	LIST_INSERT_HEAD(&R.owners[b], o, link);
	return o;
}

/* @s's uid holds one slot less. */
static void owner_put(const struct pslot *s)
{
	struct powner *o = owner(s->uid, false);

	if (o && !--o->n) {
		LIST_REMOVE(o, link);
		free(o);
	}
}

/* Free the expired slots @uid still counts (it is at its share). */
static void owner_sweep(uint32_t uid)
{
	for (unsigned k = 0; k < R.nslots; k++) {
		struct pslot *s = R.slots[k];
		if (!s || !s->name[0] || s->uid != uid || now_ms() < s->until_ms)
			continue;
		LIST_REMOVE(s, hlink);
		s->name[0] = '\0';
		R.nused--;
		owner_put(s);
	}
}

static void slots_free(void)
{
	for (unsigned i = 0; i < R.nslots; i++) {
		if (R.slots[i] && R.slots[i]->name[0])
			owner_put(R.slots[i]);
		free(R.slots[i]);
	}
	free(R.slots);
	R.slots = NULL;
	R.nslots = R.cursor = R.nused = 0;
	for (unsigned i = 0; i < NBUCKETS; i++)
		LIST_INIT(&R.ph[i]);
}

/* Address @k + 1 of range @g into @a: the range's host bits are zero and
 * k + 1 fits in them (resolve_apply() sizes the table so), so the number
 * is simply or'ed into the low bytes. */
static void slot_addr(const struct dconf_range *g, unsigned k, struct so_addr *a)
{
	uint32_t v = k + 1;
	unsigned len = g->family == 4 ? 4 : 16;

	memset(a, 0, sizeof(*a));
	a->family = g->family;
	memcpy(a->addr, g->addr, 16);
	for (unsigned i = len; i-- > 0 && v; v >>= 8)
		a->addr[i] |= (uint8_t)v;
}

/* The slot address @a stands for, or -1. */
static int slot_of(const struct so_addr *a)
{
	struct so_addr m = *a;

	so_addr_unmap(&m);
	for (int k = 0; k < 2; k++) {
		const struct dconf_range *g = &R.range[k];
		if (!dconf_range_contains(g, &m))
			continue;
		unsigned len = g->family == 4 ? 4 : 16;
		uint64_t off = 0;
		for (unsigned i = 0; i < len; i++) {
			unsigned net = g->prefix > i * 8 ? g->prefix - i * 8 : 0;
			uint8_t host = net >= 8 ? 0 : (uint8_t)(m.addr[i] & (0xffu >> net));
			off = off << 8 | host;
			if (off > R.nslots)
				return -1; /* beyond the table (and no overflow) */
		}
		return off ? (int)(off - 1) : -1;
	}
	return -1;
}

static struct pslot *slot_live(int k)
{
	struct pslot *s;

	if (k < 0 || !(s = R.slots[k]) || !s->name[0] || now_ms() >= s->until_ms)
		return NULL;
	return s;
}

/* The slot for @name: its own, or a free or expired one, counted against
 * @uid's share.  Returns the index, -EAGAIN (none free, or @uid holds its
 * share) or -ENOMEM. */
static int slot_take(const char *name, uint32_t uid)
{
	unsigned b = hash_slot(name_hash(name, 0), NBUCKETS);
	unsigned share = R.nslots / 4 ? R.nslots / 4 : 1;
	struct powner *o;
	struct pslot *s;

	LIST_FOREACH(s, &R.ph[b], hlink)
		if (strcmp(s->name, name) == 0)
			break;
	if (s && now_ms() < s->until_ms) {
		s->until_ms = now_ms() + RESOLVE_HOLD_MS;
		return (int)s->k;
	}
	if ((o = owner(uid, false)) && o->n >= share) {
		/* a whole scan, so not for every query of a uid that asks
		 * for new names by the thousand */
		if (o->swept_ms && now_ms() - o->swept_ms < 1000)
			return -EAGAIN;
		o->swept_ms = now_ms();
		owner_sweep(uid);
		if ((o = owner(uid, false)) && o->n >= share)
			return -EAGAIN;
	}
	if (!(o = owner(uid, true)))
		return -ENOMEM;
	int err = -EAGAIN;
	for (unsigned n = 0; n < R.nslots; n++) {
		unsigned k = (R.cursor + n) % R.nslots;
		s = R.slots[k];
		if (s && s->name[0] && now_ms() < s->until_ms)
			continue;
		if (!s && !(s = R.slots[k] = calloc(1, sizeof(*s)))) {
			err = -ENOMEM;
			break;
		}
		if (s->name[0]) {
			LIST_REMOVE(s, hlink);
			owner_put(s);
		} else {
			R.nused++;
		}
		strcpy(s->name, name);
		s->k = k;
		s->uid = uid;
		o->n++;
		s->until_ms = now_ms() + RESOLVE_HOLD_MS;
		LIST_INSERT_HEAD(&R.ph[b], s, hlink);
		R.cursor = (k + 1) % R.nslots;
		return (int)k;
	}
	if (!o->n) {
		LIST_REMOVE(o, link);
		free(o);
	}
	return err;
}

static void start_helper(struct resolve_query *q, const char *name, int family,
			 uint32_t uid)
{
	int k = R.nslots ? slot_take(name, uid) : -EAGAIN;

	memset(&q->ans, 0, sizeof(q->ans));
	if (k < 0) {
		static uint64_t last;
		if (ratelimit(&last))
			warn("resolve %s: no placeholder for uid %u (%u of %u held)",
			     name, (unsigned)uid, R.nused, R.nslots);
		query_status(q, -EAGAIN, 0);
		return;
	}
	R.st.placeholders_given++;
	q->ans.ttl = RESOLVE_PLACEHOLDER_TTL;
	if (family != AF_INET6)
		slot_addr(&R.range[0], (unsigned)k, &q->ans.addr[q->ans.n++]);
	if (family != AF_INET)
		slot_addr(&R.range[1], (unsigned)k, &q->ans.addr[q->ans.n++]);
	query_answer(q);
}

/* ---- the API ---- */

int resolve_start(const struct peer_id *who, const char *name, int family,
		  resolve_cb cb, void *arg, struct resolve_query **out)
{
	char n[RESOLVE_NAME_MAX + 1];
	struct resolve_query *q;
	struct quota *qu = NULL;
	struct rule *r;
	int e;

	init_once();
	if ((family != AF_INET && family != AF_INET6 && family != AF_UNSPEC) ||
	    dconf_name_norm(name, n, sizeof(n)) < 0)
		return -EINVAL;
	if (who && (e = quota_take((uint32_t)who->uid, Q_PENDING, &qu)) < 0)
		return e;
	if (!(q = calloc(1, sizeof(*q)))) {
		quota_give(qu, Q_PENDING);
		return -ENOMEM;
	}
	q->cb = cb;
	q->arg = arg;
	q->quota = qu;
	timer_init(&q->t, query_fire);
	*out = q;
	R.st.queries++;
	r = table_resolve_match(cfg, n, who);
	if (r)
		r->hits++;
	if (!r || r->action == ACT_DENY) {
		debug("resolve %s: %s", n, r ? "denied" : "no rule");
		query_status(q, -ENOENT, RESOLVE_NEG_TTL);
	} else if (r->action == ACT_ADDRESS) {
		start_address(q, r, family);
	} else if (r->action == ACT_HELPER) {
		start_helper(q, n, family, who ? (uint32_t)who->uid : UINT32_MAX);
	} else {
		start_direct(q, n, family);
	}
	return 0;
}

void resolve_cancel(struct resolve_query *q)
{
	if (q->lk)
		TAILQ_REMOVE(&q->lk->waiting, q, wlink);
	timer_cancel(&q->t);
	quota_give(q->quota, Q_PENDING);
	free(q);
}

int resolve_reverse(const struct so_addr *a, char *name, size_t len)
{
	struct pslot *s = slot_live(slot_of(a));

	if (!s)
		return -ENOENT;
	if (strlen(s->name) >= len)
		return -ENAMETOOLONG;
	strcpy(name, s->name);
	return 0;
}

bool resolve_is_placeholder(const struct so_addr *a)
{
	struct so_addr m = *a;

	init_once();
	so_addr_unmap(&m);
	return dconf_range_contains(&R.range[0], &m) ||
	       dconf_range_contains(&R.range[1], &m);
}

int resolve_route(const struct so_addr *a, const struct peer_id *who,
		  struct resolve_route *rt)
{
	struct pslot *s = slot_live(slot_of(a));
	struct rule *r;

	if (!s)
		return -ENOENT;
	r = table_resolve_match(cfg, s->name, who);
	if (!r || r->action != ACT_HELPER)
		return -EACCES;
	s->until_ms = now_ms() + RESOLVE_HOLD_MS;
	strcpy(rt->name, s->name);
	rt->helper = r->helper;
	rt->target = r->target;
	rt->rule = r;
	return 0;
}

void resolve_apply(const struct dconf *c)
{
	init_once();
	if (!ranges_equal(&R.range[0], &c->placeholder[0]) ||
	    !ranges_equal(&R.range[1], &c->placeholder[1])) {
		uint64_t n4 = (1ull << (32 - c->placeholder[0].prefix)) - 2;
		slots_free();
		R.range[0] = c->placeholder[0];
		R.range[1] = c->placeholder[1];
		R.nslots = n4 < RESOLVE_SLOTS_MAX ? (unsigned)n4 : RESOLVE_SLOTS_MAX;
		R.slots = calloc(R.nslots, sizeof(*R.slots));
		if (!R.slots)
			R.nslots = 0; /* helper names then fail: -EAGAIN */
	}
	/* the resolver's configuration and the answers it gave may have
	 * changed with the table: ask afresh */
	cache_flush();
	if (!R.inflight)
		channel_down();
	else
		R.stale = true; /* once the lookups in flight are done */
}

void resolve_shutdown(void)
{
	struct lookup *lk;

	init_once();
	/* the waiters' owners are gone by now (guest_shutdown) */
	LIST_FOREACH(lk, &R.lookups, link)
		while (!TAILQ_EMPTY(&lk->waiting))
			resolve_cancel(TAILQ_FIRST(&lk->waiting));
	channel_down();
	cache_flush();
	slots_free();
	memset(R.range, 0, sizeof(R.range));
	if (R.lib)
		ares_library_cleanup();
	R.lib = false;
}

void resolve_get_stats(struct resolve_stats *s)
{
	*s = R.st;
	s->cached = R.ncached;
	s->placeholders = R.nused;
	s->inflight = R.inflight;
}
