// SPDX-License-Identifier: MIT
/*
 * test-shim.c - the guest shim linked straight into a test program, so its
 * connect/bind/listen/accept/getsockname/... replace libc's here exactly as
 * they do under LD_PRELOAD, and run under ASan/UBSan and valgrind.  A fake
 * sockoutd thread answers the requests; its descriptors are socketpair()
 * ends, which also exercises the "fake" answers for non-TCP descriptors.
 */
#include "guest/gp-client.c"
#include "guest/shim-addr.c"
#include "guest/shim-client.c"
#include "guest/shim-epoll.c"
#include "guest/shim-listen.c"
#include "guest/shim-real.c"
#include "guest/shim-socket.c"
#include "guest/shim-sockopt.c"
#include "guest/shim-table.c"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/net.h"
#include "tests/unit/t.h"

static char dir[64], sock_path[96];
static int lsock = -1;
static int seq_keep = -1;	 /* sockoutd's end of the last LISTEN */
static volatile int fake_mode; /* 1: answer garbage, 2: refuse LISTEN */
static volatile int listen_reqs;

static void send_reply(int c, const struct gp_reply *r, int fd)
{
	uint8_t p[GP_REPLY_LEN];
	int e;

	gp_reply_encode(p, r);
	if (fake_mode == 1)
		p[7] = 1; /* a reserved byte: the shim must refuse it */
	/* a fresh reply socket: the 64 bytes always fit */
	if ((e = net_send_fd(c, p, sizeof(p), fd)) < 0)
		fprintf(stderr, "fake sendmsg: %s\n", strerror(-e));
}

/* The fake sockoutd: CONNECT to port 81 is refused, loopback is ENOENT,
 * any other CONNECT gets one end of a stream socketpair whose other end
 * echoes; LISTEN gets a seqpacket. */
static void *fake_sockoutd(void *arg)
{
	(void)arg;
	for (;;) {
		int c = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
		uint8_t q[GP_REQ_LEN];
		struct gp_req req;
		struct gp_reply rep = { 0 };
		int sv[2];
		size_t got = 0;

		if (c < 0)
			return NULL;
		while (got < GP_REQ_LEN) {
			ssize_t n = read(c, q + got, GP_REQ_LEN - got);
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		if (got < GP_REQ_LEN || gp_req_decode(q, &req) < 0) {
			close(c);
			continue;
		}
		rep.op = req.op;
		if (req.op == GP_CONNECT && (req.flags & GP_F_LOOPBACK)) {
			rep.status = ENOENT;
			send_reply(c, &rep, -1);
		} else if (req.op == GP_CONNECT && req.addr.port == 81) {
			rep.status = ECONNREFUSED;
			send_reply(c, &rep, -1);
		} else if (req.op == GP_CONNECT) {
			socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
			/* sockoutd's sockets are non-blocking: the shim must
			 * put the program's own setting back. */
			fcntl(sv[0], F_SETFL, O_NONBLOCK);
			rep.local.family = 4;
			rep.local.port = 4000;
			memcpy(rep.local.addr, "\xc6\x33\x64\x01", 4);
			rep.peer = req.addr;
			send_reply(c, &rep, sv[0]);
			close(sv[0]);
			/* echo one message */
			char buf[64];
			ssize_t n = read(sv[1], buf, sizeof(buf));
			if (n > 0 && write(sv[1], buf, (size_t)n) < 0)
				perror("echo");
			close(sv[1]);
		} else if (fake_mode == 2) {
			listen_reqs++;
			rep.status = EACCES;
			send_reply(c, &rep, -1);
		} else {
			listen_reqs++;
			socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
			rep.local = req.addr;
			if (!rep.local.port)
				rep.local.port = 33333;
			if (seq_keep >= 0)
				close(seq_keep);
			seq_keep = sv[0];
			send_reply(c, &rep, sv[1]);
			close(sv[1]);
		}
		close(c);
	}
}

static void sin_set(struct sockaddr_in *a, const char *ip, int port)
{
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip, &a->sin_addr);
}

