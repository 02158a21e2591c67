/* SPDX-License-Identifier: MIT */
/*
 * sockoutd.h - what the parts of the dispatcher share.
 *
 * The files form a stack; each calls only the ones below it, and reports
 * upward through a callback it was handed (struct waiter, struct
 * glisten_feed, struct helper_link_ops, struct control_hooks):
 *
 *   main.c     start-up, signals, reload, systemd notification
 *   control.c  control socket (JSON lines) for sockoutctl
 *   guest.c    guest socket: one request per connection, matched against
 *              the dispatch table, answered with an fd
 *   stream.c   stream-mode guests (VMs): endpoints, and in place of the fd
 *              a bridge (or a listener's ACCEPT notices) on the stream
 *   direct.c   the `direct' route: host connects handed to the guest
 *   listen.c   guest listeners: seqpacket to the guest, host listeners,
 *              the (netns, port) table for guest-internal loopback
 *   pair.c     connected TCP socket pairs on 127.0.0.1
 *   pin.c      a TCP socket given to a guest cannot be reconnected elsewhere
 *   quota.c    per-uid limits (pending requests, listeners, connections)
 *   relay.c    the helper route: connect, listen and accept through a helper
 *   pump.c     the helper route's byte pump: guest TCP end <-> READ/WRITE
 *   helper-link.c  connections to helpers (data + event sockets, redial)
 *   table.c    configuration and the dispatch table
 */
#ifndef SOCKOUT_SOCKOUTD_H
#define SOCKOUT_SOCKOUTD_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../common/log.h"
#include "../common/loop.h"
#include "../protocol/addr.h"
#include "../protocol/guestproto.h"
#include "../protocol/helperproto.h"
#include "table.h"

#define SOCKOUTD_VERSION "0.1"

/* A guest has this long to send its whole request (10 s; a variable so
 * that unit tests can shorten it). */
extern uint64_t guest_req_timeout_ms;

/* A listener that hits EMFILE/ENFILE stops being watched this long (its
 * pending connection would otherwise wake the loop again at once). */
#define ACCEPT_PAUSE_MS 100

/* ratelimit() is in common/log.h (included above). */

/**
 * accept_pause() - accept4() on @ev just failed.  Out of descriptors, the
 * pending connection stays readable and would wake the loop at once: stop
 * watching @ev for ACCEPT_PAUSE_MS (@pause's callback resumes it) and say
 * so, at most once per 10 s per @last.  @what names the listener.
 */
static inline void accept_pause(struct ev *ev, struct timer *pause,
				uint64_t *last, const char *what)
{
	if (errno != EMFILE && errno != ENFILE)
		return;
	if (ratelimit(last))
		warn("%s: %s: pausing accepts", what, strerror(errno));
	ev_mod(ev, 0);
	timer_set(pause, ACCEPT_PAUSE_MS);
}

/** reply_errno() - the errno an error reply or event carries in its arg,
 *  @dflt when it carries none that makes sense. */
static inline int reply_errno(const struct so_hdr *hd, int dflt)
{
	return hd->arg && hd->arg < 4096 ? (int)hd->arg : dflt;
}

/** unix_unlisten() - stop a Unix listener: close it, remove its socket
 *  file *@path and forget the path.  Nothing when *@path is NULL. */
static inline void unix_unlisten(struct ev *ev, char **path)
{
	int fd = ev->fd;

	if (!*path)
		return;
	ev_del(ev);
	close(fd);
	unlink(*path);
	free(*path);
	*path = NULL;
}

/* ---- main.c ---- */
extern struct dconf *cfg; /* the running configuration */
extern uint64_t start_ms;

struct stats {
	uint64_t guest_requests;
	uint64_t bad_requests;
	uint64_t denied;
	uint64_t no_rule;
	uint64_t direct;	/* direct connects handed to guests */
	uint64_t direct_failed;
	uint64_t relayed;	/* helper connections established */
	uint64_t relay_failed;
	uint64_t loopback;	/* guest-internal loopback pairs */
	uint64_t accepted;	/* connections delivered to guest listeners */
	uint64_t listeners;	/* LISTEN requests granted */
	uint64_t bytes_up, bytes_down; /* relayed bytes of closed conns */
	uint64_t handed_back;	/* helper connections given to guests as the
				   helper's own socket (SO_CAP_HANDBACK) */
	uint64_t handback_refused; /* hand-backs refused: not a connected
				      TCP socket, or descriptors the protocol
				      does not allow (closed) */
	uint64_t guest_connections; /* accepted on the guest socket */
	uint64_t channel_requests;  /* requests on a kept connection */
	uint64_t channels_idle_closed; /* kept connections closed idle */
};
extern struct stats stats;

