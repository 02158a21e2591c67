/* SPDX-License-Identifier: MIT */
/*
 * t-loop.h - for unit tests that drive sockoutd's event loop in-process:
 * spin() runs the loop for a while, so that a request sent from the test
 * is read, dispatched and answered before the test looks at the reply.
 */
#ifndef SOCKOUT_T_LOOP_H
#define SOCKOUT_T_LOOP_H

#include <stdint.h>

#include "../../common/loop.h"

static inline void t_loop_stop_cb(struct timer *t)
{
	(void)t;
	loop_stop();
}

/* Run the loop for @ms milliseconds. */
static inline void spin(uint64_t ms)
{
	struct timer t;

	timer_init(&t, t_loop_stop_cb);
	timer_set(&t, ms);
	loop_run();
	timer_cancel(&t);
}

#endif
