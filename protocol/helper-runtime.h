/* SPDX-License-Identifier: MIT */
/*
 * helper-runtime.h - the helper side of the protocol, written once for every helper.
 *
 * A helper (sockout-plain, sockout-ssh, sockout-im) links this runtime, gives
 * it a struct sh_ops that knows its overlay, and calls sh_listen() on its
 * data and event socket paths.  The runtime accepts dispatchers, answers
 * every request, keeps two bounded byte queues per connection and sends the
 * events (ARRIVED when a pending READ can be served, WRITABLE when a partial
 * WRITE can continue).  The overlay code only moves bytes between those
 * queues and its transport:
 *
 *   guest -> overlay:  c->to_overlay holds bytes the dispatcher WROTE.  The
 *                      runtime calls ops->output(c) after appending; the
 *                      overlay sends what it can, buf_consume()s it and
 *                      calls sh_output_taken(c).  c->guest_shut says the
 *                      guest half-closed once to_overlay is drained.
 *   overlay -> guest:  the overlay calls sh_deliver(c, p, n), which takes
 *                      up to sh_input_room(c) bytes.  When it took less, the
 *                      overlay stops reading its transport until
 *                      ops->input_room(c) says there is room again.
 *
 * Handoff (SO_CAP_HANDOFF, offered unless sh_set_handoff(false)): the
 * dispatcher may hand over its end of the guest's connection (HANDOFF).
 * The runtime then reads and writes that socket itself instead of
 * answering READ and WRITE: the same two queues, the same callbacks, so
 * overlays need no change.  It says FINISHED (with the byte counts)
 * instead of CLOSED when the connection ends.
 *
 * Splice: an overlay whose side of a connection is a plain socket (a
 * kernel socket with nothing of its own above it, as sockout-plain's TCP
 * connection) gives it to the runtime with ops->overlay_fd() at HANDOFF.
 * The runtime then moves the bytes between the two sockets itself with
 * splice(2) through a pipe per direction (no copy to user space), after
 * draining what the queues held from before; where splice is refused
 * (EINVAL) or no pipe can be had it copies through the queues.  From then
 * on the overlay watches nothing on that socket and gets no output() or
 * input_room(); it still closes the socket in close().
 *
 * Hand-back (SO_CAP_HANDBACK, offered when sh_set_handback(true) and the
 * overlay has ops->handback_fd): an overlay whose side of a connection is
 * a plain connected TCP socket lets the dispatcher have that very socket
 * as the guest's connection, as sockoutd's direct route does: no bytes
 * through the helper at all.  sh_connected() asks ops->handback_fd(c);
 * when it names a socket and the event socket can take the descriptor
 * now (and nothing is queued for c), CONNECTED goes out with it, the
 * runtime frees c at once (ops->close() with c->handed_back set: close
 * the descriptor, nothing else) and sh_connected() returns true.  For a
 * listener, sh_accepted_handback() offers the accepted socket before any
 * connection exists.  Otherwise everything goes as without it.
 *
 * Lifetime: every connection ends with ops->close(c, err) exactly once
 * (the dispatcher's CLOSE, or the dispatcher going away), after which the
 * runtime frees it.  After sh_reset() or sh_connect_failed() the overlay
 * should release its transport state at once; close() still follows.
 */
#ifndef SOCKOUT_HELPER_H
#define SOCKOUT_HELPER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "../common/buf.h"
#include "../common/loop.h"
#include "helperproto.h"

/* Per-direction queue limit per connection: the flow-control window
 * between dispatcher and helper. */
#define SH_QUEUE_MAX (4u * 1024u * 1024u)
/*
 * Memory: all connections' queues together may hold SH_QUEUE_BUDGET bytes
 * (sh_set_queue_budget() changes it).  Past that, a connection's window
 * shrinks to SH_QUEUE_MIN per direction, so fifty guests that do not read
 * cost the budget plus fifty small windows, not fifty times SH_QUEUE_MAX;
 * SH_QUEUE_MIN is never taken away, so every connection still moves.
 */
