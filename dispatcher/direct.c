// SPDX-License-Identifier: MIT
/*
 * direct.c - the `direct' route: sockoutd connects a host socket for the
 * guest and, once connected, passes that very socket to it.  The dispatcher
 * then leaves the data path, which is why this route runs at host speed.
 */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sockoutd.h"

int direct_connect(struct greq *g, const struct so_addr *dst, int *hostfd)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, r;

	(void)g;
	if (so_addr_to_sa(dst, &ss, &sl) < 0)
		return -EAFNOSUPPORT;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
		r = -errno;
		close(fd);
		return r;
	}
	*hostfd = fd;
	return 0;
}

/* 0 when connected, -EINPROGRESS while still connecting, else -errno. */
int direct_finish(int fd)
{
	int e = 0;
	socklen_t el = sizeof(e);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
		return -errno;
	if (e)
		return -e;
	/* EPOLLOUT without an error can only mean connected, but ask the
	 * kernel rather than assume (a spurious wakeup costs nothing). */
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		return errno == ENOTCONN ? -EINPROGRESS : -errno;
	return 0;
}
