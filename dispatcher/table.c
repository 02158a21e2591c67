// SPDX-License-Identifier: MIT
/*
 * table.c - sockoutd configuration parser and rule matcher; see table.h.
 *
 * Grammar, one statement per line (the common reader splits words):
 *
 *   guest-socket PATH | guest-socket-mode OCTAL | control-socket PATH
 *   listen-address ADDR | connect-timeout DURATION | channel-idle DURATION
 *   limit pending|listeners|connections|guests N | limit helper-queue SIZE
 *   helper NAME data PATH event PATH
 *   connect|accept MATCH... ACTION
 *     MATCH  := any | ADDR[/LEN] | port N[-M] | port any | from WHO
 *     WHO    := uid N | user NAME | gid N | group NAME | cgroup PATH
 *     ACTION := deny | direct [PORT | ADDR:PORT] | helper NAME [to TARGET]
 *   resolve NAMES [from WHO] RACTION
 *     NAMES   := any | NAME | *.SUFFIX
 *     RACTION := deny | direct | address ADDR... | helper NAME [to TARGET]
 *   placeholder-range CIDR          (once per family)
 *
 * Every error is recorded as "file:line: message: `value'" and parsing goes
 * on, so one run of `sockoutd -n` shows every mistake in the file.  Helper
 * names in rules are resolved once the whole file is read, so a helper may
 * be declared after the rules that use it; user and group names are
 * resolved here, at load time (a reload picks up renamed accounts).
 *
 * The matcher (table_match) adds two rules to "first match wins" that keep
 * broad rules away from the host itself: see table.h.  It also holds the
 * small helpers that find out who asks (peer_id_*) and what counts as the
 * host's own address (hostaddr_*), so that this file, which unit tests and
 * fuzz targets #include on its own, links without the rest of sockoutd.
 */
#include "table.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <ifaddrs.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/loop.h"
#include "../common/net.h"

struct parse {
	struct dconf *c;
	size_t rcap, hcap;
	char **rule_helper; /* per rule: helper name to resolve, or NULL */
	int nomem;
	/* line of each global setting already seen (duplicates are errors) */
	int seen_guest, seen_mode, seen_control, seen_listen, seen_timeout;
	int seen_limit[6]; /* per limit_names[] */
	int seen_channel_idle;
	int seen_ph[2];	   /* placeholder-range, IPv4 and IPv6 */
};

static char *xstrdup(struct parse *p, const char *s)
{
	char *d = strdup(s);

	if (!d)
		p->nomem = 1;
	return d;
}

static const char *const action_words[] = { "deny", "direct", "helper",
					    "address" };

static bool is_action(const char *w)
{
	for (size_t i = 0; i < sizeof(action_words) / sizeof(*action_words);
	     i++)
		if (strcmp(w, action_words[i]) == 0)
			return true;
	return false;
}

/* Join the words of a line for messages and status output. */
static char *join(struct parse *p, const struct conf_line *l)
{
	size_t n = 1;

	for (int i = 0; i < l->argc; i++)
		n += strlen(l->argv[i]) + 1;
	char *s = malloc(n);
	if (!s) {
		p->nomem = 1;
		return NULL;
	}
	size_t o = 0;
	for (int i = 0; i < l->argc; i++) {
		size_t w = strlen(l->argv[i]);
		if (i)
			s[o++] = ' ';
		memcpy(s + o, l->argv[i], w);
		o += w;
	}
	s[o] = '\0';
	return s;
}

static bool is_mapped(const uint8_t addr[16])
{
	static const uint8_t pfx[12] = { [10] = 0xff, [11] = 0xff };

	return memcmp(addr, pfx, sizeof(pfx)) == 0;
}

/* ::ffff:a.b.c.d as a.b.c.d, the one spelling rules and lookups use.  (The
 * dispatcher has its own so_addr_unmap(); this file stands alone.) */
static void unmap(struct so_addr *a)
{
	if (a->family == 6 && is_mapped(a->addr)) {
		memmove(a->addr, a->addr + 12, 4);
		memset(a->addr + 4, 0, 12);
		a->family = 4;
	}
}

/* "ADDR" or "ADDR/LEN" into family/addr/prefix; host bits are masked off
 * so that matching is one comparison.  Returns 0 or -EINVAL. */
static int parse_cidr(const char *s, uint8_t *family, uint8_t addr[16],
		      uint8_t *prefix)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long len, max;

	if (!hl || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, host, addr) == 1) {
		*family = 4;
		max = 32;
	} else if (inet_pton(AF_INET6, host, addr) == 1) {
		*family = 6;
		max = 128;
	} else {
		return -EINVAL;
	}
	len = max;
	if (slash && conf_uint(slash + 1, 0, max, &len) < 0)
		return -EINVAL;
	*prefix = (uint8_t)len;
	for (unsigned i = 0; i < 16; i++) {
		unsigned bits = len > i * 8 ? len - i * 8 : 0;
		if (bits < 8)
			addr[i] &= (uint8_t)(0xff00u >> bits);
	}
	/* Destinations are matched unmapped (::ffff:a.b.c.d as a.b.c.d), so
	 * a rule written in the mapped spelling means the IPv4 block; kept
	 * as IPv6 it could never match. */
	if (*family == 6 && len >= 96 && is_mapped(addr)) {
		memmove(addr, addr + 12, 4);
		memset(addr + 4, 0, 12);
		*family = 4;
		*prefix = (uint8_t)(len - 96);
	}
	return 0;
}

/* "N" or "N-M"; -EINVAL bad number, -ERANGE reversed range. */
static int parse_ports(const char *s, uint16_t *lo, uint16_t *hi)
{
	char a[8];
	const char *dash = strchr(s, '-');
	unsigned long l, h;

	if (!dash) {
		if (conf_uint(s, 1, 65535, &l) < 0)
			return -EINVAL;
		*lo = *hi = (uint16_t)l;
		return 0;
	}
	if ((size_t)(dash - s) >= sizeof(a) || dash == s)
		return -EINVAL;
	memcpy(a, s, (size_t)(dash - s));
	a[dash - s] = '\0';
	if (conf_uint(a, 1, 65535, &l) < 0 || conf_uint(dash + 1, 1, 65535, &h) < 0)
		return -EINVAL;
	if (l > h)
		return -ERANGE;
	*lo = (uint16_t)l;
	*hi = (uint16_t)h;
	return 0;
}

