// SPDX-License-Identifier: MIT
/*
 * thread.c - run the pumps of several SSH sessions at once, one thread
 * per session, so that `sessions N` encrypts on N cores.
 *
 * Theory of operation.  libssh2 allows one thread per session at a time;
 * the helper runtime (protocol/helper-runtime.h) and the loop are single-threaded.
 * With more than one session, every session gets a worker thread at
 * start-up.  When several sessions are due for a pump in the same loop
 * iteration (ssh_kick() timers, socket events), the main thread hands
 * each of them to its worker and waits: a *round*.  During a round
 *
 *   - all the helper's own code runs under one mutex (mt_lock), so only
 *     one thread at a time touches channels, forwards, timers and the
 *     runtime's connection buffers;
 *   - a worker drops the mutex only around libssh2_channel_write() and
 *     libssh2_channel_read() on its own session: that is where the
 *     crypto is, and it touches nothing but that session and the bytes
 *     it was given (the main thread is waiting, so nobody changes them);
 *   - every sh_*() call (rt_*() below) is carried out by the main thread:
 *     the worker posts it and waits for the answer, the main thread runs
 *     it under the mutex.
 *
 * That a worker may read a connection's to_overlay bytes unlocked relies
 * on this: during a round nothing but the rt_*() calls runs on the main
 * thread, and none of them frees a connection or its buffers (the runtime
 * frees a connection only from its own loop callbacks: CLOSE, a dropped
 * dispatcher).
 *
 * The round ends when every worker is done; the main thread then finishes
 * each pump (interest, teardown) itself.  A pump asked for during a round
 * (the runtime calling input_room, say) becomes a kick for later.  With
 * one session, or one session due, the pump runs on the main thread as
 * before and none of this costs anything.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "ssh.h"

enum mop { M_RESET, M_CFAIL, M_TAKEN, M_CONNECTED, M_ACCEPTED, M_ROOM,
	   M_DELIVER, M_EOF, M_LFAIL };

struct mcall {
	enum mop op;
	struct sh_conn *c;
	struct sh_listener *l;
	const struct so_addrpair *a;
	const void *p;
	size_t n, ret;
	struct sh_conn *cret;
	int err;
	bool done;
};

struct worker {
	pthread_t tid;
	pthread_cond_t cond; /* go, or the answer to req */
	struct ssh_sess *s;
	bool started, go;
	struct mcall *req;   /* a runtime call waiting for the main thread */
	int r, pass;	     /* the pump's result */
};

static pthread_mutex_t mt_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t main_cond = PTHREAD_COND_INITIALIZER;
static struct worker workers[SSH_MAX_SESSIONS];
static unsigned nworkers, pending;
static bool round_on, quitting;
uint64_t ssh_mt_rounds;
static _Thread_local bool is_worker;
static _Thread_local struct worker *self_w;

bool ssh_mt_busy(void)
{
	return round_on;
}

void ssh_mt_unlock(void)
{
	if (is_worker)
		pthread_mutex_unlock(&mt_lock);
}

void ssh_mt_relock(void)
{
	if (is_worker)
		pthread_mutex_lock(&mt_lock);
}

static void mcall_run(struct mcall *m)
{
	switch (m->op) {
	case M_RESET: sh_reset(m->c, m->err); break;
	case M_CFAIL: sh_connect_failed(m->c, m->err); break;
	case M_TAKEN: sh_output_taken(m->c); break;
	case M_CONNECTED: sh_connected(m->c, m->a); break;
	case M_ACCEPTED: m->cret = sh_accepted(m->l, m->a); break;
	case M_ROOM: m->ret = sh_input_room(m->c); break;
	case M_DELIVER: m->ret = sh_deliver(m->c, m->p, m->n); break;
	case M_EOF: sh_eof(m->c); break;
	case M_LFAIL: sh_listen_failed(m->l, m->err); break;
	}
}

/* Run @m on the main thread: at once if this is it, else post and wait
 * (the worker holds mt_lock; waiting releases it for the main thread). */
static void on_main(struct mcall *m)
{
	if (!is_worker) {
		mcall_run(m);
		return;
	}
	struct worker *w = self_w;

	w->req = m;
	m->done = false;
	pthread_cond_signal(&main_cond);
	while (!m->done)
		pthread_cond_wait(&w->cond, &mt_lock);
}

void rt_reset(struct sh_conn *c, int err)
{
	struct mcall m = { .op = M_RESET, .c = c, .err = err };
	on_main(&m);
}

