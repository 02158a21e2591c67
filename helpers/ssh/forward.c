// SPDX-License-Identifier: MIT
/*
 * forward.c - gateway-side listeners of sockout-ssh: one "tcpip-forward"
 * per guest listener (reverse forwarding, like ssh -R), the rendezvous
 * forward that lets helpers of other hosts reach this host's guests, and
 * the registry of guest ports that peers may connect to.  All forwards
 * live on session 0; after it logs in again they are requested again.
 *
 * Its stepper makes the forward requests and cancels (each one the
 * session's control operation in flight) and takes the channels the
 * server opens to our forwards, which go to the callback given at init.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "ssh.h"

enum fwd_state { FW_WANT, FW_REQ, FW_UP, FW_FAILED };

/* A gateway-side listener (tcpip-forward) or a peer-only registration. */
struct ssh_fwd {
	struct sh_listener *l; /* the guest's; NULL once unlistened */
	bool rdv;	       /* this helper's rendezvous forward */
	bool want_gw;	       /* ask the gateway for host:port */
	bool dead;	       /* unlistened: cancel, then free */
	enum fwd_state st;
	char host[SSH_HOSTLEN];
	uint16_t port, guest_port;
	LIBSSH2_LISTENER *ll;
	LIST_ENTRY(ssh_fwd) link;
};

static LIST_HEAD(, ssh_fwd) fwds = LIST_HEAD_INITIALIZER(fwds);
static ssh_incoming_fn incoming;
uint64_t ssh_fwd_accepted;

struct sh_listener *ssh_fwd_find_listener(uint16_t port)
{
	struct ssh_fwd *f;

	LIST_FOREACH(f, &fwds, link)
		if (f->l && !f->dead && !f->rdv && f->guest_port == port)
			return f->l;
	return NULL;
}

static void fwd_free(struct ssh_fwd *f)
{
	LIST_REMOVE(f, link);
	free(f);
}

/* The control operation: ask the gateway to listen for @obj. */
static int ctl_listen(struct ssh_sess *s, void *obj)
{
	struct ssh_fwd *f = obj;
	int bound = 0;

	f->ll = libssh2_channel_forward_listen_ex(s->ls, f->host, f->port,
						  &bound, 64);
	if (!f->ll) {
		int rc = libssh2_session_last_errno(s->ls);
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return ssh_op_blocked(s, ctl_listen, f);
		if (rc == LIBSSH2_ERROR_BAD_USE)
			return 0;
		ssh_ctl_done(s);
		if (ssh_fatal_rc(rc))
			return rc;
		f->st = FW_FAILED;
		if (!f->rdv) {
			warn("gateway refused to listen on %s:%u for guest "
			     "port %u: %s",
			     f->host, f->port, f->guest_port, ssh_errmsg(s));
			if (!f->dead && f->l)
				sh_listen_failed(f->l, EADDRINUSE);
		} else {
			err("gateway refused the rendezvous forward %s:%u: %s; "
			    "peers cannot reach this host's guests",
			    f->host, f->port, ssh_errmsg(s));
		}
		if (f->dead)
			fwd_free(f);
		return 1;
	}
	ssh_ctl_done(s);
	f->st = FW_UP;
	info("gateway listens on %s:%u for %s", f->host, f->port,
	     f->l ? "a guest" : "peers (rendezvous)");
	return 1;
}

/* The control operation: cancel @obj's forward, then free it. */
static int ctl_cancel(struct ssh_sess *s, void *obj)
{
	struct ssh_fwd *f = obj;
	int rc = libssh2_channel_forward_cancel(f->ll);

	if (rc == LIBSSH2_ERROR_EAGAIN)
		return ssh_op_blocked(s, ctl_cancel, f);
	if (rc == LIBSSH2_ERROR_BAD_USE)
		return 0;
	/* libssh2 freed the listener whatever rc says */
	ssh_ctl_done(s);
	f->ll = NULL;
	fwd_free(f);
	if (ssh_fatal_rc(rc))
		return rc;
	return 1;
}

static int accept_fn(struct ssh_sess *s, void *obj);

static int accept_one(struct ssh_sess *s, struct ssh_fwd *f)
{
	LIBSSH2_CHANNEL *lc = libssh2_channel_forward_accept(f->ll);

	if (!lc) {
		int rc = libssh2_session_last_errno(s->ls);
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return ssh_op_blocked(s, accept_fn, f);
		if (rc == LIBSSH2_ERROR_BAD_USE || !ssh_fatal_rc(rc))
			return 0;
		return rc;
	}
	/* A listener that is going away still takes the channel, to close
	 * it through the pump (freeing it here could leave a packet half
	 * sent).  Out of memory: libssh2 frees it with the session. */
	if (incoming(s, lc, f->host, f->port, f->dead ? NULL : f->l,
		     f->rdv) < 0) {
		warn("out of memory for a connection from the gateway");
		return 1;
	}
	if (!f->rdv && !f->dead)
		ssh_fwd_accepted++;
	return 1;
}

