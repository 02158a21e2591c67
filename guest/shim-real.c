// SPDX-License-Identifier: MIT
/*
 * shim-real.c - the functions the shim wraps, as the next object in the
 * lookup order (normally libc) defines them.
 *
 * Resolved lazily on first use rather than in a constructor, so programs
 * that never make a socket pay nothing.  Two threads racing on the first
 * call both store the same pointer, hence atomic accesses and no lock.
 */
#include "shim.h"

#include <dlfcn.h>
#include <errno.h>

static void *next_sym(void **slot, const char *name)
{
	void *p = __atomic_load_n(slot, __ATOMIC_ACQUIRE);

	if (!p) {
		p = dlsym(RTLD_NEXT, name);
		__atomic_store_n(slot, p, __ATOMIC_RELEASE);
	}
	return p;
}

/* REAL(name, params, args): define real_<name>(params) calling the next one. */
#define REAL(name, params, args)                                               \
	int real_##name params                                                 \
	{                                                                      \
		static void *slot;                                             \
		int(*f) params = (int(*) params)next_sym(&slot, #name);        \
		if (!f) {                                                      \
			errno = ENOSYS;                                        \
			return -1;                                             \
		}                                                              \
		return f args;                                                 \
	}

REAL(connect, (int fd, const struct sockaddr *sa, socklen_t len),
     (fd, sa, len))
REAL(bind, (int fd, const struct sockaddr *sa, socklen_t len), (fd, sa, len))
REAL(listen, (int fd, int backlog), (fd, backlog))
REAL(accept, (int fd, struct sockaddr *sa, socklen_t *len), (fd, sa, len))
REAL(accept4, (int fd, struct sockaddr *sa, socklen_t *len, int flags),
     (fd, sa, len, flags))
REAL(getsockname, (int fd, struct sockaddr *sa, socklen_t *len),
     (fd, sa, len))
REAL(getpeername, (int fd, struct sockaddr *sa, socklen_t *len),
     (fd, sa, len))
REAL(getsockopt, (int fd, int level, int name, void *val, socklen_t *len),
     (fd, level, name, val, len))
REAL(setsockopt,
     (int fd, int level, int name, const void *val, socklen_t len),
     (fd, level, name, val, len))
REAL(epoll_ctl, (int epfd, int op, int fd, struct epoll_event *ev),
     (epfd, op, fd, ev))
REAL(shutdown, (int fd, int how), (fd, how))
