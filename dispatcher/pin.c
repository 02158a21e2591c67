// SPDX-License-Identifier: MIT
/*
 * pin.c - a TCP socket given to a guest stays the connection it was given
 * as.
 *
 * Every TCP socket sockoutd passes to a guest (a direct connect, a host
 * accept, either end of a 127.0.0.1 pair, a helper's hand-back) was made
 * in sockoutd's network namespace.  The kernel lets whoever holds a TCP
 * socket dissolve its association with connect(AF_UNSPEC) and connect it
 * again, anywhere its namespace reaches: a guest could otherwise take the
 * socket of an allowed connection and reconnect it to the host's own
 * loopback, past every rule.  No socket option forbids that, but a
 * classic BPF socket filter makes it useless: before the socket leaves,
 * it gets a filter that accepts only packets of its own
 * connection (the peer's address, both ports), locked with
 * SO_LOCK_FILTER so the holder can neither detach nor replace it.  A
 * reconnected socket then never hears its SYN-ACK (or a reset): its
 * connect times out and no byte of the new peer's reaches the guest.
 *
 * What the filter cannot stop (it sees only what arrives): the SYNs of
 * such a connect still leave, and a dissolved socket can be bound to a
 * free host port (where nothing will ever reach it).  docs/trust.md says
 * so.
 *
 * Since Linux commit 5d39580f68e6 (6.1x; Debian 12's 6.1 predates it) only
 * CAP_NET_ADMIN may attach a filter to a TCP socket.  pin_init() finds out
 * at start-up which kernel this is: where no privilege is needed the
 * capability is dropped for good; where it is, it stays permitted but not
 * effective, and is raised around the two setsockopt() calls alone, so
 * nothing else sockoutd does runs with it.  Without it on such a kernel
 * sockoutd does not start: a socket it cannot pin must not reach a guest.
 *
 * The filter runs in tcp_filter(), where the packet's data starts at the
 * TCP header (ports at offsets 0 and 2) and the IP header is reached with
 * SKF_NET_OFF.  Traffic of the connection itself always matches: the
 * kernel found the socket by that very 4-tuple.
 */
#include <errno.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sockoutd.h"

/* The program, built on the stack: at most 15 instructions (IPv6). */
struct prog {
	struct sock_filter f[16];
	unsigned n;
	unsigned drops[8]; /* indexes of the jumps to `drop', patched last */
	unsigned nd;
};

static void emit(struct prog *p, struct sock_filter i)
{
	p->f[p->n++] = i;
}

/* Load @size (BPF_W or BPF_B) at @off and drop the packet unless it is @v. */
static void expect(struct prog *p, uint32_t size, int32_t off, uint32_t v)
{
	emit(p, (struct sock_filter)BPF_STMT(BPF_LD | size | BPF_ABS, (uint32_t)off));
	p->drops[p->nd++] = p->n;
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, v, 0, 0));
}

static uint32_t be32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* The network-order address bytes of @sa (an IPv4-mapped IPv6 address as
 * its IPv4 address: such a socket sends and receives IPv4), its port, and
 * the IP version its packets carry. */
static int addr_of(const struct sockaddr *sa, const uint8_t **a,
		   uint16_t *port, int *ver)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
		*a = (const uint8_t *)&s->sin_addr;
		*port = ntohs(s->sin_port);
		*ver = 4;
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
		*a = s->sin6_addr.s6_addr;
		*port = ntohs(s->sin6_port);
		*ver = 6;
		if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr)) {
			*a += 12;
			*ver = 4;
		}
		return 0;
	}
	return -EAFNOSUPPORT;
}

/*
 * The program for packets from @peer to @local's port, as short as it can
 * be: attaching costs the kernel a check and a JIT compilation that grow
 * with the length (about 7 us for one instruction, 8-9 for six, on the
 * bench machine), and this is on the way of every connect.  The source
 * address and both ports (one 32-bit load at the TCP header) are what
 * tells this connection from any other the socket could be reconnected
 * to; the destination address adds nothing (packets reach the socket only
 * at its own).  An AF_INET socket only ever receives IPv4; an AF_INET6
 * one may receive either, so its program first checks the version.
 */
static int build(struct prog *p, int family, const struct sockaddr *local,
		 const struct sockaddr *peer)
{
	const uint8_t *la, *pa;
	uint16_t lport, pport;
	int lver, pver;

	if (addr_of(local, &la, &lport, &lver) < 0 ||
	    addr_of(peer, &pa, &pport, &pver) < 0 || lver != pver)
		return -EAFNOSUPPORT;
	(void)la;
	memset(p, 0, sizeof(*p));
	if (family != AF_INET) {
		emit(p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_B | BPF_ABS, (uint32_t)SKF_NET_OFF));
		emit(p, (struct sock_filter)BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 4));
		p->drops[p->nd++] = p->n;
		emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)pver, 0, 0));
	}
	if (pver == 4) {
		expect(p, BPF_W, SKF_NET_OFF + 12, be32(pa)); /* source */
	} else {
		for (int i = 0; i < 4; i++)
			expect(p, BPF_W, SKF_NET_OFF + 8 + 4 * i, be32(pa + 4 * i));
	}
	/* TCP source and destination ports */
	expect(p, BPF_W, 0, (uint32_t)pport << 16 | lport);
	emit(p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0xffffffffu));
	unsigned drop = p->n;
	emit(p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0));
	/* each `jeq' falls through on a match and jumps to `drop' otherwise */
	for (unsigned i = 0; i < p->nd; i++) {
		unsigned at = p->drops[i];
		p->f[at].jf = (uint8_t)(drop - at - 1);
	}
	return 0;
}

