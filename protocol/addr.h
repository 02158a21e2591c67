/* SPDX-License-Identifier: MIT */
/*
 * addr.h - struct so_addr, the one address form of sockout, and everything
 * done to it: conversion from and to sockaddr (as the kernel and as a
 * program see it), IPv4-mapped IPv6, loopback, printing.
 *
 * Used by sockoutd, the helpers and the guest shim (compiled there a second
 * time as position-independent code), so it depends on libc only.
 */
#ifndef SOCKOUT_ADDR_H
#define SOCKOUT_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* An IPv4/IPv6 address and port.  On the wire it is 20 bytes (helperproto.h
 * SO_ADDR_LEN, guestproto.h); here it is the in-memory form. */
struct so_addr {
	uint8_t family; /* 0 none, 4, 6 */
	uint16_t port;
	uint8_t addr[16]; /* IPv4 in the first 4 bytes */
};

/** so_addr_from_sa()/so_addr_to_sa() - convert; to_sa returns 0 or -EINVAL. */
void so_addr_from_sa(struct so_addr *a, const struct sockaddr *sa);
int so_addr_to_sa(const struct so_addr *a, struct sockaddr_storage *ss,
		  socklen_t *len);

/** so_addr_unmap() - IPv6 ::ffff:a.b.c.d to IPv4 a.b.c.d (else unchanged):
 *  rules are written with IPv4 addresses, so an IPv4 peer is matched as one. */
void so_addr_unmap(struct so_addr *a);
/** so_addr_map() - IPv4 a.b.c.d to IPv6 ::ffff:a.b.c.d (else unchanged). */
void so_addr_map(struct so_addr *a);
/** so_addr_is_loopback() - 127.0.0.0/8 or ::1 (after so_addr_unmap). */
bool so_addr_is_loopback(const struct so_addr *a);
/** so_addr_any() - the unspecified address of @family (AF_INET/AF_INET6),
 *  port 0. */
void so_addr_any(struct so_addr *a, int family);
/** so_addr_str() - "1.2.3.4:80", "[::1]:80" or "-" into @buf. */
const char *so_addr_str(const struct so_addr *a, char *buf, size_t len);

/**
 * so_addr_from_user() - a program's @sa of @len bytes into @a, IPv4-mapped
 * IPv6 turned into IPv4 so the dispatch table sees one form.
 * Returns 0, or -EINVAL for another family or a too short @len.
 */
int so_addr_from_user(struct so_addr *a, const struct sockaddr *sa,
		      socklen_t len);
/**
 * so_addr_to_user() - write @a as a socket of @family would show it (IPv4
 * as v4-mapped for AF_INET6; no address as the unspecified one, port 0)
 * into @sa, truncated to *@len, and set *@len to the full length, as
 * getsockname(2) does.
 */
void so_addr_to_user(const struct so_addr *a, int family, struct sockaddr *sa,
		     socklen_t *len);

#endif
