/* SPDX-License-Identifier: MIT */
/*
 * daemon.h - what every sockout daemon does the same way: the -c/-f/-n/-v
 * command line, and signals turned into loop events (signalfd).
 */
#ifndef SOCKOUT_DAEMON_H
#define SOCKOUT_DAEMON_H

#include <stdbool.h>

struct daemon_opts {
	const char *config; /* -c FILE */
	bool check_only;    /* -n: check the config and exit */
	bool foreground;    /* -f: accepted; sockout daemons never fork */
	int verbose;	    /* -v, repeatable */
	int argi;	    /* index of the first non-option argument */
};

/**
 * daemon_args() - parse "-c FILE [-f] [-n] [-v]".
 * @defconf: config used when -c is absent (may be NULL: then -c is needed)
 * Prints usage and exits 2 on bad arguments; exits 0 for -h.
 */
void daemon_args(int argc, char **argv, const char *prog, const char *defconf,
		 const char *extra_usage, struct daemon_opts *o);

/**
 * daemon_signals() - route SIGTERM/SIGINT to loop_stop() and SIGHUP to
 * @on_hup (may be NULL: ignored); SIGPIPE is ignored.  Needs loop_init().
 * Returns 0 or -errno.
 */
int daemon_signals(void (*on_hup)(void));

/** daemon_stopping() - true once SIGTERM/SIGINT arrived. */
bool daemon_stopping(void);

#endif
