// SPDX-License-Identifier: MIT
/*
 * Unit tests of sockoutd's channels (kept guest connections, GP_F_KEEP), in
 * process like test-rules-guest: the real guest socket, table and loop.
 * A kept connection answers request after request with GP_F_KEEP in the
 * reply; without the flag nothing changes; `limit channels' caps what a
 * uid keeps (the reply then says "not kept" and the connection closes);
 * channel-idle closes an idle one; `limit guests' closes the oldest idle
 * channel instead of refusing a new connection; a request on a channel
 * needs a pending unit like a new connection; nothing leaks.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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

static char dir[] = "/tmp/test-guest-channel.XXXXXX";
static char sock[128];

static int dial(void)
{
	int fd = net_unix_connect(sock, SOCK_STREAM);

	CHECK(fd >= 0);
	return fd;
}

static void ask(int fd, const char *ip, uint16_t port, uint8_t flags)
{
	struct gp_req r = { .op = GP_CONNECT, .flags = flags };
	struct sockaddr_storage ss;
	socklen_t sl;
	uint8_t p[GP_REQ_LEN];

	CHECK_EQ(net_parse_ip(ip, port, &ss, &sl), 0);
	so_addr_from_sa(&r.addr, (struct sockaddr *)&ss);
	gp_req_encode(p, &r);
	CHECK_EQ(send(fd, p, sizeof(p), MSG_NOSIGNAL), (ssize_t)sizeof(p));
}

/* The reply after the loop ran: its status and flags (*@flags), -1 for
 * "closed", -2 for "nothing yet"; a descriptor is closed. */
static int reply_of(int fd, int *flags)
{
	uint8_t p[GP_REPLY_LEN];
	int rfd = -1;
	struct gp_reply r;
	ssize_t n = net_recv_fd(fd, p, sizeof(p), &rfd);

	if (rfd >= 0)
		close(rfd);
	if (n < 0 && errno == EAGAIN)
		return -2;
	if (n <= 0)
		return -1;
	CHECK_EQ(n, GP_REPLY_LEN);
	CHECK_EQ(gp_reply_decode(p, &r), 0);
	if (flags)
		*flags = r.flags;
	return r.op == GP_REFUSED ? -(int)r.status - 1000 : r.status;
}

