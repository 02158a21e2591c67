/* SPDX-License-Identifier: MIT */
/*
 * resolve.h - name resolution routed by the dispatch table (`resolve'
 * rules, first match wins; see man/sockoutd.conf.5).
 *
 * Every way a guest asks for a name ends here: the shim's RESOLVE request
 * (guest protocol op 4), and DNS queries answered by sockoutd for programs
 * that speak DNS themselves.  What a rule's action makes of a name:
 *
 *   direct        the host's resolver (c-ares, asynchronous: a slow name
 *                 never stalls the loop or another name), answers cached
 *                 for their TTL, NXDOMAIN/NODATA for RESOLVE_NEG_TTL s;
 *   address A...  the rule's addresses (RESOLVE_STATIC_TTL s);
 *   deny          no such name (-ENOENT), as is a name no rule matches;
 *   helper NAME   a placeholder address out of `placeholder-range', which
 *                 sockoutd remembers; a guest's connect to it goes to the
 *                 helper with the *name* as the target (resolved at the
 *                 far end), see resolve_route().  One uid may make sockoutd
 *                 hold at most a quarter of the placeholders (-EAGAIN).
 *
 * Answers are delivered from the loop, never inside resolve_start().
 */
#ifndef SOCKOUT_RESOLVE_H
#define SOCKOUT_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../protocol/addr.h"
#include "table.h"

#define RESOLVE_MAX_ADDRS 8
#define RESOLVE_NAME_MAX 253	/* longest name, without the trailing dot */
#define RESOLVE_NEG_TTL 10	/* s a "no such name"/"no data" is kept */
#define RESOLVE_STATIC_TTL 60	/* s, TTL of `address' answers */
#define RESOLVE_PLACEHOLDER_TTL 60 /* s, TTL of placeholder answers */
#define RESOLVE_CACHE_MAX 4096	/* cached direct answers (oldest go first) */
#define RESOLVE_INFLIGHT_MAX 256 /* host lookups in progress at once */

struct resolve_answer {
	/* 0; -ENOENT no such name (NXDOMAIN; also what a `deny' rule or no
	 * matching rule gives); -ENODATA the name exists but has no address
	 * of that family (NODATA); -EAGAIN temporary failure (SERVFAIL: the
	 * host's resolver failed or timed out, a limit was reached) */
	int status;
	uint32_t ttl;	 /* seconds the answer may be kept (also for errors) */
	char canon[256]; /* canonical name if the name was an alias (the end
			    of its CNAME chain), else "" */
	unsigned n;	 /* addresses in @addr (0 unless status is 0) */
	/* port 0.  AF_UNSPEC: IPv4 ones first.  For a name routed to a
	 * helper: one placeholder per family asked (stable while in use) */
	struct so_addr addr[RESOLVE_MAX_ADDRS];
};

struct resolve_query;
typedef void (*resolve_cb)(void *arg, const struct resolve_answer *a);

/**
 * resolve_start() - resolve @name for @who in @family by the first
 * matching `resolve' rule of the running table.
 * @name:   a host name, no trailing dot needed (one is dropped), matched
 *          case-insensitively; not an address literal (those are the
 *          caller's, e.g. the shim's AI_NUMERICHOST path)
 * @family: AF_INET, AF_INET6 or AF_UNSPEC
 * @cb:     called exactly once with the answer, never from inside
 *          resolve_start() (answers known at once are delivered from the
 *          loop), unless resolve_cancel() is called first
 * @q:      set to the handle to cancel with
 *
 * The query holds one unit of @who's Q_PENDING quota until answered or
 * cancelled.  Returns 0, or -EINVAL (not a valid name or family), -EAGAIN
 * (quota), -ENOMEM; then @cb is never called.
 */
int resolve_start(const struct peer_id *who, const char *name, int family,
		  resolve_cb cb, void *arg, struct resolve_query **q);
/** resolve_cancel() - forget @q: its callback is not called.  A host
 *  lookup it started goes on and still fills the cache. */
void resolve_cancel(struct resolve_query *q);

/**
 * resolve_reverse() - the name a placeholder address stands for (what
 * getnameinfo or a PTR query shows), into @name of @len bytes.
 * Returns 0, -ENOENT (not a placeholder handed out, or expired) or
 * -ENAMETOOLONG.
 */
int resolve_reverse(const struct so_addr *a, char *name, size_t len);

/** resolve_is_placeholder() - does @a (any port) lie in a placeholder
 *  range?  Connects to such an address never take the connect rules. */
bool resolve_is_placeholder(const struct so_addr *a);

/* Where a guest's connect to a placeholder goes. */
struct resolve_route {
	char name[RESOLVE_NAME_MAX + 1]; /* the name the helper connects to */
	int helper;	    /* index into cfg->helpers */
	const char *target; /* the rule's "to TARGET", or "" */
	struct rule *rule;
};

/**
 * resolve_route() - the route for a connect by @who to placeholder @a:
 * the name it stands for, matched again against the running `resolve'
 * rules for @who (a reload or a `from' clause may have changed the
 * answer).  Returns 0, -ENOENT (unknown or expired placeholder) or
 * -EACCES (the name no longer resolves to a helper for @who).
 */
int resolve_route(const struct so_addr *a, const struct peer_id *who,
		  struct resolve_route *r);

/** resolve_apply() - the running table changed (start-up, reload):
 *  placeholder ranges may differ; the host resolver re-reads its
 *  configuration at its next idle moment. */
void resolve_apply(const struct dconf *c);
void resolve_shutdown(void);

/* For `sockoutctl status'. */
struct resolve_stats {
	uint64_t queries, cache_hits, host_lookups, host_failed;
	uint64_t placeholders_given;
	unsigned cached, placeholders, inflight;
};
void resolve_get_stats(struct resolve_stats *s);

#endif
