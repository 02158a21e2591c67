// SPDX-License-Identifier: MIT
/*
 * dns-stub.c - the guest namespace's DNS stub (see dns-stub.h).
 *
 * Theory of operation.  A guest has no network, so a program that sends
 * its own DNS queries (Go's resolver, busybox, dig, anything static or
 * under the seccomp supervisor) to the nameserver of /etc/resolv.conf
 * reaches nothing.  sockoutd cannot enter the guest's network namespace,
 * but a process in it can reach sockoutd's guest socket (a path, not an
 * address).  So sockout-run forks a stub there that binds UDP and TCP port
 * 53 on each nameserver address of resolv.conf (127.0.0.1 without one) and
 * forwards every query, untouched, as one GP_DNS
 * request on a fresh guest-socket connection; the reply comes back the
 * same way and is sent to the client.  The stub never parses DNS: sockoutd
 * does (with ldns), and decides by the kernel's word for who asks (the
 * stub's uid and network namespace).  A nameserver address that is not on
 * loopback (a namespace made with `unshare -n' sees the host's
 * resolv.conf) is first put on lo, if we may (CAP_NET_ADMIN over the
 * namespace), and taken off again when the stub leaves.
 *
 * Lifetime.  One stub per network namespace, found by an abstract Unix
 * socket, which the kernel scopes to the network namespace: binding it is
 * the lock ("@sockout-dns-stub").  Each sockout-run connects to it and
 * registers; the stub takes a pidfd of the caller (SO_PEERCRED) and stays
 * while one registered process lives — sockout-run itself, or the program
 * it exec()ed into (same pid).  When the caller's pid means nothing to the
 * stub (another pid namespace) the stub says so and the caller keeps the
 * connection open instead, inherited by its program: the stub then lives
 * until that connection closes.  The last guest gone, the stub closes its
 * lock and sockets and exits; a sockout-run that raced with that sees its
 * registration fail and starts a new stub.  Two sockout-run starting at
 * once both try; the second stub finds the lock taken and the second
 * caller registers with the first.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/loop.h"
#include "../common/net.h"
#include "../protocol/guestproto.h"
#include "dns-stub.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define LOCK_NAME "sockout-dns-stub" /* abstract: per network namespace */
#define RESOLV_CONF "/etc/resolv.conf"
#define MAX_NS 3 /* as many nameservers as the libc resolver uses */

/* Registration answers on the lock socket. */
#define REG_PIDFD 'K' /* your pid is watched: close this connection */
#define REG_HOLD 'H'  /* keep this connection open while you live */

static const char *gsock; /* sockoutd's guest socket */

/* ---- the stub's objects ---- */

struct guest { /* one registered sockout-run */
	struct ev ev; /* its pidfd, or its held connection */
	LIST_ENTRY(guest) link;
};

struct tconn;

struct fwd { /* one query on its way to sockoutd and back */
	struct ev ev; /* the guest-socket connection */
	struct timer timer;
	int udp;			/* the UDP socket it came on, or -1 */
	struct sockaddr_storage from;	/* its UDP client */
	socklen_t fromlen;
	struct tconn *tc;		/* or its TCP client */
	size_t got;
	uint8_t buf[GP_REPLY_LEN + 2 + GP_DNS_MAX];
	LIST_ENTRY(fwd) link;
};

struct tconn { /* one TCP client */
	struct ev ev;
	struct timer timer;
	struct fwd *f; /* its query in flight (one at a time) */
	size_t got;
	uint8_t buf[2 + GP_DNS_MAX];
	LIST_ENTRY(tconn) link;
};

struct lsock { /* a UDP socket or TCP listener on a nameserver address */
	struct ev ev;
	bool tcp;
};

static LIST_HEAD(, guest) guests = LIST_HEAD_INITIALIZER(guests);
static LIST_HEAD(, fwd) fwds = LIST_HEAD_INITIALIZER(fwds);
static LIST_HEAD(, tconn) tconns = LIST_HEAD_INITIALIZER(tconns);
static unsigned nguests, nfwds, ntconns;
static struct ev lock_ev = { .fd = -1 };
static struct lsock lsocks[2 * MAX_NS];
static unsigned nlsocks;
/* nameserver addresses this stub put on lo, taken off when it leaves */
static struct sockaddr_storage added[MAX_NS];
static unsigned nadded;
static struct timer lonely;

/* ---- forwarding ---- */

