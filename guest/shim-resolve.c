// SPDX-License-Identifier: MIT
/*
 * shim-resolve.c - names: getaddrinfo(), gethostbyname[2][_r]() and
 * getnameinfo() ask sockoutd (RESOLVE, REVERSE; PROTOCOL.md part 2), which
 * answers by its `resolve' rules.  A guest has no nameserver it could reach
 * (and must not have one: a name is answered only as the rules say), so
 * libc's resolver is never asked for a name that would take it to DNS.
 *
 * What stays local, i.e. goes to libc's own function: no name (passive or
 * loopback getaddrinfo), AI_NUMERICHOST, address literals, and
 * "localhost" (and names under .localhost): the guest's own loopback, which
 * its /etc/hosts answers without a packet.
 *
 * getaddrinfo's list is made by libc itself: for each address sockoutd
 * gave, libc's getaddrinfo() with AI_NUMERICHOST turns it and the service
 * into nodes (socket types, protocols, service names from /etc/services),
 * and the lists are chained.  glibc frees a list node by node (each node
 * and its sockaddr are one block, the canonical name another), so libc's
 * freeaddrinfo() frees the chain and needs no wrapper; gai_strerror()
 * explains the standard codes returned here.
 */
#include "shim.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef int gai_fn(const char *, const char *, const struct addrinfo *,
		   struct addrinfo **);
typedef int gni_fn(const struct sockaddr *, socklen_t, char *, socklen_t,
		   char *, socklen_t, int);
typedef int ghbn2r_fn(const char *, int, struct hostent *, char *, size_t,
		      struct hostent **, int *);

/* libc's definition of @name (resolved once; a race stores the same). */
static void *next(void **slot, const char *name)
{
	void *p = __atomic_load_n(slot, __ATOMIC_ACQUIRE);

	if (!p) {
		p = dlsym(RTLD_NEXT, name);
		__atomic_store_n(slot, p, __ATOMIC_RELEASE);
	}
	return p;
}

static int real_getaddrinfo(const char *node, const char *service,
			    const struct addrinfo *hints, struct addrinfo **res)
{
	static void *slot;
	gai_fn *f = (gai_fn *)next(&slot, "getaddrinfo");

	return f ? f(node, service, hints, res) : EAI_SYSTEM;
}

static int real_getnameinfo(const struct sockaddr *sa, socklen_t salen,
			    char *host, socklen_t hostlen, char *serv,
			    socklen_t servlen, int flags)
{
	static void *slot;
	gni_fn *f = (gni_fn *)next(&slot, "getnameinfo");

	return f ? f(sa, salen, host, hostlen, serv, servlen, flags) : EAI_SYSTEM;
}

static int real_gethostbyname2_r(const char *name, int af, struct hostent *h,
				 char *buf, size_t len, struct hostent **res,
				 int *herr)
{
	static void *slot;
	ghbn2r_fn *f = (ghbn2r_fn *)next(&slot, "gethostbyname2_r");

	if (!f) {
		*res = NULL;
		*herr = NO_RECOVERY;
		return ENOSYS;
	}
	return f(name, af, h, buf, len, res, herr);
}

/* Does @name stay with libc: an address literal, or the guest's own
 * loopback name? */
static bool stays_local(const char *name)
{
	unsigned char a[16];
	char v6[INET6_ADDRSTRLEN + 1];
	const char *pct = strchr(name, '%');
	size_t n = strlen(name);
	struct in_addr in;

	if (inet_aton(name, &in) || inet_pton(AF_INET6, name, a) == 1)
		return true;
	/* fe80::1%eth0: a scoped literal */
	if (pct && (size_t)(pct - name) < sizeof(v6)) {
		memcpy(v6, name, (size_t)(pct - name));
		v6[pct - name] = '\0';
		if (inet_pton(AF_INET6, v6, a) == 1)
			return true;
	}
	if (n && name[n - 1] == '.')
		n--;
	if ((n == 9 && strncasecmp(name, "localhost", 9) == 0) ||
	    (n > 10 && strncasecmp(name + n - 10, ".localhost", 10) == 0))
		return true;
	return strcasecmp(name, "localhost.localdomain") == 0 ||
	       strcasecmp(name, "ip6-localhost") == 0 ||
	       strcasecmp(name, "ip6-loopback") == 0;
}

