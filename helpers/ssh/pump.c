// SPDX-License-Identifier: MIT
/*
 * pump.c - the pump of sockout-ssh: drives libssh2, non-blocking, from the
 * one epoll loop.
 *
 * Theory of operation.  Whenever something may have changed (the socket
 * is ready, the dispatcher wrote, the guest read) ssh_pump() makes passes
 * over a session until everything says EAGAIN, then asks epoll for what
 * libssh2_session_block_directions() says it waits for.  Nothing spins and
 * nothing sleeps.  While the session logs in, a pass is one login step
 * (session.c); once it is up, a pass runs
 *
 *   1. the call that left a packet half sent, if any (see below);
 *   2. the control operation in flight: a channel open or forward request
 *      (these use session-wide libssh2 state, so there is at most one per
 *      session); when there is none, the first stepper that has one
 *      picks the next;
 *   3. every registered stepper's step, in registration order: the
 *      forwards take the channels the server opened (forward.c), then the
 *      channels move their bytes (channel-data.c).
 *
 * Steppers are registered at start-up (struct ssh_stepper); the pump
 * calls only through them, never into channel or forward code by name.
 * An operation in flight or waiting for its repeat is a (function,
 * object) pair: the function is the tag and knows what its object is.
 *
 * The one libssh2 rule that shapes the code: when a call returns EAGAIN
 * after sending part of a packet, that exact call must be repeated before
 * any other call sends anything (a different call gets
 * LIBSSH2_ERROR_BAD_USE).  ssh_op_blocked() records the call; the pump
 * repeats it first and does nothing else until it went through.
 *
 * With `sessions N', the sessions due at the same time are pumped in one
 * parallel round (thread.c), each on its own worker.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "common/log.h"
#include "ssh.h"

#define MAX_STEPPERS 4
#define MAX_PASSES 32

static const struct ssh_stepper *steppers[MAX_STEPPERS];
static unsigned nsteppers;

/* A pump's result, kept for the main thread when a worker made it. */
static struct {
	int r, pass;
} results[SSH_MAX_SESSIONS];

void ssh_pump_register(const struct ssh_stepper *st)
{
	if (nsteppers == MAX_STEPPERS)
		die("too many steppers"); /* a start-up bug */
	steppers[nsteppers++] = st;
}

void ssh_kick(struct ssh_sess *s)
{
	if (!timer_armed(&s->kick_t))
		timer_set(&s->kick_t, 0);
}

int ssh_op_blocked(struct ssh_sess *s, ssh_opfn fn, void *obj)
{
	if (libssh2_session_block_directions(s->ls) &
	    LIBSSH2_SESSION_BLOCK_OUTBOUND) {
		s->blocked.fn = fn;
		s->blocked.obj = obj;
		s->half_sent++;
		return -EAGAIN;
	}
	return 0;
}

void ssh_ctl_done(struct ssh_sess *s)
{
	s->ctl.fn = NULL;
	s->ctl.obj = NULL;
}

bool ssh_ctl_holds(const struct ssh_sess *s, const void *obj)
{
	return s->ctl.fn && s->ctl.obj == obj;
}

/* ---- what the steppers say ---- */

static bool wants_input(const struct ssh_sess *s)
{
	if (s->ctl.fn)
		return true;
	for (unsigned i = 0; i < nsteppers; i++)
		if (steppers[i]->wants_input && steppers[i]->wants_input(s))
			return true;
	return false;
}

static bool has_output(const struct ssh_sess *s)
{
	for (unsigned i = 0; i < nsteppers; i++)
		if (steppers[i]->has_output && steppers[i]->has_output(s))
			return true;
	return false;
}

/* Run (or pick and start) @s's one control operation. */
static int ctl_step(struct ssh_sess *s)
{
	for (unsigned i = 0; !s->ctl.fn && i < nsteppers; i++)
		if (steppers[i]->pick_ctl)
			steppers[i]->pick_ctl(s, &s->ctl);
	if (!s->ctl.fn)
		return 0;
	return s->ctl.fn(s, s->ctl.obj);
}