static void tconn_free(struct tconn *t);

static void fwd_free(struct fwd *f)
{
	int fd = f->ev.fd;

	ev_del(&f->ev); /* sets ev.fd to -1 */
	close(fd);
	timer_cancel(&f->timer);
	if (f->tc)
		f->tc->f = NULL;
	LIST_REMOVE(f, link);
	nfwds--;
	free(f);
}

/* The answer is in: to the client it came from; @f is done. */
static void fwd_deliver(struct fwd *f, const uint8_t *msg, size_t len)
{
	struct tconn *t = f->tc;

	if (f->udp >= 0) {
		(void)!sendto(f->udp, msg, len, MSG_DONTWAIT,
			      (struct sockaddr *)&f->from, f->fromlen);
		fwd_free(f);
		return;
	}
	/* msg - 2 is sockoutd's frame, which is the TCP client's too; small,
	 * so one send, or the client is not reading and is dropped */
	if (t && send(t->ev.fd, msg - 2, len + 2, MSG_DONTWAIT | MSG_NOSIGNAL) !=
			 (ssize_t)(len + 2)) {
		tconn_free(t); /* frees @f too */
		return;
	}
	fwd_free(f);
	if (t) {
		timer_set(&t->timer, STUB_TCP_IDLE_MS);
		ev_mod(&t->ev, EPOLLIN); /* the next query */
	}
}

static void fwd_cb(struct ev *ev, uint32_t events)
{
	struct fwd *f = container_of(ev, struct fwd, ev);
	size_t want = f->got < GP_REPLY_LEN + 2
			      ? GP_REPLY_LEN + 2
			      : GP_REPLY_LEN + 2 +
					((size_t)f->buf[GP_REPLY_LEN] << 8 |
					 f->buf[GP_REPLY_LEN + 1]);
	struct gp_reply r;
	ssize_t n;

	(void)events;
	n = recv(ev->fd, f->buf + f->got, want - f->got, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0)
		goto drop; /* sockoutd refused (limit) or went away */
	f->got += (size_t)n;
	if (f->got == GP_REPLY_LEN + 2) {
		size_t len = (size_t)f->buf[GP_REPLY_LEN] << 8 |
			     f->buf[GP_REPLY_LEN + 1];

		if (gp_reply_decode(f->buf, &r) < 0 || r.op != GP_DNS ||
		    r.status || !len || len > GP_DNS_MAX)
			goto drop;
		return;
	}
	if (f->got < want)
		return;
	fwd_deliver(f, f->buf + GP_REPLY_LEN + 2, f->got - GP_REPLY_LEN - 2);
	return;
drop:
	/* no answer: a UDP client asks again, a TCP one is closed */
	if (f->tc)
		tconn_free(f->tc);
	else
		fwd_free(f);
}

static void fwd_timeout(struct timer *t)
{
	struct fwd *f = container_of(t, struct fwd, timer);

	if (f->tc)
		tconn_free(f->tc);
	else
		fwd_free(f);
}

/* Forward the query @msg of @len bytes to sockoutd; the answer goes to
 * @udp/@from, or to @tc.  Over the limits the query is dropped. */
static int fwd_start(const uint8_t *msg, size_t len, int udp,
		     const struct sockaddr_storage *from, socklen_t fromlen,
		     struct tconn *tc)
{
	struct gp_req q = { .op = GP_DNS, .flags = tc ? GP_F_DNS_TCP : 0 };
	uint8_t hdr[GP_REQ_LEN + 2];
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)msg, len } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
	struct fwd *f;
	int fd;

	if (nfwds >= STUB_INFLIGHT_MAX || !len || len > GP_DNS_MAX)
		return -EAGAIN;
	gp_req_encode(hdr, &q);
	hdr[GP_REQ_LEN] = (uint8_t)(len >> 8);
	hdr[GP_REQ_LEN + 1] = (uint8_t)len;
	fd = net_unix_connect(gsock, SOCK_STREAM | SOCK_NONBLOCK);
	if (fd < 0)
		return fd;
	/* an empty new socket takes a few hundred bytes at once */
	if (sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) !=
	    (ssize_t)(sizeof(hdr) + len)) {
		close(fd);
		return -EAGAIN;
	}
	if (!(f = calloc(1, sizeof(*f)))) {
		close(fd);
		return -ENOMEM;
	}
	f->udp = udp;
	if (from)
		memcpy(&f->from, from, fromlen);
	f->fromlen = fromlen;
	f->tc = tc;
	timer_init(&f->timer, fwd_timeout);
	if (ev_add(&f->ev, fd, EPOLLIN, fwd_cb) < 0) {
		close(fd);
		free(f);
		return -ENOMEM;
	}
	LIST_INSERT_HEAD(&fwds, f, link);
	nfwds++;
	timer_set(&f->timer, STUB_QUERY_TIMEOUT_MS);
	if (tc)
		tc->f = f;
	return 0;
}