/* The errno sockoutd answers with, as getaddrinfo() says it. */
static int gai_code(int status)
{
	switch (status) {
	case 0:
		return 0;
	case ENOENT:
	case EINVAL:
		return EAI_NONAME;
	case ENODATA:
		return EAI_NODATA;
	default:
		return EAI_AGAIN;
	}
}

/*
 * ask() - RESOLVE @name in @family (AF_INET, AF_INET6, AF_UNSPEC) from
 * sockoutd into @ans.  Returns 0 or an EAI_* code (EAI_AGAIN when
 * sockoutd cannot be reached: a temporary failure, never libc's DNS).
 */
static int ask(const char *name, int family, struct gp_answer *ans)
{
	static const struct gpc_ops ops = { real_connect, real_setsockopt };
	struct gp_req req = { .op = GP_RESOLVE };
	struct gp_reply rep;
	const char *why = NULL;
	size_t n = strlen(name);
	int fd, r;

	if (n && name[n - 1] == '.')
		n--;
	if (!n || n > GP_NAME_MAX)
		return EAI_NONAME;
	req.family = family == AF_INET ? 4 : family == AF_INET6 ? 6 : 0;
	req.namelen = (uint16_t)n;
	memcpy(req.name, name, n);
	r = gpc_exchange_answer(&ops, shim_socket_path(), &req, &rep, &fd, ans, &why);
	if (r < 0) {
		shim_warn_once(shim_socket_path(),
			       why ? why : "cannot reach sockoutd to resolve a name");
		return EAI_AGAIN;
	}
	return gai_code(rep.status);
}

/* ---- getaddrinfo ---- */

/* @a as text for libc's numeric getaddrinfo: IPv4 as ::ffff:a.b.c.d when
 * @map (AF_INET6 with AI_V4MAPPED). */
static int addr_text(const struct so_addr *a, bool map, char *buf, size_t len)
{
	if (a->family == 4 && map) {
		char v4[INET_ADDRSTRLEN];
		if (!inet_ntop(AF_INET, a->addr, v4, sizeof(v4)))
			return -1;
		return snprintf(buf, len, "::ffff:%s", v4) < (int)len ? AF_INET6 : -1;
	}
	if (a->family == 4)
		return inet_ntop(AF_INET, a->addr, buf, (socklen_t)len) ? AF_INET : -1;
	return inet_ntop(AF_INET6, a->addr, buf, (socklen_t)len) ? AF_INET6 : -1;
}

