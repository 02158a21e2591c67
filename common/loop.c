// SPDX-License-Identifier: MIT
/*
 * loop.c - epoll dispatch and a binary min-heap of timers.
 *
 * Timers live in a heap rather than a list because sockoutd arms one per
 * pending connect and may hold thousands at once.
 */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOOP_BATCH 64

static int epfd = -1;
static int running;
static struct epoll_event batch[LOOP_BATCH];
static int batch_n, batch_i;
static uint64_t cached_now;

static struct timer **heap;
static size_t heap_n, heap_cap;

uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* +1 so that a timer's "when" is never 0 (0 means unarmed). */
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u +
	       1;
}

uint64_t now_ms(void)
{
	if (!cached_now)
		cached_now = mono_ms();
	return cached_now;
}

int loop_init(void)
{
	epfd = epoll_create1(EPOLL_CLOEXEC);
	return epfd < 0 ? -errno : 0;
}

void loop_stop(void)
{
	running = 0;
}

int ev_add(struct ev *ev, int fd, uint32_t events, ev_cb cb)
{
	struct epoll_event e = { .events = events, .data.ptr = ev };

	ev->fd = fd;
	ev->events = events;
	ev->cb = cb;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
		ev->fd = -1;
		return -errno;
	}
	return 0;
}

int ev_mod(struct ev *ev, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.ptr = ev };

	if (ev->fd < 0 || ev->events == events)
		return 0;
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, ev->fd, &e) < 0)
		return -errno;
	ev->events = events;
	return 0;
}

void ev_del(struct ev *ev)
{
	if (ev->fd < 0)
		return;
	epoll_ctl(epfd, EPOLL_CTL_DEL, ev->fd, NULL);
	ev->fd = -1;
	/* The object may be freed right after this: forget its pending
	 * events in the batch being dispatched. */
	for (int i = batch_i; i < batch_n; i++)
		if (batch[i].data.ptr == ev)
			batch[i].data.ptr = NULL;
}

/* ---- timers ---- */

static void heap_swap(size_t a, size_t b)
{
	struct timer *t = heap[a];

	heap[a] = heap[b];
	heap[b] = t;
	heap[a]->heap_idx = a;
	heap[b]->heap_idx = b;
}

static void heap_up(size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (heap[p]->when <= heap[i]->when)
			break;
		heap_swap(i, p);
		i = p;
	}
}

static void heap_down(size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < heap_n && heap[l]->when < heap[m]->when)
			m = l;
		if (r < heap_n && heap[r]->when < heap[m]->when)
			m = r;
		if (m == i)
			break;
		heap_swap(i, m);
		i = m;
	}
}

void timer_init(struct timer *t, timer_cb cb)
{
	t->when = 0;
	t->heap_idx = 0;
	t->cb = cb;
}

void timer_cancel(struct timer *t)
{
	size_t i = t->heap_idx;

	if (!t->when)
		return;
	t->when = 0;
	heap_n--;
	if (i != heap_n) {
		heap[i] = heap[heap_n];
		heap[i]->heap_idx = i;
		heap_down(i);
		heap_up(i);
	}
}

void timer_set(struct timer *t, uint64_t ms)
{
	timer_cancel(t);
	if (heap_n == heap_cap) {
		size_t cap = heap_cap ? heap_cap * 2 : 64;
		struct timer **h = realloc(heap, cap * sizeof(*h));
		if (!h)
			abort(); /* a few bytes per timer; nothing sane to do */
		heap = h;
		heap_cap = cap;
	}
	t->when = now_ms() + ms;
	t->heap_idx = heap_n;
	heap[heap_n++] = t;
	heap_up(t->heap_idx);
}

static int next_timeout(void)
{
	if (!heap_n)
		return -1;
	uint64_t now = mono_ms();
	if (heap[0]->when <= now)
		return 0;
	uint64_t d = heap[0]->when - now;
	return d > 60000 ? 60000 : (int)d;
}

static void run_timers(void)
{
	while (heap_n && heap[0]->when <= cached_now) {
		struct timer *t = heap[0];
		timer_cancel(t);
		t->cb(t);
	}
}

int loop_run(void)
{
	running = 1;
	while (running) {
		int n = epoll_wait(epfd, batch, LOOP_BATCH, next_timeout());
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		cached_now = mono_ms();
		batch_n = n;
		for (batch_i = 0; batch_i < batch_n; batch_i++) {
			struct ev *ev = batch[batch_i].data.ptr;
			if (ev)
				ev->cb(ev, batch[batch_i].events);
		}
		batch_n = batch_i = 0;
		run_timers();
		cached_now = 0;
	}
	return 0;
}