void rt_connect_failed(struct sh_conn *c, int err)
{
	struct mcall m = { .op = M_CFAIL, .c = c, .err = err };
	on_main(&m);
}

void rt_output_taken(struct sh_conn *c)
{
	struct mcall m = { .op = M_TAKEN, .c = c };
	on_main(&m);
}

void rt_connected(struct sh_conn *c, const struct so_addrpair *a)
{
	struct mcall m = { .op = M_CONNECTED, .c = c, .a = a };
	on_main(&m);
}

struct sh_conn *rt_accepted(struct sh_listener *l,
			    const struct so_addrpair *a)
{
	struct mcall m = { .op = M_ACCEPTED, .l = l, .a = a };
	on_main(&m);
	return m.cret;
}

size_t rt_input_room(struct sh_conn *c)
{
	struct mcall m = { .op = M_ROOM, .c = c };
	on_main(&m);
	return m.ret;
}

size_t rt_deliver(struct sh_conn *c, const void *p, size_t n)
{
	struct mcall m = { .op = M_DELIVER, .c = c, .p = p, .n = n };
	on_main(&m);
	return m.ret;
}

void rt_eof(struct sh_conn *c)
{
	struct mcall m = { .op = M_EOF, .c = c };
	on_main(&m);
}

void rt_listen_failed(struct sh_listener *l, int err)
{
	struct mcall m = { .op = M_LFAIL, .l = l, .err = err };
	on_main(&m);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	sigset_t all;

	/* Signals belong to the main thread's signalfd. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	is_worker = true;
	self_w = w;
	pthread_mutex_lock(&mt_lock);
	for (;;) {
		while (!w->go && !quitting)
			pthread_cond_wait(&w->cond, &mt_lock);
		if (quitting)
			break;
		w->go = false;
		w->r = ssh_pump_passes(w->s, &w->pass);
		pending--;
		pthread_cond_signal(&main_cond);
	}
	pthread_mutex_unlock(&mt_lock);
	return NULL;
}

int ssh_mt_start(void)
{
	int r;

	if (ssh_cfg->sessions < 2)
		return 0;
	for (unsigned i = 0; i < ssh_cfg->sessions; i++) {
		struct worker *w = &workers[i];
		w->s = &ssh_sessions[i];
		if ((r = pthread_cond_init(&w->cond, NULL)))
			return -r;
		if ((r = pthread_create(&w->tid, NULL, worker_main, w)))
			return -r;
		w->started = true;
		nworkers = i + 1;
	}
	return 0;
}

void ssh_mt_stop(void)
{
	pthread_mutex_lock(&mt_lock);
	quitting = true;
	for (unsigned i = 0; i < nworkers; i++)
		pthread_cond_signal(&workers[i].cond);
	pthread_mutex_unlock(&mt_lock);
	for (unsigned i = 0; i < nworkers; i++) {
		if (workers[i].started)
			pthread_join(workers[i].tid, NULL);
		pthread_cond_destroy(&workers[i].cond);
	}
	nworkers = 0;
}

void ssh_pump_round(struct ssh_sess **v, unsigned n)
{
	if (n < 2 || !nworkers) {
		for (unsigned i = 0; i < n; i++)
			ssh_pump(v[i]);
		return;
	}
	pthread_mutex_lock(&mt_lock);
	round_on = true;
	ssh_mt_rounds++;
	for (unsigned i = 0; i < n; i++) {
		struct worker *w = &workers[v[i]->idx];
		v[i]->in_pump = true;
		v[i]->want_out = false;
		w->go = true;
		pending++;
		pthread_cond_signal(&w->cond);
	}
	for (;;) {
		bool ran = false;
		for (unsigned i = 0; i < n; i++) {
			struct worker *w = &workers[v[i]->idx];
			if (w->req) {
				struct mcall *m = w->req;
				w->req = NULL;
				mcall_run(m);
				m->done = true;
				pthread_cond_signal(&w->cond);
				ran = true;
			}
		}
		if (ran)
			continue;
		if (!pending)
			break;
		pthread_cond_wait(&main_cond, &mt_lock);
	}
	round_on = false;
	pthread_mutex_unlock(&mt_lock);
	for (unsigned i = 0; i < n; i++) {
		struct worker *w = &workers[v[i]->idx];
		v[i]->in_pump = false;
		ssh_pump_finish(v[i], w->r, w->pass);
	}
}