/*
 * A guest request waiting on a route (a host connect, a helper's CONNECTED
 * or LISTEN reply) is a completion handed to the route: the route calls
 * done() once, with 0 or an errno for the guest and the descriptor to pass
 * (or -1), unless the guest cancelled first through the route's cancel
 * function.  Routes never see the request itself.
 */
struct waiter {
	void (*done)(struct waiter *w, int status, const struct so_addr *local,
		     const struct so_addr *peer, int fd);
};

/** waiter_finish() - complete *@wp and forget it; with nobody waiting any
 *  more, @fd is closed instead. */
static inline void waiter_finish(struct waiter **wp, int status,
				 const struct so_addr *local,
				 const struct so_addr *peer, int fd)
{
	struct waiter *w = *wp;

	if (!w) {
		if (fd >= 0)
			close(fd);
		return;
	}
	*wp = NULL;
	w->done(w, status, local, peer, fd);
}

/* ---- quota.c ---- */
/* Q_CHANNELS: guest connections kept open for more requests (GP_F_KEEP) */
enum quota_kind { Q_PENDING, Q_LISTENERS, Q_CONNECTIONS, Q_CHANNELS, Q_NKINDS };
struct quota; /* what one uid holds */

struct quota_stats {
	uint64_t refused[Q_NKINDS]; /* per-uid limit reached */
	uint64_t refused_guests;    /* `limit guests' reached (guest.c) */
};
extern struct quota_stats quota_stats;

/**
 * quota_take() - one more unit of @kind for @uid, within its limit;
 * *@out is the uid's entry, to give the unit back to.  Returns 0, -EAGAIN
 * at the limit (counted, logged at most once per 10 s), or -ENOMEM.
 */
int quota_take(uint32_t uid, int kind, struct quota **out);
/** quota_take_q() - the same for a holder that has the entry already. */
int quota_take_q(struct quota *q, int kind);
/** quota_give() - give one unit back (@q may be NULL: nothing taken). */
void quota_give(struct quota *q, int kind);
/** quota_held() - what @uid holds of @kind now (for tests). */
unsigned quota_held(uint32_t uid, int kind);

/* ---- control.c ---- */
struct control_hooks {
	/* reparse the configuration and swap the table; on a broken file
	 * *errors is a malloc'ed text and the old table keeps running.
	 * Returns 0 or -errno. */
	int (*reload)(char **errors);
};
int control_init(const char *path, const struct control_hooks *hooks);
void control_shutdown(void);

/* ---- guest.c ---- */
struct greq;

int guest_init(const char *path, mode_t mode);
void guest_shutdown(void);
const struct gp_req *greq_req(const struct greq *g);
void guest_foreach_pending(void (*fn)(struct greq *g, void *arg), void *arg);
const char *greq_state(const struct greq *g);
/** greq_pid() - the kernel's pid of the guest (SO_PEERCRED). */
uint32_t greq_pid(const struct greq *g);
unsigned guest_pending_count(void);
/** guest_channel_count() - kept guest connections open (GP_F_KEEP). */
unsigned guest_channel_count(void);
/** guest_adopt() - a request stream from a stream endpoint @ep whose guest
 *  is @who (stream.c, through struct stream_hooks): read, matched and
 *  answered like one on the guest socket, but in stream mode. */
struct sep;
void guest_adopt(int fd, const struct peer_id *who, struct sep *ep);
/** guest_refuse() - answer REFUSED with @status, unread, and close @fd. */
void guest_refuse(int fd, int status);