static int nfds(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

static void nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void test_kept(uint16_t port)
{
	int fd = dial(), fl = -1;
	uint64_t cr = stats.channel_requests;

	nonblock(fd);
	/* the first request opens the channel, the next ones use it */
	for (int i = 0; i < 3; i++) {
		ask(fd, "198.51.100.2", 81, GP_F_KEEP);
		spin(20);
		CHECK_EQ(reply_of(fd, &fl), ECONNREFUSED);
		CHECK_EQ(fl, GP_F_KEEP);
		CHECK_EQ(guest_channel_count(), 1u);
		CHECK_EQ(guest_pending_count(), 0u);
	}
	CHECK_EQ(stats.channel_requests, cr + 2);
	/* a direct connect answered inside direct_start(): still kept */
	ask(fd, "127.0.0.1", port, GP_F_KEEP);
	spin(20);
	CHECK_EQ(reply_of(fd, &fl), 0);
	CHECK_EQ(fl, GP_F_KEEP);
	/* without the flag: answered, then closed as ever */
	ask(fd, "198.51.100.2", 81, 0);
	spin(20);
	CHECK_EQ(reply_of(fd, &fl), ECONNREFUSED);
	CHECK_EQ(fl, 0);
	CHECK_EQ(reply_of(fd, NULL), -1);
	CHECK_EQ(guest_channel_count(), 0u);
	close(fd);

	/* the guest hangs up its idle channel: gone at once */
	fd = dial();
	nonblock(fd);
	ask(fd, "198.51.100.2", 81, GP_F_KEEP);
	spin(20);
	CHECK_EQ(reply_of(fd, NULL), ECONNREFUSED);
	CHECK_EQ(guest_channel_count(), 1u);
	close(fd);
	spin(20);
	CHECK_EQ(guest_channel_count(), 0u);
}

/* `limit channels 2': a third is answered but not kept; channel-idle
 * (300 ms) closes the others, with nothing read. */
static void test_limit_and_idle(void)
{
	int fd[3], fl;
	uint64_t refused = quota_stats.refused[Q_CHANNELS];
	uint64_t idle = stats.channels_idle_closed;

	for (int i = 0; i < 3; i++) {
		fd[i] = dial();
		nonblock(fd[i]);
		ask(fd[i], "198.51.100.2", 81, GP_F_KEEP);
		spin(20);
		CHECK_EQ(reply_of(fd[i], &fl), ECONNREFUSED);
		CHECK_EQ(fl, i < 2 ? GP_F_KEEP : 0);
	}
	CHECK_EQ(quota_stats.refused[Q_CHANNELS], refused + 1);
	CHECK_EQ(reply_of(fd[2], NULL), -1);
	CHECK_EQ(guest_channel_count(), 2u);
	CHECK_EQ(quota_held((uint32_t)getuid(), Q_CHANNELS), 2u);
	spin(200);
	CHECK_EQ(guest_channel_count(), 2u); /* not idle long enough */
	spin(250);
	CHECK_EQ(guest_channel_count(), 0u);
	CHECK_EQ(stats.channels_idle_closed, idle + 2);
	CHECK_EQ(quota_held((uint32_t)getuid(), Q_CHANNELS), 0u);
	for (int i = 0; i < 3; i++) {
		if (i < 2)
			CHECK_EQ(reply_of(fd[i], NULL), -1);
		close(fd[i]);
	}
}

/* `limit guests 5': two idle channels and three connections that have
 * not sent anything; a sixth connection closes the oldest idle channel
 * instead of being refused. */
static void test_guests_cap(void)
{
	int ch[2], wait[4], fl;
	uint64_t refused = quota_stats.refused_guests;

	for (int i = 0; i < 2; i++) {
		ch[i] = dial();
		nonblock(ch[i]);
		ask(ch[i], "198.51.100.2", 81, GP_F_KEEP);
		spin(20);
		CHECK_EQ(reply_of(ch[i], &fl), ECONNREFUSED);
	}
	for (int i = 0; i < 4; i++) {
		wait[i] = dial();
		nonblock(wait[i]);
		spin(20);
	}
	CHECK_EQ(quota_stats.refused_guests, refused);
	CHECK_EQ(reply_of(ch[0], NULL), -1); /* the oldest: closed */
	CHECK_EQ(reply_of(ch[1], NULL), -2); /* the other: still kept */
	CHECK_EQ(guest_channel_count(), 1u);
	/* ... and it still answers */
	ask(ch[1], "198.51.100.2", 81, GP_F_KEEP);
	spin(20);
	CHECK_EQ(reply_of(ch[1], &fl), ECONNREFUSED);
	CHECK_EQ(fl, GP_F_KEEP);
	for (int i = 0; i < 4; i++)
		close(wait[i]);
	close(ch[0]);
	close(ch[1]);
	spin(20);
	CHECK_EQ(guest_channel_count(), 0u);
	CHECK_EQ(guest_pending_count(), 0u);
}

/* A request on a channel takes a pending unit: at `limit pending' it is
 * refused (GP_REFUSED, EAGAIN) and the channel closed. */
static void test_pending(void)
{
	int ch = dial(), held[3], fl;
	unsigned lim = cfg->limits.pending;

	nonblock(ch);
	ask(ch, "198.51.100.2", 81, GP_F_KEEP);
	spin(20);
	CHECK_EQ(reply_of(ch, &fl), ECONNREFUSED);
	cfg->limits.pending = 3;
	for (int i = 0; i < 3; i++) {
		held[i] = dial();
		spin(10);
	}
	CHECK_EQ(guest_pending_count(), 3u);
	ask(ch, "198.51.100.2", 81, GP_F_KEEP);
	spin(20);
	CHECK_EQ(reply_of(ch, NULL), -EAGAIN - 1000);
	CHECK_EQ(reply_of(ch, NULL), -1);
	CHECK_EQ(guest_channel_count(), 0u);
	cfg->limits.pending = lim;
	for (int i = 0; i < 3; i++)
		close(held[i]);
	close(ch);
	spin(20);
	CHECK_EQ(guest_pending_count(), 0u);
}

int main(void)
{
	static const char conf[] = "channel-idle 300ms\n"
				   "limit channels 2\n"
				   "limit guests 5\n"
				   "limit pending 5\n"
				   "connect port 81 deny\n"
				   "connect 127.0.0.1 direct\n";
	char path[160];
	struct conf_errors e = { 0 };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);

	log_init("test-guest-channel", 0);
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
	CHECK_EQ(cfg->channel_idle_ms, 300u);
	CHECK_EQ(cfg->limits.channels, 2u);
	guest_req_timeout_ms = 300;
	CHECK_EQ(loop_init(), 0);
	CHECK_EQ(pair_init(), 0);
	CHECK_EQ(guest_init(sock, 0600), 0);
	for (int i = 0; i < 400 && !pair_pool_full(); i++)
		spin(5);
	/* a host listener for the direct connects */
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_EQ(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK_EQ(listen(lfd, 16), 0);
	CHECK_EQ(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	int fds0 = nfds();

	test_kept(ntohs(sa.sin_port));
	test_limit_and_idle();
	test_guests_cap();
	test_pending();

	spin(20);
	for (int i = 0; i < 400 && !pair_pool_full(); i++)
		spin(5);
	CHECK_EQ(nfds(), fds0); /* nothing leaked */
	close(lfd);
	guest_shutdown();
	pair_shutdown();
	dconf_free(cfg);
	unlink(path);
	rmdir(dir);
	T_DONE();
}
