/* SPDX-License-Identifier: MIT */
/*
 * seccomp.h - sockout-run's seccomp supervisor: runs a program whose socket
 * calls trap to sockout-run (SECCOMP_RET_USER_NOTIF) instead of going
 * through an LD_PRELOAD shim, so static and Go binaries and raw system
 * calls are guests too.  See docs/guest.md, "The seccomp mechanism".
 */
#ifndef SOCKOUT_GUEST_SECCOMP_H
#define SOCKOUT_GUEST_SECCOMP_H

/* The errno io_uring_setup fails with under the supervisor: what the
 * kernel itself says when io_uring is disabled (kernel.io_uring_disabled),
 * so programs that use io_uring already fall back on it. */
#define SC_IO_URING_ERRNO EPERM

/**
 * sc_run() - run @argv[0] (looked up in PATH) under the supervisor, which
 * speaks the guest protocol to the guest socket at @sock (absolute path).
 * Returns only in the parent, with the exit status sockout-run should
 * exit with (the program's own, or 125/126/127 as env(1)); a program
 * killed by a signal makes sockout-run kill itself with it.
 */
int sc_run(const char *sock, char **argv);

/**
 * sc_wants_seccomp() - 1 if the program @path (a file name looked up in
 * PATH as execvp does) cannot be carried by LD_PRELOAD: an ELF file with
 * no PT_INTERP (static) or a Go binary (Go makes its own system calls).
 * 0 otherwise (dynamic ELF, scripts, unreadable files).
 */
int sc_wants_seccomp(const char *path);

struct so_addr;
#define SC_DGRAM_EXTRA 3
/**
 * sc_allow_dgram() - let the program's datagrams go to @a (address and
 * port) besides loopback: a nameserver address the guest's DNS stub serves
 * on lo (dns-stub.c).  At most SC_DGRAM_EXTRA; call before sc_run().
 */
void sc_allow_dgram(const struct so_addr *a);

#endif