static void test_table(void)
{
	struct sk_entry e = { .kind = SK_BOUND, .family = AF_INET }, g;
	int a = socket(AF_INET, SOCK_STREAM, 0), b;

	CHECK(!fdt_get(a, &g));
	CHECK_EQ(fdt_set(a, &e), 0);
	CHECK(fdt_get(a, &g) && g.kind == SK_BOUND);
	/* the same number for another socket, as after close + socket */
	b = socket(AF_INET, SOCK_STREAM, 0);
	CHECK_EQ(dup2(b, a), a);
	close(b);
	CHECK(!fdt_get(a, &g));
	fdt_set(a, &e);
	fdt_clear(a);
	CHECK(!fdt_get(a, &g));
	close(a);
	CHECK_EQ(fdt_set(1000, &e), -EBADF);
	/* a high descriptor number costs a page, not an array up to it */
	a = socket(AF_INET, SOCK_STREAM, 0);
	CHECK_EQ(dup2(a, 5000), 5000);
	CHECK_EQ(fdt_set(5000, &e), 0);
	CHECK(fdt_get(5000, &g) && g.kind == SK_BOUND);
	CHECK(!fdt_get(a, &g));
	CHECK(fdt_find_file(a, &g) && g.kind == SK_BOUND);
	CHECK(fdt_get(a, &g));
	close(5000);
	close(a);
}

static void test_addr(void)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(80) };
	struct sockaddr_in s4;
	struct sockaddr_storage out;
	struct so_addr a;
	socklen_t l;

	inet_pton(AF_INET6, "::ffff:198.51.100.7", &s6.sin6_addr);
	CHECK_EQ(so_addr_from_user(&a, (struct sockaddr *)&s6, sizeof(s6)), 0);
	CHECK(a.family == 4 && a.port == 80 && a.addr[0] == 198 && a.addr[3] == 7);
	CHECK_EQ(so_addr_from_user(&a, (struct sockaddr *)&s6, 10), -EINVAL);
	/* an IPv4 address shown to an AF_INET6 socket is v4-mapped */
	l = sizeof(out);
	so_addr_from_user(&a, (struct sockaddr *)&s6, sizeof(s6));
	so_addr_to_user(&a, AF_INET6, (struct sockaddr *)&out, &l);
	CHECK_EQ(l, sizeof(s6));
	CHECK(!memcmp(&((struct sockaddr_in6 *)&out)->sin6_addr, &s6.sin6_addr, 16));
	/* truncation: copy what fits, report the full length */
	memset(&out, 0xaa, sizeof(out));
	l = 4;
	so_addr_to_user(&a, AF_INET, (struct sockaddr *)&out, &l);
	CHECK_EQ(l, sizeof(struct sockaddr_in));
	CHECK_EQ(((unsigned char *)&out)[4], 0xaa);
	sin_set(&s4, "127.9.9.9", 1);
	so_addr_from_user(&a, (struct sockaddr *)&s4, sizeof(s4));
	CHECK(so_addr_is_loopback(&a));
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &s6.sin6_addr);
	so_addr_from_user(&a, (struct sockaddr *)&s6, sizeof(s6));
	CHECK(so_addr_is_loopback(&a));
	inet_pton(AF_INET6, "::1", &s6.sin6_addr);
	so_addr_from_user(&a, (struct sockaddr *)&s6, sizeof(s6));
	CHECK(so_addr_is_loopback(&a));
}

static void test_opts(void)
{
	struct sk_entry e = { 0 };
	int one = 1, v = 7;

	CHECK(opt_remember(&e, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)));
	CHECK(opt_remember(&e, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)));
	CHECK(e.nopts == 1 && e.opts[0].value == 7);
	CHECK(!opt_remember(&e, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)));
	CHECK(!opt_remember(&e, IPPROTO_TCP, TCP_NODELAY, &one, 2));
}