/* direct's argument: "PORT", "ADDR:PORT" or "[V6]:PORT". */
static int parse_rewrite(const char *s, struct rule *r)
{
	char host[INET6_ADDRSTRLEN + 3];
	struct sockaddr_storage ss;
	socklen_t sl;
	unsigned long port;
	uint16_t p16;
	struct so_addr a;

	if (conf_uint(s, 1, 65535, &port) == 0) {
		r->rw_port = (uint16_t)port;
		return 0;
	}
	if (net_split_hostport(s, host, sizeof(host), &p16, 0) < 0 ||
	    net_parse_ip(host, p16, &ss, &sl) < 0)
		return -EINVAL;
	so_addr_from_sa(&a, (struct sockaddr *)&ss);
	r->rw_family = a.family;
	memcpy(r->rw_addr, a.addr, 16);
	r->rw_port = a.port;
	return 0;
}

static struct rule *rule_new(struct parse *p)
{
	struct dconf *c = p->c;

	if (c->nrules == p->rcap) {
		size_t cap = p->rcap ? p->rcap * 2 : 16;
		struct rule *r = realloc(c->rules, cap * sizeof(*r));
		char **h = realloc(p->rule_helper, cap * sizeof(*h));
		if (r)
			c->rules = r;
		if (h)
			p->rule_helper = h;
		if (!r || !h) {
			p->nomem = 1;
			return NULL;
		}
		p->rcap = cap;
	}
	p->rule_helper[c->nrules] = NULL;
	struct rule *r = &c->rules[c->nrules];
	memset(r, 0, sizeof(*r));
	r->port_hi = 65535;
	r->helper = -1;
	return r;
}

/* rule_add() - @r, parsed from @l, as the next rule (sending its matches
 * to @helper, if any): its strings copied.  0, or -ENOMEM (@r's own
 * allocations are the caller's then). */
static int rule_add(struct parse *p, const struct rule *r,
		    const struct conf_line *l, const char *helper)
{
	struct rule *nr = rule_new(p);

	if (!nr)
		return -ENOMEM;
	*nr = *r;
	nr->target = xstrdup(p, r->target ? r->target : "");
	if (r->from_cgroup)
		nr->from_cgroup = xstrdup(p, r->from_cgroup);
	nr->text = join(p, l);
	if (helper)
		p->rule_helper[p->c->nrules] = xstrdup(p, helper);
	p->c->nrules++;
	return 0;
}

/* A cgroup path as a rule may name it: absolute, canonical (no empty, "."
 * or ".." parts, no trailing '/' but for "/" itself), so that matching by
 * prefix on '/' boundaries cannot be fooled by spelling. */
static bool cgroup_path_ok(const char *s)
{
	size_t n = strlen(s);

	if (s[0] != '/' || n > DCONF_CGROUP_MAX)
		return false;
	if (n == 1)
		return true;
	for (const char *c = s; c; c = strchr(c + 1, '/')) {
		const char *part = c + 1, *end = strchr(part, '/');
		size_t pl = end ? (size_t)(end - part) : strlen(part);
		if (pl == 0 || (pl == 1 && part[0] == '.') ||
		    (pl == 2 && part[0] == '.' && part[1] == '.'))
			return false;
	}
	return true;
}

/* "from KIND VALUE" into @r; returns false (error recorded) if bad. */
static bool parse_from(const struct conf_line *l, const char *kind,
		       const char *v, struct rule *r, struct conf_errors *e)
{
	unsigned long id;

	if (strcmp(kind, "uid") == 0 || strcmp(kind, "gid") == 0) {
		/* (uid_t)-1 means "no change" to the kernel: not an id */
		if (conf_uint(v, 0, UINT32_MAX - 1, &id) < 0) {
			conf_error(e, l->file, l->line, "bad %s: `%s'", kind, v);
			return false;
		}
		r->from = kind[0] == 'u' ? FROM_UID : FROM_GID;
		r->from_id = (uint32_t)id;
	} else if (strcmp(kind, "user") == 0) {
		struct passwd *pw = getpwnam(v);
		if (!pw) {
			conf_error(e, l->file, l->line, "unknown user: `%s'", v);
			return false;
		}
		r->from = FROM_UID;
		r->from_id = (uint32_t)pw->pw_uid;
	} else if (strcmp(kind, "group") == 0) {
		struct group *gr = getgrnam(v);
		if (!gr) {
			conf_error(e, l->file, l->line, "unknown group: `%s'", v);
			return false;
		}
		r->from = FROM_GID;
		r->from_id = (uint32_t)gr->gr_gid;
	} else if (strcmp(kind, "cgroup") == 0) {
		if (!cgroup_path_ok(v)) {
			conf_error(e, l->file, l->line,
				   "bad cgroup path (absolute, no empty, . or .. parts, no trailing /): `%s'",
				   v);
			return false;
		}
		r->from = FROM_CGROUP;
		r->from_cgroup = (char *)v;
	} else {
		conf_error(e, l->file, l->line,
			   "unknown from (uid, user, gid, group, cgroup): `%s'", kind);
		return false;
	}
	return true;
}

/* Does the rule's address name loopback or unspecified addresses, i.e. lie
 * inside 127.0.0.0/8 or 0.0.0.0/8, or is it ::1 or ::? */
static bool cidr_names_local(const struct rule *r)
{
	static const uint8_t v6lo[16] = { [15] = 1 }, v6any[16] = { 0 };

	if (r->family == 4)
		return r->prefix >= 8 && (r->addr[0] == 127 || r->addr[0] == 0);
	return r->family == 6 && r->prefix == 128 &&
	       (memcmp(r->addr, v6lo, 16) == 0 || memcmp(r->addr, v6any, 16) == 0);
}

/* What the match part of a rule has said so far. */
struct match_seen {
	bool addr, port, any, from;
};

/* "from KIND WHO" at argv[*i]; *i ends on its last word.  0 or -1. */
static int parse_match_from(const struct conf_line *l, int *i, struct rule *r,
			    struct match_seen *m, struct conf_errors *e)
{
	const char *kind = NULL, *v = NULL, *w = l->argv[*i];
	int bad = 0;

	if (*i + 1 < l->argc && !is_action(l->argv[*i + 1]))
		kind = l->argv[++*i];
	if (kind && *i + 1 < l->argc && !is_action(l->argv[*i + 1]))
		v = l->argv[++*i];
	if (!v) {
		conf_error(e, l->file, l->line,
			   "missing who (from uid N, user NAME, gid N, group NAME, cgroup PATH): `%s'",
			   kind ? kind : w);
		bad = -1;
	} else if (m->from) {
		conf_error(e, l->file, l->line, "from given twice: `%s'", v);
		bad = -1;
	} else if (!parse_from(l, kind, v, r, e)) {
		bad = -1;
	}
	m->from = true;
	return bad;
}

