/* SPDX-License-Identifier: MIT */
/*
 * dns-stub.h - the DNS stub of a guest's network namespace (dns-stub.c):
 * it answers the nameserver address of /etc/resolv.conf on the guest's
 * loopback and forwards each query to sockoutd (GP_DNS), for programs that
 * speak DNS themselves (a nameserver off loopback is put on lo first, when
 * we may).  One stub per network namespace, shared by every
 * sockout-run in it; it lives while one of them (or the program it became)
 * does.  See docs/guest.md, "Programs that speak DNS".
 */
#ifndef SOCKOUT_GUEST_DNS_STUB_H
#define SOCKOUT_GUEST_DNS_STUB_H

#include <stdbool.h>
#include <sys/types.h>

#include "../protocol/addr.h"

/* Guest connections (UDP queries in flight, TCP clients) a stub serves at
 * once; beyond, queries are dropped and clients retry. */
#define STUB_INFLIGHT_MAX 64
#define STUB_TCP_MAX 16
/* Registered guests at once (any process of the namespace may register:
 * bounded so that none can exhaust the stub's descriptors). */
#define STUB_GUESTS_MAX 512
/* A query forwarded gets its answer within this or is dropped. */
#define STUB_QUERY_TIMEOUT_MS 12000
/* A TCP client idle this long is closed (RFC 7766 suggests seconds). */
#define STUB_TCP_IDLE_MS 10000
/* A stub nobody registered with (its starter died first) leaves after
 * this. */
#define STUB_LONELY_MS 10000

/**
 * dns_stub_ensure() - make sure this network namespace's stub runs and
 * counts the calling process as one of its guests (until it exits), for
 * guest socket @sock.  Starts the stub if there is none.  Does nothing
 * when the namespace has a network interface besides loopback (the
 * program has a network, and a nameserver of its own).  Says on stderr
 * why programs that speak DNS will get no answers when a stub cannot
 * serve; when that is because resolv.conf names no loopback address, only
 * if @warn_nonlocal (the shim's getaddrinfo hook covers most programs,
 * and a warning on every run would be noise).
 * @offlo, @noff: set to the nameservers off loopback (address, port 53;
 * at most 3) that the stub was asked to serve on lo, when a stub runs.
 * Returns 0, or -errno (then nothing was started; the caller goes on).
 */
int dns_stub_ensure(const char *sock, bool warn_nonlocal,
		    struct so_addr *offlo, unsigned *noff);

#endif