SHIM_EXPORT int getaddrinfo(const char *node, const char *service,
			    const struct addrinfo *hints, struct addrinfo **res)
{
	struct addrinfo h = { 0 }, *head = NULL, **tail = &head;
	struct gp_answer ans;
	int fam, flags, e, saved = errno, first_err = 0;
	bool map;

	if (hints)
		h = *hints;
	fam = h.ai_family;
	flags = h.ai_flags;
	if (!node || (flags & AI_NUMERICHOST) || stays_local(node) ||
	    (fam != AF_UNSPEC && fam != AF_INET && fam != AF_INET6))
		return real_getaddrinfo(node, service, hints, res);
	/* AF_INET6 with AI_V4MAPPED takes IPv4 answers too, mapped */
	map = fam == AF_INET6 && (flags & AI_V4MAPPED);
	if ((e = ask(node, map ? AF_UNSPEC : fam, &ans)) != 0) {
		errno = saved;
		return e;
	}
	bool have6 = false;
	for (unsigned i = 0; i < ans.n; i++)
		have6 |= ans.addr[i].family == 6;
	h.ai_flags = (flags & (AI_NUMERICSERV | AI_PASSIVE)) | AI_NUMERICHOST;
	h.ai_canonname = NULL;
	h.ai_addr = NULL;
	h.ai_next = NULL;
	for (unsigned i = 0; i < ans.n; i++) {
		char txt[INET6_ADDRSTRLEN + 8];
		struct addrinfo *one = NULL;
		const struct so_addr *a = &ans.addr[i];

		/* mapped IPv4 only when there is no IPv6, or AI_ALL */
		if (map && a->family == 4 && have6 && !(flags & AI_ALL))
			continue;
		if ((h.ai_family = addr_text(a, map, txt, sizeof(txt))) < 0)
			continue;
		if ((e = real_getaddrinfo(txt, service, &h, &one)) != 0) {
			if (!first_err)
				first_err = e;
			continue;
		}
		*tail = one;
		while (*tail)
			tail = &(*tail)->ai_next;
	}
	if (!head) {
		errno = saved;
		/* a bad service or socket type says so; else no address */
		return first_err ? first_err : EAI_NODATA;
	}
	if (flags & AI_CANONNAME) {
		head->ai_canonname = strdup(ans.canon[0] ? ans.canon : node);
		if (!head->ai_canonname) {
			freeaddrinfo(head);
			return EAI_MEMORY;
		}
	}
	*res = head;
	errno = saved;
	return 0;
}

/* ---- gethostbyname and friends ---- */

static int herr_of(int eai)
{
	switch (eai) {
	case EAI_NONAME:
		return HOST_NOT_FOUND;
	case EAI_NODATA:
		return NO_DATA;
	default:
		return TRY_AGAIN;
	}
}

/* Round @p up for a pointer. */
static char *align_ptr(char *p)
{
	uintptr_t u = (uintptr_t)p, a = sizeof(char *);

	return (char *)((u + a - 1) / a * a);
}

/*
 * hostent_r() - gethostbyname2_r() by sockoutd's answer: the hostent
 * points into @buf (canonical name, the name asked as its alias when it
 * was one, the addresses of family @af).  Returns 0 or ERANGE; *@herr and
 * *@res as glibc sets them.
 */
static int hostent_r(const char *name, int af, struct hostent *h, char *buf,
		     size_t len, struct hostent **res, int *herr)
{
	struct gp_answer ans;
	size_t alen = af == AF_INET ? 4 : 16;
	int e;

	*res = NULL;
	if (af != AF_INET && af != AF_INET6) {
		*herr = NO_RECOVERY;
		return EAFNOSUPPORT;
	}
	if ((e = ask(name, af, &ans)) != 0) {
		*herr = herr_of(e);
		return e == EAI_AGAIN ? EAGAIN : ENOENT;
	}
	const char *canon = ans.canon[0] ? ans.canon : name;
	size_t cl = strlen(canon) + 1, nl = strlen(name) + 1;
	char *p = align_ptr(buf), *end = buf + len;
	if (p > end || (size_t)(end - p) < (2 + ans.n + 1) * sizeof(char *) +
						   ans.n * alen + cl + nl) {
		*herr = NETDB_INTERNAL;
		return ERANGE;
	}
	char **aliases = (char **)(void *)p;
	char **list = aliases + 2;
	char *data = (char *)(list + ans.n + 1);
	unsigned k = 0;
	for (unsigned i = 0; i < ans.n; i++) {
		if (ans.addr[i].family != (af == AF_INET ? 4 : 6))
			continue;
		list[k] = data;
		memcpy(data, ans.addr[i].addr, alen);
		data += alen;
		k++;
	}
	list[k] = NULL;
	h->h_name = memcpy(data, canon, cl);
	data += cl;
	aliases[0] = aliases[1] = NULL;
	if (ans.canon[0])
		aliases[0] = memcpy(data, name, nl);
	h->h_aliases = aliases;
	h->h_addrtype = af;
	h->h_length = (int)alen;
	h->h_addr_list = list;
	if (!k) {
		*herr = NO_DATA;
		return ENOENT;
	}
	*herr = NETDB_SUCCESS;
	*res = h;
	return 0;
}

