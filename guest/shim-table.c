// SPDX-License-Identifier: MIT
/*
 * shim-table.c - what the shim knows about each descriptor, indexed by
 * descriptor number.
 *
 * The program may close a descriptor and get the same number back for an
 * unrelated file without the shim seeing it (close/dup are not wrapped), so
 * each entry carries the st_dev/st_ino of the file it was made for and is
 * ignored once they no longer match.  The array only grows, to the highest
 * descriptor the shim has had to remember; it is the shim's only allocation.
 *
 * The lock is held only around copies; pthread_atfork keeps a fork() in
 * another thread from leaving the child with the lock taken.
 */
#include "shim.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct slot {
	uint8_t used;
	struct sk_entry e;
};

static pthread_mutex_t tab_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t tab_once = PTHREAD_ONCE_INIT;
static struct slot *tab;
static size_t tab_len;

static void tab_prepare(void)
{
	pthread_mutex_lock(&tab_lock);
}

static void tab_parent(void)
{
	pthread_mutex_unlock(&tab_lock);
}

static void tab_child(void)
{
	/* The child has one thread and owns the lock its parent took in
	 * tab_prepare(); a fresh mutex is simplest and always valid. */
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

	tab_lock = fresh;
}

static void tab_init(void)
{
	pthread_atfork(tab_prepare, tab_parent, tab_child);
}

static int fd_ident(int fd, dev_t *dev, ino_t *ino)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	*dev = st.st_dev;
	*ino = st.st_ino;
	return 0;
}

int fdt_get(int fd, struct sk_entry *e)
{
	int hit = 0;
	dev_t dev = 0;
	ino_t ino = 0;

	if (fd < 0)
		return 0;
	pthread_once(&tab_once, tab_init);
	pthread_mutex_lock(&tab_lock);
	if ((size_t)fd < tab_len && tab[fd].used) {
		*e = tab[fd].e;
		hit = 1;
	}
	pthread_mutex_unlock(&tab_lock);
	/* fstat only for descriptors that have an entry: the common miss
	 * costs one lock and no system call. */
	if (!hit || fd_ident(fd, &dev, &ino) < 0)
		return 0;
	return e->dev == dev && e->ino == ino;
}

int fdt_set(int fd, const struct sk_entry *e)
{
	struct sk_entry n = *e;
	int r = 0;

	if (fd < 0)
		return -EBADF;
	if ((r = fd_ident(fd, &n.dev, &n.ino)) < 0)
		return r;
	pthread_once(&tab_once, tab_init);
	pthread_mutex_lock(&tab_lock);
	if ((size_t)fd >= tab_len) {
		size_t nl = tab_len ? tab_len : 64;
		struct slot *t;

		while (nl <= (size_t)fd)
			nl *= 2;
		t = realloc(tab, nl * sizeof(*t));
		if (!t) {
			r = -ENOMEM;
			goto out;
		}
		memset(t + tab_len, 0, (nl - tab_len) * sizeof(*t));
		tab = t;
		tab_len = nl;
	}
	tab[fd].used = 1;
	tab[fd].e = n;
out:
	pthread_mutex_unlock(&tab_lock);
	return r;
}

void fdt_clear(int fd)
{
	if (fd < 0)
		return;
	pthread_once(&tab_once, tab_init);
	pthread_mutex_lock(&tab_lock);
	if ((size_t)fd < tab_len)
		tab[fd].used = 0;
	pthread_mutex_unlock(&tab_lock);
}

int fdt_find_file(int fd, struct sk_entry *e)
{
	int saved = errno, hit = 0;
	dev_t dev = 0;
	ino_t ino = 0;

	if (fd < 0 || fd_ident(fd, &dev, &ino) < 0)
		goto out;
	pthread_once(&tab_once, tab_init);
	pthread_mutex_lock(&tab_lock);
	for (size_t i = 0; i < tab_len; i++) {
		if (tab[i].used && tab[i].e.dev == dev && tab[i].e.ino == ino) {
			*e = tab[i].e;
			hit = 1;
			break;
		}
	}
	pthread_mutex_unlock(&tab_lock);
	/* Remember the copy under its own number: next time is a hit. */
	if (hit)
		fdt_set(fd, e);
out:
	errno = saved;
	return hit;
}

void fdt_ep_update(int fd, int epfd, int op, const struct epoll_event *ev)
{
	if (fd < 0)
		return;
	pthread_once(&tab_once, tab_init);
	pthread_mutex_lock(&tab_lock);
	if ((size_t)fd < tab_len && tab[fd].used && tab[fd].e.ep_set &&
	    tab[fd].e.epfd == epfd) {
		if (op == EPOLL_CTL_DEL)
			tab[fd].e.ep_set = 0;
		else if (op == EPOLL_CTL_MOD && ev)
			tab[fd].e.ep_ev = *ev;
	}
	pthread_mutex_unlock(&tab_lock);
}