static void test_connect(void)
{
	struct sockaddr_in dst, got;
	socklen_t l = sizeof(got);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, v = 0;
	char buf[16];

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	sin_set(&dst, "198.51.100.9", 80);
	errno = 1234;
	CHECK_EQ(connect(fd, (struct sockaddr *)&dst, sizeof(dst)), 0);
	CHECK_EQ(errno, 1234);
	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	CHECK(!(fcntl(fd, F_GETFL) & O_NONBLOCK));
	CHECK_EQ(getpeername(fd, (struct sockaddr *)&got, &l), 0);
	CHECK(l == sizeof(got) && got.sin_port == htons(80) &&
	      got.sin_addr.s_addr == dst.sin_addr.s_addr);
	l = sizeof(got);
	CHECK_EQ(getsockname(fd, (struct sockaddr *)&got, &l), 0);
	CHECK(got.sin_port == htons(4000));
	l = sizeof(v);
	CHECK(getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &l) == 0 && v == SOCK_STREAM);
	CHECK(getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &l) == 0 && v == AF_INET);
	CHECK(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &l) == 0 && v == 1);
	CHECK_EQ(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
	CHECK_EQ(connect(fd, (struct sockaddr *)&dst, sizeof(dst)), -1);
	CHECK_EQ(errno, EISCONN);
	CHECK_EQ(write(fd, "hello", 5), 5);
	CHECK(read(fd, buf, sizeof(buf)) == 5 && !memcmp(buf, "hello", 5));
	close(fd);

	/* a non-blocking socket stays non-blocking */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CHECK_EQ(connect(fd, (struct sockaddr *)&dst, sizeof(dst)), 0);
	CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
	CHECK(!(fcntl(fd, F_GETFD) & FD_CLOEXEC));
	close(fd);

	/* an AF_INET6 socket to a v4-mapped address: sockoutd sees IPv4,
	 * the program keeps seeing its IPv6 socket */
	struct sockaddr_in6 d6 = { .sin6_family = AF_INET6, .sin6_port = htons(80) }, g6;
	inet_pton(AF_INET6, "::ffff:198.51.100.9", &d6.sin6_addr);
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	CHECK_EQ(connect(fd, (struct sockaddr *)&d6, sizeof(d6)), 0);
	l = sizeof(g6);
	CHECK(getpeername(fd, (struct sockaddr *)&g6, &l) == 0 && l == sizeof(g6) &&
	      g6.sin6_family == AF_INET6 && !memcmp(&g6.sin6_addr, &d6.sin6_addr, 16));
	l = sizeof(g6);
	CHECK(getsockname(fd, (struct sockaddr *)&g6, &l) == 0 &&
	      g6.sin6_family == AF_INET6 && g6.sin6_port == htons(4000));
	l = sizeof(v);
	CHECK(getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &l) == 0 && v == AF_INET6);
	v = 1;
	CHECK_EQ(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v)), 0);
	l = sizeof(v);
	CHECK_EQ(getsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &v, &l), 0);
	/* a short buffer gets what fits and the full length */
	unsigned char tiny[6];
	l = sizeof(tiny);
	CHECK(getpeername(fd, (struct sockaddr *)tiny, &l) == 0 && l == sizeof(g6));
	close(fd);

	/* refused by sockoutd */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	sin_set(&dst, "198.51.100.9", 81);
	CHECK_EQ(connect(fd, (struct sockaddr *)&dst, sizeof(dst)), -1);
	CHECK_EQ(errno, ECONNREFUSED);
	close(fd);
}

