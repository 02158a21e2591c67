// SPDX-License-Identifier: MIT
/*
 * thread.c - run the pumps of several SSH sessions at once, one thread
 * per session, so that `sessions N` encrypts on N cores.
 *
 * Theory of operation.  libssh2 allows one thread per session at a time;
 * the helper runtime (protocol/helper-runtime.h) and the loop are
 * single-threaded.  With more than one session, every session gets a
 * worker thread at start-up.  When several sessions are due for a pump in
 * the same loop iteration, the main thread hands each of them to its
 * worker and waits until all are done: a *round* (fork-join).  During a
 * round
 *
 *   - the main thread only waits (in pthread_cond_wait, on mt_lock): the
 *     loop, the runtime and every other piece of the helper are still;
 *   - all the helper's own code runs under that one mutex (mt_lock), so
 *     only one thread at a time touches channels, forwards, timers and the
 *     runtime (its sh_*() calls included: nothing in the runtime or the
 *     loop is tied to the thread that calls it, and the mutex orders every
 *     access, so a worker calls them as the main thread would);
 *   - a worker drops the mutex only around libssh2_channel_write() and
 *     libssh2_channel_read() on its own session: that is where the crypto
 *     is, and it touches nothing but that session and the bytes it was
 *     given.
 *
 * That a worker may read a connection's to_overlay bytes unlocked relies
 * on this: during a round nothing frees a connection or its buffers (the
 * runtime frees a connection only from its own loop callbacks: CLOSE, a
 * dropped dispatcher; no sh_*() call does, and the loop is waiting).
 *
 * The pool knows nothing of pumps: it runs the work function given at
 * start-up for each session of a round.  The pump (pump.c) finishes each
 * session on the main thread afterwards (interest, teardown), and turns a
 * pump asked for during a round (the runtime calling input_room, say)
 * into a kick for later.  With one session, or one session due, the pump
 * runs on the main thread and none of this costs anything.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "ssh.h"

struct worker {
	pthread_t tid;
	pthread_cond_t cond; /* go */
	struct ssh_sess *s;  /* this round's session */
	bool started, go;
};

static pthread_mutex_t mt_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t main_cond = PTHREAD_COND_INITIALIZER;
static struct worker workers[SSH_MAX_SESSIONS];
static void (*work_fn)(struct ssh_sess *s);
static unsigned nworkers, pending;
static bool round_on, quitting;
uint64_t ssh_mt_rounds;
static _Thread_local bool is_worker;

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

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	sigset_t all;

	/* Signals belong to the main thread's signalfd. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	is_worker = true;
	pthread_mutex_lock(&mt_lock);
	for (;;) {
		while (!w->go && !quitting)
			pthread_cond_wait(&w->cond, &mt_lock);
		if (quitting)
			break;
		w->go = false;
		work_fn(w->s);
		pending--;
		pthread_cond_signal(&main_cond);
	}
	pthread_mutex_unlock(&mt_lock);
	return NULL;
}

int ssh_mt_start(unsigned n, void (*work)(struct ssh_sess *s))
{
	int r;

	work_fn = work;
	if (n < 2)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		struct worker *w = &workers[i];
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

bool ssh_mt_round(struct ssh_sess **v, unsigned n)
{
	if (!nworkers)
		return false;
	pthread_mutex_lock(&mt_lock);
	round_on = true;
	ssh_mt_rounds++;
	for (unsigned i = 0; i < n; i++) {
		struct worker *w = &workers[v[i]->idx];
		w->s = v[i];
		w->go = true;
		pending++;
		pthread_cond_signal(&w->cond);
	}
	while (pending)
		pthread_cond_wait(&main_cond, &mt_lock);
	round_on = false;
	pthread_mutex_unlock(&mt_lock);
	return true;
}
