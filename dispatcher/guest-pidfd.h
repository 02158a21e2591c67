/* SPDX-License-Identifier: MIT */
/*
 * guest-pidfd.h - the pid of the program behind a seccomp supervisor's
 * request (PROTOCOL.md, "The guest's pid under seccomp").
 */
#ifndef SOCKOUT_DISPATCHER_GUEST_PIDFD_H
#define SOCKOUT_DISPATCHER_GUEST_PIDFD_H

#include <stddef.h>
#include <sys/types.h>

#include "table.h"

/**
 * guest_recv() - recv(2) of up to @len request bytes from the guest
 * connection @fd, without blocking; a descriptor passed with them
 * (SCM_RIGHTS: a supervisor's pidfd) lands in *@pidfd if that is still -1,
 * any other is closed.  Returns recv's count, or -1 with errno.
 */
ssize_t guest_recv(int fd, void *buf, size_t len, int *pidfd);

/**
 * guest_pidfd_pid() - the pid the kernel names for @pidfd (fdinfo "Pid:",
 * a thread's taken to its process), if that process is of @who's uid and a
 * descendant of @who's pid, and still the same process once read; else 0.
 */
pid_t guest_pidfd_pid(int pidfd, const struct peer_id *who);

#endif
