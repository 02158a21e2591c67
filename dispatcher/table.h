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

enum rule_dir { RULE_CONNECT = 0, RULE_ACCEPT = 1 };
enum rule_action { ACT_DIRECT, ACT_DENY, ACT_HELPER };

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
};

struct helper_conf {
	char *name;
	char *data;
	char *event;
	int line;
};

struct dconf {
	char *path;
	char *guest_socket;
	mode_t guest_mode;
	char *control_socket;
	char *listen_address;
	uint64_t connect_timeout_ms;
	struct helper_conf *helpers;
	size_t nhelpers;
	struct rule *rules;
	size_t nrules;
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

/**
 * dconf_match() - first rule of direction @dir matching address @a
 * (address and port), or NULL when none does (deny).
 */
struct rule *dconf_match(struct dconf *c, int dir, const struct so_addr *a);

/** dconf_helper_index() - index of helper @name or -1. */
int dconf_helper_index(const struct dconf *c, const char *name);

const char *rule_action_name(const struct rule *r);

#endif