SHIM_EXPORT int gethostbyname2_r(const char *name, int af, struct hostent *h,
				 char *buf, size_t len, struct hostent **res,
				 int *herr)
{
	if (!name || stays_local(name))
		return real_gethostbyname2_r(name, af, h, buf, len, res, herr);
	return hostent_r(name, af, h, buf, len, res, herr);
}

SHIM_EXPORT int gethostbyname_r(const char *name, struct hostent *h, char *buf,
				size_t len, struct hostent **res, int *herr)
{
	return gethostbyname2_r(name, AF_INET, h, buf, len, res, herr);
}

/* The non-reentrant pair: one result per thread (glibc keeps one per
 * process; per thread is at least as safe). */
static __thread struct hostent tl_host;
static __thread char tl_buf[1024];

SHIM_EXPORT struct hostent *gethostbyname2(const char *name, int af)
{
	struct hostent *res = NULL;
	int herr = 0;

	gethostbyname2_r(name, af, &tl_host, tl_buf, sizeof(tl_buf), &res, &herr);
	if (!res)
		h_errno = herr;
	return res;
}

SHIM_EXPORT struct hostent *gethostbyname(const char *name)
{
	return gethostbyname2(name, AF_INET);
}

/* ---- getnameinfo ---- */

/* The name sockoutd knows for @sa (a placeholder), into @host. */
static int ask_reverse(const struct sockaddr *sa, socklen_t salen, char *host,
		       socklen_t hostlen)
{
	static const struct gpc_ops ops = { real_connect, real_setsockopt };
	struct gp_req req = { .op = GP_REVERSE };
	struct gp_reply rep;
	struct gp_answer ans;
	const char *why;
	int fd;

	if (so_addr_from_user(&req.addr, sa, salen) < 0 ||
	    so_addr_is_loopback(&req.addr))
		return EAI_NONAME;
	req.addr.port = 0;
	if (gpc_exchange_answer(&ops, shim_socket_path(), &req, &rep, &fd, &ans,
				&why) < 0 ||
	    rep.status)
		return EAI_NONAME;
	if (strlen(ans.canon) >= hostlen)
		return EAI_OVERFLOW;
	strcpy(host, ans.canon);
	return 0;
}

SHIM_EXPORT int getnameinfo(const struct sockaddr *sa, socklen_t salen,
			    char *host, socklen_t hostlen, char *serv,
			    socklen_t servlen, int flags)
{
	int e, saved = errno;

	if (!host || !hostlen || (flags & NI_NUMERICHOST) || !sa ||
	    (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return real_getnameinfo(sa, salen, host, hostlen, serv, servlen,
					flags);
	/* the loopback's names are the guest's own (/etc/hosts) */
	struct so_addr a;
	if (so_addr_from_user(&a, sa, salen) == 0 && so_addr_is_loopback(&a))
		return real_getnameinfo(sa, salen, host, hostlen, serv, servlen,
					flags);
	e = ask_reverse(sa, salen, host, hostlen);
	errno = saved;
	if (e == EAI_OVERFLOW)
		return e;
	if (e) {
		/* not a name sockoutd handed out: the number, or no name
		 * at all when one is required (never a PTR query) */
		if (flags & NI_NAMEREQD)
			return EAI_NONAME;
		return real_getnameinfo(sa, salen, host, hostlen, serv, servlen,
					flags | NI_NUMERICHOST);
	}
	if (serv && servlen)
		return real_getnameinfo(sa, salen, NULL, 0, serv, servlen,
					flags | NI_NUMERICHOST);
	return 0;
}
