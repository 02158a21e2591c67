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
/** buf_consume() - drop @len bytes at the head; an emptied big block is
 *  given back (idle connections must not pin their high-water mark). */
void buf_consume(struct buf *b, size_t len);

/* Buffer policies: which block a queue holds when, for callers whose
 * memory pattern buf_consume()'s default does not fit. */

/** buf_consume_keep() - drop @len bytes at the head but keep the block,
 *  whatever its size: for a few long-lived queues that a bulk transfer
 *  would otherwise make reallocate every chunk. */
void buf_consume_keep(struct buf *b, size_t len);
/** buf_put() - buf_append(), except that an empty queue gets a block of
 *  exactly @len bytes (10,000 connections with a few bytes in flight must
 *  not pin a page each).  Returns 0 or -ENOMEM. */
int buf_put(struct buf *b, const void *p, size_t len);
/** buf_trim() - give back an emptied queue's block, whatever its size. */
void buf_trim(struct buf *b);
/** buf_read_fd() - read up to @max bytes from @fd.  Like read(2). */
ssize_t buf_read_fd(struct buf *b, int fd, size_t max);
/** buf_write_fd() - write what is buffered to @fd.  Like write(2). */
ssize_t buf_write_fd(struct buf *b, int fd);

#endif
