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
 * guest_pidfd_pid() - the pid the kernel names for @pidfd (fdinfo "Pid:",
 * a thread's taken to its process), if that process is of @who's uid and a
 * descendant of @who's pid, and still the same process once read; else 0.
 */
pid_t guest_pidfd_pid(int pidfd, const struct peer_id *who);

#endif