/* ---- stream.c ---- */
/* What stream.c reports upward (guest.c's functions, given by main.c). */
struct stream_hooks {
	/* a new stream from endpoint @ep, whose guest is @who */
	void (*adopt)(int fd, const struct peer_id *who, struct sep *ep);
	/* turn a stream away (REFUSED, @status) unread */
	void (*refuse)(int fd, int status);
};
/** stream_init() - listen on @c's guest-stream endpoints and hand each
 *  stream to @h; 0 or -errno. */
int stream_init(const struct dconf *c, const struct stream_hooks *h);
void stream_shutdown(void);
/** stream_reload_check() - warn if @n's guest-stream lines differ from
 *  the running endpoints (which only a restart changes). */
void stream_reload_check(const struct dconf *n);
/**
 * stream_reply() - answer a stream guest: send the encoded reply @p (@len
 * bytes: a name's answer follows the header) on its stream @gfd and, after
 * a success, make the stream the connection on @fd (CONNECT, CLAIM) or the
 * carrier of ACCEPT notices for the listener's seqpacket @fd (LISTEN);
 * without @fd (a name, a failure) the stream ends there.  Takes @gfd and
 * @fd (may be -1).
 */
void stream_reply(struct sep *ep, int gfd, const uint8_t *p, size_t len,
		  uint8_t op, int status, int fd);
/** stream_claim() - the accepted connection @token of @ep's listeners
 *  (taken: *@fd is the caller's), or -ENOENT. */
int stream_claim(const struct sep *ep, uint32_t token, int *fd,
		 struct so_addr *local, struct so_addr *peer);

/* ---- direct.c ---- */
struct direct {		/* a host connect for one guest request */
	struct ev ev;	/* the host socket while it connects */
	struct waiter *w;
	struct so_addr dst;   /* where we connect */
	struct so_addr asked; /* what the guest asked for */
	struct so_addr local; /* the host socket's, once connect() started */
	uint32_t pid;	      /* for logs */
};

void direct_init(struct direct *d);
/**
 * direct_start() - connect a host socket to what @r makes of @asked; @w is
 * told when it is connected (the socket then goes to the guest) or failed,
 * before direct_start() returns when the connect completes at once.
 * Returns 0 or -errno (then @w is not called).
 */
int direct_start(struct direct *d, const struct rule *r,
		 const struct so_addr *asked, uint32_t pid, struct waiter *w);
/** direct_cancel() - give up a connect in progress; @w is not called. */
void direct_cancel(struct direct *d);
/**
 * direct_listen_host() - the host address a guest listener on @asked is
 * served on by the direct rule @r (@m: @asked unmapped).
 */
void direct_listen_host(const struct rule *r, const struct so_addr *asked,
			const struct so_addr *m, struct so_addr *host);

/* ---- listen.c ---- */
/* What feeds a guest listener besides a host listener (a helper's LISTEN):
 * told once, from glisten_close(), that the listener is gone. */
struct glisten_feed {
	void (*gone)(struct glisten_feed *f);
	const char *name; /* for listings: "helper NAME" */
};

struct glisten {
	struct ev sev;	     /* our end of the guest's seqpacket */
	struct ev lev;	     /* direct: the host listener */
	struct timer pause;  /* out of descriptors: accept again later */
	int guest_end;	     /* the guest's end until the grant passes it */
	int held_fd;	     /* accepted, waiting for room on the seqpacket */
	struct so_addr held_peer;
	struct so_addr bound; /* what the guest bound: its local address */
	struct so_addr host;  /* direct: host listener address */
	uint64_t netns;	     /* the kernel's netns cookie of the guest */
	uint32_t pid;
	uint32_t backlog;
	struct quota *quota; /* the owner's listeners unit */
	bool in_table;
	bool paused_logged;
	bool seccomp; /* asked by sockout-run's seccomp supervisor (shown) */
	struct glisten_feed *feed; /* NULL: direct */
	uint64_t accepted;
	LIST_ENTRY(glisten) tlink; /* (netns, port) table chain */
	LIST_ENTRY(glisten) link;  /* all listeners */
};

/** glisten_new() - a listener for the guest's LISTEN @req from @who,
 *  counted against @q's listeners (NULL: uncounted).  Returns 0, -EAGAIN
 *  at the limit, or -errno. */
int glisten_new(const struct gp_req *req, const struct peer_id *who,
		struct quota *q, struct glisten **out);