/* "port N[-M]|any" at argv[*i]; *i ends on its last word.  0 or -1. */
static int parse_match_port(const struct conf_line *l, int *i, struct rule *r,
			    struct match_seen *m, struct conf_errors *e)
{
	const char *f = l->file;
	int ln = l->line;

	if (*i + 1 >= l->argc || is_action(l->argv[*i + 1])) {
		conf_error(e, f, ln, "missing port number: `%s'", l->argv[*i]);
		return -1;
	}
	const char *v = l->argv[++*i];
	if (m->port) {
		conf_error(e, f, ln, "port given twice: `%s'", v);
		return -1;
	}
	m->port = true;
	if (strcmp(v, "any") == 0)
		return 0;
	r->names_port = true;
	int pr = parse_ports(v, &r->port_lo, &r->port_hi);
	if (pr == -ERANGE) {
		conf_error(e, f, ln, "port range reversed: `%s'", v);
		return -1;
	} else if (pr < 0) {
		conf_error(e, f, ln, "bad port: `%s'", v);
		return -1;
	}
	return 0;
}

/*
 * parse_match() - the match part of rule line @l, up to the action word,
 * into @r.  Returns the index of the action word (argc if there is none);
 * *@bad is set on any error.
 */
static int parse_match(const struct conf_line *l, struct rule *r,
		       struct conf_errors *e, int *bad)
{
	struct match_seen m = { 0 };
	int i = 1;

	for (; i < l->argc && !is_action(l->argv[i]); i++) {
		const char *w = l->argv[i];

		if (strcmp(w, "any") == 0) {
			/* "any port" (followed by the action) reads
			 * naturally: take it as "any port". */
			if (i + 1 < l->argc && strcmp(l->argv[i + 1], "port") == 0 &&
			    (i + 2 >= l->argc || is_action(l->argv[i + 2])))
				i++;
			m.any = true;
		} else if (strcmp(w, "from") == 0) {
			if (parse_match_from(l, &i, r, &m, e) < 0)
				*bad = 1;
		} else if (strcmp(w, "port") == 0) {
			if (parse_match_port(l, &i, r, &m, e) < 0)
				*bad = 1;
		} else if (m.addr) {
			conf_error(e, l->file, l->line, "address given twice: `%s'", w);
			*bad = 1;
		} else {
			m.addr = true;
			if (parse_cidr(w, &r->family, r->addr, &r->prefix) < 0) {
				conf_error(e, l->file, l->line,
					   "bad address or CIDR: `%s'", w);
				*bad = 1;
			}
		}
	}
	if (!m.addr && !m.port && !m.any && !m.from) {
		conf_error(e, l->file, l->line,
			   "missing match (any, ADDR[/LEN], port N[-M]): `%s'",
			   l->argv[0]);
		*bad = 1;
	}
	return i;
}

/* The helper action's words after "helper": NAME [to TARGET].  0 or -1
 * (no name: nothing more can be said about the rule). */
static int parse_action_helper(const struct conf_line *l, int i,
			       struct rule *r, const char **helper,
			       struct conf_errors *e, int *bad)
{
	const char *f = l->file;
	int ln = l->line, rest = l->argc - i;

	if (rest < 1) {
		conf_error(e, f, ln, "missing helper name: `%s'", l->argv[i - 1]);
		return -1;
	}
	*helper = l->argv[i];
	if (rest == 2 || (rest >= 2 && strcmp(l->argv[i + 1], "to") != 0)) {
		conf_error(e, f, ln, "expected `to TARGET' after the helper name: `%s'",
			   l->argv[i + 1]);
		*bad = 1;
	} else if (rest == 3) {
		const char *t = l->argv[i + 2];
		if (strlen(t) > SO_MAX_TARGET || !*t) {
			conf_error(e, f, ln, "target empty or longer than %d bytes: `%s'",
				   SO_MAX_TARGET, t);
			*bad = 1;
		}
		r->target = (char *)t;
	} else if (rest > 3) {
		conf_error(e, f, ln, "too many arguments after the target: `%s'",
			   l->argv[i + 3]);
		*bad = 1;
	}
	return 0;
}

/*
 * parse_action() - the action word at argv[@i] and its arguments.
 * Returns 0, or -1 when the rule cannot be read any further.
 */
static int parse_action(const struct conf_line *l, int i, struct rule *r,
			const char **helper, struct conf_errors *e, int *bad)
{
	const char *f = l->file, *act = l->argv[i++];
	int ln = l->line, rest = l->argc - i;

	if (strcmp(act, "deny") == 0) {
		r->action = ACT_DENY;
		if (rest) {
			conf_error(e, f, ln, "deny takes no argument: `%s'",
				   l->argv[i]);
			*bad = 1;
		}
	} else if (strcmp(act, "direct") == 0) {
		r->action = ACT_DIRECT;
		if (rest > 1) {
			conf_error(e, f, ln, "too many arguments to direct: `%s'",
				   l->argv[i + 1]);
			*bad = 1;
		} else if (rest == 1 && parse_rewrite(l->argv[i], r) < 0) {
			conf_error(e, f, ln, "bad direct destination (PORT or ADDR:PORT): `%s'",
				   l->argv[i]);
			*bad = 1;
		}
	} else if (strcmp(act, "address") == 0) {
		conf_error(e, f, ln, "address is an action of resolve rules only: `%s'",
			   act);
		*bad = 1;
	} else {
		r->action = ACT_HELPER;
		return parse_action_helper(l, i, r, helper, e, bad);
	}
	return 0;
}

static void parse_rule(struct parse *p, const struct conf_line *l,
		       struct conf_errors *e)
{
	int bad = 0, i;
	struct rule r;
	const char *helper = NULL;

	memset(&r, 0, sizeof(r));
	r.dir = strcmp(l->argv[0], "accept") == 0 ? RULE_ACCEPT : RULE_CONNECT;
	r.port_hi = 65535;
	r.helper = -1;
	r.line = l->line;

	i = parse_match(l, &r, e, &bad);
	if (i >= l->argc) {
		conf_error(e, l->file, l->line,
			   "missing action (deny, direct, helper NAME): `%s'",
			   l->argv[l->argc - 1]);
		return;
	}
	if (parse_action(l, i, &r, &helper, e, &bad) < 0 || bad)
		return;
	/* a direct PORT names the host port the rule binds */
	if (r.rw_port)
		r.names_port = true;
	r.names_local = cidr_names_local(&r);

