// SPDX-License-Identifier: MIT
/*
 * quota.c - per-uid limits: requests pending, listeners held, relayed
 * connections open, guest connections kept (`limit pending|listeners|
 * connections|channels N').
 *
 * Every holder (a pending request, a listener, a relayed connection) took
 * one unit of one kind from its uid's entry and gives it back when it
 * goes.  An entry that holds nothing is kept for the next request of that
 * uid (no allocation per request) while there are at most QKEEP entries;
 * past that, it is freed with its last unit.
 * A uid at its limit is refused at once (the caller answers EAGAIN), the
 * refusal is counted and said in the log at most once per 10 s per kind,
 * and nothing another uid holds is touched: the limits are per uid so that
 * one user cannot use up what the others need.
 */
#include <errno.h>
#include <stdlib.h>

#include "../common/hash.h"
#include "../common/log.h"
#include "sockoutd.h"

#define QTAB 64u
#define QKEEP 256u

struct quota {
	uint32_t uid;
	unsigned n[Q_NKINDS];
	LIST_ENTRY(quota) link;
};

LIST_HEAD(quota_list, quota);
static struct quota_list qtab[QTAB];
static unsigned nquotas;
struct quota_stats quota_stats;

static struct quota_list *qbucket(uint32_t uid)
{
	return &qtab[hash_slot(hash_u64(uid), QTAB)];
}

static const char *const kind_name[Q_NKINDS] = { "pending", "listeners",
						 "connections", "channels" };

static unsigned limit_of(int kind)
{
	switch (kind) {
	case Q_PENDING:
		return cfg->limits.pending;
	case Q_LISTENERS:
		return cfg->limits.listeners;
	case Q_CHANNELS:
		return cfg->limits.channels;
	default:
		return cfg->limits.connections;
	}
}

static bool holds_nothing(const struct quota *q)
{
	for (int k = 0; k < Q_NKINDS; k++)
		if (q->n[k])
			return false;
	return true;
}

int quota_take_q(struct quota *q, int kind)
{
	static uint64_t last[Q_NKINDS];
	unsigned lim = limit_of(kind);

	if (q->n[kind] >= lim) {
		quota_stats.refused[kind]++;
		if (ratelimit(&last[kind]))
			warn("uid %u: %s limit (%u) reached: refusing", q->uid,
			     kind_name[kind], lim);
		return -EAGAIN;
	}
	q->n[kind]++;
	return 0;
}

int quota_take(uint32_t uid, int kind, struct quota **out)
{
	struct quota_list *b = qbucket(uid);
	struct quota *q;
	int r;

	LIST_FOREACH(q, b, link)
		if (q->uid == uid)
			break;
	if (!q) {
		if (!(q = calloc(1, sizeof(*q))))
			return -ENOMEM;
		q->uid = uid;
		LIST_INSERT_HEAD(b, q, link);
		nquotas++;
	}
	if ((r = quota_take_q(q, kind)) < 0)
		return r; /* at a limit of at least 1: q holds something */
	*out = q;
	return 0;
}

void quota_give(struct quota *q, int kind)
{
	if (!q || !q->n[kind])
		return;
	q->n[kind]--;
	if (nquotas > QKEEP && holds_nothing(q)) {
		LIST_REMOVE(q, link);
		nquotas--;
		free(q);
	}
}

unsigned quota_held(uint32_t uid, int kind)
{
	struct quota *q;

	LIST_FOREACH(q, qbucket(uid), link)
		if (q->uid == uid)
			return q->n[kind];
	return 0;
}