static void test_loopback(void)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0), c;

	/* bound natively to loopback: not the shim's business */
	sin_set(&a, "127.0.0.1", 0);
	CHECK_EQ(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	CHECK_EQ(listen(s, 4), 0);
	CHECK_EQ(real_getsockname(s, (struct sockaddr *)&a, &l), 0);
	/* sockoutd says ENOENT for loopback: connect natively */
	c = socket(AF_INET, SOCK_STREAM, 0);
	CHECK_EQ(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
	close(c);
	/* a client that bound the wildcard, then connects to loopback
	 * natively: bound for real, and getsockname tells the truth */
	struct sockaddr_in w, me;
	c = socket(AF_INET, SOCK_STREAM, 0);
	sin_set(&w, "0.0.0.0", 0);
	CHECK_EQ(bind(c, (struct sockaddr *)&w, sizeof(w)), 0);
	CHECK_EQ(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
	l = sizeof(me);
	CHECK(getsockname(c, (struct sockaddr *)&me, &l) == 0 &&
	      me.sin_addr.s_addr == htonl(INADDR_LOOPBACK) && me.sin_port != 0);
	close(c);
	/* a Unix socket is never touched */
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", sock_path);
	CHECK_EQ(connect(c, (struct sockaddr *)&un, sizeof(un)), 0);
	close(c);
	close(s);
}

static void send_accept(uint16_t peer_port)
{
	struct gp_reply r = { .op = GP_ACCEPT };
	int sv[2];

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	r.local.family = 4;
	r.local.port = 8080;
	r.peer.family = 4;
	r.peer.port = peer_port;
	memcpy(r.peer.addr, "\xc6\x33\x64\x02", 4);
	send_reply(seq_keep, &r, sv[0]);
	close(sv[0]);
	close(sv[1]);
}

static void test_listen(void)
{
	struct sockaddr_in a, got;
	socklen_t l;
	int s = socket(AF_INET, SOCK_STREAM, 0), c, v = 0;

	sin_set(&a, "0.0.0.0", 8080);
	CHECK_EQ(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	CHECK_EQ(bind(s, (struct sockaddr *)&a, sizeof(a)), -1);
	CHECK_EQ(errno, EINVAL);
	l = sizeof(got);
	CHECK(getsockname(s, (struct sockaddr *)&got, &l) == 0 &&
	      got.sin_port == htons(8080));
	CHECK_EQ(listen(s, 16), 0);
	CHECK_EQ(listen(s, 32), 0);
	l = sizeof(v);
	CHECK(getsockopt(s, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) == 0 && v == 1);
	CHECK(getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &l) == 0 && v == SOCK_STREAM);
	CHECK(getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, &l) == 0 && v == 0);
	v = 1;
	CHECK_EQ(setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)), 0);
	l = sizeof(got);
	CHECK_EQ(getpeername(s, (struct sockaddr *)&got, &l), -1);
	CHECK_EQ(errno, ENOTCONN);

	send_accept(5555);
	l = sizeof(got);
	c = accept4(s, (struct sockaddr *)&got, &l, SOCK_NONBLOCK | SOCK_CLOEXEC);
	CHECK(c >= 0);
	CHECK(l == sizeof(got) && got.sin_port == htons(5555));
	CHECK(fcntl(c, F_GETFL) & O_NONBLOCK);
	CHECK(fcntl(c, F_GETFD) & FD_CLOEXEC);
	l = sizeof(got);
	CHECK(getsockname(c, (struct sockaddr *)&got, &l) == 0 &&
	      got.sin_port == htons(8080));
	l = sizeof(v);
	CHECK(getsockopt(c, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) == 0 && v == 0);
	close(c);

	/* poll sees a pending connection; plain accept() takes it */
	send_accept(5556);
	struct pollfd pfd = { .fd = s, .events = POLLIN };
	CHECK_EQ(poll(&pfd, 1, 5000), 1);
	c = accept(s, NULL, NULL);
	CHECK(c >= 0);
	CHECK(!(fcntl(c, F_GETFD) & FD_CLOEXEC));
	close(c);

	/* a dup()ed listener (socket.fromfd, dup2 to a fixed number) */
	int d = dup(s);
	send_accept(5557);
	l = sizeof(got);
	c = accept(d, (struct sockaddr *)&got, &l);
	CHECK(c >= 0 && got.sin_port == htons(5557));
	close(c);
	l = sizeof(v);
	CHECK(getsockopt(d, SOL_SOCKET, SO_TYPE, &v, &l) == 0 && v == SOCK_STREAM);
	close(d);
	d = dup(s);
	l = sizeof(got);
	CHECK(getsockname(d, (struct sockaddr *)&got, &l) == 0 &&
	      got.sin_family == AF_INET && got.sin_port == htons(8080));
	close(d);
	d = dup(s);
	v = 1;
	CHECK_EQ(setsockopt(d, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)), 0);
	close(d);
	/* an unknown Unix socket keeps the kernel's answers */
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	CHECK_EQ(setsockopt(sv[0], IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)), -1);
	CHECK(errno == EOPNOTSUPP || errno == ENOPROTOOPT);
	l = sizeof(v);
	CHECK(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &l) == 0 && v == SOCK_STREAM);
	CHECK(getsockopt(sv[0], SOL_SOCKET, SO_DOMAIN, &v, &l) == 0 && v == AF_UNIX);
	CHECK_EQ(accept(sv[0], NULL, NULL), -1);
	CHECK_EQ(errno, EINVAL);
	close(sv[0]);
	close(sv[1]);

	/* non-blocking listener with nothing pending */
	fcntl(s, F_SETFL, O_NONBLOCK);
	CHECK_EQ(accept(s, NULL, NULL), -1);
	CHECK_EQ(errno, EAGAIN);
	CHECK_EQ(accept4(s, NULL, NULL, 0x40000000), -1);
	CHECK_EQ(errno, EINVAL);

	/* sockoutd drops the listener but grants it again at once */
	close(seq_keep);
	seq_keep = -1;
	CHECK_EQ(accept(s, NULL, NULL), -1);
	CHECK_EQ(errno, EAGAIN);
	CHECK(seq_keep >= 0);
	send_accept(5558);
	l = sizeof(got);
	c = accept(s, (struct sockaddr *)&got, &l);
	CHECK(c >= 0 && got.sin_port == htons(5558));
	close(c);

	/* sockoutd is away for a while: the listener idles on a
	 * placeholder that wakes up now and then to look for it */
	char away[128], link[160];
	snprintf(away, sizeof(away), "%s/away", dir);
	snprintf(link, sizeof(link), "%s/g.sock", away);
	CHECK_EQ(mkdir(away, 0700), 0);
	setenv("SOCKOUT_SOCKET", link, 1);
	shim_load();
	close(seq_keep);
	seq_keep = -1;
	CHECK_EQ(accept(s, NULL, NULL), -1);
	CHECK_EQ(errno, EAGAIN);
	struct pollfd ap = { .fd = s, .events = POLLIN };
	CHECK_EQ(accept(s, NULL, NULL), -1);
	CHECK_EQ(errno, EAGAIN);
	l = sizeof(got);
	CHECK(getsockname(s, (struct sockaddr *)&got, &l) == 0 &&
	      got.sin_port == htons(8080));
	l = sizeof(v);
	CHECK(getsockopt(s, SOL_SOCKET, SO_ERROR, &v, &l) == 0 && v == 0);
	CHECK(getsockopt(s, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) == 0 && v == 1);
	v = 1;
	CHECK_EQ(setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, sizeof(v)), 0);
	CHECK_EQ(symlink(sock_path, link), 0);
	CHECK_EQ(poll(&ap, 1, 5000), 1);
	CHECK_EQ(accept(s, NULL, NULL), -1);
	CHECK_EQ(errno, EAGAIN);
	CHECK(seq_keep >= 0);
	send_accept(5559);
	l = sizeof(got);
	c = accept(s, (struct sockaddr *)&got, &l);
	CHECK(c >= 0 && got.sin_port == htons(5559));
	close(c);
	unlink(link);
	rmdir(away);
	setenv("SOCKOUT_SOCKET", sock_path, 1);
	shim_load();

	/* exec() loses the table: an inherited listener is recognised at
	 * its first accept() and learns its address from sockoutd */
	fdt_clear(s);
	fcntl(s, F_SETFL, 0);
	send_accept(5560);
	l = sizeof(got);
	c = accept(s, (struct sockaddr *)&got, &l);
	CHECK(c >= 0 && l == sizeof(got) && got.sin_port == htons(5560));
	close(c);
	l = sizeof(got);
	CHECK(getsockname(s, (struct sockaddr *)&got, &l) == 0 &&
	      got.sin_family == AF_INET && got.sin_port == htons(8080));
	fcntl(s, F_SETFL, O_NONBLOCK);

	/* shut down by the program itself: accept says EINVAL, as on TCP,
	 * and nothing is asked of sockoutd */
	int before = seq_keep;
	CHECK_EQ(shutdown(s, SHUT_RDWR), 0);
	CHECK_EQ(accept(s, NULL, NULL), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(seq_keep, before);
	close(s);

	/* dropped, and refused when asked again: the listener goes quiet
	 * for good (no readable placeholder, no more requests) */
	int s2 = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	sin_set(&a, "0.0.0.0", 8090);
	CHECK_EQ(bind(s2, (struct sockaddr *)&a, sizeof(a)), 0);
	CHECK_EQ(listen(s2, 4), 0);
	int kept = seq_keep;
	fake_mode = 2;
	close(kept);
	seq_keep = -1;
	int reqs = listen_reqs;
	CHECK_EQ(accept(s2, NULL, NULL), -1);
	CHECK_EQ(errno, EAGAIN);
	CHECK_EQ(listen_reqs, reqs + 1);
	struct pollfd rp = { .fd = s2, .events = POLLIN };
	CHECK_EQ(poll(&rp, 1, 1500), 0);
	CHECK_EQ(accept(s2, NULL, NULL), -1);
	CHECK_EQ(errno, EAGAIN);
	CHECK_EQ(listen_reqs, reqs + 1);
	fake_mode = 0;
	close(s2);


	/* listen() with no bind: port from sockoutd */
	s = socket(AF_INET6, SOCK_STREAM, 0);
	CHECK_EQ(listen(s, 1), 0);
	struct sockaddr_in6 g6;
	l = sizeof(g6);
	CHECK(getsockname(s, (struct sockaddr *)&g6, &l) == 0 &&
	      g6.sin6_family == AF_INET6 && g6.sin6_port == htons(33333));
	close(s);
}