	rule_add(p, &r, l, helper);
}

/* ---- resolve rules ---- */

static bool addr_match(const struct rule *r, const struct so_addr *a);

int dconf_name_norm(const char *in, char *out, size_t len)
{
	size_t n = strlen(in), label = 0;

	if (n && in[n - 1] == '.')
		n--; /* the root's dot: "a.b." is "a.b" */
	if (!n || n > DCONF_NAME_MAX || n >= len)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (c == '.') {
			if (!label)
				return -EINVAL; /* empty label */
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			   c == '-' || c == '_') {
			label++;
		} else if (c >= 'A' && c <= 'Z') {
			c = (char)(c - 'A' + 'a');
			label++;
		} else {
			return -EINVAL;
		}
		if (label > 63)
			return -EINVAL;
		out[i] = c;
	}
	out[n] = '\0';
	return 0;
}

bool dconf_range_contains(const struct dconf_range *r, const struct so_addr *a)
{
	struct rule t = { .family = r->family, .prefix = r->prefix };

	memcpy(t.addr, r->addr, 16);
	return r->family && addr_match(&t, a);
}

/* resolve's names: any, NAME or *.SUFFIX, into r->name (malloc'ed). */
static int parse_names(struct parse *p, const struct conf_line *l,
		       struct rule *r, struct conf_errors *e)
{
	char n[DCONF_NAME_MAX + 2];
	const char *w = l->argv[1];
	bool wild = strncmp(w, "*.", 2) == 0;

	if (strcmp(w, "any") == 0) {
		r->name = xstrdup(p, "");
		return 0;
	}
	n[0] = '.';
	if (dconf_name_norm(wild ? w + 2 : w, n + 1, sizeof(n) - 1) < 0) {
		conf_error(e, l->file, l->line,
			   "bad name (any, NAME or *.SUFFIX; letters, digits, - and _ in labels of up to 63): `%s'",
			   w);
		return -1;
	}
	r->name = xstrdup(p, wild ? n : n + 1);
	return 0;
}

/* address's arguments: 1 to DCONF_RESOLVE_ADDRS addresses from argv[i]. */
static int parse_addresses(struct parse *p, const struct conf_line *l, int i,
			   struct rule *r, struct conf_errors *e)
{
	int n = l->argc - i, bad = 0;

	if (n < 1 || n > DCONF_RESOLVE_ADDRS) {
		conf_error(e, l->file, l->line, "address takes 1 to %d addresses: `%s'",
			   DCONF_RESOLVE_ADDRS, l->argv[l->argc - 1]);
		return -1;
	}
	r->addrs = calloc((size_t)n, sizeof(*r->addrs));
	if (!r->addrs) {
		p->nomem = 1;
		return -1;
	}
	for (; i < l->argc; i++) {
		struct sockaddr_storage ss;
		socklen_t sl;
		struct so_addr *a = &r->addrs[r->naddrs];
		if (net_parse_ip(l->argv[i], 0, &ss, &sl) < 0) {
			conf_error(e, l->file, l->line, "bad address: `%s'", l->argv[i]);
			bad = -1;
			continue;
		}
		so_addr_from_sa(a, (struct sockaddr *)&ss);
		a->port = 0;
		unmap(a);
		r->naddrs++;
	}
	return bad;
}

static void parse_resolve(struct parse *p, const struct conf_line *l,
			  struct conf_errors *e)
{
	struct match_seen m = { 0 };
	const char *helper = NULL;
	struct rule r;
	int bad = 0, i = 2;

	memset(&r, 0, sizeof(r));
	r.dir = RULE_RESOLVE;
	r.helper = -1;
	r.line = l->line;
	if (l->argc < 2 || is_action(l->argv[1]) || strcmp(l->argv[1], "from") == 0) {
		conf_error(e, l->file, l->line,
			   "missing names (resolve any|NAME|*.SUFFIX ACTION): `%s'",
			   l->argv[l->argc > 1 ? 1 : 0]);
		return;
	}
	if (parse_names(p, l, &r, e) < 0)
		bad = 1;
	for (; i < l->argc && !is_action(l->argv[i]); i++) {
		if (strcmp(l->argv[i], "from") != 0) {
			conf_error(e, l->file, l->line,
				   "expected from or an action (deny, direct, address, helper): `%s'",
				   l->argv[i]);
			bad = 1;
			break;
		}
		if (parse_match_from(l, &i, &r, &m, e) < 0)
			bad = 1;
	}
	if (!bad && i >= l->argc) {
		conf_error(e, l->file, l->line,
			   "missing action (deny, direct, address ADDR..., helper NAME): `%s'",
			   l->argv[l->argc - 1]);
		bad = 1;
	} else if (!bad) {
		const char *act = l->argv[i];
		if (strcmp(act, "address") == 0) {
			r.action = ACT_ADDRESS;
			if (parse_addresses(p, l, i + 1, &r, e) < 0)
				bad = 1;
		} else if (strcmp(act, "direct") == 0 && i + 1 < l->argc) {
			/* where a name is looked up is the host's resolver */
			conf_error(e, l->file, l->line,
				   "resolve ... direct takes no argument: `%s'",
				   l->argv[i + 1]);
			bad = 1;
		} else if (parse_action(l, i, &r, &helper, e, &bad) < 0) {
			bad = 1;
		}
	}
	if (bad) {
		free(r.name);
		free(r.addrs);
		return;
	}
	if (rule_add(p, &r, l, helper) < 0) {
		free(r.name);
		free(r.addrs);
	}
}

/* "placeholder-range CIDR": one per family, a block with room for names,
 * not loopback or unspecified (those the guest reaches itself). */
static void parse_placeholder(struct parse *p, const struct conf_line *l,
			      struct conf_errors *e)
{
	struct rule t = { 0 };
	int k;

