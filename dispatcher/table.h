/* SPDX-License-Identifier: MIT */
/*
 * table.h - sockoutd's configuration: global settings, helper declarations
 * and the dispatch table (first matching rule wins, no match means deny).
 *
 * A loaded struct dconf is immutable except for the rules' hit counters, so
 * a reload builds a whole new one and swaps the pointer: either the new
 * table is complete and valid, or the old one keeps running.
 */
#ifndef SOCKOUT_DCONF_H
#define SOCKOUT_DCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "../common/conf.h"
#include "../protocol/helperproto.h"

#define DCONF_GUEST_SOCKET "/run/sockout/guest.sock"
#define DCONF_CONTROL_SOCKET "/run/sockout/control.sock"
#define DCONF_DEFAULT_PATH "/etc/sockout/sockoutd.conf"
#define DCONF_HELPER_NAME_MAX 63
#define DCONF_CGROUP_MAX 4095 /* longest cgroup path in a rule or peer_id */

enum rule_dir { RULE_CONNECT = 0, RULE_ACCEPT = 1, RULE_RESOLVE = 2 };
/* ACT_ADDRESS: resolve rules only (a static answer) */
enum rule_action { ACT_DIRECT, ACT_DENY, ACT_HELPER, ACT_ADDRESS };
/* who a rule's "from" clause names */
enum rule_from { FROM_ANY = 0, FROM_UID, FROM_GID, FROM_CGROUP };

/*
 * Who asks: kernel facts about the peer of an accepted guest-socket
 * connection, never fields the guest wrote.  uid/gid/pid from SO_PEERCRED,
 * groups from SO_PEERGROUPS (both fixed when the guest connected, so no pid
 * can be reused under them), netns from SO_NETNS_COOKIE of the accepted
 * socket, cgroup from peer_id_cgroup().  The table matches uid, gid, groups
 * and cgroup; pid and netns are carried for the caller's keys and logs.
 */
struct peer_id {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	uint64_t netns;	      /* SO_NETNS_COOKIE of the accepted guest socket */
	const char *cgroup;   /* cgroup v2 path ("0::" line), or NULL */
	const gid_t *groups;  /* supplementary groups, or NULL */
	size_t ngroups;
};

/**
 * peer_id_cgroup() - the cgroup v2 path of process @pid, as its
 * /proc/PID/cgroup "0::" line gives it (relative to sockoutd's own cgroup
 * namespace), into @buf.  Returns 0, -ENOENT when there is no v2 line (or no
 * such process), -ENAMETOOLONG when it does not fit, or -errno.  /proc is
 * read by pid: check afterwards that the pid still names the peer (e.g. a
 * pidfd from SO_PEERPIDFD) before trusting the answer.
 */
int peer_id_cgroup(pid_t pid, char *buf, size_t len);

/**
 * peer_id_groups() - the supplementary groups of the peer of the connected
 * Unix socket @fd (SO_PEERGROUPS), up to @max into @buf, count in *@n.
 * Returns 0, -ERANGE when there are more than @max, or -errno.
 */
int peer_id_groups(int fd, gid_t *buf, size_t max, size_t *n);

/**
 * hostaddr_is_local() - is @a an address that reaches this host itself:
 * loopback (127.0.0.0/8, ::1), unspecified (0.0.0.0/8, ::) or one of the
 * addresses of sockoutd's network namespace (getifaddrs), in any spelling
 * (::ffff:a.b.c.d counts as a.b.c.d).  The interface list is cached and
 * read again at most once a second, or at the next call after
 * hostaddr_refresh_soon(); a lookup is a scan of that list.  If the list
 * could never be read, every address counts as local (fail closed).
 */
bool hostaddr_is_local(const struct so_addr *a);
/** hostaddr_refresh() - read the interface list now; 0 or -errno. */
int hostaddr_refresh(void);
/** hostaddr_refresh_soon() - make the next lookup read the list again
 * (dconf_load() calls it, so a reload sees new addresses at once). */
void hostaddr_refresh_soon(void);

