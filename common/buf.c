// SPDX-License-Identifier: MIT
/* buf.c - growable byte queue; see buf.h. */
#include "buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void buf_init(struct buf *b)
{
	memset(b, 0, sizeof(*b));
}

void buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

uint8_t *buf_reserve(struct buf *b, size_t len)
{
	if (b->head == b->tail)
		b->head = b->tail = 0;
	/* Even a zero-length reserve must return a real pointer: NULL means
	 * ENOMEM to callers, and NULL + 0 is undefined. */
	if (b->data && b->cap - b->tail >= len)
		return b->data + b->tail;
	/* Slide unread bytes to the front before growing: a queue that is
	 * drained as fast as it fills then never grows. */
	if (b->head && b->cap - buf_len(b) >= len) {
		memmove(b->data, b->data + b->head, buf_len(b));
		b->tail -= b->head;
		b->head = 0;
		return b->data + b->tail;
	}
	size_t need = buf_len(b) + len;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < need)
		cap *= 2;
	uint8_t *d = malloc(cap);
	if (!d)
		return NULL;
	if (b->data)
		memcpy(d, b->data + b->head, buf_len(b));
	free(b->data);
	b->tail -= b->head;
	b->head = 0;
	b->data = d;
	b->cap = cap;
	return b->data + b->tail;
}

void buf_commit(struct buf *b, size_t len)
{
	b->tail += len;
}

int buf_append(struct buf *b, const void *p, size_t len)
{
	uint8_t *d = buf_reserve(b, len);

	if (!d)
		return -ENOMEM;
	if (len)
		memcpy(d, p, len);
	buf_commit(b, len);
	return 0;
}

void buf_consume(struct buf *b, size_t len)
{
	b->head += len;
	if (b->head >= b->tail) {
		b->head = b->tail = 0;
		/* Give back big buffers once idle: thousands of idle
		 * connections must not each pin their high-water mark. */
		if (b->cap > 65536) {
			free(b->data);
			b->data = NULL;
			b->cap = 0;
		}
	}
}

void buf_consume_keep(struct buf *b, size_t len)
{
	b->head += len;
	if (b->head >= b->tail)
		b->head = b->tail = 0;
}

int buf_put(struct buf *b, const void *p, size_t len)
{
	if (!len)
		return 0;
	if (b->data)
		return buf_append(b, p, len);
	b->data = malloc(len);
	if (!b->data)
		return -ENOMEM;
	memcpy(b->data, p, len);
	b->head = 0;
	b->tail = b->cap = len;
	return 0;
}

void buf_trim(struct buf *b)
{
	if (b->data && !buf_len(b))
		buf_free(b);
}

ssize_t buf_read_fd(struct buf *b, int fd, size_t max)
{
	uint8_t *d = buf_reserve(b, max);

	if (!d) {
		errno = ENOMEM;
		return -1;
	}
	ssize_t n = read(fd, d, max);
	if (n > 0)
		buf_commit(b, (size_t)n);
	return n;
}

ssize_t buf_write_fd(struct buf *b, int fd)
{
	if (!buf_len(b))
		return 0;
	ssize_t n = send(fd, buf_peek(b), buf_len(b), MSG_NOSIGNAL);
	if (n < 0 && errno == ENOTSOCK)
		n = write(fd, buf_peek(b), buf_len(b));
	if (n > 0)
		buf_consume(b, (size_t)n);
	return n;
}