	if (l->argc != 2) {
		conf_error(e, l->file, l->line,
			   "placeholder-range takes one CIDR: `%s'",
			   l->argv[l->argc - 1]);
		return;
	}
	if (parse_cidr(l->argv[1], &t.family, t.addr, &t.prefix) < 0 ||
	    (t.family == 4 && (t.prefix < 8 || t.prefix > 24)) ||
	    (t.family == 6 && (t.prefix < 32 || t.prefix > 112)) ||
	    cidr_names_local(&t)) {
		conf_error(e, l->file, l->line,
			   "bad placeholder range (IPv4 /8 to /24, IPv6 /32 to /112, not loopback): `%s'",
			   l->argv[1]);
		return;
	}
	k = t.family == 4 ? 0 : 1;
	if (p->seen_ph[k]) {
		conf_error(e, l->file, l->line,
			   "placeholder-range for IPv%d already set on line %d: `%s'",
			   t.family, p->seen_ph[k], l->argv[1]);
		return;
	}
	p->seen_ph[k] = l->line;
	p->c->placeholder[k] = (struct dconf_range){ .family = t.family,
						     .prefix = t.prefix };
	memcpy(p->c->placeholder[k].addr, t.addr, 16);
}

static void parse_helper(struct parse *p, const struct conf_line *l,
			 struct conf_errors *e)
{
	struct dconf *c = p->c;
	const char *data = NULL, *event = NULL;
	int bad = 0;

	if (l->argc < 2) {
		conf_error(e, l->file, l->line,
			   "missing helper name (helper NAME data PATH event PATH): `%s'",
			   l->argv[0]);
		return;
	}
	const char *name = l->argv[1];
	if (strlen(name) > DCONF_HELPER_NAME_MAX ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789_.-") != strlen(name) ||
	    is_action(name) || strcmp(name, "to") == 0) {
		conf_error(e, l->file, l->line, "bad helper name: `%s'", name);
		bad = 1;
	}
	for (int i = 2; i < l->argc; i += 2) {
		const char *k = l->argv[i];
		if (i + 1 >= l->argc) {
			conf_error(e, l->file, l->line, "missing path after: `%s'", k);
			bad = 1;
			break;
		}
		const char *v = l->argv[i + 1];
		if (v[0] != '/') {
			conf_error(e, l->file, l->line,
				   "socket path must be absolute: `%s'", v);
			bad = 1;
		}
		if (strcmp(k, "data") == 0 && !data)
			data = v;
		else if (strcmp(k, "event") == 0 && !event)
			event = v;
		else {
			conf_error(e, l->file, l->line,
				   "unknown or repeated helper option (data, event): `%s'",
				   k);
			bad = 1;
		}
	}
	if (!bad && (!data || !event)) {
		conf_error(e, l->file, l->line, "helper needs both data and event sockets: `%s'",
			   name);
		bad = 1;
	}
	int dup = dconf_helper_index(c, name);
	if (dup >= 0) {
		conf_error(e, l->file, l->line,
			   "duplicate helper (first declared on line %d): `%s'",
			   c->helpers[dup].line, name);
		bad = 1;
	}
	if (bad)
		return;
	if (c->nhelpers == p->hcap) {
		size_t cap = p->hcap ? p->hcap * 2 : 4;
		struct helper_conf *h = realloc(c->helpers, cap * sizeof(*h));
		if (!h) {
			p->nomem = 1;
			return;
		}
		c->helpers = h;
		p->hcap = cap;
	}
	struct helper_conf *h = &c->helpers[c->nhelpers++];
	h->name = xstrdup(p, name);
	h->data = xstrdup(p, data);
	h->event = xstrdup(p, event);
	h->line = l->line;
}

/* A global "keyword VALUE" setting; returns false if the shape is wrong. */
static bool one_arg(const struct conf_line *l, struct conf_errors *e,
		    int *seen)
{
	if (l->argc != 2) {
		conf_error(e, l->file, l->line, "%s takes exactly one argument: `%s'",
			   l->argv[0], l->argc > 2 ? l->argv[2] : l->argv[0]);
		return false;
	}
	if (*seen) {
		conf_error(e, l->file, l->line,
			   "%s already set on line %d: `%s'", l->argv[0], *seen,
			   l->argv[1]);
		return false;
	}
	*seen = l->line;
	return true;
}

static void set_path(struct parse *p, const struct conf_line *l,
		     struct conf_errors *e, char **dst, int *seen)
{
	if (!one_arg(l, e, seen))
		return;
	if (l->argv[1][0] != '/' || strlen(l->argv[1]) >= 108) {
		conf_error(e, l->file, l->line,
			   "socket path must be absolute and under 108 bytes: `%s'",
			   l->argv[1]);
		return;
	}
	free(*dst);
	*dst = xstrdup(p, l->argv[1]);
}

static const char *const limit_names[] = { "pending", "listeners",
					   "connections", "guests",
					   "channels", "helper-queue" };

/* "limit NAME VALUE": counts from 1 to DCONF_LIMIT_MAX, helper-queue a
 * size with K/M/G. */
static void parse_limit(struct parse *p, const struct conf_line *l,
			struct conf_errors *e)
{
	struct dconf_limits *lim = &p->c->limits;
	unsigned *counts[] = { &lim->pending, &lim->listeners,
			       &lim->connections, &lim->guests,
			       &lim->channels };
	size_t k;

	if (l->argc != 3) {
		conf_error(e, l->file, l->line,
			   "limit takes a name and a value (limit pending 64): `%s'",
			   l->argv[l->argc > 3 ? 3 : l->argc - 1]);
		return;
	}
	const char *name = l->argv[1], *v = l->argv[2];
	for (k = 0; k < sizeof(limit_names) / sizeof(*limit_names); k++)
		if (strcmp(name, limit_names[k]) == 0)
			break;
	if (k == sizeof(limit_names) / sizeof(*limit_names)) {
		conf_error(e, l->file, l->line,
			   "unknown limit (pending, listeners, connections, guests, channels, helper-queue): `%s'",
			   name);
		return;
	}
	if (p->seen_limit[k]) {
		conf_error(e, l->file, l->line, "limit %s already set on line %d: `%s'",
			   name, p->seen_limit[k], v);
		return;
	}
	/* "already set" names a line whose value was taken */
	if (k < sizeof(counts) / sizeof(*counts)) {
		unsigned long n;
		if (conf_uint(v, 1, DCONF_LIMIT_MAX, &n) < 0) {
			conf_error(e, l->file, l->line,
				   "bad limit (a count from 1 to %d): `%s'",
				   DCONF_LIMIT_MAX, v);
			return;
		}
		*counts[k] = (unsigned)n;
	} else {
		uint64_t sz;
		if (conf_size(v, &sz) < 0 || sz < DCONF_LIMIT_QUEUE_MIN ||
		    sz > DCONF_LIMIT_QUEUE_MAX) {
			conf_error(e, l->file, l->line,
				   "bad size (256K to 64G, suffixes K, M, G): `%s'", v);
			return;
		}
		lim->helper_queue = sz;
	}
	p->seen_limit[k] = l->line;
}