int glisten_direct(struct glisten *l, const struct so_addr *host, bool v6only);
/** glisten_set_feed() - @f feeds @l from now on; told when @l goes. */
void glisten_set_feed(struct glisten *l, struct glisten_feed *f);
/** glisten_grant() - the guest's end of @l, to pass in the LISTEN reply
 *  (once; -1 after that). */
int glisten_grant(struct glisten *l);
/** glisten_granted() - the guest has its end: connections may come. */
bool glisten_granted(const struct glisten *l);
/** glisten_deliver() - pass an accepted @fd to the guest; 0, -EAGAIN or
 *  -errno.  The fd is consumed only on 0. */
int glisten_deliver(struct glisten *l, int fd, const struct so_addr *local,
		    const struct so_addr *peer);
/** glisten_close() - drop the listener (the guest's accept sees HUP). */
void glisten_close(struct glisten *l);
struct glisten *glisten_find(uint64_t netns, uint16_t port);
void glisten_foreach(void (*fn)(struct glisten *l, void *arg), void *arg);
unsigned glisten_count(void);
void glisten_shutdown(void);

/* ---- pair.c ---- */
struct pair_req;
typedef void (*pair_cb)(struct pair_req *p, int guest_fd, int keep_fd);

struct pair_req {
	int cfd;	 /* connecting end, becomes the guest's end */
	uint16_t port;	 /* its local port: how the accepted end is matched */
	pair_cb done;	 /* called from the loop; fds are -1 on failure */
	LIST_ENTRY(pair_req) link;
};

int pair_init(void);
void pair_shutdown(void);
/** pair_start() - begin a pair; @done is called later, never inside. */
int pair_start(struct pair_req *p, pair_cb done);
void pair_cancel(struct pair_req *p);
bool pair_pending(const struct pair_req *p);
/** pair_take() - a pair made in advance, at once: 0 with both ends, or
 *  -EAGAIN (none ready: pair_start()). */
int pair_take(int *guest_fd, int *keep_fd);
/** pair_pool_full() - every pair made in advance is ready (for tests that
 *  count descriptors: the pool fills from the loop, at its own pace). */
bool pair_pool_full(void);

/* ---- pin.c ---- */
/** pin_init() - at start-up: can sockets be pinned, and with CAP_NET_ADMIN
 *  or without (then it is dropped)?  0, or -EPERM: they cannot, and no
 *  socket may be given to a guest. */
int pin_init(void);
/** pin_socket() - before a TCP socket of ours goes to a guest: lock onto it
 *  a filter that drops every packet not of its present connection, so that
 *  connect(AF_UNSPEC) and a new connect() reach nothing (or find it pinned
 *  already: a locked filter).  A Unix socket is left alone.  Returns 0, or
 *  -errno (no peer any more): the socket must not be given then. */
int pin_socket(int fd);
/** pin_socket_to() - pin_socket() for a route that knows the addresses
 *  (@local's port, @peer's address and port; the connect may still be on
 *  its way): no lookups.  Only pin.c locks filters on sockets of ours. */
int pin_socket_to(int fd, const struct sockaddr *local, const struct sockaddr *peer);

/* ---- pump.c ---- */
/*
 * One direction of a relayed connection, written once for both:
 *   up:   guest -> helper; the request is WRITE, its event WRITABLE
 *   down: helper -> guest; the request is READ, its event ARRIVED
 * A short answer (a partial WRITE, an empty READ) means "wait for the
 * event before asking again".
 */
struct half {
	uint8_t out;  /* requests outstanding (WRITE: 1; READ: up to 2) */
	bool waiting; /* a short answer came: wait for the event */
	bool early;   /* the event came before the short answer it follows */
	bool eof;     /* this direction's sender finished */
	bool done;    /* ... and that was passed on (SHUTDOWN, SHUT_WR) */
};

/* The byte pump of one relayed connection: our end of the guest's TCP
 * pair on one side, the helper's connection @id on the other. */
