// SPDX-License-Identifier: MIT
/*
 * shim-addr.c - which sockets the shim takes, and addresses between the
 * program's sockaddr form and the protocol's so_addr.
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

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

int addr_from_user(struct so_addr *a, const struct sockaddr *sa, socklen_t len)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET) {
		if (len < sizeof(struct sockaddr_in))
			return -EINVAL;
	} else if (sa->sa_family == AF_INET6) {
		if (len < sizeof(struct sockaddr_in6))
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	so_addr_from_sa(a, sa);
	if (a->family == 6 && !memcmp(a->addr, v4mapped, 12)) {
		a->family = 4;
		memmove(a->addr, a->addr + 12, 4);
		memset(a->addr + 4, 0, 12);
	}
	return 0;
}

void addr_any(struct so_addr *a, int family)
{
	memset(a, 0, sizeof(*a));
	a->family = family == AF_INET6 ? 6 : 4;
}

void addr_to_user(const struct so_addr *a, int family, struct sockaddr *sa,
		  socklen_t *len)
{
	struct sockaddr_storage ss;
	struct so_addr m = *a;
	socklen_t full;

	if (m.family == 4 && family == AF_INET6) {
		memmove(m.addr + 12, m.addr, 4);
		memcpy(m.addr, v4mapped, 12);
		m.family = 6;
	}
	if (so_addr_to_sa(&m, &ss, &full) < 0) {
		/* sockoutd did not say: the unspecified address of the
		 * program's family, port 0, is the honest answer. */
		addr_any(&m, family);
		so_addr_to_sa(&m, &ss, &full);
	}
	memcpy(sa, &ss, *len < full ? *len : full);
	*len = full;
}

int addr_is_loopback(const struct so_addr *a)
{
	static const uint8_t lo6[16] = { [15] = 1 };

	if (a->family == 4)
		return a->addr[0] == 127;
	if (a->family == 6)
		return !memcmp(a->addr, lo6, 16);
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