#define SH_QUEUE_BUDGET (32u * 1024u * 1024u)
#define SH_QUEUE_MIN (64u * 1024u)

/* How long a listener stops accepting when the process is out of
 * descriptors (EMFILE/ENFILE): the pending connection keeps the socket
 * readable, so retrying at once would spin. */
#define SH_ACCEPT_PAUSE_MS 100

/* Splice: the size asked of each pipe (F_SETPIPE_SZ, best effort: the
 * kernel's 64 KiB default stays when refused), and how many pipes may be
 * open at once (two per connection while bytes flow both ways, and up to
 * 16 empty ones kept for the next; past the limit a direction copies
 * through its queue, one chunk at a time).  The
 * pipes hold at most SH_PIPES_MAX * SH_PIPE_SIZE bytes (64 MiB) of kernel
 * memory, and 2 * SH_PIPES_MAX descriptors. */
#define SH_PIPE_SIZE (256u * 1024u)
#define SH_PIPES_MAX 256u

struct sh_client;

struct sh_conn {
	uint32_t id;
	struct sh_client *client;
	struct so_connect req; /* CONNECT: what the guest asked for */
	struct buf to_overlay; /* guest bytes not yet sent on the overlay */
	struct buf to_guest;   /* overlay bytes not yet READ */
	bool guest_shut;       /* SHUTDOWN received: no more to_overlay */
	bool overlay_eof;      /* sh_eof(): no more to_guest */
	bool read_pending;     /* a READ found nothing: ARRIVED owed */
	bool write_blocked;    /* a WRITE was partial: WRITABLE owed */
	bool input_paused;     /* sh_deliver() took less than offered */
	bool dead;	       /* reset/failed: only CLOSE is expected */
	/* handed back (SO_CAP_HANDBACK): the overlay socket is the guest's
	 * now; ops->close() closes its descriptor only (no shutdown(), no
	 * linger: either would reach the guest's connection) */
	bool handed_back;
	uint64_t bytes_in, bytes_out;
	size_t queued; /* the runtime's: what this one counts in the budget */
	void *priv; /* the overlay's state */
	/* handed (HANDOFF): the runtime moves bytes on gev.fd itself */
	bool handed;
	int gfd;	     /* the handed socket, -1 before (and after CLOSE) */
	bool guest_eof_sent; /* overlay EOF passed on: shutdown(SHUT_WR) */
	bool finished;	     /* FINISHED sent */
	struct ev gev;	     /* the guest end, in epoll while waited on */
	struct sh_splice *spl; /* the runtime's: overlay_fd() gave a socket */
	/* the runtime's: its client's list, and the (client, id) hash chain */
	LIST_ENTRY(sh_conn) link, hlink;
};

struct sh_listener {
	uint32_t id;
	struct sh_client *client;
	struct so_connect req; /* dst.port is the guest's port; target */
	void *priv;
	LIST_ENTRY(sh_listener) link; /* the runtime's: its client's list */
};

struct sh_ops {
	const char *name; /* helper name in STATUS */
	/** Start connecting c->req; finish with sh_connected() or
	 *  sh_connect_failed().  Return 0, or -errno to fail at once. */
	int (*connect)(struct sh_conn *c);
	/** Register l->req.dst.port for incoming connections; report them
	 *  with sh_accepted().  Return 0 or -errno (e.g. -EADDRINUSE). */
	int (*listen)(struct sh_listener *l);
	void (*unlisten)(struct sh_listener *l);
	/** c->to_overlay grew, or c->guest_shut became true. */
	void (*output)(struct sh_conn *c);
	/** c->to_guest has room again after sh_deliver() took less. */
	void (*input_room)(struct sh_conn *c);
	/** Forget c; err is 0 for an orderly close, else reset (ECONNRESET). */
	void (*close)(struct sh_conn *c, int err);
	/** Optional, at HANDOFF: return c's overlay-side socket (non-blocking)
	 *  if the runtime may move the bytes between it and the guest itself
	 *  (see "Splice" above), having stopped watching it; else -1.  The
	 *  overlay keeps the descriptor and closes it in close(). */
	int (*overlay_fd)(struct sh_conn *c);
	/** Optional, for hand-back: c's overlay socket if it is a connected
	 *  TCP socket that may become the guest's connection as it is (the
	 *  overlay has nothing of its own above it and holds no bytes for
	 *  it), else -1.  No side effect: the runtime may not use it. */
	int (*handback_fd)(struct sh_conn *c);
	/** Optional: append ,"key":value pairs (JSON) to the STATUS reply. */
	void (*status)(struct buf *json);
};