static void test_failures(void)
{
	struct sockaddr_in dst;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin_set(&dst, "198.51.100.9", 80);
	fake_mode = 1;
	CHECK_EQ(connect(fd, (struct sockaddr *)&dst, sizeof(dst)), -1);
	CHECK_EQ(errno, ENETUNREACH);
	fake_mode = 0;
	setenv("SOCKOUT_SOCKET", "/nonexistent/sockout.sock", 1);
	shim_load();
	CHECK_EQ(connect(fd, (struct sockaddr *)&dst, sizeof(dst)), -1);
	CHECK_EQ(errno, ENETUNREACH);
	/* loopback destinations still work without sockoutd */
	sin_set(&dst, "127.0.0.1", 1);
	CHECK_EQ(connect(fd, (struct sockaddr *)&dst, sizeof(dst)), -1);
	CHECK_EQ(errno, ECONNREFUSED);
	close(fd);
}

/* A socket put in an epoll set before connect()/listen() stays there. */
static void test_epoll(void)
{
	struct sockaddr_in dst;
	struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = 42 }, got;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	CHECK_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
	ev.events = EPOLLOUT | EPOLLIN;
	ev.data.u64 = 43;
	CHECK_EQ(epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev), 0);
	sin_set(&dst, "198.51.100.9", 80);
	CHECK_EQ(connect(fd, (struct sockaddr *)&dst, sizeof(dst)), 0);
	CHECK_EQ(epoll_wait(ep, &got, 1, 5000), 1);
	CHECK(got.data.u64 == 43 && (got.events & EPOLLOUT));
	CHECK_EQ(epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL), 0);
	CHECK_EQ(epoll_wait(ep, &got, 1, 0), 0);
	close(fd);

	/* deleted before connect: not put back */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
	CHECK_EQ(epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL), 0);
	CHECK_EQ(connect(fd, (struct sockaddr *)&dst, sizeof(dst)), 0);
	CHECK_EQ(epoll_wait(ep, &got, 1, 0), 0);
	close(fd);

	/* a listener registered before listen() */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	sin_set(&dst, "0.0.0.0", 8081);
	CHECK_EQ(bind(fd, (struct sockaddr *)&dst, sizeof(dst)), 0);
	ev.events = EPOLLIN;
	ev.data.u64 = 44;
	CHECK_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
	CHECK_EQ(listen(fd, 4), 0);
	CHECK_EQ(epoll_wait(ep, &got, 1, 0), 0);
	send_accept(6000);
	CHECK_EQ(epoll_wait(ep, &got, 1, 5000), 1);
	CHECK_EQ(got.data.u64, 44);
	int c = accept(fd, NULL, NULL);
	CHECK(c >= 0);
	close(c);
	close(fd);
	close(seq_keep);
	seq_keep = -1;
	close(ep);
}

