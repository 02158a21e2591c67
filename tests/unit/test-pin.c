// SPDX-License-Identifier: MIT
/*
 * Unit test of dispatcher/pin.c on real loopback connections, in the three
 * shapes a guest's socket comes in: IPv4, IPv6, and an IPv6 socket
 * connected to an IPv4-mapped address (its packets are IPv4).  A pinned
 * socket still carries bytes both ways; its filter cannot be detached;
 * dissolved with connect(AF_UNSPEC) and connected to another listener, it
 * never completes and that listener has nothing to accept.  The same steps
 * on a socket left unpinned do reconnect (so the test can tell).  A Unix
 * socket is left alone; a TCP socket with no peer is refused.  One end
 * is pinned as the exit pins (pin_socket: addresses asked of the kernel),
 * the other as a route does (pin_socket_to); pinning again finds the
 * filter locked and leaves it.  pin_init() runs first, as in sockoutd:
 * afterwards CAP_NET_ADMIN is not effective, and the pins work all the
 * same (raised around the attach where the kernel wants it).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../dispatcher/pin.c"
#include "t.h"

/* A listener on @addr (of @fam), port chosen by the kernel; its address
 * in *@ss. */
static int listener(int fam, const char *addr, struct sockaddr_storage *ss,
		    socklen_t *sl)
{
	int fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	memset(ss, 0, sizeof(*ss));
	if (fam == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;
		s->sin_family = AF_INET;
		inet_pton(AF_INET, addr, &s->sin_addr);
		*sl = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
		s->sin6_family = AF_INET6;
		inet_pton(AF_INET6, addr, &s->sin6_addr);
		*sl = sizeof(*s);
	}
	if (fd < 0 || bind(fd, (struct sockaddr *)ss, *sl) < 0 || listen(fd, 4) < 0 ||
	    getsockname(fd, (struct sockaddr *)ss, sl) < 0)
		return -1;
	return fd;
}

/* @ss as seen from a socket of family @fam: an IPv4 address becomes
 * IPv4-mapped for an IPv6 socket. */
static socklen_t as_family(int fam, const struct sockaddr_storage *ss,
			   struct sockaddr_storage *out)
{
	*out = *ss;
	if (fam == AF_INET6 && ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)out;
		memset(out, 0, sizeof(*out));
		d->sin6_family = AF_INET6;
		d->sin6_port = s->sin_port;
		d->sin6_addr.s6_addr[10] = d->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&d->sin6_addr.s6_addr[12], &s->sin_addr, 4);
		return sizeof(*d);
	}
	return fam == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

static bool wait_for(int fd, short ev, int ms)
{
	struct pollfd p = { .fd = fd, .events = ev };

	return poll(&p, 1, ms) == 1 && (p.revents & ev);
}

/* Bytes each way between @a and @b. */
static bool carries(int a, int b)
{
	char buf[8];

	return send(a, "ping", 4, MSG_NOSIGNAL) == 4 && wait_for(b, POLLIN, 2000) &&
	       recv(b, buf, sizeof(buf), 0) == 4 && !memcmp(buf, "ping", 4) &&
	       send(b, "pong", 4, MSG_NOSIGNAL) == 4 && wait_for(a, POLLIN, 2000) &&
	       recv(a, buf, sizeof(buf), 0) == 4 && !memcmp(buf, "pong", 4);
}

/* Dissolve @c and connect it to @l2 (at @ss2); true if that completed
 * within 300 ms or @l2 had a connection to accept. */
