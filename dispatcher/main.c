// SPDX-License-Identifier: MIT
/*
 * main.c - sockoutd: the dispatcher.
 *
 * Start-up order matters for systemd: the configuration is parsed, then
 * every socket is listening, and only then READY=1 is sent.  Reload
 * (SIGHUP or `sockoutctl reload') parses the file into a new table and
 * swaps it only if it has no error; a broken file leaves the old table
 * running and the reason is logged and returned to sockoutctl.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/daemon.h"
#include "../common/log.h"
#include "../common/net.h"
#include "resolve.h"
#include "sockoutd.h"
#include "dns.h"

struct dconf *cfg;
uint64_t start_ms;
struct stats stats;

static struct timer watchdog;
static uint64_t watchdog_ms;

/**
 * reload_config() - reparse the configuration and swap the table.
 * @errors: set to a malloc'ed error text when the new file is broken
 *          (the old table keeps running); NULL on success
 * Returns 0 or -EINVAL.
 */
static int reload_config(char **errors)
{
	struct conf_errors e = { 0 };
	struct dconf *n;

	*errors = NULL;
	sd_notifyf("RELOADING=1");
	if (dconf_load(cfg->path, &n, &e) < 0) {
		/* one log line per error, so the journal shows each */
		char *save = NULL;
		char *t = e.text ? strdup(e.text) : NULL;
		for (char *s = t ? strtok_r(t, "\n", &save) : NULL; s;
		     s = strtok_r(NULL, "\n", &save))
			err("reload: %s", s);
		free(t);
		err("reload failed (%d error%s): keeping the running configuration",
		    e.count, e.count == 1 ? "" : "s");
		*errors = e.text ? strdup(e.text) : strdup("reload failed\n");
		conf_errors_free(&e);
		sd_notifyf("READY=1\nSTATUS=reload failed, old configuration kept");
		return -EINVAL;
	}
	conf_errors_free(&e);
	if (strcmp(n->guest_socket, cfg->guest_socket) != 0 ||
	    strcmp(n->control_socket, cfg->control_socket) != 0 ||
	    n->guest_mode != cfg->guest_mode)
		warn("reload: socket paths and modes change only on restart");
	stream_reload_check(n);
	/* Keep what only a restart can change, so status stays truthful. */
	free(n->guest_socket);
	free(n->control_socket);
	n->guest_socket = strdup(cfg->guest_socket);
	n->control_socket = strdup(cfg->control_socket);
	n->guest_mode = cfg->guest_mode;
	if (!n->guest_socket || !n->control_socket) {
		dconf_free(n);
		*errors = strdup("out of memory\n");
		sd_notifyf("READY=1");
		return -ENOMEM;
	}
	struct dconf *old = cfg;
	cfg = n;
	helpers_apply(cfg);
	resolve_apply(cfg);
	dconf_free(old);
	info("configuration reloaded: %zu rules, %zu helpers", cfg->nrules,
	     cfg->nhelpers);
	sd_notifyf("READY=1\nSTATUS=running");
	return 0;
}

static const struct control_hooks control_hooks = { .reload = reload_config };
static const struct stream_hooks stream_hooks = { .adopt = guest_adopt,
						  .refuse = guest_refuse };

static void on_hup(void)
{
	char *errors;

	info("SIGHUP: reloading %s", cfg->path);
	reload_config(&errors);
	free(errors);
}

static void watchdog_cb(struct timer *t)
{
	sd_notifyf("WATCHDOG=1");
	timer_set(t, watchdog_ms);
}

/* The runtime directory is shared with unprivileged guests, which must be
 * able to reach the guest socket in it: 0755 if we create it. */
static int make_parent_dir(const char *path, mode_t mode)
{
	char d[256];
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (!slash || slash == path || (size_t)(slash - path) >= sizeof(d))
		return 0;
	memcpy(d, path, (size_t)(slash - path));
	d[slash - path] = '\0';
	if (stat(d, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (mkdir(d, mode) < 0 && errno != EEXIST)
		return -errno;
	chmod(d, mode);
	return 0;
}

/* 10,000 relayed connections each keep a descriptor: use what we may. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	struct daemon_opts o;
	struct conf_errors e = { 0 };
	int r;

	daemon_args(argc, argv, "sockoutd", DCONF_DEFAULT_PATH, NULL, &o);
	if (dconf_load(o.config, &cfg, &e) < 0) {
		fputs(e.text ? e.text : "configuration error\n", stderr);
		conf_errors_free(&e);
		return 1;
	}
	conf_errors_free(&e);
	if (o.check_only) {
		printf("configuration OK\n");
		dconf_free(cfg);
		return 0;
	}
	raise_nofile();
	start_ms = now_ms();
	if ((r = loop_init()) < 0 || (r = daemon_signals(on_hup)) < 0)
		die("loop: %s", strerror(-r));
	if ((r = pin_init()) < 0)
		die("cannot pin the sockets given to guests (%s): on this kernel "
		    "attaching a filter to a TCP socket takes CAP_NET_ADMIN, which "
		    "the shipped unit gives (AmbientCapabilities=); see docs/trust.md",
		    strerror(-r));
	relay_init();
	if ((r = pair_init()) < 0)
		die("loopback pair listener: %s", strerror(-r));
	if ((r = make_parent_dir(cfg->guest_socket, 0755)) < 0)
		die("%s: directory: %s", cfg->guest_socket, strerror(-r));
	if ((r = guest_init(cfg->guest_socket, cfg->guest_mode)) < 0)
		die("guest socket %s: %s", cfg->guest_socket, strerror(-r));
	if ((r = stream_init(cfg, &stream_hooks)) < 0)
		die("guest-stream endpoints: %s", strerror(-r));
	if ((r = make_parent_dir(cfg->control_socket, 0755)) < 0)
		die("%s: directory: %s", cfg->control_socket, strerror(-r));
	if ((r = control_init(cfg->control_socket, &control_hooks)) < 0)
		die("control socket %s: %s", cfg->control_socket, strerror(-r));
	helpers_apply(cfg);
	resolve_apply(cfg);

	const char *wd = getenv("WATCHDOG_USEC");
	if (wd && atoll(wd) > 0) {
		watchdog_ms = (uint64_t)atoll(wd) / 2000;
		if (!watchdog_ms)
			watchdog_ms = 1;
		timer_init(&watchdog, watchdog_cb);
		timer_set(&watchdog, watchdog_ms);
	}
	info("sockoutd %s ready: guest socket %s, %zu rules, %zu helpers",
	     SOCKOUTD_VERSION, cfg->guest_socket, cfg->nrules, cfg->nhelpers);
	sd_notifyf("READY=1\nSTATUS=running");
	r = loop_run();
	sd_notifyf("STOPPING=1");
	timer_cancel(&watchdog);
	guest_shutdown();
	dns_shutdown(); /* its queries first: they are the resolver's */
	resolve_shutdown();
	stream_shutdown();
	glisten_shutdown();
	helpers_shutdown();
	control_shutdown();
	pair_shutdown();
	dconf_free(cfg);
	info("stopped");
	return r < 0 ? 1 : 0;
}