struct rule {
	uint8_t dir;	/* enum rule_dir */
	uint8_t action; /* enum rule_action */
	uint8_t family; /* 0: any address; 4 or 6: addr/prefix applies */
	uint8_t prefix; /* CIDR prefix length */
	uint8_t addr[16];
	uint16_t port_lo, port_hi; /* 0-65535 when any port */
	/* direct: where to go instead (connect) or what to bind (accept).
	 * rw_family 0 = keep the guest's address; rw_port 0 = keep port. */
	uint8_t rw_family;
	uint8_t rw_addr[16];
	uint16_t rw_port;
	int helper;   /* ACT_HELPER: index into dconf.helpers */
	char *target; /* ACT_HELPER: "to TARGET" or "" */
	char *text;   /* the rule as written, for status output */
	int line;
	uint64_t hits;
	/* "from": FROM_UID/FROM_GID match from_id, FROM_CGROUP from_cgroup
	 * and the cgroups below it */
	uint8_t from; /* enum rule_from */
	uint32_t from_id;
	char *from_cgroup;
	/* the rule gives "port N[-M]" or a direct PORT: only such an accept
	 * rule may bind a host port below 1024 */
	bool names_port;
	/* addr/prefix lies inside 127.0.0.0/8 or 0.0.0.0/8, or is ::1/128 or
	 * ::/128: the rule names loopback/unspecified destinations */
	bool names_local;
	/* RULE_RESOLVE: the names matched, normalised (dconf_name_norm):
	 * "" any name, "a.b" exactly a.b, ".a.b" (written *.a.b) every name
	 * ending in .a.b but not a.b itself */
	char *name;
	/* ACT_ADDRESS: the answer (port 0, unmapped) */
	struct so_addr *addrs;
	unsigned naddrs;
};

#define DCONF_RESOLVE_ADDRS 8 /* addresses an `address' action may list */
#define DCONF_NAME_MAX 253    /* longest host name, no trailing dot */

/* A placeholder range (`placeholder-range CIDR', one per family): where
 * the addresses that stand for names routed to a helper come from. */
struct dconf_range {
	uint8_t family; /* 4 or 6 */
	uint8_t prefix;
	uint8_t addr[16]; /* host bits zero */
};
/* the defaults: shared address space (RFC 6598), a part nothing on a
 * host normally routes to, and a ULA /64 spelling "sockout" */
#define DCONF_PLACEHOLDER4 "100.64.0.0/16"
#define DCONF_PLACEHOLDER6 "fd73:6f63:6b6f:7574::/64"

/*
 * Limits: enforced by the dispatcher, checked here.  Per guest identity
 * (uid): requests in flight, listeners held, relayed connections open.
 * Global: guest-socket connections held, bytes queued towards helpers.
 */
#define DCONF_LIMIT_PENDING 64
#define DCONF_LIMIT_LISTENERS 64
#define DCONF_LIMIT_CONNECTIONS 1024
#define DCONF_LIMIT_GUESTS 4096
#define DCONF_LIMIT_CHANNELS 64
#define DCONF_CHANNEL_IDLE_MS 30000
#define DCONF_LIMIT_HELPER_QUEUE (64ull << 20)
#define DCONF_LIMIT_MAX 1000000		     /* largest count limit */
#define DCONF_LIMIT_QUEUE_MIN (256ull << 10) /* helper-queue bounds */
#define DCONF_LIMIT_QUEUE_MAX (64ull << 30)

struct dconf_limits {
	unsigned pending;	/* per uid: guest requests not answered yet */
	unsigned listeners;	/* per uid: listeners (direct and helper) */
	unsigned connections;	/* per uid: open connections through helpers */
	unsigned guests;	/* all uids: guest-socket connections held */
	unsigned channels;	/* per uid: kept guest connections (GP_F_KEEP) */
	uint64_t helper_queue;	/* all helpers: bytes sockoutd buffers */
};

struct helper_conf {
	char *name;
	char *data;
	char *event;
	int line;
};