static bool reconnects(int c, int cfam, int l2, const struct sockaddr_storage *ss2)
{
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	struct sockaddr_storage to;
	socklen_t tl = as_family(cfam, ss2, &to);
	int e = 0;
	socklen_t el = sizeof(e);

	if (connect(c, &unspec, sizeof(unspec)) < 0)
		return false;
	fcntl(c, F_SETFL, O_NONBLOCK);
	if (connect(c, (struct sockaddr *)&to, tl) < 0 && errno != EINPROGRESS)
		return false;
	bool done = wait_for(c, POLLOUT, 300) &&
		    getsockopt(c, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && !e;
	int a = accept(l2, NULL, NULL);
	if (a >= 0)
		close(a);
	return done || a >= 0;
}

/* One shape: a client socket of @cfam to a listener of @lfam on @addr. */
static void shape(const char *what, int cfam, int lfam, const char *addr)
{
	struct sockaddr_storage ss, ss2, to;
	socklen_t sl, sl2;
	int l = listener(lfam, addr, &ss, &sl), l2 = listener(lfam, addr, &ss2, &sl2);

	for (int pinned = 1; pinned >= 0; pinned--) {
		int c = socket(cfam, SOCK_STREAM | SOCK_CLOEXEC, 0), s;
		socklen_t tl = as_family(cfam, &ss, &to);
		int z = 0;

		CHECK(l >= 0 && l2 >= 0 && c >= 0);
		CHECK(connect(c, (struct sockaddr *)&to, tl) == 0);
		CHECK(wait_for(l, POLLIN, 2000));
		s = accept(l, NULL, NULL);
		CHECK(s >= 0);
		if (pinned) {
			CHECK_EQ(pin_socket(c), 0);
			/* the other end as a route pins it, knowing the addresses */
			struct sockaddr_storage sl_, sp_;
			socklen_t a = sizeof(sl_), b = sizeof(sp_);
			CHECK(getsockname(s, (struct sockaddr *)&sl_, &a) == 0 &&
			      getpeername(s, (struct sockaddr *)&sp_, &b) == 0);
			CHECK_EQ(pin_socket_to(s, (struct sockaddr *)&sl_, (struct sockaddr *)&sp_), 0);
			/* pinned once: the exit's check finds it locked */
			CHECK_EQ(pin_socket(s), 0);
			CHECK_EQ(pin_socket(c), 0);
		}
		CHECK(carries(c, s));
		int r = setsockopt(c, SOL_SOCKET, SO_DETACH_FILTER, &z, sizeof(z));
		if (pinned) {
			CHECK(r < 0 && errno == EPERM);
			CHECK(!reconnects(c, cfam, l2, &ss2));
		} else {
			CHECK(reconnects(c, cfam, l2, &ss2));
		}
		if (t_failed)
			fprintf(stderr, "  in %s, %s\n", what, pinned ? "pinned" : "not pinned");
		close(c);
		close(s);
	}
	close(l);
	close(l2);
}

/* Is CAP_NET_ADMIN in this process's effective set? */
static bool net_admin_effective(void)
{
	struct __user_cap_data_struct d[2];

	return caps_get(d) == 0 && (d[0].effective & NET_ADMIN_BIT);
}

int main(void)
{
	/* as sockoutd starts: CAP_NET_ADMIN is never left effective, kept
	 * (permitted) only where this kernel wants it for TCP filters */
	CHECK_EQ(pin_init(), 0);
	CHECK(!net_admin_effective());
	shape("IPv4", AF_INET, AF_INET, "127.0.0.1");
	shape("IPv6", AF_INET6, AF_INET6, "::1");
	shape("IPv6 socket, IPv4-mapped peer", AF_INET6, AF_INET, "127.0.0.1");

	/* a Unix socket: nothing to pin, nothing attached */
	int u[2], locked = 1;
	socklen_t ll = sizeof(locked);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, u) == 0);
	CHECK_EQ(pin_socket(u[0]), 0);
	CHECK(getsockopt(u[0], SOL_SOCKET, SO_LOCK_FILTER, &locked, &ll) == 0 && !locked);
	close(u[0]);
	close(u[1]);

	/* a TCP socket with no peer never leaves */
	int t = socket(AF_INET, SOCK_STREAM, 0);
	CHECK_EQ(pin_socket(t), -ENOTCONN);
	close(t);
	T_DONE();
}
