// SPDX-License-Identifier: MIT
/*
 * sockbench - the small load tool behind `make bench`.
 *
 *   sockbench echo ADDR PORT           epoll echo server (any number of clients)
 *   sockbench latency ADDR PORT N      N x (connect, 1-byte round trip, close);
 *                                      prints the median and mean in microseconds
 *   sockbench hold ADDR PORT N SECS    open N connections, confirm each with a
 *                                      1-byte round trip, print "held N", keep
 *                                      them SECS seconds
 *   sockbench phases ADDR PORT N       latency's N connections, each split into
 *                                      socket(), connect(), the first byte's
 *                                      round trip and close(); prints the
 *                                      median of each phase in microseconds
 *   sockbench sink ADDR PORT           server: read each connection to EOF,
 *                                      then close it (for bench/ssh-ceiling)
 *   sockbench source ADDR PORT         server: write to each connection until
 *                                      the peer goes away (ssh-ceiling -R)
 *   sockbench unixrtt N                N round trips of 64 bytes to a forked
 *                                      child over a Unix stream socketpair, the
 *                                      child waiting in epoll as sockoutd does;
 *                                      prints the median in microseconds: the
 *                                      least any out-of-process dispatcher adds
 *                                      to a connect (one request, one reply)
 *
 * It is an ordinary dynamically linked program, so under sockout-run it is
 * carried by the guest shim like any other.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in sa;

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int roundtrip(int fd)
{
	char c = 'x';

	if (write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1)
		return -1;
	return 0;
}

static int dial(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int do_latency(int n)
{
	double *t = calloc((size_t)n, sizeof(*t)), sum = 0;

	if (!t)
		return 1;
	for (int i = 0; i < n; i++) {
		double s = now_us();
		int fd = dial();
		if (fd < 0 || roundtrip(fd) < 0) {
			fprintf(stderr, "sockbench: connection %d: %s\n", i,
				strerror(errno));
			free(t);
			return 1;
		}
		close(fd);
		t[i] = now_us() - s;
		sum += t[i];
	}
	qsort(t, (size_t)n, sizeof(*t), cmp_d);
	printf("median_us %.1f mean_us %.1f n %d\n", t[n / 2], sum / n, n);
	free(t);
	return 0;
}

/*
 * The phases of one connect + first byte, timed apart so that
 * bench/connect-profile.sh can say which one grows under sockout: under
 * the guest shim connect() holds the whole exchange with sockoutd (request,
 * table, host connect or helper CONNECT, reply with the fd, dup3).
 */
static int do_phases(int n)
{
	enum { P_SOCKET, P_CONNECT, P_BYTE, P_CLOSE, P_TOTAL, NP };
	static const char *const name[NP] = { "socket", "connect",
					      "first_byte", "close", "total" };
	double *t[NP];
	int one = 1, rc = 1;

	for (int p = 0; p < NP; p++)
		t[p] = calloc((size_t)n, sizeof(double));
	for (int p = 0; p < NP; p++)
		if (!t[p])
			goto out;
	for (int i = 0; i < n; i++) {
		double t0 = now_us(), t1, t2, t3, t4;
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		t1 = now_us();
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			fprintf(stderr, "sockbench: connection %d: %s\n", i,
				strerror(errno));
			goto out;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		t2 = now_us();
		if (roundtrip(fd) < 0) {
			fprintf(stderr, "sockbench: connection %d: %s\n", i,
				strerror(errno));
			goto out;
		}
		t3 = now_us();
		close(fd);
		t4 = now_us();
		t[P_SOCKET][i] = t1 - t0;
		t[P_CONNECT][i] = t2 - t1;
		t[P_BYTE][i] = t3 - t2;
		t[P_CLOSE][i] = t4 - t3;
		t[P_TOTAL][i] = t4 - t0;
	}
	for (int p = 0; p < NP; p++) {
		qsort(t[p], (size_t)n, sizeof(double), cmp_d);
		printf("%s %.1f%s", name[p], t[p][n / 2], p + 1 < NP ? " " : "");
	}
	printf(" n %d\n", n);
	rc = 0;
out:
	for (int p = 0; p < NP; p++)
		free(t[p]);
	return rc;
}

static int listen_on(void)
{
	int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (lfd >= 0)
		setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 64) < 0) {
		perror("sockbench: listen");
		return -1;
	}
	return lfd;
}

