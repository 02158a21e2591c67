// SPDX-License-Identifier: MIT
/*
 * main.c - sockout-ssh: the SSH overlay helper.
 *
 *   sockout-ssh -c FILE [-f] [-n] [-v]
 *
 * Start-up only: read the config, listen on the data and event sockets
 * (READY=1 as soon as they listen: the dispatcher must be answered even
 * while the SSH server is unreachable), start the SSH sessions, run the
 * loop.
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
	if ((r = loop_init()) < 0)
		die("epoll: %s", strerror(-r));
	if ((r = daemon_signals(NULL)) < 0)
		die("signals: %s", strerror(-r));
	if ((r = sh_listen(cfg.data_socket, cfg.event_socket, &ssh_ops)) < 0)
		die("cannot listen on %s / %s: %s", cfg.data_socket,
		    cfg.event_socket, strerror(-r));
	if ((r = ssh_rendezvous_init()) < 0 || (r = ssh_sessions_start()) < 0)
		die("cannot start: %s", strerror(-r));
	info("listening on %s and %s; SSH server %s:%u, %u session%s",
	     cfg.data_socket, cfg.event_socket, cfg.server_host,
	     cfg.server_port, cfg.sessions, cfg.sessions == 1 ? "" : "s");
	sd_notifyf("READY=1\nSTATUS=serving; SSH to %s:%u", cfg.server_host,
		   cfg.server_port);
	r = loop_run();
	sd_notifyf("STOPPING=1");
	sh_shutdown();
	ssh_sessions_stop();
	ssh_conf_free(&cfg);
	return r < 0 ? 1 : 0;
}
