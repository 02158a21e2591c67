// SPDX-License-Identifier: MIT
/*
 * dns.c - GP_DNS requests: one DNS query from the guest's stub, one reply.
 *
 * Theory of operation: guest.c reads a request's 64-byte header and, for
 * GP_DNS, hands the connection over (dns_take()).  Here the query that
 * follows (u16 length + message, as DNS over TCP frames it) is read
 * without blocking, decoded by dns-wire.c and asked of resolve.c under the
 * identity the kernel gave guest.c (the stub's uid and network namespace);
 * the answer goes back as a 56-byte GP_DNS reply followed by the DNS reply
 * in the same framing, and the connection is closed.  Every request is
 * bounded: DNS_TIMEOUT_MS from accept to reply (SERVFAIL once the query is
 * known), DNS_PENDING_MAX at once and DNS_PENDING_PER_GUEST per uid and
 * network namespace (beyond: GP status EAGAIN, the query is not read), a
 * query of at most GP_DNS_MAX bytes.  A guest that hangs up while its
 * query is resolved cancels it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/log.h"
#include "sockoutd.h"
#include "dns.h"

struct dnsreq {
	struct ev ev;
	struct timer timer;
	struct peer_id who; /* uid, gid, pid, netns only */
	bool tcp;
	bool decoded;		   /* @q holds the query */
	struct resolve_query *rq;  /* while resolving */
	struct dns_q q;
	uint16_t got;
	uint8_t buf[2 + GP_DNS_MAX]; /* the framed query */
	LIST_ENTRY(dnsreq) link;
};

static LIST_HEAD(, dnsreq) dnsreqs = LIST_HEAD_INITIALIZER(dnsreqs);
static unsigned ndnsreqs;

static void dnsreq_free(struct dnsreq *d)
{
	int fd = d->ev.fd;

	if (d->rq)
		resolve_cancel(d->rq);
	if (d->decoded)
		dns_q_free(&d->q);
	ev_del(&d->ev); /* sets ev.fd to -1 */
	close(fd);
	timer_cancel(&d->timer);
	LIST_REMOVE(d, link);
	ndnsreqs--;
	free(d);
}

/* One reply (header, then @msg of @len bytes framed, or nothing) on @fd;
 * the socket is empty on our side, so it fits or the guest is gone. */