/* One connection at a time: ssh-ceiling makes exactly one. */
static int do_sink(int source)
{
	static char buf[65536];
	int lfd = listen_on();

	if (lfd < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	memset(buf, 'y', sizeof(buf));
	for (;;) {
		int c = accept(lfd, NULL, NULL);
		if (c < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (c < 0) {
			perror("sockbench: accept");
			return 1;
		}
		if (source)
			while (write(c, buf, sizeof(buf)) > 0)
				;
		else
			while (read(c, buf, sizeof(buf)) > 0)
				;
		close(c);
	}
}

static int do_hold(int n, int secs)
{
	struct rlimit rl = { (rlim_t)n + 64, (rlim_t)n + 64 };

	setrlimit(RLIMIT_NOFILE, &rl);
	for (int i = 0; i < n; i++) {
		int fd = dial();
		if (fd < 0 || roundtrip(fd) < 0) {
			fprintf(stderr, "sockbench: connection %d: %s\n", i,
				strerror(errno));
			printf("held %d\n", i);
			return 1;
		}
	}
	printf("held %d\n", n);
	fflush(stdout);
	sleep((unsigned)secs);
	return 0;
}

static int do_echo(void)
{
	struct rlimit rl;

	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	int ep = epoll_create1(0);
	struct epoll_event e = { .events = EPOLLIN }, ev[128];
	char buf[65536];

	setrlimit(RLIMIT_NOFILE, &rl);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 4096) < 0) {
		perror("sockbench: listen");
		return 1;
	}
	e.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e);
	for (;;) {
		int n = epoll_wait(ep, ev, 128, -1);
		for (int i = 0; i < n; i++) {
			int fd = ev[i].data.fd;
			if (fd == lfd) {
				int c = accept(lfd, NULL, NULL);
				if (c < 0)
					continue;
				setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one,
					   sizeof(one));
				e.data.fd = c;
				epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
				continue;
			}
			ssize_t r = read(fd, buf, sizeof(buf));
			if (r <= 0 || write(fd, buf, (size_t)r) != r)
				close(fd);
		}
	}
}

static int do_unixrtt(int n)
{
	double *t = calloc((size_t)n, sizeof(*t));
	char b[64] = { 0 };
	int sv[2], ok = 1;
	pid_t pid;

	if (!t || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		struct epoll_event ev = { .events = EPOLLIN };
		int ep = epoll_create1(0);

		close(sv[0]);
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev) < 0)
			_exit(1);
		while (epoll_wait(ep, &ev, 1, -1) >= 0 &&
		       read(sv[1], b, sizeof(b)) == (ssize_t)sizeof(b) &&
		       write(sv[1], b, sizeof(b)) == (ssize_t)sizeof(b))
			;
		_exit(0);
	}
	close(sv[1]);
	for (int i = 0; i < n && ok; i++) {
		double s = now_us();
		ok = write(sv[0], b, sizeof(b)) == (ssize_t)sizeof(b) &&
		     read(sv[0], b, sizeof(b)) == (ssize_t)sizeof(b);
		t[i] = now_us() - s;
	}
	close(sv[0]); /* the child's read ends */
	waitpid(pid, NULL, 0);
	if (ok) {
		qsort(t, (size_t)n, sizeof(*t), cmp_d);
		printf("median_us %.1f n %d\n", t[n / 2], n);
	}
	free(t);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "unixrtt") == 0 && atoi(argv[2]) > 0)
		return do_unixrtt(atoi(argv[2]));
	if (argc < 4) {
		fprintf(stderr, "usage: sockbench echo|sink|source|latency|"
				"phases|hold ADDR PORT [N [SECS]]\n");
		return 2;
	}
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)atoi(argv[3]));
	if (inet_pton(AF_INET, argv[2], &sa.sin_addr) != 1) {
		fprintf(stderr, "sockbench: bad address %s\n", argv[2]);
		return 2;
	}
	if (strcmp(argv[1], "echo") == 0)
		return do_echo();
	if (strcmp(argv[1], "latency") == 0 && argc == 5)
		return do_latency(atoi(argv[4]));
	if (strcmp(argv[1], "sink") == 0 || strcmp(argv[1], "source") == 0)
		return do_sink(argv[1][1] == 'o');
	if (strcmp(argv[1], "phases") == 0 && argc == 5 && atoi(argv[4]) > 0)
		return do_phases(atoi(argv[4]));
	if (strcmp(argv[1], "hold") == 0 && argc == 6)
		return do_hold(atoi(argv[4]), atoi(argv[5]));
	fprintf(stderr, "sockbench: bad arguments\n");
	return 2;
}
