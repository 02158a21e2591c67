/* SPDX-License-Identifier: MIT */
/*
 * buf.h - a growable byte queue: append at the tail, consume at the head.
 *
 * Used for every socket's pending input and output.  Capacity is bounded by
 * the caller (buf_room()) so a slow peer costs memory only up to its limit.
 */
#ifndef SOCKOUT_BUF_H
#define SOCKOUT_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct buf {
	uint8_t *data;
	size_t head; /* first unread byte */
	size_t tail; /* one past the last byte */
	size_t cap;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
static inline size_t buf_len(const struct buf *b)
{
	return b->tail - b->head;
}
static inline const uint8_t *buf_peek(const struct buf *b)
{
	return b->data + b->head;
}
/** buf_append() - copy @len bytes in.  Returns 0 or -ENOMEM. */
int buf_append(struct buf *b, const void *p, size_t len);
/**
 * buf_reserve() - make room for @len more bytes at the tail and return a
 * pointer to it (or NULL on ENOMEM); follow with buf_commit().
 */
uint8_t *buf_reserve(struct buf *b, size_t len);
void buf_commit(struct buf *b, size_t len);
void buf_consume(struct buf *b, size_t len);
/** buf_read_fd() - read up to @max bytes from @fd.  Like read(2). */
ssize_t buf_read_fd(struct buf *b, int fd, size_t max);
/** buf_write_fd() - write what is buffered to @fd.  Like write(2). */
ssize_t buf_write_fd(struct buf *b, int fd);

#endif