static void dns_send_reply(int fd, int status, const uint8_t *msg, size_t len)
{
	struct gp_reply r = { .op = GP_DNS, .status = (uint16_t)status };
	uint8_t p[GP_REPLY_LEN + 2];
	struct iovec iov[2] = { { p, sizeof(p) }, { (void *)msg, len } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = msg ? 2 : 1 };

	gp_reply_encode(p, &r);
	p[GP_REPLY_LEN] = (uint8_t)(len >> 8);
	p[GP_REPLY_LEN + 1] = (uint8_t)len;
	if (!msg)
		iov[0].iov_len = GP_REPLY_LEN;
	if (sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		debug("dns: reply lost: %s", strerror(errno));
}

/* Reply with @msg (consumed) and free the request; a reply that would not
 * fit the framing (it cannot: answers are bounded) is dropped. */
static void dns_dnsreq_answer(struct dnsreq *d, uint8_t *msg, size_t len)
{
	if (msg && len <= GP_DNS_MAX)
		dns_send_reply(d->ev.fd, 0, msg, len);
	free(msg);
	dnsreq_free(d);
}

static void dns_resolved(void *arg, const struct resolve_answer *a)
{
	struct dnsreq *d = arg;
	uint8_t *out = NULL;
	size_t len = 0;

	d->rq = NULL;
	if (dns_encode(&d->q, a, &out, &len) < 0)
		debug("dns: no memory for an answer");
	dns_dnsreq_answer(d, out, len);
}

/* No answer in time (or none can be had): SERVFAIL, the client may try
 * again. */
static void dns_servfail(struct dnsreq *d)
{
	struct resolve_answer a = { .status = -EAGAIN };

	if (d->rq) {
		resolve_cancel(d->rq);
		d->rq = NULL;
	}
	dns_resolved(d, &a);
}

static void dns_reverse(struct dnsreq *d)
{
	char name[RESOLVE_NAME_MAX + 1];
	uint8_t *out = NULL;
	size_t len = 0;
	bool known = resolve_reverse(&d->q.ptr, name, sizeof(name)) == 0;

	if (dns_encode_ptr(&d->q, known ? name : NULL, RESOLVE_PLACEHOLDER_TTL,
			   &out, &len) < 0)
		debug("dns: no memory for an answer");
	dns_dnsreq_answer(d, out, len);
}

/* The whole query is in: answer it, or ask the resolver. */
static void dns_query(struct dnsreq *d)
{
	size_t len = (size_t)d->buf[0] << 8 | d->buf[1];
	uint8_t *out = NULL;
	size_t olen = 0;
	int v, e;

	v = dns_decode(d->buf + 2, len, d->tcp, &d->q, &out, &olen);
	if (v < 0) {
		debug("dns: guest pid %d: no query to answer (%s)", d->who.pid,
		      strerror(-v));
		dnsreq_free(d);
		return;
	}
	if (v == DNS_ANSWERED) {
		dns_dnsreq_answer(d, out, olen);
		return;
	}
	d->decoded = true;
	if (v == DNS_REVERSE) {
		dns_reverse(d);
		return;
	}
	debug("dns: guest pid %d asks %s type %u", d->who.pid, d->q.name,
	      d->q.qtype);
	e = resolve_start(&d->who, d->q.name, d->q.family, dns_resolved, d, &d->rq);
	if (e < 0) {
		/* -EINVAL: no host name (a literal, a bad label): no such
		 * name; -EAGAIN/-ENOMEM: try again */
		struct resolve_answer a = { .status = e == -EINVAL ? -ENOENT
								     : -EAGAIN };

		d->rq = NULL;
		dns_resolved(d, &a);
	}
}

static void dnsreq_cb(struct ev *ev, uint32_t events)
{
	struct dnsreq *d = container_of(ev, struct dnsreq, ev);
	size_t want = d->got < 2 ? 2 : 2 + ((size_t)d->buf[0] << 8 | d->buf[1]);
	uint8_t junk[64];
	ssize_t n;

	(void)events;
	if (d->decoded) {
		/* nothing more may come: EOF or bytes mean it gave up */
		n = recv(ev->fd, junk, sizeof(junk), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		debug("dns: guest pid %d hung up while waiting", d->who.pid);
		dnsreq_free(d);
		return;
	}
	n = recv(ev->fd, d->buf + d->got, want - d->got, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		stats.bad_requests++;
		dnsreq_free(d);
		return;
	}
	d->got = (uint16_t)(d->got + n);
	if (d->got == 2) {
		want = (size_t)d->buf[0] << 8 | d->buf[1];
		if (!want || want > GP_DNS_MAX) {
			debug("dns: guest pid %d: query of %zu bytes refused",
			      d->who.pid, want);
			stats.bad_requests++;
			dnsreq_free(d);
		}
		return;
	}
	if (d->got == want)
		dns_query(d);
}

static void dnsreq_timeout(struct timer *t)
{
	struct dnsreq *d = container_of(t, struct dnsreq, timer);

	if (!d->decoded) {
		stats.bad_requests++;
		dnsreq_free(d);
		return;
	}
	debug("dns: guest pid %d: no answer for %s in time", d->who.pid,
	      d->q.name);
	dns_servfail(d);
}

/* Requests of the same guest (uid and network namespace) pending now. */
static unsigned dns_guest_pending(const struct peer_id *who)
{
	const struct dnsreq *d;
	unsigned n = 0;

	LIST_FOREACH(d, &dnsreqs, link)
		n += d->who.uid == who->uid && d->who.netns == who->netns;
	return n;
}

void dns_take(int fd, const struct peer_id *who, uint8_t flags)
{
	struct dnsreq *d;

	if (ndnsreqs >= DNS_PENDING_MAX ||
	    dns_guest_pending(who) >= DNS_PENDING_PER_GUEST) {
		static uint64_t last;

		if (ratelimit(&last))
			warn("dns: guest pid %d (uid %u): %u queries pending: refusing",
			     who->pid, (unsigned)who->uid, dns_guest_pending(who));
		dns_send_reply(fd, EAGAIN, NULL, 0);
		close(fd);
		return;
	}
	if (!(d = calloc(1, sizeof(*d)))) {
		close(fd);
		return;
	}
	d->who = *who;
	d->who.groups = NULL;
	d->who.ngroups = 0;
	d->who.cgroup = NULL;
	d->tcp = flags & GP_F_DNS_TCP;
	timer_init(&d->timer, dnsreq_timeout);
	if (ev_add(&d->ev, fd, EPOLLIN, dnsreq_cb) < 0) {
		close(fd);
		free(d);
		return;
	}
	LIST_INSERT_HEAD(&dnsreqs, d, link);
	ndnsreqs++;
	timer_set(&d->timer, DNS_TIMEOUT_MS);
}

void dns_shutdown(void)
{
	while (!LIST_EMPTY(&dnsreqs))
		dnsreq_free(LIST_FIRST(&dnsreqs));
}