/*
 * "guest-stream WHERE name NAME uid UID [gid GID] [connections N]
 *  [mode OCTAL]": an endpoint for stream-mode guests (virtual machines;
 * PROTOCOL.md part 2, "Stream mode").  Whoever connects to WHERE is the
 * guest NAME with the uid/gid given here: that is what `from' clauses and
 * the per-uid limits see.
 */
#define DCONF_STREAM_CONNECTIONS 256
struct stream_conf {
	char *where;	      /* absolute Unix path, or "tcp:ADDR:PORT" (loopback) */
	char *name;
	uint32_t uid, gid;
	unsigned connections; /* streams sockoutd holds for this guest */
	mode_t mode;	      /* Unix path: its mode */
	int line;
};

struct dconf {
	char *path;
	char *guest_socket;
	mode_t guest_mode;
	char *control_socket;
	char *listen_address;
	uint64_t connect_timeout_ms;
	uint64_t channel_idle_ms; /* an idle kept guest connection; 0: none kept */
	struct helper_conf *helpers;
	size_t nhelpers;
	struct rule *rules;
	size_t nrules;
	struct dconf_limits limits;
	struct dconf_range placeholder[2]; /* [0] IPv4, [1] IPv6 */
	struct stream_conf *streams; /* guest-stream lines */
	size_t nstreams;
};

/**
 * dconf_load() - parse @path into a new configuration.
 * @out: set to the new configuration when there was no error
 * @e:   every error found, as "file:line: message: `value'"
 *
 * Returns 0, or -EINVAL when @e holds errors (then *@out is NULL).
 */
int dconf_load(const char *path, struct dconf **out, struct conf_errors *e);
void dconf_free(struct dconf *c);

/* table_match() *@why bits: rules passed over on the way, for the log */
enum {
	TABLE_SKIP_LOCAL = 1,	/* a broad rule met a host-local destination */
	TABLE_SKIP_PRIVPORT = 2, /* an accept direct rule that does not name
				    a host port below 1024 */
};

/**
 * table_match() - first rule of direction @dir that matches destination or
 * bound address @a (::ffff:a.b.c.d is taken as a.b.c.d) asked for by @who,
 * or NULL when none does (deny).
 * @who: the asking peer; NULL matches no rule that has a "from" clause
 * @why: if not NULL, set to the TABLE_SKIP_* reasons rules were passed over
 *
 * On top of address, port and "from", two rules hold for every rule but
 * deny (a deny never widens anything, so it matches as written):
 *  - connect to a host-local destination (hostaddr_is_local()) matches only
 *    a rule that names it: a single address (/32, /128) equal to it, or a
 *    block inside 127.0.0.0/8 or 0.0.0.0/8 (names_local).  "any", no
 *    address, 0.0.0.0/0 or a block that merely contains a host address do
 *    not match it;
 *  - accept ... direct that would bind a host port below 1024 (the rule's
 *    direct PORT, else the guest's port) matches only if names_port.
 * A rule passed over for these reasons does not end the search.
 */
struct rule *table_match(struct dconf *c, int dir, const struct so_addr *a,
			 const struct peer_id *who, unsigned *why);

/**
 * table_resolve_match() - the first `resolve' rule matching @name (as
 * dconf_name_norm() leaves it) asked for by @who, or NULL (no such name).
 */
struct rule *table_resolve_match(struct dconf *c, const char *name,
				 const struct peer_id *who);

/**
 * dconf_name_norm() - @in as a host name in one spelling, into @out of
 * @len bytes: lower case, no trailing dot.  Letters, digits, '-' and '_'
 * in labels of 1 to 63 bytes, 253 bytes in all.  Returns 0 or -EINVAL.
 */
int dconf_name_norm(const char *in, char *out, size_t len);

/** dconf_range_contains() - does @r hold address @a (family 4 or 6)? */
bool dconf_range_contains(const struct dconf_range *r, const struct so_addr *a);

/** dconf_helper_index() - index of helper @name or -1. */
int dconf_helper_index(const struct dconf *c, const char *name);

const char *rule_action_name(const struct rule *r);

#endif