/* ---- guest-stream (stream-mode guests: virtual machines) ---- */

/* Is "tcp:ADDR:PORT" a TCP endpoint on a loopback address?  Anything that
 * can connect to an endpoint is that guest, so only loopback (where a VMM's
 * forwarder connects from) is accepted. */
static bool stream_tcp_ok(const char *w)
{
	char host[64];
	uint16_t port;
	struct sockaddr_storage ss;
	socklen_t sl;
	struct so_addr a;

	if (strncmp(w, "tcp:", 4) != 0 ||
	    net_split_hostport(w + 4, host, sizeof(host), &port, 0) < 0 ||
	    net_parse_ip(host, port, &ss, &sl) < 0)
		return false;
	so_addr_from_sa(&a, (struct sockaddr *)&ss);
	return so_addr_is_loopback(&a);
}

static void parse_guest_stream(struct parse *p, const struct conf_line *l,
			       struct conf_errors *e)
{
	struct stream_conf s = { .connections = DCONF_STREAM_CONNECTIONS,
				 .mode = 0600, .line = l->line };
	const char *name = NULL, *w = l->argc > 1 ? l->argv[1] : "";
	unsigned long v;
	bool uid = false, gid = false, bad = false;

	if ((w[0] != '/' || strlen(w) >= 108) && !stream_tcp_ok(w)) {
		conf_error(e, l->file, l->line,
			   "guest-stream needs an absolute socket path (under 108 bytes) or tcp:LOOPBACK:PORT: `%s'",
			   w);
		return;
	}
	for (int i = 2; i < l->argc; i += 2) {
		const char *k = l->argv[i], *val = i + 1 < l->argc ? l->argv[i + 1] : NULL;
		char *end;

		if (!val) {
			conf_error(e, l->file, l->line, "missing value after: `%s'", k);
			return;
		}
		if (strcmp(k, "name") == 0 && !name) {
			name = val;
			if (strlen(val) > DCONF_HELPER_NAME_MAX ||
			    strspn(val, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					"0123456789_.-") != strlen(val) || !*val)
				bad = true;
		} else if (strcmp(k, "uid") == 0 && !uid) {
			uid = true;
			bad |= conf_uint(val, 0, 0xfffffffe, &v) < 0;
			s.uid = (uint32_t)v;
		} else if (strcmp(k, "gid") == 0 && !gid) {
			gid = true;
			bad |= conf_uint(val, 0, 0xfffffffe, &v) < 0;
			s.gid = (uint32_t)v;
		} else if (strcmp(k, "connections") == 0) {
			bad |= conf_uint(val, 1, DCONF_LIMIT_MAX, &v) < 0;
			s.connections = (unsigned)v;
		} else if (strcmp(k, "mode") == 0) {
			errno = 0;
			v = strtoul(val, &end, 8);
			bad |= errno || *end || val[0] < '0' || val[0] > '7' ||
			       v > 0777 || !(v & 0600);
			s.mode = (mode_t)v;
		} else {
			conf_error(e, l->file, l->line,
				   "unknown or repeated guest-stream option (name, uid, gid, connections, mode): `%s'",
				   k);
			return;
		}
		if (bad) {
			conf_error(e, l->file, l->line, "bad guest-stream %s: `%s'", k, val);
			return;
		}
	}
	if (!name || !uid) {
		conf_error(e, l->file, l->line,
			   "guest-stream needs a name and a uid (guest-stream WHERE name NAME uid UID): `%s'",
			   w);
		return;
	}
	if (!gid)
		s.gid = s.uid;
	for (size_t i = 0; i < p->c->nstreams; i++)
		if (strcmp(p->c->streams[i].where, w) == 0 ||
		    strcmp(p->c->streams[i].name, name) == 0) {
			conf_error(e, l->file, l->line,
				   "guest-stream endpoint or name already on line %d: `%s'",
				   p->c->streams[i].line, w);
			return;
		}
	struct stream_conf *n = realloc(p->c->streams,
					(p->c->nstreams + 1) * sizeof(*n));
	if (!n) {
		p->nomem = 1;
		return;
	}
	p->c->streams = n;
	s.where = xstrdup(p, w);
	s.name = xstrdup(p, name);
	n[p->c->nstreams++] = s;
}

static void line_cb(void *ctx, const struct conf_line *l, struct conf_errors *e)
{
	struct parse *p = ctx;
	struct dconf *c = p->c;
	const char *k = l->argv[0];

	if (strcmp(k, "connect") == 0 || strcmp(k, "accept") == 0) {
		parse_rule(p, l, e);
	} else if (strcmp(k, "resolve") == 0) {
		parse_resolve(p, l, e);
	} else if (strcmp(k, "placeholder-range") == 0) {
		parse_placeholder(p, l, e);
	} else if (strcmp(k, "helper") == 0) {
		parse_helper(p, l, e);
	} else if (strcmp(k, "limit") == 0) {
		parse_limit(p, l, e);
	} else if (strcmp(k, "guest-stream") == 0) {
		parse_guest_stream(p, l, e);
	} else if (strcmp(k, "guest-socket") == 0) {
		set_path(p, l, e, &c->guest_socket, &p->seen_guest);
	} else if (strcmp(k, "control-socket") == 0) {
		set_path(p, l, e, &c->control_socket, &p->seen_control);
	} else if (strcmp(k, "guest-socket-mode") == 0) {
		if (!one_arg(l, e, &p->seen_mode))
			return;
		char *end;
		errno = 0;
		unsigned long m = strtoul(l->argv[1], &end, 8);
		if (errno || *end || l->argv[1][0] < '0' || l->argv[1][0] > '7' ||
		    m > 0777 || !(m & 0600))
			conf_error(e, l->file, l->line,
				   "bad mode (octal, owner must read and write): `%s'",
				   l->argv[1]);
		else
			c->guest_mode = (mode_t)m;
	} else if (strcmp(k, "listen-address") == 0) {
		struct sockaddr_storage ss;
		socklen_t sl;
		if (!one_arg(l, e, &p->seen_listen))
			return;
		if (net_parse_ip(l->argv[1], 0, &ss, &sl) < 0) {
			conf_error(e, l->file, l->line, "bad listen address: `%s'",
				   l->argv[1]);
			return;
		}
		free(c->listen_address);
		c->listen_address = xstrdup(p, l->argv[1]);
	} else if (strcmp(k, "connect-timeout") == 0) {
		uint64_t ms;
		if (!one_arg(l, e, &p->seen_timeout))
			return;
		if (conf_duration_ms(l->argv[1], &ms) < 0 || ms == 0 ||
		    ms > 3600000)
			conf_error(e, l->file, l->line,
				   "bad duration (e.g. 30s, 500ms; up to 1h): `%s'",
				   l->argv[1]);
		else
			c->connect_timeout_ms = ms;
	} else if (strcmp(k, "channel-idle") == 0) {
		uint64_t ms;
		if (!one_arg(l, e, &p->seen_channel_idle))
			return;
		/* 0 keeps no channel: every request its own connection */
		if (conf_duration_ms(l->argv[1], &ms) < 0 || ms > 3600000)
			conf_error(e, l->file, l->line,
				   "bad duration (e.g. 30s, 500ms, 0; up to 1h): `%s'",
				   l->argv[1]);
		else
			c->channel_idle_ms = ms;
	} else {
		conf_error(e, l->file, l->line, "unknown keyword: `%s'", k);
	}
}

