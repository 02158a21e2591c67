/* SPDX-License-Identifier: MIT */
/*
 * log.h - one logger for every sockout program.
 *
 * Messages go to stderr (foreground, or under systemd where the journal
 * captures stderr) with a level prefix.  Debug messages appear only with -v.
 */
#ifndef SOCKOUT_LOG_H
#define SOCKOUT_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdnoreturn.h>

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/**
 * log_init() - set the program name and verbosity.
 * @prog:    name printed before each message
 * @verbose: number of -v flags (1 shows debug messages)
 */
void log_init(const char *prog, int verbose);
int log_verbose(void);

void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define debug(...)                                                             \
	do {                                                                   \
		if (log_verbose())                                             \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__);                   \
	} while (0)

/*
 * Rate limits, for log lines that a fault or a peer could otherwise repeat
 * every few milliseconds (a full descriptor table, a flood of refused
 * connections) and so fill the journal.  The caller keeps the state, one
 * per kind of message, zero-initialised.  The clock is CLOCK_MONOTONIC, not
 * the loop's, so any thread may ask (each about its own state).
 */
#define RATELIMIT_MS 10000

/** ratelimit() - true at most once per RATELIMIT_MS per @last. */
bool ratelimit(uint64_t *last);

struct ratelimit {
	uint64_t since;		 /* start of the current interval */
	unsigned n;		 /* lines said in it */
	unsigned long suppressed; /* lines not said in it */
};

/**
 * ratelimit_burst() - true for the first @burst asks per RATELIMIT_MS, so
 * that a few events are each logged and a flood is not.  The first ask of
 * an interval that follows suppressed ones logs how many were suppressed.
 */
bool ratelimit_burst(struct ratelimit *rl, unsigned burst);

/** die() - print an error and exit(1).  Only for start-up failures. */
noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
