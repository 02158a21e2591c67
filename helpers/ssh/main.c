// SPDX-License-Identifier: MIT
/*
 * main.c - sockout-ssh: the SSH overlay helper.
 *
 *   sockout-ssh -c FILE [-f] [-n] [-v]
 *
 * Start-up: read the config, listen on the data and event sockets
 * (READY=1 as soon as they listen: the dispatcher must be answered even
 * while the SSH server is unreachable), start the SSH sessions, run the
 * loop.  SIGHUP reloads what can change without dropping connections.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/daemon.h"
#include "common/log.h"
#include "common/net.h"
#include "ssh.h"

#define PROG "sockout-ssh"

static struct ssh_conf cfg;
static const char *cfg_path;

static bool str_differs(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") != 0;
}

/*
 * SIGHUP: read the file again.  A file with errors changes nothing (and
 * says why).  Keys, algorithms, timings and known-hosts apply from the
 * next login on; connections that are up stay up.  The sockets, the
 * server, the session count and the rendezvous are fixed at start-up.
 */
static void on_hup(void)
{
	struct ssh_conf n;
	struct conf_errors e = { 0 };

	sd_notifyf("RELOADING=1");
	ssh_conf_defaults(&n);
	if (ssh_conf_load(cfg_path, &n, &e)) {
		warn("reload: %s has errors; keeping the running "
		     "configuration:\n%s",
		     cfg_path, e.text ? e.text : "");
		conf_errors_free(&e);
		ssh_conf_free(&n);
		sd_notifyf("READY=1");
		return;
	}
	if (str_differs(n.data_socket, cfg.data_socket) ||
	    str_differs(n.event_socket, cfg.event_socket) ||
	    str_differs(n.server_host, cfg.server_host) ||
	    n.server_port != cfg.server_port || n.sessions != cfg.sessions ||
	    n.rendezvous != cfg.rendezvous ||
	    str_differs(n.rdv_host, cfg.rdv_host) || n.rdv_port != cfg.rdv_port)
		warn("reload: data-socket, event-socket, server, sessions and "
		     "rendezvous only change with a restart; keeping those");
	/* Keep the start-up-only values (and their strings) in place. */
	free(n.data_socket);
	free(n.event_socket);
	n.data_socket = cfg.data_socket;
	n.event_socket = cfg.event_socket;
	cfg.data_socket = cfg.event_socket = NULL;
	memcpy(n.server_host, cfg.server_host, sizeof(n.server_host));
	n.server_port = cfg.server_port;
	n.sessions = cfg.sessions;
	n.rendezvous = cfg.rendezvous;
	memcpy(n.rdv_host, cfg.rdv_host, sizeof(n.rdv_host));
	n.rdv_port = cfg.rdv_port;
	ssh_conf_free(&cfg);
	cfg = n;
	info("reloaded %s; it applies from the next login on", cfg_path);
	sd_notifyf("READY=1");
}

int main(int argc, char **argv)
{
	struct daemon_opts o;
	struct conf_errors e = { 0 };
	int r;

	daemon_args(argc, argv, PROG, "/etc/sockout/ssh.conf", NULL, &o);
	ssh_conf_defaults(&cfg);
	if (ssh_conf_load(o.config, &cfg, &e)) {
		fputs(e.text ? e.text : "configuration error\n", stderr);
		conf_errors_free(&e);
		ssh_conf_free(&cfg);
		return 1;
	}
	if (o.check_only) {
		puts("configuration OK");
		ssh_conf_free(&cfg);
		return 0;
	}
	ssh_cfg = &cfg;
	cfg_path = o.config;
	if ((r = loop_init()) < 0)
		die("epoll: %s", strerror(-r));
	if ((r = daemon_signals(on_hup)) < 0)
		die("signals: %s", strerror(-r));
	sh_set_names(true); /* direct-tcpip to the name: the gateway resolves */
	if ((r = sh_listen(cfg.data_socket, cfg.event_socket, &ssh_ops)) < 0)
		die("cannot listen on %s / %s: %s", cfg.data_socket,
		    cfg.event_socket, strerror(-r));
	/* The steppers, in the order of each pump pass: forward requests
	 * and accepts first, then channel opens, then the channels' data. */
	if ((r = ssh_fwd_init(ssh_chan_incoming)) < 0)
		die("cannot start: %s", strerror(-r));
	ssh_chan_init();
	if ((r = ssh_pump_start()) < 0)
		die("cannot start: %s", strerror(-r));
	info("listening on %s and %s; SSH server %s:%u, %u session%s",
	     cfg.data_socket, cfg.event_socket, cfg.server_host,
	     cfg.server_port, cfg.sessions, cfg.sessions == 1 ? "" : "s");
	sd_notifyf("READY=1\nSTATUS=serving; SSH to %s:%u", cfg.server_host,
		   cfg.server_port);
	r = loop_run();
	sd_notifyf("STOPPING=1");
	sh_shutdown();
	ssh_pump_stop();
	ssh_conf_free(&cfg);
	return r < 0 ? 1 : 0;
}
