/* SPDX-License-Identifier: MIT */
/*
 * loop.h - the one event loop of each sockout program.
 *
 * Objects embed a struct ev (a file descriptor watched with epoll) or a
 * struct timer (a monotonic deadline) and get called back.  There is one loop
 * per process, so the functions take no loop argument.
 *
 * Freeing during a callback is safe: ev_del() also drops any event for the
 * same struct ev still waiting in the batch being dispatched.
 */
#ifndef SOCKOUT_LOOP_H
#define SOCKOUT_LOOP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

#define container_of(ptr, type, member)                                        \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

struct ev;
typedef void (*ev_cb)(struct ev *ev, uint32_t events);

struct ev {
	int fd;
	uint32_t events; /* EPOLL* mask currently registered */
	ev_cb cb;
};

struct timer;
typedef void (*timer_cb)(struct timer *t);

struct timer {
	uint64_t when;	/* monotonic ms; 0 when not armed */
	size_t heap_idx;
	timer_cb cb;
};

/** loop_init() - create the epoll instance.  Returns 0 or -errno. */
int loop_init(void);
/** loop_run() - dispatch events until loop_stop().  Returns 0 or -errno. */
int loop_run(void);
void loop_stop(void);

/**
 * ev_add() - watch @fd for @events and call @cb.
 * Returns 0 or -errno.  @ev must stay allocated until ev_del().
 */
int ev_add(struct ev *ev, int fd, uint32_t events, ev_cb cb);
/** ev_mod() - change the watched events (no syscall when unchanged). */
int ev_mod(struct ev *ev, uint32_t events);
/** ev_del() - stop watching; does not close the fd.  Safe to call twice. */
void ev_del(struct ev *ev);

/** now_ms() - monotonic milliseconds, cached per loop iteration. */
uint64_t now_ms(void);
/** mono_ms() - monotonic milliseconds read now (never 0), for code that
 *  runs outside the loop's iterations. */
uint64_t mono_ms(void);

void timer_init(struct timer *t, timer_cb cb);
/** timer_set() - (re)arm @t to fire @ms milliseconds from now. */
void timer_set(struct timer *t, uint64_t ms);
void timer_cancel(struct timer *t);
static inline int timer_armed(const struct timer *t)
{
	return t->when != 0;
}

#endif