/* ---- clients ---- */

static void tconn_free(struct tconn *t)
{
	int fd = t->ev.fd;

	if (t->f) {
		t->f->tc = NULL;
		fwd_free(t->f);
	}
	ev_del(&t->ev); /* sets ev.fd to -1 */
	close(fd);
	timer_cancel(&t->timer);
	LIST_REMOVE(t, link);
	ntconns--;
	free(t);
}

static void tconn_timeout(struct timer *tm)
{
	tconn_free(container_of(tm, struct tconn, timer));
}

static void tconn_cb(struct ev *ev, uint32_t events)
{
	struct tconn *t = container_of(ev, struct tconn, ev);
	size_t want = t->got < 2 ? 2 : 2 + ((size_t)t->buf[0] << 8 | t->buf[1]);
	ssize_t n;

	(void)events;
	n = recv(ev->fd, t->buf + t->got, want - t->got, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		tconn_free(t);
		return;
	}
	t->got += (size_t)n;
	if (t->got == 2) {
		/* the frame's length, checked before anything is read into
		 * the buffer by it */
		want = 2 + ((size_t)t->buf[0] << 8 | t->buf[1]);
		if (want == 2 || want > sizeof(t->buf))
			tconn_free(t);
		return;
	}
	if (t->got < want)
		return;
	if (fwd_start(t->buf + 2, want - 2, -1, NULL, 0, t) < 0) {
		tconn_free(t);
		return;
	}
	/* one query at a time: the next is read once this one is answered */
	t->got = 0;
	ev_mod(&t->ev, 0);
	timer_set(&t->timer, STUB_QUERY_TIMEOUT_MS + 1000);
}

static void lsock_cb(struct ev *ev, uint32_t events)
{
	struct lsock *l = container_of(ev, struct lsock, ev);
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	uint8_t msg[GP_DNS_MAX];
	struct tconn *t;
	ssize_t n;
	int fd;

	(void)events;
	if (!l->tcp) {
		/* a bounded batch, so TCP and answers are not starved */
		for (int i = 0; i < 16; i++) {
			fl = sizeof(from);
			n = recvfrom(ev->fd, msg, sizeof(msg),
				     MSG_DONTWAIT | MSG_TRUNC,
				     (struct sockaddr *)&from, &fl);
			if (n < 0)
				return;
			if ((size_t)n <= sizeof(msg))
				(void)fwd_start(msg, (size_t)n, ev->fd, &from,
						fl, NULL);
		}
		return;
	}
	fd = accept4(ev->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (ntconns >= STUB_TCP_MAX || !(t = calloc(1, sizeof(*t)))) {
		close(fd);
		return;
	}
	timer_init(&t->timer, tconn_timeout);
	if (ev_add(&t->ev, fd, EPOLLIN, tconn_cb) < 0) {
		close(fd);
		free(t);
		return;
	}
	LIST_INSERT_HEAD(&tconns, t, link);
	ntconns++;
	timer_set(&t->timer, STUB_TCP_IDLE_MS);
}

/* ---- the nameserver's address on lo ---- */

/*
 * Add (RTM_NEWADDR) or remove (RTM_DELADDR) @ss as a /32 or /128 on lo,
 * as `ip addr add ADDR dev lo' would.  Needs CAP_NET_ADMIN over the
 * network namespace (root for `ip netns', the user for `unshare -rn').
 * Returns 0, -EEXIST (already there), -EPERM or -errno.
 */
static int lo_addr(int cmd, const struct sockaddr_storage *ss)
{
	struct {
		struct nlmsghdr nh;
		struct ifaddrmsg ifa;
		char attrs[2 * RTA_SPACE(16)];
	} req;
	struct {
		struct nlmsghdr nh;
		struct nlmsgerr err;
	} ack;
	bool v4 = ss->ss_family == AF_INET;
	const void *a = v4 ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
			   : (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
	unsigned alen = v4 ? 4 : 16;
	struct rtattr *rta;
	ssize_t n;
	int fd, e;

	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
	req.nh.nlmsg_type = (uint16_t)cmd;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK |
			     (cmd == RTM_NEWADDR ? NLM_F_CREATE | NLM_F_EXCL : 0);
	req.ifa.ifa_family = (uint8_t)ss->ss_family;
	req.ifa.ifa_prefixlen = (uint8_t)(alen * 8);
	req.ifa.ifa_flags = v4 ? 0 : IFA_F_NODAD; /* usable at once */
	req.ifa.ifa_index = if_nametoindex("lo");
	for (int k = 0; k < (v4 ? 2 : 1); k++) {
		rta = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.nh.nlmsg_len));
		rta->rta_type = k ? IFA_LOCAL : IFA_ADDRESS;
		rta->rta_len = (unsigned short)RTA_LENGTH(alen);
		memcpy(RTA_DATA(rta), a, alen);
		req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_SPACE(alen);
	}
	if (!req.ifa.ifa_index)
		return -ENODEV;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (send(fd, &req, req.nh.nlmsg_len, 0) < 0) {
		e = -errno;
		close(fd);
		return e;
	}
	n = recv(fd, &ack, sizeof(ack), 0);
	e = n < 0 ? -errno : -EPROTO;
	close(fd);
	if (n >= (ssize_t)sizeof(ack) && ack.nh.nlmsg_type == NLMSG_ERROR)
		e = ack.err.error; /* 0 or -errno */
	return e;
}

