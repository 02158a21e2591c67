// SPDX-License-Identifier: MIT
/*
 * guest-pidfd.c - the pid of the program behind a seccomp supervisor's
 * request.
 *
 * Under `sockout-run --seccomp` the guest-socket connection is the
 * supervisor's, so SO_PEERCRED names sockout-run.  The supervisor passes a
 * pidfd of the program's trapped thread with the request; the pid shown in
 * listings is what the kernel says of that pidfd, and only if the kernel
 * also says that process is of the peer's uid and descends from the peer
 * (a supervisor cannot pass off a stranger as its guest).  It is a label
 * for listings and logs: the table still matches the peer's own, kernel-
 * taken identity.
 */
#include "guest-pidfd.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

/* status() - /proc/@pid/status into @buf, 0 or -1. */
static int status(long pid, char *buf, size_t len)
{
	char p[64];
	ssize_t n;
	int f;

	snprintf(p, sizeof(p), "/proc/%ld/status", pid);
	if ((f = open(p, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(f, buf, len - 1);
	close(f);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return 0;
}

/* field() - the @nth (0: first) number after @key at the start of a line
 * of @buf, or -1. */
static long field(const char *buf, const char *key, int nth)
{
	const char *s;

	for (s = buf; (s = strstr(s, key)); s++) {
		char *e;
		long v = -1;

		if (s != buf && s[-1] != '\n')
			continue;
		s += strlen(key);
		for (int i = 0; i <= nth; i++, s = e) {
			v = strtol(s, &e, 10);
			if (e == s)
				return -1;
		}
		return v;
	}
	return -1;
}

pid_t guest_pidfd_pid(int pidfd, const struct peer_id *who)
{
	char buf[4096];
	long pid, tgid, up;
	int depth = 0;

	snprintf(buf, sizeof(buf), "/proc/self/fdinfo/%d", pidfd);
	{
		int f = open(buf, O_RDONLY | O_CLOEXEC);
		ssize_t n = f < 0 ? -1 : read(f, buf, sizeof(buf) - 1);

		if (f >= 0)
			close(f);
		if (n <= 0)
			return 0;
		buf[n] = 0;
	}
	pid = field(buf, "Pid:", 0);
	if (pid <= 0) /* not a pidfd, or its process is gone (-1) */
		return 0;
	/* the thread's process, of the peer's (effective) uid */
	if (status(pid, buf, sizeof(buf)) < 0 || (tgid = field(buf, "Tgid:", 0)) <= 0 ||
	    field(buf, "Uid:", 1) != (long)who->uid || tgid == who->pid)
		return 0;
	/* a descendant of the peer, within a bounded walk */
	for (up = tgid; up > 1 && up != who->pid && depth++ < 64;)
		up = status(up, buf, sizeof(buf)) < 0 ? -1 : field(buf, "PPid:", 0);
	if (up != who->pid)
		return 0;
	/* still the process the pidfd names: its pid was not reused while
	 * /proc was read */
	if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0 && errno != EPERM)
		return 0;
	return (pid_t)tgid;
}
