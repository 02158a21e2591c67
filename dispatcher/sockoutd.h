/* SPDX-License-Identifier: MIT */
/*
 * sockoutd.h - what the parts of the dispatcher share.
 *
 *   main.c     start-up, signals, reload, systemd notification
 *   table.c    configuration and the dispatch table
 *   guest.c    guest socket: one request per connection, replies with fds
 *   direct.c   the `direct' route: host connects handed to the guest
 *   listen.c   guest listeners: seqpacket to the guest, host listeners,
 *              the (netns, port) table for guest-internal loopback
 *   pair.c     connected TCP socket pairs on 127.0.0.1
 *   helper-link.c  connections to helpers (data + event sockets, redial)
 *   relay.c    relayed connections: guest TCP end <-> helper protocol
 *   control.c  control socket (JSON lines) for sockoutctl
 */
#ifndef SOCKOUT_SOCKOUTD_H
#define SOCKOUT_SOCKOUTD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../common/buf.h"
#include "../common/loop.h"
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

/* ratelimit() - true at most once per 10 s per @last: for warnings that a
 * fault could otherwise repeat every few milliseconds. */
static inline bool ratelimit(uint64_t *last)
{
	if (*last && now_ms() - *last < 10000)
		return false;
	*last = now_ms();
	return true;
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
};
extern struct stats stats;

/**
 * reload_config() - reparse the configuration and swap the table.
 * @errors: set to a malloc'ed error text when the new file is broken
 *          (the old table keeps running); NULL on success
 * Returns 0 or -EINVAL.
 */
int reload_config(char **errors);

/* ---- pair.c ---- */
struct pair_req;
typedef void (*pair_cb)(struct pair_req *p, int guest_fd, int keep_fd);

struct pair_req {
	int cfd;	 /* connecting end, becomes the guest's end */
	uint16_t port;	 /* its local port: how the accepted end is matched */
	pair_cb done;	 /* called from the loop; fds are -1 on failure */
	struct pair_req *next;
};

int pair_init(void);
void pair_shutdown(void);
/** pair_start() - begin a pair; @done is called later, never inside. */
int pair_start(struct pair_req *p, pair_cb done);
void pair_cancel(struct pair_req *p);
bool pair_pending(const struct pair_req *p);

/* ---- guest.c ---- */
struct greq;
struct rconn;
struct glisten;

int guest_init(const char *path, mode_t mode);
void guest_shutdown(void);
/**
 * greq_reply() - answer a guest request and free it.
 * @status: 0 or an errno for the guest
 * @fd:     descriptor to pass (SCM_RIGHTS) or -1; closed here either way
 */
void greq_reply(struct greq *g, int status, const struct so_addr *local,
		const struct so_addr *peer, int fd);
const struct gp_req *greq_req(const struct greq *g);
/** greq_set_rconn()/greq_rconn_gone() - the relay connection @g waits on. */
void greq_set_rconn(struct greq *g, struct rconn *c);
void greq_rconn_gone(struct greq *g);
void greq_glisten_gone(struct greq *g);
void guest_foreach_pending(void (*fn)(struct greq *g, void *arg), void *arg);
const char *greq_state(const struct greq *g);
unsigned guest_pending_count(void);

/* ---- direct.c ---- */
/** direct_connect() - start a host connect for @g to @dst; 0 or -errno. */
int direct_connect(struct greq *g, const struct so_addr *dst, int *hostfd);
int direct_finish(int fd);

/* ---- listen.c ---- */
enum glisten_kind { GL_DIRECT, GL_HELPER };

struct glisten {
	struct ev sev;	     /* our end of the guest's seqpacket */
	struct ev lev;	     /* GL_DIRECT: the host listener */
	struct timer pause;  /* out of descriptors: accept again later */
	int guest_end;	     /* the guest's end until the reply passes it */
	int held_fd;	     /* accepted, waiting for room on the seqpacket */
	struct so_addr held_peer;
	struct so_addr bound; /* what the guest bound: its local address */
	struct so_addr host;  /* GL_DIRECT: host listener address */
	uint64_t netns;
	uint32_t pid;
	uint32_t backlog;
	uint32_t id;	    /* GL_HELPER: listener id */
	uint8_t kind;
	bool in_table;
	bool paused_logged;
	struct helper *h;   /* GL_HELPER */
	struct greq *greq;  /* GL_HELPER: waiting for the LISTEN reply */
	uint64_t accepted;
	struct glisten *tnext; /* (netns, port) table chain */
	struct glisten *hnext, *hprev; /* helper's listeners */
	struct glisten *next, *prev;   /* all listeners */
};

int glisten_new(const struct gp_req *req, struct glisten **out);
int glisten_direct(struct glisten *l, const struct so_addr *host, bool v6only);
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

/* ---- helper-link.c ---- */
enum helper_state { H_DOWN, H_CONNECTING, H_UP };

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
	struct timer redial;
	struct timer kill;
	uint64_t backoff_ms;
	char *status_json;    /* last STATUS reply */
	unsigned nconns;
	uint64_t total_conns;
	struct rconn *conns;
	struct glisten *listeners;
	struct rconn *blocked; /* waiting for the data socket to drain */
	struct helper *next;
};

extern struct helper *helpers;

/** helpers_apply() - dial new helpers, drop removed ones (reload). */
void helpers_apply(const struct dconf *c);
void helpers_shutdown(void);
struct helper *helper_find(const char *name);
/** helper_send() - queue a request and remember it in the FIFO.
 *  Returns 0 or -errno (the helper is then being dropped). */
int helper_send(struct helper *h, uint8_t type, uint32_t id, uint32_t arg,
		const void *p, size_t len);
/** helper_fail() - the helper broke the protocol: drop it (from the loop). */
void helper_fail(struct helper *h, const char *why);
/** helper_congested() - the data socket has too much unsent. */
bool helper_congested(const struct helper *h);
/** helper_status_all() - send STATUS to every up helper; @ctl is echoed
 *  to control_status_done() as each replies.  Returns how many asked. */
unsigned helper_status_all(uint32_t ctl);
const char *helper_state_name(const struct helper *h);

/* ---- relay.c ---- */
struct rconn;
/** relay_connect() - SO_CONNECT through @h for @g; 0 or -errno. */
int relay_connect(struct helper *h, struct greq *g, const struct so_addr *dst,
		  const char *target);
void relay_cancel(struct rconn *c);
/* called by helper-link.c */
void relay_reply(struct helper *h, const struct hreq *q,
		 const struct so_hdr *hd, const uint8_t *p);
void relay_event(struct helper *h, const struct so_hdr *hd, const uint8_t *p);
void relay_helper_down(struct helper *h);
void relay_unblock(struct helper *h);
/* listeners through a helper */
int relay_listen(struct helper *h, struct glisten *l, const char *target);
void relay_unlisten(struct glisten *l);
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
};
void rconn_info(const struct rconn *c, struct rconn_info *i);

/* ---- control.c ---- */
int control_init(const char *path);
void control_shutdown(void);
void control_status_done(uint32_t ctl, struct helper *h);

#endif
