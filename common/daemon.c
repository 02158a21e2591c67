// SPDX-License-Identifier: MIT
/* daemon.c - command line and signals; see daemon.h. */
#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

static void usage(FILE *f, const char *prog, const char *extra)
{
	fprintf(f,
		"usage: %s [-c FILE] [-f] [-n] [-v]\n"
		"  -c FILE  configuration file\n"
		"  -f       stay in the foreground (always the case; systemd "
		"style)\n"
		"  -n       check the configuration, print \"configuration OK\" "
		"or the errors, and exit\n"
		"  -v       log debug messages\n%s",
		prog, extra ? extra : "");
}

void daemon_args(int argc, char **argv, const char *prog, const char *defconf,
		 const char *extra, struct daemon_opts *o)
{
	int c;

	memset(o, 0, sizeof(*o));
	o->config = defconf;
	while ((c = getopt(argc, argv, "+c:fnvh")) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 'f':
			o->foreground = true;
			break;
		case 'n':
			o->check_only = true;
			break;
		case 'v':
			o->verbose++;
			break;
		case 'h':
			usage(stdout, prog, extra);
			exit(0);
		default:
			usage(stderr, prog, extra);
			exit(2);
		}
	}
	o->argi = optind;
	if (!o->config) {
		fprintf(stderr, "%s: no configuration file given (-c FILE)\n",
			prog);
		usage(stderr, prog, extra);
		exit(2);
	}
	log_init(prog, o->verbose);
}

static struct ev sig_ev;
static void (*hup_cb)(void);
static bool stopping;

bool daemon_stopping(void)
{
	return stopping;
}

static void sig_cb(struct ev *ev, uint32_t events)
{
	struct signalfd_siginfo si;
	(void)events;

	while (read(ev->fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			if (hup_cb)
				hup_cb();
			break;
		case SIGTERM:
		case SIGINT:
			info("signal %u: stopping", si.ssi_signo);
			stopping = true;
			loop_stop();
			break;
		}
	}
}

int daemon_signals(void (*on_hup)(void))
{
	sigset_t set;
	int fd, r;

	signal(SIGPIPE, SIG_IGN);
	hup_cb = on_hup;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if ((r = ev_add(&sig_ev, fd, EPOLLIN, sig_cb)) < 0) {
		close(fd);
		return r;
	}
	return 0;
}
