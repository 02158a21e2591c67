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

SHIM_EXPORT int getsockname(int fd, __SOCKADDR_ARG addr, socklen_t *len)
{
	struct sockaddr *sa = SA_IN(addr);
	struct sk_entry e;

	if (!sa || !len || !fdt_get(fd, &e) || e.kind == SK_NONE ||
	    (!e.local.family && !e.fake))
		return real_getsockname(fd, sa, len);
	addr_to_user(&e.local, e.family, sa, len);
	return 0;
}

SHIM_EXPORT int getpeername(int fd, __SOCKADDR_ARG addr, socklen_t *len)
{
	struct sockaddr *sa = SA_IN(addr);
	struct sk_entry e;

	if (!sa || !len || !fdt_get(fd, &e) || e.kind == SK_NONE)
		return real_getpeername(fd, sa, len);
	if (e.kind != SK_CONNECTED)
		return shim_fail(ENOTCONN);
	if (!e.peer.family && !e.fake)
		return real_getpeername(fd, sa, len);
	addr_to_user(&e.peer, e.family, sa, len);
	return 0;
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

	if (!fdt_get(fd, &e) || !e.fake)
		return real_getsockopt(fd, level, name, val, len);
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
	if (hit && e.fake) {
		r = real_setsockopt(fd, level, name, val, len);
		if (r < 0 && level == SOL_SOCKET)
			return r;
		/* Remembered on a listener for the sockets it accepts. */
		if (e.kind == SK_LISTENER && opt_remember(&e, level, name, val, len))
			fdt_set(fd, &e);
		errno = saved;
		return 0;
	}
	r = real_setsockopt(fd, level, name, val, len);
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
