// SPDX-License-Identifier: MIT
/*
 * shim-addr.c - which sockets the shim takes.  Addresses between the
 * program's sockaddr form and the protocol's so_addr: protocol/addr.c.
 */
#include "shim.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/stat.h>

int sk_domain(int fd)
{
	int v = 0, saved = errno;
	socklen_t l = sizeof(v);

	if (real_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &l) < 0)
		v = -1;
	errno = saved;
	return v;
}

int sk_inet_stream(int fd, int *family)
{
	int saved = errno, dom, type = 0, proto = 0;
	socklen_t l = sizeof(type);

	dom = sk_domain(fd);
	if ((dom != AF_INET && dom != AF_INET6) ||
	    real_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0 ||
	    type != SOCK_STREAM)
		goto no;
	l = sizeof(proto);
	/* SOCK_STREAM is also SCTP and MPTCP; only plain TCP is ours. */
	if (real_getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l) < 0 ||
	    proto != IPPROTO_TCP)
		goto no;
	*family = dom;
	errno = saved;
	return 1;
no:
	errno = saved;
	return 0;
}

int is_socket_fd(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

int is_fake(int nfd, int family)
{
	return sk_domain(nfd) != family;
}
