// SPDX-License-Identifier: MIT
/*
 * sockout-im - carries guest connections to peers named by IM identity
 * (XMPP JIDs), end-to-end encrypted, across NATs (both ends only dial out
 * to the XMPP server).  See sockout-im(8) and docs/im.md.
 *
 *   sockout-im -c FILE [-f] [-n] [-v]
 *   sockout-im keygen FILE
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/daemon.h"
#include "common/log.h"
#include "common/loop.h"
#include "common/net.h"
#include "helpers/im/im.h"

/* The layers report upward through these tables; only this file knows
 * who sits above whom (im.h). */
static const struct im_peer_ops peer_ops = {
	.rpc = im_conn_rpc,
	.ready = im_conn_peer_ready,
	.lost = im_conn_peer_lost,
};

static const struct im_xmpp_ops xmpp_ops = {
	.presence = im_peer_presence,
	.message = im_peer_stanza,
	.link_up = im_peers_link_up,
	.link_down = im_peers_link_down,
	.writable = im_conn_xmpp_writable,
};

static int keygen(const char *path)
{
	char pk[64];
	int r;

	if ((r = im_crypto_init()) < 0) {
		fprintf(stderr, "sockout-im: libsodium: %s\n", strerror(-r));
		return 1;
	}
	if ((r = im_identity_generate(path, pk, sizeof(pk))) < 0) {
		fprintf(stderr, "sockout-im: %s: %s%s\n", path, strerror(-r),
			r == -EEXIST ? " (refusing to overwrite an identity)" :
				       "");
		return 1;
	}
	fprintf(stderr, "sockout-im: wrote %s; its public key (base64) "
			"follows, put it in the peers' `peer' lines\n",
		path);
	printf("%s\n", pk);
	return 0;
}

int main(int argc, char **argv)
{
	struct daemon_opts o;
	struct im_conf c;
	char *errs = NULL;
	int r;

	if (argc >= 2 && !strcmp(argv[1], "keygen")) {
		if (argc != 3) {
			fprintf(stderr, "usage: sockout-im keygen FILE\n");
			return 2;
		}
		return keygen(argv[2]);
	}
	daemon_args(argc, argv, "sockout-im", NULL,
		    "       sockout-im keygen FILE\n", &o);
	if (im_crypto_init() < 0)
		die("libsodium cannot start");
	if (im_conf_load(o.config, &c, &errs) < 0) {
		fputs(errs ? errs : "configuration error\n", stderr);
		free(errs);
		return 1;
	}
	if (o.check_only) {
		char pk[64];
		im_pubkey_format(c.id.pk, pk, sizeof(pk));
		printf("configuration OK (identity %s)\n", pk);
		im_conf_free(&c);
		return 0;
	}
	if ((r = loop_init()) < 0 || (r = daemon_signals(NULL)) < 0)
		die("event loop: %s", strerror(-r));
	if ((r = im_peers_init(&c, &c.id, &peer_ops)) < 0)
		die("peers: %s", strerror(-r));
	im_conn_set_conf(&c);
	/* names go to the peer, which answers for those its config lists */
	sh_set_names(true);
	if ((r = sh_listen(c.data_socket, c.event_socket, &im_ops)) < 0)
		die("cannot listen on %s / %s: %s", c.data_socket,
		    c.event_socket, strerror(-r));
	/* Ready means the dispatcher can talk to us; the XMPP link comes
	 * and goes, and connections fail fast while it is down. */
	info("ready: data %s, event %s", c.data_socket, c.event_socket);
	sd_notifyf("READY=1\nSTATUS=logging in");
	if ((r = im_xmpp_start(&c, &xmpp_ops)) < 0)
		die("xmpp: %s", strerror(-r));
	r = loop_run();
	sd_notifyf("STOPPING=1");
	sh_shutdown();
	im_xmpp_stop();
	im_peers_free();
	im_conf_free(&c);
	return r < 0 ? 1 : 0;
}
