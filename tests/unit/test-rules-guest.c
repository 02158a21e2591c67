// SPDX-License-Identifier: MIT
/*
 * Unit tests of sockoutd's guest request handling, in process: the real
 * guest socket, dispatch table and loop (linked from the dispatcher's
 * objects), driven by a client in the same process.  Edge cases: requests
 * in pieces, garbage, bad fields, hang-ups, stalls, IPv4-mapped IPv6
 * destinations, loopback without a listener, and no descriptor leaks.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../common/log.h"
#include "../../common/net.h"
#include "../../dispatcher/sockoutd.h"
#include "t.h"
#include "t-loop.h"

/* what main.c provides in sockoutd */
struct dconf *cfg;
uint64_t start_ms;
struct stats stats;

static char dir[] = "/tmp/test-rules-guest.XXXXXX";
static char sock[128];

static int dial(void)
{
	int fd = net_unix_connect(sock, SOCK_STREAM);

	CHECK(fd >= 0);
	return fd;
}

static void mkreq(uint8_t *p, uint8_t op, const char *ip, uint16_t port,
		  uint8_t flags)
{
	struct gp_req r = { .op = op, .flags = flags };
	struct sockaddr_storage ss;
	socklen_t sl;

	CHECK_EQ(net_parse_ip(ip, port, &ss, &sl), 0);
	so_addr_from_sa(&r.addr, (struct sockaddr *)&ss);
	gp_req_encode(p, &r);
}

/* Read a reply without blocking after the loop ran: status, or -1 for
 * "closed without a reply", -2 for "nothing yet". */
static int reply_of(int fd, int *rfd)
{
	uint8_t p[GP_REPLY_LEN];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec iov = { .iov_base = p, .iov_len = sizeof(p) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = cm.b, .msg_controllen = sizeof(cm.b) };
	struct gp_reply r;

	if (rfd)
		*rfd = -1;
	ssize_t n = recvmsg(fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0 && errno == EAGAIN)
		return -2;
	if (n <= 0)
		return -1;
	CHECK_EQ(n, GP_REPLY_LEN);
	CHECK_EQ(gp_reply_decode(p, &r), 0);
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	if (c && c->cmsg_type == SCM_RIGHTS && rfd)
		memcpy(rfd, CMSG_DATA(c), sizeof(int));
	return r.status;
}

