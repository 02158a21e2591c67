/* SPDX-License-Identifier: MIT */
/*
 * t.h - the smallest unit-test harness that still says where it failed.
 * Each test program prints one "ok"/"FAIL" line per check that fails and
 * exits non-zero if any did; tests/run counts programs, not checks.
 */
#ifndef SOCKOUT_T_H
#define SOCKOUT_T_H

#include <stdio.h>
#include <string.h>

static int t_failed, t_checks;

#define CHECK(cond)                                                            \
	do {                                                                   \
		t_checks++;                                                    \
		if (!(cond)) {                                                 \
			t_failed++;                                            \
			fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__,          \
				__LINE__, #cond);                              \
		}                                                              \
	} while (0)

#define CHECK_EQ(a, b) CHECK((a) == (b))
#define CHECK_STR(a, b) CHECK(strcmp((a), (b)) == 0)

#define T_DONE()                                                               \
	do {                                                                   \
		printf("%d checks, %d failed\n", t_checks, t_failed);          \
		return t_failed ? 1 : (t_checks ? 0 : 1);                      \
	} while (0)

#endif
