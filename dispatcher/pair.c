// SPDX-License-Identifier: MIT
/*
 * pair.c - connected TCP socket pairs on 127.0.0.1.
 *
 * Why TCP and not socketpair(AF_UNIX): the guest end must be a real TCP
 * socket, so that the program's setsockopt(TCP_NODELAY), getsockopt(
 * SO_TYPE) and the like work, and so that sockoutd can make the guest see
 * ECONNRESET (an abortive close) when a helper connection is reset.
 *
 * sockoutd keeps one listener on 127.0.0.1:0 in its own namespace.  A pair
 * is a non-blocking connect to it; the accepted socket is matched to its
 * request by port (the accepted socket's peer port is the connecting
 * socket's local port).  Anything else that connects there is closed.
 * Completion is always reported from the loop, never inside pair_start(),
 * so callers need not expect re-entry.
 *
 * A few pairs are made in advance (the pool): a helper connection takes
 * one with pair_take() and answers its guest at once, instead of paying
 * for a socket, a loopback handshake, a loop pass and an accept between
 * the helper's CONNECTED and the guest's reply.  The pool is refilled one
 * pair at a time from the loop, after the guest has its answer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/hash.h"
#include "../common/log.h"
#include "sockoutd.h"

#define PTAB 256u
/* Pairs kept ready: a burst of connects larger than this makes the rest
 * their own pairs, as without the pool.  Costs 2 descriptors each. */
#define PAIR_POOL 8u

static struct ev pair_lev = { .fd = -1 };
static struct timer pair_pause;

static void pair_resume(struct timer *t)
{
	(void)t;
	ev_mod(&pair_lev, EPOLLIN);
}
static struct sockaddr_in pair_addr;
static LIST_HEAD(, pair_req) ptab[PTAB];

static struct {
	int gfd, kfd;
} pool[PAIR_POOL];
static unsigned npool;
static struct pair_req refill = { .cfd = -1 }; /* the pair being made */
static struct timer refill_timer;

static unsigned pkey(uint16_t port)
{
	return hash_slot(hash_u64(port), PTAB);
}

bool pair_pending(const struct pair_req *p)
{
	return p->cfd >= 0;
}

void pair_cancel(struct pair_req *p)
{
	if (p->cfd < 0)
		return;
	LIST_REMOVE(p, link);
	close(p->cfd);
	p->cfd = -1;
}

static void pair_accept_cb(struct ev *ev, uint32_t events)
{
	struct sockaddr_in peer;

	(void)events;
	for (int i = 0; i < 256; i++) {
		socklen_t sl = sizeof(peer);
		int afd = accept4(ev->fd, (struct sockaddr *)&peer, &sl,
				  SOCK_NONBLOCK | SOCK_CLOEXEC);
		static uint64_t last;

		if (afd < 0) {
			accept_pause(ev, &pair_pause, &last, "pair listener");
			return;
		}
		uint16_t port = ntohs(peer.sin_port);
		struct pair_req *p;
		LIST_FOREACH(p, &ptab[pkey(port)], link)
			if (p->port == port)
				break;
		if (!p || peer.sin_addr.s_addr != htonl(INADDR_LOOPBACK)) {
			debug("pair listener: stray connection from port %u", port);
			close(afd);
			continue;
		}
		LIST_REMOVE(p, link);
		int cfd = p->cfd;
		p->cfd = -1;
		/* The guest's end goes out blocking, like a fresh socket; the
		 * shim applies the program's O_NONBLOCK. */
		fcntl(cfd, F_SETFL, fcntl(cfd, F_GETFL) & ~O_NONBLOCK);
		/* and pinned (pin.c), here where a pool pair is made before
		 * anyone waits for it */
		struct sockaddr_in local = pair_addr;
		local.sin_port = peer.sin_port;
		int e = pin_socket_to(cfd, (struct sockaddr *)&local,
				      (struct sockaddr *)&pair_addr);
		if (e < 0) {
			warn("pair on port %u: cannot pin the guest's end: %s",
			     port, strerror(-e));
			close(cfd);
			close(afd);
			p->done(p, -1, -1);
			continue;
		}
		p->done(p, cfd, afd);
	}
}

static void pool_done(struct pair_req *p, int gfd, int kfd)
{
	(void)p;
	if (gfd < 0)
		return; /* out of descriptors, say: the next take asks again */
	pool[npool].gfd = gfd;
	pool[npool].kfd = kfd;
	npool++;
	if (npool < PAIR_POOL)
		timer_set(&refill_timer, 0);
}

static void pool_refill(struct timer *t)
{
	(void)t;
	if (npool < PAIR_POOL && !pair_pending(&refill))
		pair_start(&refill, pool_done);
}

bool pair_pool_full(void)
{
	return npool == PAIR_POOL;
}

int pair_take(int *gfd, int *kfd)
{
	if (!npool)
		return -EAGAIN;
	npool--;
	*gfd = pool[npool].gfd;
	*kfd = pool[npool].kfd;
	if (!timer_armed(&refill_timer))
		timer_set(&refill_timer, 0);
	return 0;
}

int pair_init(void)
{
	socklen_t sl = sizeof(pair_addr);
	int fd, r;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&pair_addr, 0, sizeof(pair_addr));
	pair_addr.sin_family = AF_INET;
	pair_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&pair_addr, sizeof(pair_addr)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&pair_addr, &sl) < 0 ||
	    listen(fd, 4096) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	timer_init(&pair_pause, pair_resume);
	timer_init(&refill_timer, pool_refill);
	if ((r = ev_add(&pair_lev, fd, EPOLLIN, pair_accept_cb)) < 0) {
		close(fd);
		return r;
	}
	timer_set(&refill_timer, 0);
	return 0;
}

int pair_start(struct pair_req *p, pair_cb done)
{
	struct sockaddr_in la;
	socklen_t sl = sizeof(la);
	int fd, r;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if ((connect(fd, (struct sockaddr *)&pair_addr, sizeof(pair_addr)) < 0 &&
	     errno != EINPROGRESS) ||
	    getsockname(fd, (struct sockaddr *)&la, &sl) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	p->cfd = fd;
	p->port = ntohs(la.sin_port);
	p->done = done;
	LIST_INSERT_HEAD(&ptab[pkey(p->port)], p, link);
	return 0;
}

void pair_shutdown(void)
{
	timer_cancel(&pair_pause);
	timer_cancel(&refill_timer);
	while (npool) {
		npool--;
		close(pool[npool].gfd);
		close(pool[npool].kfd);
	}
	for (unsigned i = 0; i < PTAB; i++)
		while (!LIST_EMPTY(&ptab[i]))
			pair_cancel(LIST_FIRST(&ptab[i]));
	if (pair_lev.fd >= 0) {
		int fd = pair_lev.fd;
		ev_del(&pair_lev);
		close(fd);
	}
}
