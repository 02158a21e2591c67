// SPDX-License-Identifier: MIT
/*
 * shim-table.c - what the shim knows about each descriptor, indexed by
 * descriptor number.
 *
 * The program may close a descriptor and get the same number back for an
 * unrelated file without the shim seeing it (close/dup are not wrapped), so
 * each entry carries the st_dev/st_ino of the file it was made for and is
 * ignored once they no longer match.
 *
 * Two levels, pages of TAB_PAGE slots allocated when first needed, so a
 * program with a few sockets at high descriptor numbers costs a few pages,
 * not an array up to its highest number.  Pages are never freed (a
 * descriptor number once used tends to be used again); they are the
 * shim's only allocations.
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

#define TAB_SHIFT 8
#define TAB_PAGE (1u << TAB_SHIFT)

struct slot {
	uint8_t used;
	struct sk_entry e;
};

static pthread_mutex_t tab_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t tab_once = PTHREAD_ONCE_INIT;
static struct slot **pages;
static size_t npages;

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

static void tab_lock_take(void)
{
	pthread_once(&tab_once, tab_init);
	pthread_mutex_lock(&tab_lock);
}

/* The slot of @fd, or NULL if its page was never needed.  Lock held. */
static struct slot *slot_of(int fd)
{
	size_t p = (size_t)fd >> TAB_SHIFT;

	if (p >= npages || !pages[p])
		return NULL;
	return &pages[p][(size_t)fd & (TAB_PAGE - 1)];
}

/* The same, making the page.  Lock held. */
static struct slot *slot_make(int fd)
{
	size_t p = (size_t)fd >> TAB_SHIFT;

	if (p >= npages) {
		size_t n = npages ? npages : 4;
		struct slot **np;

		while (n <= p)
			n *= 2;
		np = realloc(pages, n * sizeof(struct slot *));
		if (!np)
			return NULL;
		memset(np + npages, 0, (n - npages) * sizeof(struct slot *));
		pages = np;
		npages = n;
	}
	if (!pages[p] && !(pages[p] = calloc(TAB_PAGE, sizeof(struct slot))))
		return NULL;
	return &pages[p][(size_t)fd & (TAB_PAGE - 1)];
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
	struct sk_entry c;
	struct slot *s;
	int hit = 0, saved = errno;
	dev_t dev = 0;
	ino_t ino = 0;

	if (fd < 0)
		return 0;
	tab_lock_take();
	if ((s = slot_of(fd)) && s->used) {
		c = s->e;
		hit = 1;
	}
	pthread_mutex_unlock(&tab_lock);
	/* fstat only for descriptors that have an entry: the common miss
	 * costs one lock and no system call. */
	if (!hit || fd_ident(fd, &dev, &ino) < 0 || c.dev != dev || c.ino != ino)
		hit = 0;
	else
		*e = c;
	errno = saved;
	return hit;
}

int fdt_set(int fd, const struct sk_entry *e)
{
	struct sk_entry n = *e;
	struct slot *s;
	int r;

	if (fd < 0)
		return -EBADF;
	if ((r = fd_ident(fd, &n.dev, &n.ino)) < 0)
		return r;
	tab_lock_take();
	if ((s = slot_make(fd))) {
		s->used = 1;
		s->e = n;
	} else {
		r = -ENOMEM;
	}
	pthread_mutex_unlock(&tab_lock);
	return r;
}

void fdt_clear(int fd)
{
	struct slot *s;

	if (fd < 0)
		return;
	tab_lock_take();
	if ((s = slot_of(fd)))
		s->used = 0;
	pthread_mutex_unlock(&tab_lock);
}

int fdt_find_file(int fd, struct sk_entry *e)
{
	int saved = errno, hit = 0;
	dev_t dev = 0;
	ino_t ino = 0;

	if (fd < 0 || fd_ident(fd, &dev, &ino) < 0)
		goto out;
	tab_lock_take();
	for (size_t p = 0; p < npages && !hit; p++) {
		for (size_t i = 0; pages[p] && i < TAB_PAGE; i++) {
			struct slot *s = &pages[p][i];

			if (s->used && s->e.dev == dev && s->e.ino == ino) {
				*e = s->e;
				hit = 1;
				break;
			}
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
	struct slot *s;

	if (fd < 0)
		return;
	tab_lock_take();
	s = slot_of(fd);
	if (s && s->used && s->e.ep_set && s->e.epfd == epfd) {
		if (op == EPOLL_CTL_DEL)
			s->e.ep_set = 0;
		else if (op == EPOLL_CTL_MOD && ev)
			s->e.ep_ev = *ev;
	}
	pthread_mutex_unlock(&tab_lock);
}

int fdt_kind_hint(int fd)
{
	struct slot *s;
	int k = SK_NONE;

	if (fd < 0)
		return k;
	tab_lock_take();
	if ((s = slot_of(fd)) && s->used)
		k = s->e.kind;
	pthread_mutex_unlock(&tab_lock);
	return k;
}

void fdt_free_all(void)
{
	tab_lock_take();
	for (size_t p = 0; p < npages; p++)
		free(pages[p]);
	free(pages);
	pages = NULL;
	npages = 0;
	pthread_mutex_unlock(&tab_lock);
}
