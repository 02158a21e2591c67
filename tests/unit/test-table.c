// SPDX-License-Identifier: MIT
/* Unit tests of sockoutd's configuration errors: every error reported, each
 * as "file:line: message: `value'"; and of what table_match() adds to the
 * table: host-local destinations only through rules that name them,
 * privileged host ports only through rules that name them, "from" clauses,
 * limits, and the peer_id_* and hostaddr_* helpers. */
#include <arpa/inet.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../../dispatcher/table.c"
#include "t.h"

static char path[64];

/* Parse @text; returns the error text (malloc'ed) or NULL if it loaded. */
static char *errors_of(const char *text, int *count)
{
	int fd;
	struct conf_errors e = { 0 };
	struct dconf *c = NULL;
	char *r = NULL;

	strcpy(path, "/tmp/test-table.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		return strdup("cannot write temp file");
	close(fd);
	int rc = dconf_load(path, &c, &e);
	*count = e.count;
	if (rc == 0) {
		CHECK(c != NULL);
		CHECK_EQ(e.count, 0);
		dconf_free(c);
	} else {
		CHECK(c == NULL);
		r = strdup(e.text ? e.text : "");
	}
	conf_errors_free(&e);
	unlink(path);
	return r;
}

/* Does the error text hold "PATH:LINE: MSG"? */
static int has(const char *errs, int line, const char *msg)
{
	char want[512];

	snprintf(want, sizeof(want), "%s:%d: %s\n", path, line, msg);
	if (errs && strstr(errs, want))
		return 1;
	fprintf(stderr, "missing: %swithin:\n%s", want, errs ? errs : "(none)\n");
	return 0;
}

static void test_all_errors(void)
{
	int n;
	char *e = errors_of(
		"helper office data /run/o.data event /run/o.event\n"	/* 1 */
		"helper office data /run/x.data event /run/x.event\n"	/* 2 */
		"connect 203.0.113.0/33 deny\n"				/* 3 */
		"connect 203.0.113.300 deny\n"				/* 4 */
		"connect port 90-80 deny\n"				/* 5 */
		"connect port 0 deny\n"					/* 6 */
		"connect port 22 helper nosuch\n"			/* 7 */
		"connect port 22\n"					/* 8 */
		"frobnicate yes\n"					/* 9 */
		"accept port 80 direct 70000\n"				/* 10 */
		"connect any deny now\n"				/* 11 */
		"helper home data /run/h.data\n"			/* 12 */
		"connect-timeout soon\n"				/* 13 */
		"guest-socket relative.sock\n"				/* 14 */
		"connect port 22 helper office from x\n"		/* 15 */
		"guest-socket-mode 999\n"				/* 16 */
		"listen-address example.org\n"				/* 17 */
		"connect deny\n"					/* 18 */
		"connect 2001:db8::/129 deny\n"				/* 19 */
		"helper\n"						/* 20 */
		"connect \"unterminated\n",				/* 21 */
		&n);
	CHECK(e != NULL);
	CHECK(has(e, 2, "duplicate helper (first declared on line 1): `office'"));
	CHECK(has(e, 3, "bad address or CIDR: `203.0.113.0/33'"));
	CHECK(has(e, 4, "bad address or CIDR: `203.0.113.300'"));
	CHECK(has(e, 5, "port range reversed: `90-80'"));
	CHECK(has(e, 6, "bad port: `0'"));
	CHECK(has(e, 7, "unknown helper: `nosuch'"));
	CHECK(has(e, 8, "missing action (deny, direct, helper NAME): `22'"));
	CHECK(has(e, 9, "unknown keyword: `frobnicate'"));
	CHECK(has(e, 10, "bad direct destination (PORT or ADDR:PORT): `70000'"));
	CHECK(has(e, 11, "deny takes no argument: `now'"));
	CHECK(has(e, 12, "helper needs both data and event sockets: `home'"));
	CHECK(has(e, 13, "bad duration (e.g. 30s, 500ms; up to 1h): `soon'"));
	CHECK(has(e, 14, "socket path must be absolute and under 108 bytes: `relative.sock'"));
	CHECK(has(e, 15, "expected `to TARGET' after the helper name: `from'"));
	CHECK(has(e, 16, "bad mode (octal, owner must read and write): `999'"));
	CHECK(has(e, 17, "bad listen address: `example.org'"));
	CHECK(has(e, 18, "missing match (any, ADDR[/LEN], port N[-M]): `connect'"));
	CHECK(has(e, 19, "bad address or CIDR: `2001:db8::/129'"));
	CHECK(has(e, 20, "missing helper name (helper NAME data PATH event PATH): `helper'"));
	CHECK(has(e, 21, "unterminated quote"));
	CHECK_EQ(n, 20);
	free(e);
}

static void test_ok_and_missing_file(void)
{
	int n;
	char *e = errors_of("connect any direct\n", &n);

	CHECK(e == NULL);
	CHECK_EQ(n, 0);

	struct conf_errors ce = { 0 };
	struct dconf *c = NULL;
	CHECK_EQ(dconf_load("/nonexistent/sockoutd.conf", &c, &ce), -EINVAL);
	CHECK(c == NULL);
	CHECK(ce.text && strstr(ce.text, "/nonexistent/sockoutd.conf: cannot open: "));
	conf_errors_free(&ce);

	/* a helper may be declared after the rules that use it */
	e = errors_of("connect port 22 helper late to x\n"
		      "helper late data /run/l.data event /run/l.event\n", &n);
	CHECK(e == NULL);
	/* settings given twice */
	e = errors_of("connect-timeout 5s\nconnect-timeout 6s\n", &n);
	CHECK(e && has(e, 2, "connect-timeout already set on line 1: `6s'"));
	free(e);
	/* a target that is too long */
	char big[600] = "helper h data /a event /b\nconnect any helper h to ";
	size_t l = strlen(big);
	memset(big + l, 'x', 300);
	strcpy(big + l + 300, "\n");
	e = errors_of(big, &n);
	CHECK(e && strstr(e, ":2: target empty or longer than 255 bytes: `xxx"));
	free(e);
}

/* Load @text; the table, or NULL (errors printed). */
static struct dconf *load(const char *text)
{
	int fd;
	struct conf_errors e = { 0 };
	struct dconf *c = NULL;

	strcpy(path, "/tmp/test-table.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		return NULL;
	close(fd);
	if (dconf_load(path, &c, &e) < 0)
		fprintf(stderr, "unexpected errors:\n%s", e.text);
	conf_errors_free(&e);
	unlink(path);
	return c;
}

static struct so_addr A(const char *ip, uint16_t port)
{
	struct so_addr a = { .port = port };

	if (inet_pton(AF_INET, ip, a.addr) == 1)
		a.family = 4;
	else if (inet_pton(AF_INET6, ip, a.addr) == 1)
		a.family = 6;
	else
		fprintf(stderr, "test bug: bad address %s\n", ip);
	return a;
}

static unsigned last_why;

/* line of the rule table_match() picks, 0 when none; why in last_why */
static int tm(struct dconf *c, int dir, const char *ip, uint16_t port,
	      const struct peer_id *who)
{
	struct so_addr a = A(ip, port);
	struct rule *r = table_match(c, dir, &a, who, &last_why);

	return r ? r->line : 0;
}

/* The address plan of the host-local test: in a network namespace of our
 * own (root) lo is up and also holds 198.51.100.77/24 and 2001:db8::77;
 * without one, the first non-loopback IPv4 address of the machine. */
static char host4[INET_ADDRSTRLEN], host6[INET6_ADDRSTRLEN];
static bool own_netns;

static int ifreq_ioctl(int fam, unsigned long req, void *arg)
{
	int s = socket(fam, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc;

	if (s < 0)
		return -1;
	rc = ioctl(s, req, arg);
	close(s);
	return rc;
}

/* struct in6_ifreq of <linux/ipv6.h>, which clashes with <netinet/in.h> */
struct t_in6_ifreq {
	struct in6_addr addr;
	uint32_t prefixlen;
	int ifindex;
};

static void setup_host_addresses(void)
{
	struct ifreq ifr;

	if (unshare(CLONE_NEWNET) == 0) {
		memset(&ifr, 0, sizeof(ifr));
		strcpy(ifr.ifr_name, "lo");
		ifr.ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING;
		CHECK_EQ(ifreq_ioctl(AF_INET, SIOCSIFFLAGS, &ifr), 0);
		memset(&ifr, 0, sizeof(ifr));
		strcpy(ifr.ifr_name, "lo:1");
		struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
		sin->sin_family = AF_INET;
		inet_pton(AF_INET, "198.51.100.77", &sin->sin_addr);
		CHECK_EQ(ifreq_ioctl(AF_INET, SIOCSIFADDR, &ifr), 0);
		/* as large as a struct ifreq: valgrind checks that much */
		union {
			struct t_in6_ifreq r6;
			struct ifreq pad;
		} u;
		memset(&u, 0, sizeof(u));
		u.r6.prefixlen = 64;
		u.r6.ifindex = (int)if_nametoindex("lo");
		inet_pton(AF_INET6, "2001:db8::77", &u.r6.addr);
		CHECK_EQ(ifreq_ioctl(AF_INET6, SIOCSIFADDR, &u), 0);
		strcpy(host4, "198.51.100.77");
		strcpy(host6, "2001:db8::77");
		own_netns = true;
		return;
	}
	fprintf(stderr, "note: no network namespace of our own (%s): using "
			"this machine's addresses\n", strerror(errno));
	struct ifaddrs *ifs;
	if (getifaddrs(&ifs) < 0)
		return;
	for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
			continue;
		struct sockaddr_in *sin = (struct sockaddr_in *)i->ifa_addr;
		if (((const uint8_t *)&sin->sin_addr)[0] == 127)
			continue;
		inet_ntop(AF_INET, &sin->sin_addr, host4, sizeof(host4));
		break;
	}
	freeifaddrs(ifs);
}

static void test_host_local(void)
{
	char text[2048];

	if (!host4[0]) {
		fprintf(stderr, "note: no host IPv4 address: host-address checks skipped\n");
		strcpy(host4, "127.0.0.1");
	}
	/* a /24 around the host's address, and a neighbour in it */
	struct so_addr h = A(host4, 0), nb = h;
	nb.addr[3] = (uint8_t)(h.addr[3] ^ 1);
	char net[INET_ADDRSTRLEN], nbs[INET_ADDRSTRLEN];
	snprintf(net, sizeof(net), "%u.%u.%u.0", h.addr[0], h.addr[1], h.addr[2]);
	inet_ntop(AF_INET, nb.addr, nbs, sizeof(nbs));
	snprintf(text, sizeof(text),
		 "connect 127.0.0.1 port 5432 direct\n"	  /* 1 */
		 "connect ::1 port 5433 direct\n"		  /* 2 */
		 "connect 127.0.0.0/8 port 6000 direct\n"	  /* 3 */
		 "connect 0.0.0.0 port 6001 direct\n"		  /* 4 */
		 "connect :: port 6002 helper h\n"		  /* 5 */
		 "connect %s port 6003 direct\n"		  /* 6 */
		 "connect %s/24 port 6004 direct\n"		  /* 7 */
		 "connect 0.0.0.0/0 port 6005 direct\n"	  /* 8 */
		 "connect ::/0 port 6005 direct\n"		  /* 9 */
		 "connect ::ffff:127.0.0.1 port 6006 direct\n"  /* 10 */
		 "connect any port 7000 deny\n"		  /* 11 */
		 "connect 127.0.0.1 port 7000 direct\n"	  /* 12 */
		 "connect port 7001 helper h to 192.0.2.1:7001\n" /* 13 */
		 "connect any direct\n"			  /* 14 */
		 "accept any helper h\n"			  /* 15 */
		 "helper h data /run/h.data event /run/h.event\n",
		 host4, net);
	struct dconf *c = load(text);
	CHECK(c != NULL);
	if (!c)
		return;
	int C = RULE_CONNECT;

	/* explicit rules reach loopback and unspecified, in every spelling */
	CHECK_EQ(tm(c, C, "127.0.0.1", 5432, NULL), 1);
	CHECK_EQ(last_why, 0u);
	CHECK_EQ(tm(c, C, "::ffff:127.0.0.1", 5432, NULL), 1);
	CHECK_EQ(tm(c, C, "::1", 5433, NULL), 2);
	CHECK_EQ(tm(c, C, "127.1.2.3", 6000, NULL), 3);
	CHECK_EQ(tm(c, C, "::ffff:127.1.2.3", 6000, NULL), 3);
	CHECK_EQ(tm(c, C, "0.0.0.0", 6001, NULL), 4);
	CHECK_EQ(tm(c, C, "::ffff:0.0.0.0", 6001, NULL), 4);
	CHECK_EQ(tm(c, C, "::", 6002, NULL), 5);
	CHECK_EQ(tm(c, C, "127.0.0.1", 6006, NULL), 10); /* mapped rule */
	/* ... and nothing else does: not "any", not a port-only rule, not
	 * 0.0.0.0/0 or ::/0, not another address of 127/8 */
	const char *locals[] = { "127.0.0.1", "::ffff:127.0.0.1", "127.1.2.3",
				 "0.0.0.0", "::ffff:0.0.0.0", "0.1.2.3", "::",
				 "::1", "::ffff:127.255.255.254" };
	for (size_t i = 0; i < sizeof(locals) / sizeof(*locals); i++) {
		CHECK_EQ(tm(c, C, locals[i], 80, NULL), 0);
		CHECK_EQ(last_why, (unsigned)TABLE_SKIP_LOCAL);
		CHECK_EQ(tm(c, C, locals[i], 6005, NULL), 0);
		CHECK_EQ(tm(c, C, locals[i], 7001, NULL), 0);
	}
	CHECK_EQ(tm(c, C, "127.1.2.3", 5432, NULL), 0);
	CHECK_EQ(tm(c, C, "::1", 5432, NULL), 0); /* family still matters */
	/* a deny narrows: it still matches first */
	CHECK_EQ(tm(c, C, "127.0.0.1", 7000, NULL), 11);
	/* the host's own address: its /32 reaches it, its /24 does not */
	if (strcmp(host4, "127.0.0.1") != 0) {
		char mapped[64];
		snprintf(mapped, sizeof(mapped), "::ffff:%s", host4);
		CHECK(hostaddr_is_local(&h));
		CHECK_EQ(tm(c, C, host4, 6003, NULL), 6);
		CHECK_EQ(tm(c, C, mapped, 6003, NULL), 6);
		CHECK_EQ(tm(c, C, host4, 6004, NULL), 0);
		CHECK_EQ(tm(c, C, mapped, 6004, NULL), 0);
		CHECK_EQ(tm(c, C, host4, 80, NULL), 0);
		CHECK_EQ(last_why, (unsigned)TABLE_SKIP_LOCAL);
		CHECK_EQ(tm(c, C, mapped, 80, NULL), 0);
		CHECK_EQ(tm(c, C, host4, 6005, NULL), 0);
		/* its neighbour is not the host: the broad rules apply */
		CHECK_EQ(tm(c, C, nbs, 6004, NULL), 7);
		CHECK_EQ(tm(c, C, nbs, 80, NULL), 14);
	}
	if (host6[0]) {
		CHECK_EQ(tm(c, C, host6, 80, NULL), 0);
		CHECK_EQ(tm(c, C, host6, 6005, NULL), 0);
		CHECK_EQ(tm(c, C, "2001:db8::78", 6005, NULL), 9);
	}
	/* remote addresses: as before */
	CHECK_EQ(tm(c, C, "203.0.113.9", 80, NULL), 14);
	CHECK_EQ(last_why, 0u);
	CHECK_EQ(tm(c, C, "::ffff:203.0.113.9", 6005, NULL), 8);
	CHECK_EQ(tm(c, C, "2001:db8:1::1", 6005, NULL), 9);
	/* accept: the bound address 0.0.0.0 or 127.0.0.1 is no destination */
	CHECK_EQ(tm(c, RULE_ACCEPT, "0.0.0.0", 8080, NULL), 15);
	CHECK_EQ(tm(c, RULE_ACCEPT, "127.0.0.1", 8080, NULL), 15);
	CHECK(c->rules[0].names_local && c->rules[2].names_local &&
	      c->rules[3].names_local && c->rules[9].names_local);
	CHECK(!c->rules[6].names_local && !c->rules[7].names_local &&
	      !c->rules[8].names_local && !c->rules[13].names_local);
	dconf_free(c);
}

static void test_hostaddr_cache(void)
{
	struct so_addr lo = A("127.0.0.1", 0), far = A("203.0.113.9", 0);

	CHECK(hostaddr_is_local(&lo));
	CHECK(!hostaddr_is_local(&far));
	/* cheap: many lookups read the interface list at most once a second */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	unsigned long r0 = hostaddrs.reads;
	for (int i = 0; i < 100000; i++)
		(void)hostaddr_is_local(&far);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	CHECK(hostaddrs.reads - r0 <= (unsigned long)ms / 1000 + 1);
	/* the fast path (loopback, unspecified) reads nothing */
	r0 = hostaddrs.reads;
	hostaddr_refresh_soon();
	CHECK(hostaddr_is_local(&lo));
	CHECK_EQ(hostaddrs.reads, r0);
	/* after refresh_soon the next lookup reads the list again */
	CHECK(!hostaddr_is_local(&far));
	CHECK_EQ(hostaddrs.reads, r0 + 1);
	if (!own_netns)
		return;
	/* a new address is seen after a (re)load at once */
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo:2");
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, "203.0.113.9", &sin->sin_addr);
	CHECK_EQ(ifreq_ioctl(AF_INET, SIOCSIFADDR, &ifr), 0);
	struct dconf *c = load("connect any direct\n");
	CHECK(c != NULL);
	CHECK(hostaddr_is_local(&far));
	CHECK(c && tm(c, RULE_CONNECT, "203.0.113.9", 80, NULL) == 0);
	dconf_free(c);
}

static void test_privileged_ports(void)
{
	struct dconf *c = load(
		"accept port 8443 direct 443\n"	/* 1 */
		"accept any direct\n"			/* 2 */
		"accept port 22 direct\n"		/* 3 */
		"accept port 23 helper h\n"		/* 4 */
		"accept port 1-100 direct\n"		/* 5 */
		"accept any port direct 8080\n"	/* 6 */
		"accept port 110 deny\n"		/* 7 */
		"helper h data /run/h.data event /run/h.event\n");
	CHECK(c != NULL);
	if (!c)
		return;
	int A_ = RULE_ACCEPT;

	CHECK_EQ(tm(c, A_, "0.0.0.0", 8443, NULL), 1); /* names host 443 */
	CHECK_EQ(tm(c, A_, "0.0.0.0", 8080, NULL), 2);
	CHECK_EQ(last_why, 0u);
	CHECK_EQ(tm(c, A_, "0.0.0.0", 1024, NULL), 2);
	CHECK_EQ(tm(c, A_, "0.0.0.0", 0, NULL), 2); /* kernel picks the port */
	CHECK_EQ(tm(c, A_, "::", 22, NULL), 3);
	CHECK_EQ(last_why, (unsigned)TABLE_SKIP_PRIVPORT);
	CHECK_EQ(tm(c, A_, "0.0.0.0", 23, NULL), 4); /* a helper binds nothing */
	CHECK_EQ(tm(c, A_, "127.0.0.1", 80, NULL), 5);
	CHECK_EQ(tm(c, A_, "0.0.0.0", 1023, NULL), 6); /* host port 8080 */
	CHECK_EQ(tm(c, A_, "0.0.0.0", 110, NULL), 6);
	CHECK(c->rules[0].names_port && !c->rules[1].names_port &&
	      c->rules[2].names_port && c->rules[4].names_port &&
	      c->rules[5].names_port);
	dconf_free(c);

	c = load("accept any direct\naccept port 110 deny\n");
	CHECK(c != NULL);
	if (!c)
		return;
	CHECK_EQ(tm(c, A_, "0.0.0.0", 443, NULL), 0);
	CHECK_EQ(last_why, (unsigned)TABLE_SKIP_PRIVPORT);
	CHECK_EQ(tm(c, A_, "0.0.0.0", 110, NULL), 2);
	dconf_free(c);
}

static void test_from(void)
{
	struct dconf *c = load(
		"connect from uid 1234 port 80 deny\n"		     /* 1 */
		"connect port 81 from user root deny\n"		     /* 2 */
		"connect from group daemon port 82 deny\n"		     /* 3 */
		"connect from gid 4242 port 83 deny\n"		     /* 4 */
		"connect from cgroup /system.slice port 84 deny\n"	     /* 5 */
		"connect from cgroup / port 85 deny\n"		     /* 6 */
		"connect port 80-85 direct\n"			     /* 7 */
		"connect from user root direct\n"			     /* 8 */
		"accept from uid 1234 port 8080 direct\n");		     /* 9 */
	CHECK(c != NULL);
	if (!c)
		return;
	const gid_t daemon_grp[] = { 1 };
	struct peer_id alice = { .uid = 1234, .gid = 1234, .pid = 1 };
	struct peer_id root = { .uid = 0, .gid = 0, .pid = 1 };
	struct peer_id member = alice, dgid = alice, g4242 = alice;
	member.groups = daemon_grp;
	member.ngroups = 1;
	dgid.gid = 1;
	g4242.gid = 4242;
	struct peer_id svc = alice, slice = alice, other = alice, lookalike = alice;
	svc.cgroup = "/system.slice/foo.service";
	slice.cgroup = "/system.slice";
	lookalike.cgroup = "/system.slicex/foo.service";
	other.cgroup = "/user.slice/user-1234.slice";
	const char *d = "203.0.113.9";
	int C = RULE_CONNECT;

	CHECK_EQ(tm(c, C, d, 80, &alice), 1);
	CHECK_EQ(tm(c, C, d, 80, &root), 7);
	CHECK_EQ(tm(c, C, d, 80, NULL), 7); /* unknown peer: no "from" */
	CHECK_EQ(tm(c, C, d, 81, &root), 2);
	CHECK_EQ(tm(c, C, d, 81, &alice), 7);
	CHECK_EQ(tm(c, C, d, 82, &member), 3); /* supplementary group */
	CHECK_EQ(tm(c, C, d, 82, &dgid), 3);   /* primary group */
	CHECK_EQ(tm(c, C, d, 82, &alice), 7);
	CHECK_EQ(tm(c, C, d, 83, &g4242), 4);
	CHECK_EQ(tm(c, C, d, 83, &alice), 7);
	CHECK_EQ(tm(c, C, d, 84, &svc), 5);	/* below the slice */
	CHECK_EQ(tm(c, C, d, 84, &slice), 5);	/* the slice itself */
	CHECK_EQ(tm(c, C, d, 84, &lookalike), 7); /* '/' boundaries only */
	CHECK_EQ(tm(c, C, d, 84, &other), 7);
	CHECK_EQ(tm(c, C, d, 84, &alice), 7);	/* no cgroup known */
	CHECK_EQ(tm(c, C, d, 85, &other), 6);
	CHECK_EQ(tm(c, C, d, 85, &alice), 7);
	CHECK_EQ(tm(c, C, d, 9999, &root), 8); /* "from" alone is a match */
	CHECK_EQ(tm(c, C, d, 9999, &alice), 0);
	CHECK_EQ(tm(c, RULE_ACCEPT, "0.0.0.0", 8080, &alice), 9);
	CHECK_EQ(tm(c, RULE_ACCEPT, "0.0.0.0", 8080, &root), 0);
	CHECK_EQ(c->rules[1].from, FROM_UID);
	CHECK_EQ(c->rules[1].from_id, 0u);
	CHECK_EQ(c->rules[2].from, FROM_GID);
	CHECK_EQ(c->rules[2].from_id, 1u);
	CHECK_STR(c->rules[4].from_cgroup, "/system.slice");
	dconf_free(c);
}

static void test_new_errors(void)
{
	int n;
	char *e = errors_of(
		"connect from user no-such-user-sockout port 80 deny\n" /* 1 */
		"connect from group no-such-group-sockout deny\n"	/* 2 */
		"connect from uid -1 deny\n"				/* 3 */
		"connect from uid 4294967295 deny\n"			/* 4 */
		"connect from cgroup system.slice deny\n"		/* 5 */
		"connect from cgroup /a/../b deny\n"			/* 6 */
		"connect from cgroup /a/ deny\n"			/* 7 */
		"connect from shell x deny\n"				/* 8 */
		"connect from user deny\n"				/* 9 */
		"connect from deny\n"					/* 10 */
		"connect from uid 1 from uid 2 deny\n"			/* 11 */
		"limit pending 0\n"					/* 12 */
		"limit listeners many\n"				/* 13 */
		"limit connections 1000001\n"				/* 14 */
		"limit helper-queue 1K\n"				/* 15 */
		"limit helper-queue 65G\n"				/* 16 */
		"limit frobs 3\n"					/* 17 */
		"limit pending\n"					/* 18 */
		"limit guests 10 20\n"					/* 19 */
		"limit guests 10\n"					/* 20 */
		"limit guests 11\n"					/* 21 */
		"connect from cgroup //x deny\n"			/* 22 */
		"connect from gid x port 80 deny\n",			/* 23 */
		&n);
	CHECK(e != NULL);
	CHECK(has(e, 1, "unknown user: `no-such-user-sockout'"));
	CHECK(has(e, 2, "unknown group: `no-such-group-sockout'"));
	CHECK(has(e, 3, "bad uid: `-1'"));
	CHECK(has(e, 4, "bad uid: `4294967295'"));
	CHECK(has(e, 5, "bad cgroup path (absolute, no empty, . or .. parts, no trailing /): `system.slice'"));
	CHECK(has(e, 6, "bad cgroup path (absolute, no empty, . or .. parts, no trailing /): `/a/../b'"));
	CHECK(has(e, 7, "bad cgroup path (absolute, no empty, . or .. parts, no trailing /): `/a/'"));
	CHECK(has(e, 8, "unknown from (uid, user, gid, group, cgroup): `shell'"));
	CHECK(has(e, 9, "missing who (from uid N, user NAME, gid N, group NAME, cgroup PATH): `user'"));
	CHECK(has(e, 10, "missing who (from uid N, user NAME, gid N, group NAME, cgroup PATH): `from'"));
	CHECK(has(e, 11, "from given twice: `2'"));
	CHECK(has(e, 12, "bad limit (a count from 1 to 1000000): `0'"));
	CHECK(has(e, 13, "bad limit (a count from 1 to 1000000): `many'"));
	CHECK(has(e, 14, "bad limit (a count from 1 to 1000000): `1000001'"));
	CHECK(has(e, 15, "bad size (256K to 64G, suffixes K, M, G): `1K'"));
	CHECK(has(e, 16, "bad size (256K to 64G, suffixes K, M, G): `65G'"));
	CHECK(has(e, 17, "unknown limit (pending, listeners, connections, guests, channels, helper-queue): `frobs'"));
	CHECK(has(e, 18, "limit takes a name and a value (limit pending 64): `pending'"));
	CHECK(has(e, 19, "limit takes a name and a value (limit pending 64): `20'"));
	CHECK(has(e, 21, "limit guests already set on line 20: `11'"));
	CHECK(has(e, 22, "bad cgroup path (absolute, no empty, . or .. parts, no trailing /): `//x'"));
	CHECK(has(e, 23, "bad gid: `x'"));
	CHECK_EQ(n, 22);
	free(e);
}

static void test_limits(void)
{
	struct dconf *c = load("# defaults\n");

	CHECK(c != NULL);
	if (!c)
		return;
	CHECK_EQ(c->limits.pending, 64u);
	CHECK_EQ(c->limits.listeners, 64u);
	CHECK_EQ(c->limits.connections, 1024u);
	CHECK_EQ(c->limits.guests, 4096u);
	CHECK_EQ(c->limits.helper_queue, 64ull << 20);
	dconf_free(c);
	c = load("limit pending 8\nlimit listeners 2\nlimit connections 100\n"
		 "limit guests 1000000\nlimit helper-queue 16M\n");
	CHECK(c != NULL);
	if (!c)
		return;
	CHECK_EQ(c->limits.pending, 8u);
	CHECK_EQ(c->limits.listeners, 2u);
	CHECK_EQ(c->limits.connections, 100u);
	CHECK_EQ(c->limits.guests, 1000000u);
	CHECK_EQ(c->limits.helper_queue, 16ull << 20);
	dconf_free(c);
}

static void test_peer_id(void)
{
	char cg[DCONF_CGROUP_MAX + 1], want[DCONF_CGROUP_MAX + 8];
	char self[8192] = "";
	FILE *f = fopen("/proc/self/cgroup", "re");

	if (f) {
		size_t n = fread(self, 1, sizeof(self) - 1, f);
		self[n] = '\0';
		fclose(f);
	}
	int rc = peer_id_cgroup(getpid(), cg, sizeof(cg));
	if (strstr(self, "0::")) {
		CHECK_EQ(rc, 0);
		snprintf(want, sizeof(want), "0::%s\n", cg);
		CHECK(rc == 0 && cg[0] == '/' && strstr(self, want) != NULL);
		CHECK_EQ(peer_id_cgroup(getpid(), cg, 1), -ENAMETOOLONG);
	} else {
		CHECK_EQ(rc, -ENOENT); /* cgroup v1 only */
	}
	CHECK_EQ(peer_id_cgroup(0, cg, sizeof(cg)), -EINVAL);
	CHECK_EQ(peer_id_cgroup(0x3ffffff0, cg, sizeof(cg)), -ENOENT);

	/* SO_PEERGROUPS: our own groups, through a socket pair */
	int sv[2];
	gid_t g[256], mine[256];
	size_t n = 0;
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	CHECK_EQ(peer_id_groups(sv[0], g, 256, &n), 0);
	int m = getgroups(256, mine);
	CHECK_EQ((long)n, (long)m);
	for (size_t i = 0; i < n && (int)i < m; i++)
		CHECK_EQ(g[i], mine[i]);
	if (m > 0)
		CHECK_EQ(peer_id_groups(sv[0], g, 0, &n), -ERANGE);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	test_all_errors();
	test_ok_and_missing_file();
	test_from();
	test_new_errors();
	test_limits();
	test_privileged_ports();
	test_peer_id();
	setup_host_addresses();
	test_host_local();
	test_hostaddr_cache();
	T_DONE();
}