/* One pass over a session that is up. */
static int step_up(struct ssh_sess *s)
{
	int moved = 0, r;

	if (s->blocked.fn) {
		struct ssh_op op = s->blocked;
		s->blocked.fn = NULL;
		s->blocked.obj = NULL;
		r = op.fn(s, op.obj);
		if (r < 0)
			return r; /* still blocked (fn re-recorded it), or fatal */
	}
	s->drained = false;
	if ((r = ctl_step(s)) < 0)
		return r;
	moved |= r;
	for (unsigned i = 0; i < nsteppers; i++) {
		if (!steppers[i]->step)
			continue;
		if ((r = steppers[i]->step(s)) < 0)
			return r;
		moved |= r;
	}
	return moved;
}

/* ---- one pump ---- */

static void update_interest(struct ssh_sess *s)
{
	uint32_t e = EPOLLRDHUP;

	if (s->ev.fd < 0)
		return;
	if (s->st == SS_TCP || s->blocked.fn) {
		/* Connecting; or only the half-sent packet matters until it is
		 * out, and reading meanwhile would wake us for bytes nobody
		 * consumes. */
		e |= EPOLLOUT;
	} else {
		int d = libssh2_session_block_directions(s->ls);
		/* Bytes only leave the socket through a libssh2 call made for
		 * a channel or forward; with none, leave them there (the next
		 * channel open reads them) and let EPOLLRDHUP tell a closed
		 * server, or the loop would wake forever. */
		if (s->st != SS_UP || wants_input(s))
			e |= EPOLLIN;
		if ((d & LIBSSH2_SESSION_BLOCK_OUTBOUND) || s->want_out)
			e |= EPOLLOUT;
	}
	ev_mod(&s->ev, e);
}

/* The pump's libssh2 work, on any thread: passes until nothing moves.
 * Returns the last pass's result; *passp says how many passes ran. */
static int pump_passes(struct ssh_sess *s, int *passp)
{
	int r = 0, pass;

	for (pass = 0; pass < MAX_PASSES; pass++) {
		uint64_t rx = s->rx_bytes;
		s->again = false;
		switch (s->st) {
		case SS_HANDSHAKE:
		case SS_AUTH: r = ssh_sess_login_step(s); break;
		case SS_UP: r = step_up(s); break;
		default: r = 0; break;
		}
		/* Any libssh2 call may read the socket and queue what it
		 * carried for a channel, forward or open visited earlier in
		 * this pass; the socket is then empty and epoll will not
		 * say so.  Go round again until a pass reads nothing. */
		if (r == 0 && s->rx_bytes != rx)
			r = 1;
		if (s->io_err || (r < 0 && r != -EAGAIN))
			break;
		if (r == -EAGAIN || (r == 0 && !s->again))
			break;
	}
	*passp = pass;
	return r;
}

/* The pump's ending, on the main thread: teardown after an error, epoll
 * interest. */
static void pump_finish(struct ssh_sess *s, int r, int pass)
{
	if (s->io_err) {
		ssh_sess_fail(s, strerror(s->io_err));
		return;
	}
	if (r < 0 && r != -EAGAIN) {
		ssh_sess_fail(s, ssh_errmsg(s));
		return;
	}
	if (pass == MAX_PASSES)
		ssh_kick(s); /* let the dispatcher sockets have a turn */
	update_interest(s);
}

void ssh_pump(struct ssh_sess *s)
{
	int r, pass;

	if (s->in_pump) {
		s->again = true;
		return;
	}
	if (s->st == SS_DOWN || s->st == SS_TCP)
		return;
	if (ssh_mt_busy()) {
		ssh_kick(s); /* the main thread is serving a round: later */
		return;
	}
	s->in_pump = true;
	s->want_out = false;
	r = pump_passes(s, &pass);
	s->in_pump = false;
	pump_finish(s, r, pass);
}

