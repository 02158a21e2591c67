// SPDX-License-Identifier: MIT
/*
 * fuzz-table.c - libFuzzer target for sockoutd's configuration parser.
 * The input is written to a file and loaded like `sockoutd -n -c FILE';
 * every loaded table is also matched against a few addresses and peers,
 * checking that loopback and privileged ports are granted only by rules
 * that name them.  `resolve' rules are matched against a few names: the
 * rule found must match the name by its pattern, a helper rule must name
 * a helper, an address rule must hold addresses outside the placeholder
 * ranges.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../dispatcher/table.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	struct conf_errors e = { 0 };
	struct dconf *c = NULL;

	if (!path[0])
		snprintf(path, sizeof(path), "/tmp/fuzz-table.%d", (int)getpid());
	FILE *f = fopen(path, "we");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	if (dconf_load(path, &c, &e) == 0) {
		struct so_addr a = { .family = 4, .port = 80, .addr = { 203, 0, 113, 9 } };
		struct so_addr b = { .family = 6, .port = 22, .addr = { 0x20, 0x01, 0x0d, 0xb8 } };
		/* host-local spellings and privileged ports, and who asks */
		struct so_addr lo = { .family = 6, .port = 443,
				      .addr = { [10] = 0xff, [11] = 0xff, 127, 0, 0, 1 } };
		static const gid_t groups[] = { 1, 100 };
		struct peer_id who = { .uid = 1000, .gid = 1000, .pid = 1,
				       .cgroup = "/system.slice/x.service",
				       .groups = groups, .ngroups = 2 };
		struct peer_id root = { .uid = 0, .gid = 0, .pid = 1 };
		const struct peer_id *whos[] = { NULL, &who, &root };
		unsigned why;
		for (int dir = 0; dir < 2; dir++) {
			struct rule *r;
			for (size_t w = 0; w < 3; w++) {
				const struct so_addr *as[] = { &a, &b, &lo };
				for (size_t k = 0; k < 3; k++) {
					r = table_match(c, dir, as[k], whos[w], &why);
					if (r && r->action == ACT_HELPER &&
					    (r->helper < 0 || (size_t)r->helper >= c->nhelpers))
						abort();
					/* a grant to loopback names it */
					if (r && dir == RULE_CONNECT && k == 2 &&
					    r->action != ACT_DENY &&
					    !(r->names_local || r->prefix == 32))
						abort();
					/* a direct accept of 443 names a port */
					if (r && dir == RULE_ACCEPT && k == 2 &&
					    r->action == ACT_DIRECT && !r->names_port)
						abort();
					/* "from" rules need a peer */
					if (r && r->from && !whos[w])
						abort();
				}
			}
		}
		if (c->limits.pending < 1 || c->limits.helper_queue < DCONF_LIMIT_QUEUE_MIN)
			abort();
		static const char *const names[] = { "www.example.org", "a.corp.example",
						     "corp.example", "printer.lan", "x" };
		for (size_t k = 0; k < sizeof(names) / sizeof(*names); k++) {
			char n[DCONF_NAME_MAX + 1];
			if (dconf_name_norm(names[k], n, sizeof(n)) < 0)
				abort();
			for (size_t w = 0; w < 3; w++) {
				struct rule *r = table_resolve_match(c, n, whos[w]);
				if (!r)
					continue;
				if (r->dir != RULE_RESOLVE || !r->name)
					abort();
				size_t nl = strlen(n), pl = strlen(r->name);
				/* "" any; ".x" a proper suffix; else the name */
				if (r->name[0] == '.' ? !(nl > pl && !strcmp(n + nl - pl, r->name)) :
				    r->name[0] && strcmp(r->name, n))
					abort();
				if (r->action == ACT_HELPER &&
				    (r->helper < 0 || (size_t)r->helper >= c->nhelpers))
					abort();
				if (r->action == ACT_ADDRESS &&
				    (!r->naddrs || r->naddrs > DCONF_RESOLVE_ADDRS))
					abort();
				for (unsigned j = 0; j < r->naddrs; j++)
					if (dconf_range_contains(&c->placeholder[0], &r->addrs[j]) ||
					    dconf_range_contains(&c->placeholder[1], &r->addrs[j]))
						abort();
				if (r->from && !whos[w])
					abort();
			}
		}
		if (c->placeholder[0].family != 4 || c->placeholder[1].family != 6)
			abort();
		dconf_free(c);
	} else if (e.count == 0) {
		abort(); /* failure must say why */
	}
	conf_errors_free(&e);
	return 0;
}
