// SPDX-License-Identifier: MIT
/* addr.c - struct so_addr and what is done to it; see addr.h. */
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

void so_addr_from_sa(struct so_addr *a, const struct sockaddr *sa)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		a->family = 4;
		a->port = ntohs(in->sin_port);
		memcpy(a->addr, &in->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		a->family = 6;
		a->port = ntohs(in6->sin6_port);
		memcpy(a->addr, &in6->sin6_addr, 16);
	}
}

int so_addr_to_sa(const struct so_addr *a, struct sockaddr_storage *ss,
		  socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == 4) {
		struct sockaddr_in *in = (void *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(a->port);
		memcpy(&in->sin_addr, a->addr, 4);
		*len = sizeof(*in);
		return 0;
	}
	if (a->family == 6) {
		struct sockaddr_in6 *in6 = (void *)ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(a->port);
		memcpy(&in6->sin6_addr, a->addr, 16);
		*len = sizeof(*in6);
		return 0;
	}
	return -EINVAL;
}

void so_addr_unmap(struct so_addr *a)
{
	if (a->family == 6 && memcmp(a->addr, v4mapped, 12) == 0) {
		memmove(a->addr, a->addr + 12, 4);
		memset(a->addr + 4, 0, 12);
		a->family = 4;
	}
}

void so_addr_map(struct so_addr *a)
{
	if (a->family != 4)
		return;
	memmove(a->addr + 12, a->addr, 4);
	memcpy(a->addr, v4mapped, 12);
	a->family = 6;
}

bool so_addr_is_loopback(const struct so_addr *a)
{
	static const uint8_t v6lo[16] = { [15] = 1 };

	if (a->family == 4)
		return a->addr[0] == 127;
	return a->family == 6 && memcmp(a->addr, v6lo, 16) == 0;
}

void so_addr_any(struct so_addr *a, int family)
{
	memset(a, 0, sizeof(*a));
	a->family = family == AF_INET6 ? 6 : 4;
}

const char *so_addr_str(const struct so_addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if ((a->family != 4 && a->family != 6) ||
	    !inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->addr, ip, sizeof(ip)))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, a->family == 4 ? "%s:%u" : "[%s]:%u", ip, a->port);
	return buf;
}

int so_addr_from_user(struct so_addr *a, const struct sockaddr *sa,
		      socklen_t len)
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
	so_addr_unmap(a);
	return 0;
}

void so_addr_to_user(const struct so_addr *a, int family, struct sockaddr *sa,
		     socklen_t *len)
{
	struct sockaddr_storage ss;
	struct so_addr m = *a;
	socklen_t full;

	if (family == AF_INET6)
		so_addr_map(&m);
	if (so_addr_to_sa(&m, &ss, &full) < 0) {
		/* sockoutd did not say: the unspecified address of the
		 * program's family, port 0, is the honest answer. */
		so_addr_any(&m, family);
		so_addr_to_sa(&m, &ss, &full);
	}
	memcpy(sa, &ss, *len < full ? *len : full);
	*len = full;
}
