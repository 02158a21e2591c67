// SPDX-License-Identifier: MIT
/*
 * shim-sockopt.c - getsockname, getpeername, getsockopt, setsockopt: the
 * answers the kernel can no longer give for a descriptor from sockoutd,
 * and the options that must outlive a dup2().
 */
#include "shim.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

/*
 * known_unix() - for a descriptor the table does not list but whose
 * kernel answer looked wrong for TCP: the entry of the same open file under
 * another number, if it is an AF_UNIX socket the shim put there and the
 * program dup()ed.
 */
static int known_unix(int fd, struct sk_entry *e)
{
	return sk_domain(fd) == AF_UNIX && fdt_find_file(fd, e);
}

static int names(int fd, struct sockaddr *sa, socklen_t *len, int peer)
{
	struct sk_entry e;
	socklen_t cap;
	int saved = errno, r;

	if (!sa || !len)
		return peer ? real_getpeername(fd, sa, len)
			    : real_getsockname(fd, sa, len);
	if (!fdt_get(fd, &e)) {
		cap = *len;
		r = peer ? real_getpeername(fd, sa, len)
			 : real_getsockname(fd, sa, len);
		if (r < 0 || cap < sizeof(sa_family_t) ||
		    sa->sa_family != AF_UNIX || !fdt_find_file(fd, &e))
			return r;
		*len = cap;
		errno = saved;
	}
	if (e.kind == SK_NONE)
		goto native;
	if (!peer) {
		if (!e.local.family && !e.fake)
			goto native;
		so_addr_to_user(&e.local, e.family, sa, len);
		return 0;
	}
	if (e.kind != SK_CONNECTED)
		return shim_fail(ENOTCONN);
	if (!e.peer.family && !e.fake)
		goto native;
	so_addr_to_user(&e.peer, e.family, sa, len);
	return 0;
native:
	return peer ? real_getpeername(fd, sa, len)
		    : real_getsockname(fd, sa, len);
}

SHIM_EXPORT int getsockname(int fd, __SOCKADDR_ARG addr, socklen_t *len)
{
	return names(fd, SA_IN(addr), len, 0);
}

SHIM_EXPORT int getpeername(int fd, __SOCKADDR_ARG addr, socklen_t *len)
{
	return names(fd, SA_IN(addr), len, 1);
}

static int identity_opt(int level, int name)
{
	return level == SOL_SOCKET &&
	       (name == SO_TYPE || name == SO_DOMAIN || name == SO_PROTOCOL ||
		name == SO_ACCEPTCONN);
}

/* An IP-level option a Unix descriptor does not have. */
static int ip_opt_refused(int level, int r)
{
	return r < 0 && level != SOL_SOCKET &&
	       (errno == EOPNOTSUPP || errno == ENOPROTOOPT);
}

static int put_int(void *val, socklen_t *len, int v)
{
	if (!val || !len)
		return shim_fail(EFAULT);
	if (*len < sizeof(int)) {
		/* The kernel copies what fits for a short buffer. */
		memcpy(val, &v, *len);
		return 0;
	}
	memcpy(val, &v, sizeof(int));
	*len = sizeof(int);
	return 0;
}

SHIM_EXPORT int getsockopt(int fd, int level, int name, void *val,
			   socklen_t *len)
{
	struct sk_entry e;
	int saved = errno;

	if (!fdt_get(fd, &e)) {
		int r = real_getsockopt(fd, level, name, val, len);

		if (!((identity_opt(level, name) && r == 0) ||
		      ip_opt_refused(level, r)) ||
		    !known_unix(fd, &e) || !e.fake)
			return r;
		errno = saved;
	} else if (!e.fake) {
		return real_getsockopt(fd, level, name, val, len);
	}
	if (level == SOL_SOCKET) {
		switch (name) {
		case SO_TYPE:
			return put_int(val, len, SOCK_STREAM);
		case SO_DOMAIN:
			return put_int(val, len, e.family);
		case SO_PROTOCOL:
			return put_int(val, len, IPPROTO_TCP);
		case SO_ACCEPTCONN:
			return put_int(val, len, e.kind == SK_LISTENER);
		}
		/* A listener waiting for sockoutd is not even a socket. */
		if (e.dead)
			return put_int(val, len, 0);
		return real_getsockopt(fd, level, name, val, len);
	}
	if (real_getsockopt(fd, level, name, val, len) == 0)
		return 0;
	/* An IP-level option the descriptor under us does not have: what
	 * the program set, or zero. */
	errno = saved;
	for (int i = 0; i < e.nopts; i++)
		if (e.opts[i].level == level && e.opts[i].name == name)
			return put_int(val, len, e.opts[i].value);
	if (val && len)
		memset(val, 0, *len);
	return 0;
}

SHIM_EXPORT int setsockopt(int fd, int level, int name, const void *val,
			   socklen_t len)
{
	struct sk_entry e;
	int saved = errno, family, r, hit;

	hit = fdt_get(fd, &e);
	r = real_setsockopt(fd, level, name, val, len);
	if (!hit && ip_opt_refused(level, r))
		hit = known_unix(fd, &e);
	if (hit && e.fake) {
		/* A listener's seqpacket or a Unix connection has no IP
		 * options; the TCP socket the program believes in would
		 * have taken them. */
		if (r < 0 && level == SOL_SOCKET && !e.dead)
			return r;
		/* Remembered on a listener for the sockets it accepts. */
		if (e.kind == SK_LISTENER && opt_remember(&e, level, name, val, len))
			fdt_set(fd, &e);
		errno = saved;
		return 0;
	}
	if (r < 0 || (hit && e.kind == SK_CONNECTED))
		return r;
	/* A socket that may still be replaced by connect() or listen(). */
	if (!hit) {
		memset(&e, 0, sizeof(e));
		if (!opt_remember(&e, level, name, val, len) ||
		    !sk_inet_stream(fd, &family))
			return r;
		e.kind = SK_NONE;
		e.family = family;
	} else if (!opt_remember(&e, level, name, val, len)) {
		return r;
	}
	fdt_set(fd, &e);
	errno = saved;
	return r;
}
