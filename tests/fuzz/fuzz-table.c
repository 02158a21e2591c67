// SPDX-License-Identifier: MIT
/*
 * fuzz-table.c - libFuzzer target for sockoutd's configuration parser.
 * The input is written to a file and loaded like `sockoutd -n -c FILE';
 * every loaded table is also matched against a few addresses.
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
		for (int dir = 0; dir < 2; dir++) {
			struct rule *r = dconf_match(c, dir, &a);
			if (r && r->action == ACT_HELPER &&
			    (r->helper < 0 || (size_t)r->helper >= c->nhelpers))
				abort();
			dconf_match(c, dir, &b);
		}
		dconf_free(c);
	} else if (e.count == 0) {
		abort(); /* failure must say why */
	}
	conf_errors_free(&e);
	return 0;
}