/* ---- CAP_NET_ADMIN, effective only while a filter is attached ---- */

static bool need_cap; /* this kernel wants CAP_NET_ADMIN for TCP filters */

static int caps_get(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };

	return syscall(SYS_capget, &h, d) < 0 ? -errno : 0;
}

static int caps_set(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };

	return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

#define NET_ADMIN_BIT (1u << CAP_NET_ADMIN) /* in d[0]: CAP_NET_ADMIN < 32 */

/* Make CAP_NET_ADMIN effective (@on) or not. */
static int net_admin(bool on)
{
	struct __user_cap_data_struct d[2];
	int r;

	if ((r = caps_get(d)) < 0)
		return r;
	if (on)
		d[0].effective |= NET_ADMIN_BIT;
	else
		d[0].effective &= ~NET_ADMIN_BIT;
	return caps_set(d);
}

/* Drop CAP_NET_ADMIN from every set: this kernel does not need it. */
static void net_admin_drop(void)
{
	struct __user_cap_data_struct d[2];

	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, CAP_NET_ADMIN, 0, 0);
	if (caps_get(d) == 0) {
		d[0].effective &= ~NET_ADMIN_BIT;
		d[0].permitted &= ~NET_ADMIN_BIT;
		d[0].inheritable &= ~NET_ADMIN_BIT;
		caps_set(d);
	}
}

/* The capability sets with CAP_NET_ADMIN effective and without, taken
 * once (nothing else in sockoutd changes them): a capget() less on each
 * side of every attach. */
static struct __user_cap_data_struct cap_hi[2], cap_lo[2];

static int attach(int fd, const struct sock_fprog *prog)
{
	int one = 1, r = 0, e;

	if (need_cap && (r = caps_set(cap_hi)) < 0)
		return r;
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, prog, sizeof(*prog)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_LOCK_FILTER, &one, sizeof(one)) < 0)
		r = -errno;
	if (need_cap && (e = caps_set(cap_lo)) < 0)
		die("cannot lower CAP_NET_ADMIN again: %s", strerror(-e));
	return r;
}

int pin_init(void)
{
	static struct sock_filter all[] = { BPF_STMT(BPF_RET | BPF_K, 0xffffffffu) };
	struct sock_fprog prog = { .len = 1, .filter = all };
	int fd, r;

	/* The probe runs without CAP_NET_ADMIN effective: whether it is
	 * needed is the question. */
	need_cap = false;
	net_admin(false);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	r = setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0 ? -errno : 0;
	close(fd);
	if (r == 0) {
		net_admin_drop();
		return 0;
	}
	if (r != -EPERM)
		return r;
	if ((r = caps_get(cap_lo)) < 0)
		return r;
	memcpy(cap_hi, cap_lo, sizeof(cap_hi));
	cap_hi[0].effective |= NET_ADMIN_BIT;
	need_cap = true;
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	r = attach(fd, &prog);
	close(fd);
	if (r == 0) {
		/* nothing of ours exec()s, but nothing should inherit it */
		prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, CAP_NET_ADMIN, 0, 0);
		info("this kernel lets only CAP_NET_ADMIN attach a filter to a TCP socket: "
		     "it is made effective for that alone");
	}
	return r;
}

int pin_socket_to(int fd, const struct sockaddr *local, const struct sockaddr *peer)
{
	struct prog p;

	if (build(&p, local->sa_family, local, peer) < 0)
		return -EAFNOSUPPORT;
	struct sock_fprog prog = { .len = (unsigned short)p.n, .filter = p.f };
	return attach(fd, &prog);
}

int pin_socket(int fd)
{
	struct sockaddr_storage local, peer;
	socklen_t ll = sizeof(local), pl = sizeof(peer), l;
	int locked = 0;

	/* Pinned already, by the route that made it (pin_socket_to() off
	 * the guest's way where it can: pair.c, direct.c).  Only this file
	 * locks a filter on a socket of ours, and a hand-back that comes
	 * with one locked is refused (relay.c), so locked means pinned. */
	l = sizeof(locked);
	if (getsockopt(fd, SOL_SOCKET, SO_LOCK_FILTER, &locked, &l) < 0)
		return -errno;
	if (locked)
		return 0;
	if (getsockname(fd, (struct sockaddr *)&local, &ll) < 0)
		return -errno;
	if (local.ss_family == AF_UNIX) /* a listener's end: not TCP */
		return 0;
	/* A socket with no peer (reset before it left) would be free to
	 * connect anywhere: it does not leave at all. */
	if (getpeername(fd, (struct sockaddr *)&peer, &pl) < 0)
		return -errno;
	return pin_socket_to(fd, (struct sockaddr *)&local, (struct sockaddr *)&peer);
}