static int nfds(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

static struct rule *rule_at(int line)
{
	for (size_t i = 0; i < cfg->nrules; i++)
		if (cfg->rules[i].line == line)
			return &cfg->rules[i];
	return NULL;
}

static void test_basic_and_pieces(void)
{
	uint8_t p[GP_REQ_LEN];
	int fd = dial();

	/* a deny rule: ECONNREFUSED, no descriptor */
	mkreq(p, GP_CONNECT, "198.51.100.2", 81, 0);
	CHECK_EQ(write(fd, p, sizeof(p)), (ssize_t)sizeof(p));
	spin(50);
	int rfd;
	CHECK_EQ(reply_of(fd, &rfd), ECONNREFUSED);
	CHECK_EQ(rfd, -1);
	close(fd);
	CHECK_EQ(rule_at(1)->hits, 1u);

	/* the same request in three pieces, with the loop running between */
	fd = dial();
	CHECK_EQ(write(fd, p, 10), 10);
	spin(20);
	CHECK_EQ(reply_of(fd, NULL), -2);
	CHECK_EQ(write(fd, p + 10, 40), 40);
	spin(20);
	CHECK_EQ(reply_of(fd, NULL), -2);
	CHECK_EQ(write(fd, p + 50, 14), 14);
	spin(20);
	CHECK_EQ(reply_of(fd, NULL), ECONNREFUSED);
	close(fd);
	CHECK_EQ(rule_at(1)->hits, 2u);

	/* no rule matches: denied too, counted as such */
	uint64_t before = stats.no_rule;
	fd = dial();
	mkreq(p, GP_CONNECT, "203.0.113.1", 80, 0);
	CHECK_EQ(write(fd, p, sizeof(p)), (ssize_t)sizeof(p));
	spin(20);
	CHECK_EQ(reply_of(fd, NULL), ECONNREFUSED);
	CHECK_EQ(stats.no_rule, before + 1);
	close(fd);

	/* listen: deny rule EACCES, no rule EACCES */
	fd = dial();
	mkreq(p, GP_LISTEN, "0.0.0.0", 81, 0);
	CHECK_EQ(write(fd, p, sizeof(p)), (ssize_t)sizeof(p));
	spin(20);
	CHECK_EQ(reply_of(fd, NULL), EACCES);
	close(fd);

	/* loopback with no listener in that netns: ENOENT */
	fd = dial();
	mkreq(p, GP_CONNECT, "127.0.0.1", 9999, GP_F_LOOPBACK);
	CHECK_EQ(write(fd, p, sizeof(p)), (ssize_t)sizeof(p));
	spin(20);
	CHECK_EQ(reply_of(fd, NULL), ENOENT);
	close(fd);
}

static void test_mapped_v6(void)
{
	uint8_t p[GP_REQ_LEN];
	int fd = dial();
	uint64_t hits = rule_at(2)->hits;

	/* ::ffff:198.51.100.9 is matched as 198.51.100.9 (line 2: deny) */
	mkreq(p, GP_CONNECT, "::ffff:198.51.100.9", 82, 0);
	CHECK_EQ(write(fd, p, sizeof(p)), (ssize_t)sizeof(p));
	spin(20);
	CHECK_EQ(reply_of(fd, NULL), ECONNREFUSED);
	CHECK_EQ(rule_at(2)->hits, hits + 1);
	close(fd);
}

/* `connect any' is no rule for the host itself: no direct connect is even
 * tried for loopback, the unspecified address, in any spelling. */
static void test_host_local(void)
{
	static const char *const local[] = { "127.0.0.1", "127.9.9.9", "0.0.0.0",
					     "::ffff:127.0.0.1", "::1", "::" };
	uint8_t p[GP_REQ_LEN];

	for (size_t i = 0; i < sizeof(local) / sizeof(*local); i++) {
		uint64_t none = stats.no_rule, failed = stats.direct_failed;
		int fd = dial();
		mkreq(p, GP_CONNECT, local[i], 70, 0);
		CHECK_EQ(write(fd, p, sizeof(p)), (ssize_t)sizeof(p));
		spin(20);
		CHECK_EQ(reply_of(fd, NULL), ECONNREFUSED);
		CHECK_EQ(stats.no_rule, none + 1);
		CHECK_EQ(stats.direct_failed, failed);
		close(fd);
	}
}

/* limit pending and limit guests: a guest-socket connection past either
 * is answered at once, unread (GP_REFUSED, EAGAIN), and counted; units
 * come back when the held connections go. */
static void test_limits(void)
{
	struct dconf_limits saved = cfg->limits;
	uint32_t me = (uint32_t)getuid();
	uint64_t refused = quota_stats.refused[Q_PENDING];
	int held[2], fd;

	cfg->limits.pending = 2;
	for (int i = 0; i < 2; i++)
		held[i] = dial();
	spin(20);
	CHECK_EQ(quota_held(me, Q_PENDING), 2u);
	fd = dial();
	spin(20);
	CHECK_EQ(reply_of(fd, NULL), EAGAIN);
	close(fd);
	CHECK_EQ(quota_stats.refused[Q_PENDING], refused + 1);
	CHECK_EQ(guest_pending_count(), 2u);
	for (int i = 0; i < 2; i++)
		close(held[i]);
	spin(20);
	CHECK_EQ(quota_held(me, Q_PENDING), 0u);
	CHECK_EQ(guest_pending_count(), 0u);

	cfg->limits = saved;
	cfg->limits.guests = 1;
	refused = quota_stats.refused_guests;
	held[0] = dial();
	spin(20);
	fd = dial();
	spin(20);
	CHECK_EQ(reply_of(fd, NULL), EAGAIN);
	close(fd);
	close(held[0]);
	CHECK_EQ(quota_stats.refused_guests, refused + 1);
	spin(20);
	CHECK_EQ(guest_pending_count(), 0u);
	cfg->limits = saved;
}

static void test_garbage(void)
{
	uint8_t p[GP_REQ_LEN];
	uint64_t bad = stats.bad_requests;
	struct {
		int off;
		uint8_t val;
	} breaks[] = {
		{ 0, 0x00 },  /* magic */
		{ 5, 0x01 },  /* version 1: guest-supplied netns and pid */
		{ 5, 0x03 },  /* version 3 */
		{ 33, 0x01 }, /* where version 1 had the pid: reserved */
		{ 6, 0x03 },  /* op: ACCEPT is not a request */
		{ 6, 0x00 },  /* op 0 */
		{ 7, 0x80 },  /* unknown flag */
		{ 8, 0x00 },  /* family 0 */
		{ 8, 0x05 },  /* family 5 */
		{ 9, 0x01 },  /* address pad byte */
		{ 50, 0x01 }, /* trailing zero area */
	};

	for (size_t i = 0; i < sizeof(breaks) / sizeof(*breaks); i++) {
		int fd = dial();
		mkreq(p, GP_CONNECT, "198.51.100.2", 81, 0);
		p[breaks[i].off] = breaks[i].val;
		CHECK_EQ(write(fd, p, sizeof(p)), (ssize_t)sizeof(p));
		spin(20);
		/* no reply at all: it does not speak the protocol */
		CHECK_EQ(reply_of(fd, NULL), -1);
		close(fd);
	}
	CHECK_EQ(stats.bad_requests, bad + sizeof(breaks) / sizeof(*breaks));

	/* hang-ups: at once, and mid-request */
	int fd = dial();
	close(fd);
	fd = dial();
	CHECK_EQ(write(fd, p, 7), 7);
	close(fd);
	spin(20);
	CHECK_EQ(guest_pending_count(), 0u);

	/* a stalled half request is dropped after the request timeout while
	 * others are served */
	int stall = dial();
	CHECK_EQ(write(stall, p, 5), 5);
	spin(20);
	CHECK_EQ(guest_pending_count(), 1u);
	fd = dial();
	mkreq(p, GP_CONNECT, "198.51.100.2", 81, 0);
	CHECK_EQ(write(fd, p, sizeof(p)), (ssize_t)sizeof(p));
	spin(20);
	CHECK_EQ(reply_of(fd, NULL), ECONNREFUSED);
	close(fd);
	spin(guest_req_timeout_ms + 100);
	CHECK_EQ(guest_pending_count(), 0u);
	CHECK_EQ(reply_of(stall, NULL), -1);
	close(stall);
}

int main(void)
{
	static const char conf[] =
		"connect port 81 deny\n"		 /* 1 */
		"connect 198.51.100.9 port 82 deny\n"	 /* 2 */
		"accept port 81 deny\n"			 /* 3 */
		"connect 198.51.100.0/24 port 1-80 direct\n" /* 4 */
		"connect any port 70 direct\n";	/* 5: never the host */
	char path[160];
	struct conf_errors e = { 0 };

	log_init("test-rules-guest", 0);
	if (!mkdtemp(dir))
		return 1;
	snprintf(sock, sizeof(sock), "%s/guest.sock", dir);
	snprintf(path, sizeof(path), "%s/sockoutd.conf", dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return 1;
	fputs(conf, f);
	fclose(f);
	CHECK_EQ(dconf_load(path, &cfg, &e), 0);
	conf_errors_free(&e);
	if (!cfg)
		T_DONE();
	guest_req_timeout_ms = 300;
	CHECK_EQ(loop_init(), 0);
	CHECK_EQ(pair_init(), 0);
	CHECK_EQ(guest_init(sock, 0600), 0);
	/* the pair pool fills from the loop: count once it is full (under
	 * valgrind that takes longer than a loop pass) */
	for (int i = 0; i < 400 && !pair_pool_full(); i++)
		spin(5);
	CHECK(pair_pool_full());
	int fds0 = nfds();

	test_basic_and_pieces();
	test_mapped_v6();
	test_host_local();
	test_limits();
	test_garbage();

	spin(20);
	for (int i = 0; i < 400 && !pair_pool_full(); i++)
		spin(5);
	CHECK_EQ(nfds(), fds0); /* nothing leaked */
	guest_shutdown();
	pair_shutdown();
	dconf_free(cfg);
	unlink(path);
	rmdir(dir);
	T_DONE();
}