/* ---- rounds: every session due now, in parallel ---- */

/* What a worker runs (thread.c). */
static void pump_work(struct ssh_sess *s)
{
	results[s->idx].r = pump_passes(s, &results[s->idx].pass);
}

static void pump_round(struct ssh_sess **v, unsigned n)
{
	if (n >= 2) {
		for (unsigned i = 0; i < n; i++) {
			v[i]->in_pump = true;
			v[i]->want_out = false;
		}
		if (ssh_mt_round(v, n)) {
			for (unsigned i = 0; i < n; i++) {
				v[i]->in_pump = false;
				pump_finish(v[i], results[v[i]->idx].r,
					    results[v[i]->idx].pass);
			}
			return;
		}
		for (unsigned i = 0; i < n; i++)
			v[i]->in_pump = false;
	}
	for (unsigned i = 0; i < n; i++)
		ssh_pump(v[i]);
}

static bool sess_busy(struct ssh_sess *s)
{
	struct pollfd pf = { .fd = s->ev.fd, .events = POLLIN };

	if (s->st != SS_UP || s->in_pump || s->blocked.fn)
		return false;
	if (has_output(s))
		return true;
	return wants_input(s) && poll(&pf, 1, 0) == 1 &&
	       (pf.revents & POLLIN);
}

/* Every session due now is pumped in the same round, in parallel when
 * there are several. */
static void kick_cb(struct timer *t)
{
	struct ssh_sess *v[SSH_MAX_SESSIONS], *s0 =
		container_of(t, struct ssh_sess, kick_t);
	unsigned n = 0;

	for (unsigned i = 0; i < ssh_cfg->sessions; i++) {
		struct ssh_sess *s = &ssh_sessions[i];
		/* Due, or busy anyway: a session with guest bytes queued or
		 * bytes waiting on its socket would be due in a moment, and
		 * taking it now lets its crypto run beside the others'. */
		if (s != s0 && !timer_armed(&s->kick_t) &&
		    !(ssh_cfg->sessions > 1 && sess_busy(s)))
			continue;
		timer_cancel(&s->kick_t);
		if (s->in_pump || s->st == SS_DOWN || s->st == SS_TCP)
			continue;
		v[n++] = s;
	}
	pump_round(v, n);
}

/* ---- what the transport reports (session.c) ---- */

static void hook_init(struct ssh_sess *s)
{
	timer_init(&s->kick_t, kick_cb);
}

/* With several sessions, pump from the kick timer, which runs after this
 * loop iteration's events: the sessions whose sockets woke us together
 * are then pumped in parallel. */
static void hook_io(struct ssh_sess *s)
{
	if (ssh_cfg->sessions > 1 && s->st == SS_UP)
		ssh_kick(s);
	else
		ssh_pump(s);
}

static void hook_up(struct ssh_sess *s)
{
	ssh_kick(s);
}

static void hook_down(struct ssh_sess *s, int err)
{
	for (unsigned i = 0; i < nsteppers; i++)
		if (steppers[i]->down)
			steppers[i]->down(s, err);
	s->blocked.fn = NULL;
	s->blocked.obj = NULL;
	ssh_ctl_done(s);
	timer_cancel(&s->kick_t);
}

const struct ssh_sess_hooks ssh_pump_hooks = {
	.init = hook_init,
	.io = hook_io,
	.up = hook_up,
	.down = hook_down,
};

int ssh_pump_start(void)
{
	int r;

	if ((r = ssh_mt_start(ssh_cfg->sessions, pump_work)) < 0)
		return r;
	return ssh_sessions_start(&ssh_pump_hooks);
}

void ssh_pump_stop(void)
{
	ssh_sessions_stop();
	ssh_mt_stop();
}