static void test_fork(void)
{
	struct sk_entry e = { .kind = SK_BOUND };
	int s = socket(AF_INET, SOCK_STREAM, 0), st = 0;
	pid_t p;

	fdt_set(s, &e);
	p = fork();
	if (p == 0) {
		struct sk_entry g;
		_exit(fdt_get(s, &g) && g.kind == SK_BOUND ? 0 : 1);
	}
	CHECK(p > 0 && waitpid(p, &st, 0) == p && WIFEXITED(st) &&
	      WEXITSTATUS(st) == 0);
	close(s);
}

int main(void)
{
	pthread_t th;

	snprintf(dir, sizeof(dir), "/tmp/test-shim.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(sock_path, sizeof(sock_path), "%s/g.sock", dir);
	lsock = net_unix_listen(sock_path, 0600);
	CHECK(lsock >= 0);
	fcntl(lsock, F_SETFL, 0);
	setenv("SOCKOUT_SOCKET", sock_path, 1);
	shim_load();
	pthread_create(&th, NULL, fake_sockoutd, NULL);

	test_table();
	test_addr();
	test_opts();
	test_connect();
	test_loopback();
	test_listen();
	test_epoll();
	test_fork();
	test_failures();

	shutdown(lsock, SHUT_RDWR);
	pthread_join(th, NULL);
	close(lsock);
	unlink(sock_path);
	rmdir(dir);
	fdt_free_all();
	T_DONE();
}