int dconf_load(const char *path, struct dconf **out, struct conf_errors *e)
{
	struct parse p;
	struct dconf *c = calloc(1, sizeof(*c));

	*out = NULL;
	memset(&p, 0, sizeof(p));
	if (!c) {
		conf_error(e, path, 0, "out of memory");
		return -EINVAL;
	}
	p.c = c;
	c->guest_mode = 0666;
	c->connect_timeout_ms = 30000;
	c->channel_idle_ms = DCONF_CHANNEL_IDLE_MS;
	c->limits = (struct dconf_limits){
		.pending = DCONF_LIMIT_PENDING,
		.listeners = DCONF_LIMIT_LISTENERS,
		.connections = DCONF_LIMIT_CONNECTIONS,
		.guests = DCONF_LIMIT_GUESTS,
		.channels = DCONF_LIMIT_CHANNELS,
		.helper_queue = DCONF_LIMIT_HELPER_QUEUE,
	};
	/* a (re)load is when addresses may have changed: look again */
	hostaddr_refresh_soon();
	conf_parse_file(path, line_cb, &p, e);

	/* helper names can be resolved only now that every line is read */
	for (size_t i = 0; i < c->nrules; i++) {
		if (!p.rule_helper[i])
			continue;
		c->rules[i].helper = dconf_helper_index(c, p.rule_helper[i]);
		if (c->rules[i].helper < 0)
			conf_error(e, path, c->rules[i].line, "unknown helper: `%s'",
				   p.rule_helper[i]);
		free(p.rule_helper[i]);
	}
	free(p.rule_helper);
	c->path = xstrdup(&p, path);
	if (!c->guest_socket)
		c->guest_socket = xstrdup(&p, DCONF_GUEST_SOCKET);
	if (!c->control_socket)
		c->control_socket = xstrdup(&p, DCONF_CONTROL_SOCKET);
	if (!c->listen_address)
		c->listen_address = xstrdup(&p, "0.0.0.0");
	for (int k = 0; k < 2; k++) {
		struct dconf_range *g = &c->placeholder[k];
		if (!g->family)
			(void)parse_cidr(k ? DCONF_PLACEHOLDER6 : DCONF_PLACEHOLDER4,
					 &g->family, g->addr, &g->prefix);
	}
	/* a placeholder must never be a rule's static answer too: a connect
	 * to it would go to the wrong place */
	for (size_t i = 0; i < c->nrules; i++)
		for (unsigned j = 0; j < c->rules[i].naddrs; j++)
			for (int k = 0; k < 2; k++)
				if (dconf_range_contains(&c->placeholder[k],
							 &c->rules[i].addrs[j]))
					conf_error(e, path, c->rules[i].line,
						   "address lies in the placeholder range: `%s'",
						   c->rules[i].text ? c->rules[i].text : "");
	if (p.nomem)
		conf_error(e, path, 0, "out of memory");
	if (e->count) {
		dconf_free(c);
		return -EINVAL;
	}
	*out = c;
	return 0;
}

void dconf_free(struct dconf *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nrules; i++) {
		free(c->rules[i].target);
		free(c->rules[i].text);
		free(c->rules[i].from_cgroup);
		free(c->rules[i].name);
		free(c->rules[i].addrs);
	}
	for (size_t i = 0; i < c->nhelpers; i++) {
		free(c->helpers[i].name);
		free(c->helpers[i].data);
		free(c->helpers[i].event);
	}
	for (size_t i = 0; i < c->nstreams; i++) {
		free(c->streams[i].where);
		free(c->streams[i].name);
	}
	free(c->streams);
	free(c->rules);
	free(c->helpers);
	free(c->path);
	free(c->guest_socket);
	free(c->control_socket);
	free(c->listen_address);
	free(c);
}