struct pump {
	uint32_t id;
	bool open;	   /* moving bytes */
	bool blocked;	   /* on h->blocked: the data socket is congested */
	bool up_bulk;	   /* the last guest read filled the room */
	uint32_t inflight; /* bytes of upq in the outstanding WRITE */
	struct half up, down;
	struct helper *h;
	int fd;		   /* our end of the guest's TCP pair */
	struct ev ev;	   /* fd, in epoll only while waited on */
	struct buf upq, downq;
	size_t counted;	   /* upq + downq as last added to the budget */
	uint64_t bytes_up, bytes_down;
	/* the pump is done (@err 0: both directions finished) or broken:
	 * the owner closes the connection; the pump is not touched after */
	void (*end)(struct pump *p, int err);
	LIST_ENTRY(pump) blink; /* helper's blocked list */
};

void pump_init(struct pump *p, struct helper *h, uint32_t id,
	       void (*end)(struct pump *p, int err));
/** pump_open() - start moving bytes over @fd (consumed: reset and closed
 *  on failure).  Returns 0 or -errno. */
int pump_open(struct pump *p, int fd);
/** pump_stop() - close the guest end (abortively when @reset), drop the
 *  buffers.  Safe on a pump never opened. */
void pump_stop(struct pump *p, bool reset);
/** pump_reply() - the helper's reply to a WRITE or READ (@type). */
void pump_reply(struct pump *p, uint8_t type, const struct so_hdr *hd,
		const uint8_t *data);
/** pump_notify() - a WRITABLE or ARRIVED event (@type). */
void pump_notify(struct pump *p, uint8_t type);
/** pump_unblock() - @h's data socket drained: let blocked pumps go on. */
void pump_unblock(struct helper *h);
/** pump_queued() - bytes sockoutd queues on the helper route (every
 *  pump's queues and the helpers' buffers), held to limit helper-queue. */
uint64_t pump_queued(void);

/* ---- relay.c ---- */
struct rconn;
struct hlisten;
struct helper;

/** relay_init() - register with the helper link for its replies and events. */
void relay_init(void);
/** relay_connect() - SO_CONNECT through @h for @pid; @w is told when the
 *  connection is ready for the guest.  *@out is the handle to cancel with.
 *  @name: NULL, or the host name @dst (a placeholder) stands for, which
 *  the helper resolves at its end (only a helper with SO_CAP_NAME:
 *  -EHOSTUNREACH otherwise).
 *  The connection holds one unit of @q's connections while it lives.
 *  Returns 0, -EAGAIN at that limit, or -errno (then @w is not called). */
int relay_connect(struct helper *h, const struct so_addr *dst,
		  const char *target, const char *name, uint32_t pid,
		  struct quota *q, struct waiter *w, struct rconn **out);
/** relay_cancel() - the guest gave up: close the connection, @w untold. */
void relay_cancel(struct rconn *c);
/** relay_listen() - SO_LISTEN through @h for the guest listener @l; @w is
 *  told the helper's answer (0: grant it), never inside; with @h down,
 *  0 at once and the LISTEN goes when @h is up.  Returns 0 or -errno
 *  (then @w is not called and @l is closed). */
int relay_listen(struct helper *h, struct glisten *l, const char *target,
		 struct waiter *w, struct hlisten **out);
/** relay_listen_cancel() - the guest gave up waiting: close the listener,
 *  @w untold. */
void relay_listen_cancel(struct hlisten *hl);
void relay_foreach(void (*fn)(struct rconn *c, void *arg), void *arg);
unsigned relay_count(void);
/* read-only view for control.c */
struct rconn_info {
	uint32_t id;
	const char *helper;
	const char *state;
	uint32_t pid;
	struct so_addr dst;
	uint64_t bytes_up, bytes_down;
	uint64_t age_ms;
	bool seccomp; /* the guest's call was caught by seccomp, not the shim */
};
void rconn_info(const struct rconn *c, struct rconn_info *i);
/** rconn_mark_seccomp() - note (for listings) that the guest's call came
 *  through sockout-run's seccomp supervisor. */
void rconn_mark_seccomp(struct rconn *c);

/* ---- helper-link.c ---- */
enum helper_state { H_DOWN, H_CONNECTING, H_UP };

/* The most descriptors waiting for their event message: a hand-back
 * carries one, so more is a broken helper (dropped). */