/**
 * sh_listen() - listen on the data and event socket paths (mode 0660,
 * inside a directory the caller has made private) and serve dispatchers
 * with @ops.  Returns 0 or -errno.
 */
int sh_listen(const char *data_path, const char *event_path,
	      const struct sh_ops *ops);
/** sh_set_queue_budget() - bytes all connections' queues may hold together
 *  before windows shrink (default SH_QUEUE_BUDGET; at least SH_QUEUE_MAX). */
void sh_set_queue_budget(size_t bytes);
/** sh_set_handoff() - offer SO_CAP_HANDOFF in HELLO (the default) or
 *  not (the dispatcher then uses READ/WRITE only). */
void sh_set_handoff(bool on);
/** sh_set_names() - offer SO_CAP_NAME in HELLO (default: not): the
 *  overlay's connect() reaches c->req.name (port c->req.dst.port) when it
 *  is not empty, resolving the name at its end. */
void sh_set_names(bool on);
/** sh_set_pipes_max() - how many pipes splicing may hold open (default
 *  SH_PIPES_MAX); 0 copies every handed byte through the queues. */
void sh_set_pipes_max(unsigned n);
/** sh_set_handback() - offer SO_CAP_HANDBACK in HELLO (default: not;
 *  only with ops->handback_fd): see "Hand-back" above. */
void sh_set_handback(bool on);
/** sh_shutdown() - close every client and unlink the socket paths. */
void sh_shutdown(void);

/** sh_connected() - c is connected.  Returns true when it was handed
 *  back (see above): c is gone then, the caller must not touch it. */
bool sh_connected(struct sh_conn *c, const struct so_addrpair *addrs);
void sh_connect_failed(struct sh_conn *c, int err);
/** sh_accepted() - a peer connected to @l; returns the new connection
 *  (announced with ACCEPTED) or NULL when out of memory. */
struct sh_conn *sh_accepted(struct sh_listener *l,
			    const struct so_addrpair *addrs);
/** sh_accepted_handback() - a peer connected to @l on @fd, a connected
 *  TCP socket the overlay holds no bytes of: give the dispatcher the
 *  socket itself (ACCEPTED with SO_F_FD).  Returns true when it went: the
 *  caller closes its @fd (close() only) and forgets it; false: go on with
 *  sh_accepted(). */
bool sh_accepted_handback(struct sh_listener *l,
			  const struct so_addrpair *addrs, int fd);
void sh_listen_failed(struct sh_listener *l, int err);

/** sh_input_room() - bytes sh_deliver() would take now: the window left,
 *  shrunk while the queue budget is spent. */
size_t sh_input_room(const struct sh_conn *c);
/** sh_deliver() - queue overlay bytes for the guest; returns bytes taken. */
size_t sh_deliver(struct sh_conn *c, const void *p, size_t len);
/** sh_eof() - the overlay peer will send no more. */
void sh_eof(struct sh_conn *c);
/** sh_reset() - the overlay lost the connection (CLOSED event). */
void sh_reset(struct sh_conn *c, int err);
/** sh_output_taken() - call after consuming from c->to_overlay. */
void sh_output_taken(struct sh_conn *c);

/** sh_foreach_conn() - visit every live connection (for shutdown paths). */
void sh_foreach_conn(void (*fn)(struct sh_conn *c, void *arg), void *arg);
unsigned sh_conn_count(void);

#endif
