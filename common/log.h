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

/** die() - print an error and exit(1).  Only for start-up failures. */
noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
