// SPDX-License-Identifier: MIT
/*
 * shim-epoll.c - keep epoll registrations across the shim's dup3().
 *
 * An epoll set watches (descriptor number, open file) pairs and forgets a
 * pair when that file is closed.  A program that adds a socket to epoll
 * and only then connects it (nginx does, for upstreams) would therefore
 * never hear about the connection the shim puts in its place.  So
 * epoll_ctl(ADD) of a TCP socket that may still be replaced is noted in
 * the descriptor table, MOD/DEL keep the note current, and ep_readd()
 * makes the same registration for the new file.
 *
 * Epoll instances all share one anonymous inode, so the note cannot tell
 * one epoll descriptor from another that reused its number; a program
 * that closes its epoll set and makes another under the same number
 * between epoll_ctl and connect would see the socket in the new one.
 */
#include "shim.h"

#include <errno.h>
#include <string.h>

/* Not connected yet: the kind of socket connect()/listen() replace. */
static int unconnected(int fd)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);

	return real_getpeername(fd, (struct sockaddr *)&ss, &l) < 0 &&
	       errno == ENOTCONN;
}

static void ep_note_add(int epfd, int fd, const struct epoll_event *ev)
{
	struct sk_entry e;
	int family;

	if (fdt_get(fd, &e)) {
		if (e.kind == SK_CONNECTED)
			return;
	} else {
		if (!sk_inet_stream(fd, &family) || !unconnected(fd))
			return;
		memset(&e, 0, sizeof(e));
		e.kind = SK_NONE;
		e.family = family;
	}
	e.ep_set = 1;
	e.epfd = epfd;
	e.ep_ev = *ev;
	fdt_set(fd, &e);
}

SHIM_EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	int r = real_epoll_ctl(epfd, op, fd, ev), saved = errno;

	if (r == 0) {
		if (op == EPOLL_CTL_ADD && ev)
			ep_note_add(epfd, fd, ev);
		else
			fdt_ep_update(fd, epfd, op, ev);
	}
	errno = saved;
	return r;
}

void ep_detach(int fd, const struct sk_entry *e)
{
	int saved = errno;

	/* Closing the old file drops the registration only if nothing
	 * else (a forked child, a dup) holds the file; take it out so the
	 * program never gets events of a socket it no longer has. */
	if (e->ep_set)
		real_epoll_ctl(e->epfd, EPOLL_CTL_DEL, fd, NULL);
	errno = saved;
}

void ep_attach(int fd, const struct sk_entry *e)
{
	struct epoll_event ev;
	int saved = errno;

	if (!e->ep_set)
		return;
	ev = e->ep_ev;
	real_epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev);
	errno = saved;
}