/* ---- guests: who keeps the stub alive ---- */

/* Leave: port 53 first, the lock last, so that whoever takes the lock
 * next finds the port (and the address) free. */
static _Noreturn void stub_cleanup_exit(int code)
{
	for (unsigned i = 0; i < nlsocks; i++)
		close(lsocks[i].ev.fd);
	for (unsigned i = 0; i < nadded; i++)
		(void)lo_addr(RTM_DELADDR, &added[i]);
	if (lock_ev.fd >= 0)
		close(lock_ev.fd);
	_exit(code);
}

static void stub_exit_if_alone(void)
{
	if (nguests)
		return;
	/* A guest registering right now is in the lock's backlog: take it
	 * rather than leave it a closed socket. */
	lock_ev.cb(&lock_ev, EPOLLIN);
	if (nguests)
		return;
	stub_cleanup_exit(0);
}

static void guest_gone(struct ev *ev, uint32_t events)
{
	struct guest *g = container_of(ev, struct guest, ev);
	int fd = ev->fd;
	char c;

	(void)events;
	/* a held connection: anything but EOF is a protocol slip, and ends
	 * it all the same */
	if (recv(ev->fd, &c, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN)
		return;
	ev_del(&g->ev); /* sets ev.fd to -1 */
	close(fd);
	LIST_REMOVE(g, link);
	nguests--;
	free(g);
	stub_exit_if_alone();
}

static void lock_cb(struct ev *ev, uint32_t events)
{
	(void)events;
	for (int i = 0; i < 16; i++) {
		int fd = accept4(ev->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ucred cr;
		socklen_t cl = sizeof(cr);
		struct guest *g;
		int pfd = -1;
		char a;

		if (fd < 0)
			return;
		if (nguests >= STUB_GUESTS_MAX) { /* it sees EOF, and goes on */
			close(fd);
			continue;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0 &&
		    cr.pid > 0)
			pfd = (int)syscall(SYS_pidfd_open, cr.pid, 0);
		a = pfd >= 0 ? REG_PIDFD : REG_HOLD;
		if (!(g = calloc(1, sizeof(*g))) ||
		    send(fd, &a, 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1 ||
		    ev_add(&g->ev, pfd >= 0 ? pfd : fd, EPOLLIN, guest_gone) < 0) {
			free(g);
			if (pfd >= 0)
				close(pfd);
			close(fd);
			continue;
		}
		if (pfd >= 0)
			close(fd);
		LIST_INSERT_HEAD(&guests, g, link);
		nguests++;
		timer_cancel(&lonely);
	}
}

static void lonely_cb(struct timer *t)
{
	(void)t;
	stub_exit_if_alone();
}

/* ---- start-up ---- */

/* The lock: an abstract socket, so one per network namespace. */
static int lock_listen(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t l = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
				  strlen(LOCK_NAME));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	memcpy(sun.sun_path + 1, LOCK_NAME, strlen(LOCK_NAME));
	if (bind(fd, (struct sockaddr *)&sun, l) < 0 || listen(fd, 64) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

/* Register with the namespace's stub: 0, or -errno (-ECONNREFUSED: none
 * runs; -EPIPE: it was leaving). */
static int stub_register(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t l = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
				  strlen(LOCK_NAME));
	struct pollfd p;
	char a = 0;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	memcpy(sun.sun_path + 1, LOCK_NAME, strlen(LOCK_NAME));
	if (connect(fd, (struct sockaddr *)&sun, l) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 2000) != 1 || recv(fd, &a, 1, 0) != 1 ||
	    (a != REG_PIDFD && a != REG_HOLD)) {
		close(fd);
		return -EPIPE;
	}
	if (a == REG_PIDFD) {
		close(fd);
		return 0;
	}
	/* held by the program from now on: not close-on-exec */
	fcntl(fd, F_SETFD, 0);
	return 0;
}

/* Nameserver addresses of resolv.conf (at most MAX_NS), port 53. */
static unsigned read_nameservers(struct sockaddr_storage *ns, char (*txt)[64])
{
	FILE *f = fopen(RESOLV_CONF, "re");
	char line[512], a[64];
	unsigned n = 0;

	if (!f)
		return 0;
	while (n < MAX_NS && fgets(line, sizeof(line), f)) {
		socklen_t l;

		if (sscanf(line, " nameserver %63s", a) != 1)
			continue;
		if (net_parse_ip(a, 53, &ns[n], &l) < 0)
			continue;
		snprintf(txt[n], 64, "%s", a);
		n++;
	}
	fclose(f);
	return n;
}

static bool ss_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >>
			24) == 127;
	return ss->ss_family == AF_INET6 &&
	       IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

/* Has this namespace an interface other than loopback up?  Then its
 * programs have a network and a nameserver of their own. */
static bool has_network(void)
{
	struct ifaddrs *ifa, *i;
	bool r = false;

	if (getifaddrs(&ifa) < 0)
		return false;
	for (i = ifa; i; i = i->ifa_next)
		if ((i->ifa_flags & IFF_UP) && !(i->ifa_flags & IFF_LOOPBACK))
			r = true;
	freeifaddrs(ifa);
	return r;
}

static int bind_ns(const struct sockaddr_storage *ns, bool tcp)
{
	socklen_t l = ns->ss_family == AF_INET ? sizeof(struct sockaddr_in)
					       : sizeof(struct sockaddr_in6);
	int one = 1, fd;

	fd = socket(ns->ss_family,
		    (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return -errno;
	if (tcp)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ns->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ns, l) < 0 ||
	    (tcp && listen(fd, 16) < 0)) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

/*
 * The stub process: take the lock, bind every nameserver, tell the
 * starter through @pfd ("K" ready, "B" another stub has the lock, or an
 * error message), then serve until the last guest is gone.
 */
static void stub_main(int pfd, const struct sockaddr_storage *ns,
		      const char (*txt)[64], unsigned nns)
{
	char msg[256] = "";
	int fd, e, dn;

	signal(SIGPIPE, SIG_IGN);
	if ((fd = lock_listen()) < 0) {
		const char *m = fd == -EADDRINUSE ? "B" : "Elock socket";

		(void)!write(pfd, m, strlen(m));
		_exit(0);
	}
	if (loop_init() < 0 || ev_add(&lock_ev, fd, EPOLLIN, lock_cb) < 0) {
		(void)!write(pfd, "Eno event loop", 14);
		_exit(1);
	}
	for (unsigned i = 0; i < nns; i++) {
		unsigned n0 = nlsocks;
		const char *stage = "port 53";
		bool perm = false;

		e = 0;
		/* a nameserver that is not on loopback is put there: packets
		 * to it then stay in the namespace, to us */
		if (!ss_loopback(&ns[i])) {
			e = lo_addr(RTM_NEWADDR, &ns[i]);
			if (e == 0)
				added[nadded++] = ns[i];
			perm = e == -EPERM || e == -EACCES;
			stage = "cannot put it on lo";
			if (e == -EEXIST) /* someone's: used, left there */
				e = 0;
		}
		for (int tcp = 0; tcp < 2 && !e; tcp++) {
			stage = tcp ? "port 53/tcp" : "port 53/udp";
			if ((fd = bind_ns(&ns[i], tcp)) < 0) {
				e = fd;
			} else if (ev_add(&lsocks[nlsocks].ev, fd, EPOLLIN,
					  lsock_cb) < 0) {
				e = -ENOMEM;
				close(fd);
			} else {
				lsocks[nlsocks++].tcp = tcp;
			}
		}
		if (!e)
			continue;
		/* this address is not served (the others may be): the
		 * first reason is what the starter is told if none is */
		while (nlsocks > n0) {
			fd = lsocks[--nlsocks].ev.fd;
			ev_del(&lsocks[nlsocks].ev);
			close(fd);
		}
		if (!msg[0])
			snprintf(msg, sizeof(msg), "%c%s: %s: %s",
				 perm ? 'P' : 'E', txt[i], stage, strerror(-e));
	}
	if (!nlsocks) {
		(void)!write(pfd, msg, strlen(msg));
		stub_cleanup_exit(1);
	}
	timer_init(&lonely, lonely_cb);
	timer_set(&lonely, STUB_LONELY_MS);
	/* no terminal, no pipe of the caller's held open */
	if ((dn = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0) {
		dup2(dn, 0);
		dup2(dn, 1);
		dup2(dn, 2);
		close(dn);
	}
	(void)!write(pfd, "K", 1);
	close(pfd);
	loop_run();
	_exit(0);
}

/* Fork the stub, detached (its own session, not our child once started):
 * 0 when it runs or another one has the lock, else -errno with @why. */
static int stub_spawn(const struct sockaddr_storage *ns, const char (*txt)[64],
		      unsigned nns, char *why, size_t whylen)
{
	int p[2], st;
	char buf[256];
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (pid == 0) {
		close(p[0]);
		setsid();
		if (fork() != 0)
			_exit(0);
		/* only the pipe and stdio stay open */
		for (int fd = 3; fd < 1024; fd++)
			if (fd != p[1])
				close(fd);
		if (chdir("/") < 0)
			_exit(1);
		stub_main(p[1], ns, txt, nns);
	}
	close(p[1]);
	waitpid(pid, &st, 0);
	do
		n = read(p[0], buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	close(p[0]);
	if (n <= 0) {
		snprintf(why, whylen, "the stub died at start");
		return -EIO;
	}
	buf[n] = 0;
	if (buf[0] == 'K' || buf[0] == 'B')
		return 0;
	/* "P...": no permission to put a nameserver on lo; "E...": else */
	snprintf(why, whylen, "%s", buf + 1);
	return buf[0] == 'P' ? -EPERM : -EADDRNOTAVAIL;
}

int dns_stub_ensure(const char *sock, bool warn_nonlocal,
		    struct so_addr *offlo, unsigned *noff)
{
	struct sockaddr_storage ns[MAX_NS];
	char txt[MAX_NS][64], why[256] = "";
	unsigned nns;
	int e = 0;

	*noff = 0;
	if (has_network())
		return 0;
	nns = read_nameservers(ns, txt);
	if (!nns) {
		/* what the libc resolver and Go ask without one */
		net_parse_ip("127.0.0.1", 53, &ns[0], &(socklen_t){ 0 });
		snprintf(txt[0], sizeof(txt[0]), "127.0.0.1");
		nns = 1;
	}
	gsock = sock;
	/* bounded: each round either registers, or a stub was leaving
	 * just then, or a new one is started */
	*noff = 0;
	for (int round = 0; round < 3; round++) {
		e = stub_register();
		if (e == 0) {
			for (unsigned i = 0; i < nns; i++)
				if (!ss_loopback(&ns[i]))
					so_addr_from_sa(&offlo[(*noff)++],
							(struct sockaddr *)&ns[i]);
			return 0;
		}
		if (e == -EPIPE)
			continue;
		if ((e = stub_spawn(ns, txt, nns, why, sizeof(why))) < 0)
			break;
	}
	/* A nameserver off loopback that we may not put on lo: shim
	 * programs resolve through getaddrinfo anyway, so say it only where
	 * it matters or someone reads it. */
	if (e != -EPERM || warn_nonlocal)
		fprintf(stderr,
			"sockout-run: warning: no DNS stub for the nameserver %s: %s: programs that send their own DNS queries get no answers here (docs/guest.md)\n",
			txt[0], why[0] ? why : strerror(-e));
	return e;
}