int dconf_helper_index(const struct dconf *c, const char *name)
{
	for (size_t i = 0; i < c->nhelpers; i++)
		if (c->helpers[i].name && strcmp(c->helpers[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Is cgroup @c the cgroup @p or below it?  Both canonical paths. */
static bool cgroup_within(const char *c, const char *p)
{
	size_t n = strlen(p);

	if (!c || c[0] != '/')
		return false;
	if (n == 1) /* "/" */
		return true;
	return strncmp(c, p, n) == 0 && (c[n] == '\0' || c[n] == '/');
}

static bool from_match(const struct rule *r, const struct peer_id *who)
{
	if (r->from == FROM_ANY)
		return true;
	if (!who)
		return false;
	switch (r->from) {
	case FROM_UID:
		return (uint32_t)who->uid == r->from_id;
	case FROM_GID:
		if ((uint32_t)who->gid == r->from_id)
			return true;
		for (size_t i = 0; who->groups && i < who->ngroups; i++)
			if ((uint32_t)who->groups[i] == r->from_id)
				return true;
		return false;
	default:
		return cgroup_within(who->cgroup, r->from_cgroup);
	}
}

static bool addr_match(const struct rule *r, const struct so_addr *a)
{
	if (!r->family)
		return true;
	if (r->family != a->family)
		return false;
	unsigned full = r->prefix / 8, rem = r->prefix % 8;
	if (memcmp(r->addr, a->addr, full) != 0)
		return false;
	if (rem) {
		uint8_t mask = (uint8_t)(0xff00u >> rem);
		if ((a->addr[full] & mask) != r->addr[full])
			return false;
	}
	return true;
}

/* direction, port and address, as rules always matched */
static bool plain_match(const struct rule *r, int dir, const struct so_addr *a)
{
	return r->dir == dir && a->port >= r->port_lo && a->port <= r->port_hi &&
	       addr_match(r, a);
}

struct rule *table_match(struct dconf *c, int dir, const struct so_addr *a,
			 const struct peer_id *who, unsigned *why)
{
	struct so_addr m = *a;
	unsigned skipped = 0;
	struct rule *found = NULL;

	unmap(&m);
	/* only a destination can be the host itself; an accept's address is
	 * what the guest bound, typically 0.0.0.0 */
	bool local = dir == RULE_CONNECT && hostaddr_is_local(&m);
	for (size_t i = 0; i < c->nrules; i++) {
		struct rule *r = &c->rules[i];
		if (!plain_match(r, dir, &m) || !from_match(r, who))
			continue;
		/* a deny narrows: it matches as written */
		if (r->action != ACT_DENY) {
			bool single = r->prefix == (r->family == 4 ? 32 : 128);
			if (local && !(r->family && (single || r->names_local))) {
				skipped |= TABLE_SKIP_LOCAL;
				continue;
			}
			if (dir == RULE_ACCEPT && r->action == ACT_DIRECT &&
			    !r->names_port && m.port && m.port < 1024) {
				skipped |= TABLE_SKIP_PRIVPORT;
				continue;
			}
		}
		found = r;
		break;
	}
	if (why)
		*why = skipped;
	return found;
}

/* Does normalised @name match the rule's names? */
static bool name_match(const struct rule *r, const char *name)
{
	size_t n, s;

	if (!r->name[0])
		return true;
	if (r->name[0] != '.')
		return strcmp(r->name, name) == 0;
	n = strlen(name);
	s = strlen(r->name);
	/* ".a.b" matches "x.a.b", never "a.b" (n > s) */
	return n > s && strcmp(name + n - s, r->name) == 0;
}

struct rule *table_resolve_match(struct dconf *c, const char *name,
				 const struct peer_id *who)
{
	for (size_t i = 0; i < c->nrules; i++) {
		struct rule *r = &c->rules[i];
		if (r->dir == RULE_RESOLVE && name_match(r, name) &&
		    from_match(r, who))
			return r;
	}
	return NULL;
}

const char *rule_action_name(const struct rule *r)
{
	switch (r->action) {
	case ACT_ADDRESS:
		return "address";
	case ACT_DIRECT:
		return "direct";
	case ACT_DENY:
		return "deny";
	default:
		return "helper";
	}
}

/* ---- who asks ---- */

int peer_id_cgroup(pid_t pid, char *buf, size_t len)
{
	char path[40], *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = -ENOENT;

	if (pid <= 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	while ((n = getline(&line, &cap, f)) >= 0) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		size_t pl = (size_t)n - 3;
		if (pl >= len || pl > DCONF_CGROUP_MAX) {
			rc = -ENAMETOOLONG;
		} else {
			memcpy(buf, line + 3, pl + 1);
			rc = 0;
		}
		break;
	}
	if (n < 0 && ferror(f))
		rc = -EIO;
	free(line);
	fclose(f);
	return rc;
}

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

int peer_id_groups(int fd, gid_t *buf, size_t max, size_t *n)
{
	if (max > INT_MAX / sizeof(gid_t))
		max = INT_MAX / sizeof(gid_t);
	socklen_t sl = (socklen_t)(max * sizeof(gid_t));

	*n = 0;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, buf, &sl) < 0)
		return -errno;
	*n = sl / sizeof(gid_t);
	return 0;
}

/* ---- the host's own addresses ---- */

static struct {
	struct so_addr *a; /* port 0, unmapped */
	size_t n;
	bool loaded, stale;
	uint64_t at_ms;	  /* CLOCK_MONOTONIC of the last read */
	unsigned long reads; /* getifaddrs() calls, for tests */
} hostaddrs;

int hostaddr_refresh(void)
{
	struct ifaddrs *ifs, *i;
	size_t n = 0;

	/* counted as a try even if it fails: a failing getifaddrs() is
	 * retried a second later, not on every lookup */
	hostaddrs.reads++;
	hostaddrs.at_ms = mono_ms();
	hostaddrs.stale = false;
	if (getifaddrs(&ifs) < 0)
		return -errno;
	for (i = ifs; i; i = i->ifa_next)
		if (i->ifa_addr && (i->ifa_addr->sa_family == AF_INET ||
				    i->ifa_addr->sa_family == AF_INET6))
			n++;
	struct so_addr *a = calloc(n ? n : 1, sizeof(*a));
	if (!a) {
		freeifaddrs(ifs);
		return -ENOMEM;
	}
	n = 0;
	for (i = ifs; i; i = i->ifa_next) {
		if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET &&
				     i->ifa_addr->sa_family != AF_INET6))
			continue;
		so_addr_from_sa(&a[n], i->ifa_addr);
		a[n].port = 0;
		unmap(&a[n]);
		n++;
	}
	freeifaddrs(ifs);
	free(hostaddrs.a);
	hostaddrs.a = a;
	hostaddrs.n = n;
	hostaddrs.loaded = true;
	return 0;
}

void hostaddr_refresh_soon(void)
{
	hostaddrs.stale = true;
}

bool hostaddr_is_local(const struct so_addr *a)
{
	static const uint8_t v6lo[16] = { [15] = 1 }, v6any[16] = { 0 };
	struct so_addr m = *a;

	unmap(&m);
	if (m.family == 4) {
		/* 127/8 loopback; 0/8 "this host" (0.0.0.0 reaches loopback) */
		if (m.addr[0] == 127 || m.addr[0] == 0)
			return true;
	} else if (m.family == 6) {
		if (memcmp(m.addr, v6lo, 16) == 0 || memcmp(m.addr, v6any, 16) == 0)
			return true;
	} else {
		return false;
	}
	if (!hostaddrs.loaded || hostaddrs.stale ||
	    mono_ms() - hostaddrs.at_ms >= 1000)
		(void)hostaddr_refresh(); /* on failure the old list stays */
	if (!hostaddrs.loaded)
		return true; /* never read: fail closed */
	size_t len = m.family == 4 ? 4 : 16;
	for (size_t i = 0; i < hostaddrs.n; i++)
		if (hostaddrs.a[i].family == m.family &&
		    memcmp(hostaddrs.a[i].addr, m.addr, len) == 0)
			return true;
	return false;
}