#define HL_FDS_MAX 8
#define HL_FD_NONE (-1)
#define HL_FD_BAD (-2)

struct hreq {	/* what an outstanding request on the data socket was */
	uint8_t type;
	uint32_t id;
};

struct helper {
	char *name, *data_path, *event_path;
	uint8_t state;
	bool removed;
	bool broken;	    /* failed inside a callback: drop from the loop */
	bool down_logged;   /* "down" already said; retries are quiet */
	bool dialing_new;
	bool unblocking;
	char last_error[160];
	struct ev dev, eev;
	struct buf in, out, evin;
	struct hreq *fifo;
	size_t fifo_head, fifo_n, fifo_cap;
	uint32_t token;
	uint32_t caps;	    /* SO_CAP_* from the HELLO reply */
	struct timer redial;
	struct timer kill;
	uint64_t backoff_ms;
	char *status_json;    /* last STATUS reply */
	/* what rides on the helper: owned by relay.c */
	unsigned nconns;
	uint64_t total_conns;
	LIST_HEAD(, rconn) conns;
	LIST_HEAD(, hlisten) listeners;
	LIST_HEAD(, pump) blocked; /* waiting for the data socket to drain */
	TAILQ_ENTRY(helper) link;
	/* Descriptors that came on the event socket (SO_CAP_HANDBACK) and
	 * wait for their message: helper-link.c.  evread and evdone count
	 * the event stream's bytes read and taken; each descriptor came with
	 * the read that ended at its `at' (fd -1: one the kernel dropped,
	 * MSG_CTRUNC). */
	struct { uint64_t at; int fd; } evfds[HL_FDS_MAX];
	unsigned nevfds;
	bool evfds_logged;  /* a bad hand-back was warned about */
	uint64_t evread, evdone;
};

TAILQ_HEAD(helper_list, helper);
extern struct helper_list helpers;

/* What the helper link reports upward (filled by relay.c). */
struct helper_link_ops {
	/* the reply to request @q */
	void (*reply)(struct helper *h, const struct hreq *q,
		      const struct so_hdr *hd, const uint8_t *p);
	/* an event; @fd is the descriptor that came with a message flagged
	 * SO_F_FD (ours now, to close), HL_FD_NONE, or HL_FD_BAD when
	 * descriptors came that the protocol does not allow (closed) */
	void (*event)(struct helper *h, const struct so_hdr *hd,
		      const uint8_t *p, int fd);
	/* the helper's sockets are gone: drop what rode on them */
	void (*down)(struct helper *h);
	/* the helper said HELLO back: requests may go (again) */
	void (*up)(struct helper *h);
	/* the data socket drained below its low mark */
	void (*unblock)(struct helper *h);
};
void helper_link_init(const struct helper_link_ops *ops);

/** helpers_apply() - dial new helpers, drop removed ones (reload). */
void helpers_apply(const struct dconf *c);
void helpers_shutdown(void);
struct helper *helper_find(const char *name);
/** helper_send() - queue a request and remember it in the FIFO.
 *  Returns 0 or -errno (the helper is then being dropped). */
int helper_send(struct helper *h, uint8_t type, uint32_t id, uint32_t arg,
		const void *p, size_t len);
/** helper_send_fd() - send a request of header only (HANDOFF) with @fd
 *  attached; @fd stays ours.  Only when nothing else waits to be sent:
 *  -EAGAIN then, or when the socket is full (send it the other way). */
int helper_send_fd(struct helper *h, uint8_t type, uint32_t id, int fd);
/** helper_fail() - the helper broke the protocol: drop it (from the loop). */
void helper_fail(struct helper *h, const char *why);
/** helper_congested() - the data socket has too much unsent. */
bool helper_congested(const struct helper *h);
/** helpers_queued() - bytes in all helpers' buffers (unsent requests,
 *  unparsed replies and events). */
uint64_t helpers_queued(void);
/** helper_status_all() - send STATUS to every up helper; @done(@ctl, h) is
 *  called as each replies (h NULL: it went down first).  Returns how many
 *  were asked. */
unsigned helper_status_all(uint32_t ctl, void (*done)(uint32_t ctl, struct helper *h));
const char *helper_state_name(const struct helper *h);

#endif