static int accept_fn(struct ssh_sess *s, void *obj)
{
	return accept_one(s, obj);
}

/* ---- the stepper (session 0 only) ---- */

static bool fwd_pick_ctl(struct ssh_sess *s, struct ssh_op *op)
{
	struct ssh_fwd *f;

	if (s->idx != 0)
		return false;
	LIST_FOREACH(f, &fwds, link) {
		if (f->dead && f->ll && f->st == FW_UP) {
			op->fn = ctl_cancel;
			op->obj = f;
			return true;
		}
		if (!f->dead && f->want_gw && f->st == FW_WANT) {
			f->st = FW_REQ;
			op->fn = ctl_listen;
			op->obj = f;
			return true;
		}
	}
	return false;
}

/* Take the channels the server opened to our forwards. */
static int fwd_step(struct ssh_sess *s)
{
	struct ssh_fwd *f;
	int moved = 0, r;

	if (s->idx != 0)
		return 0;
	LIST_FOREACH(f, &fwds, link) {
		if (f->st != FW_UP || f->dead || !f->ll)
			continue;
		for (int i = 0; i < 16; i++) {
			if ((r = accept_one(s, f)) < 0)
				return r;
			if (!r)
				break;
			moved = 1;
		}
	}
	return moved;
}

/* Accepts read the socket. */
static bool fwd_wants_input(const struct ssh_sess *s)
{
	const struct ssh_fwd *f;

	if (s->idx != 0)
		return false;
	LIST_FOREACH(f, &fwds, link)
		if (f->st == FW_UP && f->ll && !f->dead)
			return true;
	return false;
}

static void fwd_down(struct ssh_sess *s, int err)
{
	struct ssh_fwd *f, *n;

	(void)err;
	if (s->idx != 0)
		return;
	for (f = LIST_FIRST(&fwds); f; f = n) {
		n = LIST_NEXT(f, link);
		f->ll = NULL; /* libssh2 frees it with the session */
		if (f->dead)
			fwd_free(f);
		else
			f->st = FW_WANT;
	}
}

static const struct ssh_stepper fwd_stepper = {
	.pick_ctl = fwd_pick_ctl,
	.step = fwd_step,
	.wants_input = fwd_wants_input,
	.down = fwd_down,
};

unsigned ssh_fwd_count_up(void)
{
	const struct ssh_fwd *f;
	unsigned n = 0;

	LIST_FOREACH(f, &fwds, link)
		n += f->st == FW_UP;
	return n;
}

/* ---- the helper runtime's listen and unlisten ---- */

int ssh_fwd_listen(struct sh_listener *l)
{
	struct ssh_target t;
	struct ssh_fwd *f;

	if (ssh_target_parse(l->req.target, &t) < 0 || t.kind == TGT_PEER) {
		warn("accept: bad target `%s'", l->req.target);
		return -EINVAL;
	}
	if (!l->req.dst.port)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->l = l;
	f->guest_port = l->req.dst.port;
	f->st = FW_WANT;
	if (t.kind == TGT_PEER_ONLY) {
		f->want_gw = false; /* reachable only through rendezvous */
	} else {
		f->want_gw = true;
		snprintf(f->host, sizeof(f->host), "%s",
			 t.host[0] ? t.host : ssh_cfg->listen_address);
		f->port = t.port ? t.port : f->guest_port;
	}
	LIST_INSERT_HEAD(&fwds, f, link);
	l->priv = f;
	if (f->want_gw)
		ssh_kick(&ssh_sessions[0]);
	return 0;
}

void ssh_fwd_unlisten(struct sh_listener *l)
{
	struct ssh_fwd *f = l->priv;
	struct ssh_sess *s0 = &ssh_sessions[0];

	if (!f)
		return;
	l->priv = NULL;
	f->l = NULL;
	f->dead = true;
	if (f->st == FW_UP && f->ll) {
		ssh_kick(s0); /* the stepper cancels it */
		return;
	}
	if (ssh_ctl_holds(s0, f))
		return; /* the request in flight finishes, then cancels */
	fwd_free(f);
}

int ssh_fwd_init(ssh_incoming_fn fn)
{
	struct ssh_fwd *f;

	incoming = fn;
	ssh_pump_register(&fwd_stepper);
	if (!ssh_cfg->rendezvous)
		return 0;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->want_gw = true;
	f->rdv = true;
	f->st = FW_WANT;
	snprintf(f->host, sizeof(f->host), "%s", ssh_cfg->rdv_host);
	f->port = ssh_cfg->rdv_port;
	LIST_INSERT_HEAD(&fwds, f, link);
	return 0;
}
