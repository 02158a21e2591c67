// SPDX-License-Identifier: MIT
/* log.c - stderr logging with levels; see log.h. */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "sockout";
static int log_v;

void log_init(const char *prog, int verbose)
{
	log_prog = prog;
	log_v = verbose;
}

int log_verbose(void)
{
	return log_v;
}

static void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
	static const char *const pfx[] = { "error", "warning", "info",
					   "debug" };
	/* One buffer and one write(2) per line, so lines from several
	 * processes sharing stderr do not interleave mid-line. */
	char line[1024];
	int saved = errno;
	int n = snprintf(line, sizeof(line), "%s: %s: ", log_prog, pfx[lvl]);

	if (n < 0)
		n = 0;
	if ((size_t)n < sizeof(line)) {
		int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
		if (m > 0)
			n += m;
	}
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
	errno = saved;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lvl, fmt, ap);
	va_end(ap);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* +1: 0 means "never" in the callers' state */
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + 1;
}

bool ratelimit(uint64_t *last)
{
	uint64_t now = mono_ms();

	if (*last && now - *last < RATELIMIT_MS)
		return false;
	*last = now;
	return true;
}

bool ratelimit_burst(struct ratelimit *rl, unsigned burst)
{
	uint64_t now = mono_ms();

	if (!rl->since || now - rl->since >= RATELIMIT_MS) {
		if (rl->suppressed)
			log_msg(LOG_LVL_WARN,
				"(%lu similar messages suppressed)",
				rl->suppressed);
		rl->since = now;
		rl->n = 0;
		rl->suppressed = 0;
	}
	if (rl->n < burst) {
		rl->n++;
		return true;
	}
	rl->suppressed++;
	return false;
}

void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}
