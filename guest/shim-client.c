// SPDX-License-Identifier: MIT
/*
 * shim-client.c - talking to sockoutd (the exchange itself is gp-client.c,
 * shared with sockout-run's seccomp supervisor), and putting what it hands
 * over in place of the program's socket.  All of it blocks, even for a
 * program's non-blocking socket: sockoutd answers a CONNECT only when the
 * outcome is known, and bounds that with its connect-timeout.
 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

void shim_warn_once(const char *what, const char *why)
{
	static int said;
	char line[512];
	int n;

	if (__atomic_exchange_n(&said, 1, __ATOMIC_ACQ_REL))
		return;
	/* A daemon that closed its stderr may have a connection there now:
	 * never write into one of the program's TCP streams. */
	int dom = sk_domain(STDERR_FILENO);

	if (dom == AF_INET || dom == AF_INET6)
		return;
	n = snprintf(line, sizeof(line), "sockout: %s: %s\n", what, why);
	if (n > 0) {
		if ((size_t)n >= sizeof(line))
			n = sizeof(line) - 1;
		/* Nothing to do if stderr is gone. */
		if (write(STDERR_FILENO, line, (size_t)n) < 0)
			return;
	}
}

/*
 * The guest socket's path is read once, when the library is loaded:
 * programs may clear their environment before their first socket call
 * (nginx does so in its workers, sshd for its children), and a process
 * image that was started under sockout-run stays a guest of that sockoutd.
 * This is the shim's only constructor, and all it does is copy a string.
 */
static char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];

__attribute__((constructor)) static void shim_load(void)
{
	const char *path = getenv("SOCKOUT_SOCKET");

	if (!path || !*path)
		path = SHIM_DEFAULT_SOCKET;
	/* One byte more than a socket path can hold: a longer one is
	 * detected (and refused) in gp_call rather than cut short. */
	snprintf(socket_path, sizeof(socket_path), "%s", path);
}

const char *shim_socket_path(void)
{
	return socket_path[0] ? socket_path : SHIM_DEFAULT_SOCKET;
}

static const struct gpc_ops shim_ops = { real_connect, real_setsockopt };

int gp_call(struct gp_req *req, struct gp_reply *rep, int *fd, int quiet)
{
	const char *path = shim_socket_path();
	const char *why = NULL;
	char whybuf[128];
	int r, saved = errno;

	r = gpc_exchange(&shim_ops, path, req, rep, fd, &why);
	if (r < 0) {
		if (!quiet) {
			if (!why) {
				snprintf(whybuf, sizeof(whybuf), "%s (%s)",
					 r == -ETIMEDOUT ? "no answer"
							 : "cannot reach sockoutd",
					 strerror(-r));
				why = whybuf;
			}
			shim_warn_once(path, why);
		}
		r = r == -ETIMEDOUT ? -ETIMEDOUT : -ENETUNREACH;
	}
	errno = saved;
	return r;
}

int shim_stream_mode(void)
{
	return gpc_is_stream(shim_socket_path());
}

int gp_stream_accept(int lfd, int cloexec, struct gp_reply *rep)
{
	int nfd, r;

	r = gpc_stream_accept(&shim_ops, shim_socket_path(), lfd, cloexec, rep,
			      &nfd);
	return r < 0 ? r : nfd;
}

int adopt_fd(int fd, int nfd)
{
	int fdfl, fl, nfl, r = 0;

	fdfl = fcntl(fd, F_GETFD);
	fl = fcntl(fd, F_GETFL);
	if (fdfl < 0 || fl < 0) {
		r = -errno;
		goto out;
	}
	if (dup3(nfd, fd, (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
		r = -errno;
		goto out;
	}
	/* Status flags belong to the open file, which came from sockoutd:
	 * make O_NONBLOCK what the program had set on its own socket. */
	nfl = fcntl(fd, F_GETFL);
	if (nfl >= 0 && (nfl & O_NONBLOCK) != (fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, (nfl & ~O_NONBLOCK) | (fl & O_NONBLOCK));
out:
	close(nfd);
	return r;
}

void apply_opts(int fd, const struct sk_entry *e)
{
	int saved = errno;

	for (int i = 0; i < e->nopts; i++)
		real_setsockopt(fd, e->opts[i].level, e->opts[i].name,
				&e->opts[i].value, sizeof(int));
	errno = saved;
}

static int opt_kept(int level, int name)
{
	switch (level) {
	case SOL_SOCKET:
		return name == SO_KEEPALIVE || name == SO_SNDBUF ||
		       name == SO_RCVBUF || name == SO_PRIORITY;
	case IPPROTO_TCP:
		return name == TCP_NODELAY || name == TCP_KEEPIDLE ||
		       name == TCP_KEEPINTVL || name == TCP_KEEPCNT ||
		       name == TCP_USER_TIMEOUT;
	case IPPROTO_IP:
		return name == IP_TOS;
	case IPPROTO_IPV6:
		return name == IPV6_TCLASS;
	}
	return 0;
}

int opt_remember(struct sk_entry *e, int level, int name, const void *val,
		 socklen_t len)
{
	int v, i;

	if (!opt_kept(level, name) || !val || len < sizeof(int))
		return 0;
	memcpy(&v, val, sizeof(v));
	for (i = 0; i < e->nopts; i++)
		if (e->opts[i].level == level && e->opts[i].name == name)
			break;
	if (i == SK_MAX_OPTS)
		return 0;
	e->opts[i] = (struct sk_opt){ level, name, v };
	if (i == e->nopts)
		e->nopts++;
	return 1;
}
