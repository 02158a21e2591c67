/* SPDX-License-Identifier: MIT */
/*
 * ssh.h - sockout-ssh internals shared by its files:
 *   conf.c     the configuration file
 *   rdv.c      the helper-to-helper connect header (guest to guest)
 *   session.c  SSH sessions: TCP, handshake, host key, auth, reconnect, and
 *              the pump that drives non-blocking libssh2 from the one loop
 *   channel.c  channels: forward (direct-tcpip), accepted and peer
 *              channels, the data path; the struct sh_ops the runtime calls
 *   forward.c  gateway listeners: reverse forwards (tcpip-forward), the
 *              rendezvous forward, the ports peers may connect to
 *   thread.c   one worker thread per session: parallel pump rounds
 *   main.c     start-up
 */
#ifndef SOCKOUT_SSH_H
#define SOCKOUT_SSH_H

#include <stdbool.h>
#include <stdint.h>

#include <libssh2.h>

#include "common/buf.h"
#include "common/conf.h"
#include "common/loop.h"
#include "protocol/helper-runtime.h"

#define SSH_MAX_SESSIONS 16
#define SSH_HOSTLEN 256

struct ssh_conf {
	char *data_socket, *event_socket;
	char server_host[SSH_HOSTLEN];
	uint16_t server_port;
	char *user, *identity, *identity_pub, *passphrase_file, *known_hosts;
	char *ciphers, *macs, *kex, *hostkeys;
	uint64_t keepalive_ms;	      /* 0: off */
	uint64_t reconnect_min_ms, reconnect_max_ms;
	uint64_t connect_timeout_ms;  /* SSH login, and one channel open */
	uint64_t peer_timeout_ms;     /* rendezvous answer */
	unsigned sessions;
	bool rendezvous;
	char rdv_host[SSH_HOSTLEN];
	uint16_t rdv_port;
	uint32_t window;
	char *listen_address;	      /* default bind address of reverse forwards */
};

/* conf.c */
void ssh_conf_defaults(struct ssh_conf *c);
/** ssh_conf_load() - parse @path into @c; all errors collected in @e.
 *  Returns the error count. */
int ssh_conf_load(const char *path, struct ssh_conf *c, struct conf_errors *e);
void ssh_conf_free(struct ssh_conf *c);
/** ssh_algo_check() - NULL if the algorithm @list for key @what is
 *  acceptable, else the reason it is not. */
const char *ssh_algo_check(const char *what, const char *list);

/* A rule's TARGET, parsed (rdv.c). */
enum ssh_target_kind { TGT_DEFAULT, TGT_HOSTPORT, TGT_PEER, TGT_PEER_ONLY };
struct ssh_target {
	enum ssh_target_kind kind;
	char host[SSH_HOSTLEN]; /* "" = not given */
	uint16_t port;		/* 0 = not given */
	uint16_t peer_port;	/* TGT_PEER: "port P", 0 = the guest's port */
};
int ssh_target_parse(const char *s, struct ssh_target *t);

/* Helper-to-helper connect header (rdv.c); see docs/ssh.md. */
#define RDV_LEN 8
#define RDV_VERSION 1 /* bump when the layout changes */
void rdv_req_encode(uint8_t *p, uint16_t port);
int rdv_req_decode(const uint8_t *p, size_t len, uint16_t *port);
void rdv_rep_encode(uint8_t *p, int err);
int rdv_rep_decode(const uint8_t *p, size_t len, int *err);

/* session.c */
enum ssh_state { SS_DOWN, SS_TCP, SS_HANDSHAKE, SS_AUTH, SS_UP };

struct ssh_chan;
struct ssh_fwd;
struct ssh_sess;
typedef int (*ssh_opfn)(struct ssh_sess *s, void *obj);

struct ssh_sess {
	int idx;
	enum ssh_state st;
	struct ev ev; /* fd -1 when there is no socket */
	LIBSSH2_SESSION *ls;
	struct timer retry_t; /* reconnect backoff, or login timeout */
	struct timer kick_t;  /* run the pump soon (outside callbacks) */
	uint64_t backoff_ms;
	int io_err;	      /* first socket error seen by the I/O callbacks */
	bool dead_io;	      /* callbacks fail at once: tearing down */
	bool in_pump, again;
	bool want_out;	      /* a step waits for socket room (EPOLLOUT) */
	bool drained;	      /* this pass already read the socket dry */
	/* A libssh2 call that left a partly sent packet behind: nothing else
	 * may send on this session until that same call is repeated. */
	ssh_opfn blocked_fn;
	void *blocked_obj;
	void *ctl_busy;	      /* the channel open / forward request in flight */
	int ctl_kind;	      /* what ctl_busy points to (channel.c) */
	struct ssh_chan *chans, *chans_tail;
	unsigned nchans;
	struct sockaddr_storage peer_sa; /* the server, for ACCEPTED */
	uint64_t rx_bytes, tx_bytes;
	uint64_t half_sent;   /* times a call left a packet half sent */
	unsigned ups;
	char *rbuf;	      /* channel reads land here (per session: the
			       * sessions' workers read at the same time) */
};

extern struct ssh_conf *ssh_cfg;
extern struct ssh_sess ssh_sessions[SSH_MAX_SESSIONS];

int ssh_sessions_start(void);
void ssh_sessions_stop(void);
/** ssh_pick_session() - the session a new channel goes to: the live one
 *  with the fewest channels, else one still logging in; NULL if all are
 *  down (fail fast). */
struct ssh_sess *ssh_pick_session(void);
void ssh_kick(struct ssh_sess *s);
void ssh_pump(struct ssh_sess *s);
/** ssh_pump_passes() - the pump's libssh2 work, on any thread; returns
 *  its result and, in @pass, the passes it made. */
int ssh_pump_passes(struct ssh_sess *s, int *pass);
/** ssh_pump_finish() - the pump's ending on the main thread: teardown
 *  after an error, epoll interest. */
void ssh_pump_finish(struct ssh_sess *s, int r, int pass);
/** ssh_op_blocked() - after a libssh2 EAGAIN: if a packet is half sent,
 *  remember (@fn, @obj) as the call to repeat first and return -EAGAIN;
 *  else 0 (just waiting for the peer). */
int ssh_op_blocked(struct ssh_sess *s, ssh_opfn fn, void *obj);
/** ssh_fatal_rc() - is this libssh2 error the end of the session? */
bool ssh_fatal_rc(int rc);
const char *ssh_errmsg(struct ssh_sess *s);

/* channel.c */
extern const struct sh_ops ssh_ops;
/** ssh_chan_steps() - one pass over @s's channels and forwards: opens,
 *  accepts, writes, reads, closes.  Returns >0 if anything moved, 0 if
 *  idle, -EAGAIN if blocked on a half-sent packet, or a fatal libssh2 rc. */
int ssh_chan_steps(struct ssh_sess *s);
/** ssh_chan_session_down() - reset every connection @s carried and drop
 *  its channel state (libssh2 frees the channels with the session). */
void ssh_chan_session_down(struct ssh_sess *s, int err);
/** ssh_chan_wants_input() - will the next pump read @s's socket?  When
 *  nothing would (no channel or forward needs it), EPOLLIN must be off or
 *  unread bytes would wake the loop forever. */
bool ssh_chan_wants_input(const struct ssh_sess *s);
/** ssh_chan_has_output() - has @s guest bytes queued for a channel? */
bool ssh_chan_has_output(const struct ssh_sess *s);
/** ssh_chan_session_up() - @s logged in: re-request forwards. */
void ssh_chan_session_up(struct ssh_sess *s);
/** ssh_ctl_step() - run (or start) @s's one channel open or forward
 *  request in flight; also the call repeated after a half-sent packet. */
int ssh_ctl_step(struct ssh_sess *s, void *obj);
/** ssh_chan_incoming() - the server opened @lc to one of our forwards:
 *  @peer for the rendezvous, else @l is the guest listener (NULL: gone,
 *  close it).  Returns 0 or -ENOMEM (then @lc is left to libssh2). */
int ssh_chan_incoming(struct ssh_sess *s, LIBSSH2_CHANNEL *lc,
		      const char *host, uint16_t port, struct sh_listener *l,
		      bool peer);

/* thread.c */
#define SSH_RBUF (256 * 1024)
extern uint64_t ssh_mt_rounds; /* parallel rounds run */
int ssh_mt_start(void);
void ssh_mt_stop(void);
/** ssh_mt_busy() - is a parallel pump round running? */
bool ssh_mt_busy(void);
/** ssh_mt_unlock()/ssh_mt_relock() - around a libssh2 data call: lets the
 *  other sessions' workers run meanwhile (no-ops on the main thread). */
void ssh_mt_unlock(void);
void ssh_mt_relock(void);
/** ssh_pump_round() - pump the sessions @v at once, one per worker. */
void ssh_pump_round(struct ssh_sess **v, unsigned n);
/* The runtime's sh_*() calls the pump makes, always run on the main
 * thread (protocol/helper-runtime.h is single-threaded). */
void rt_reset(struct sh_conn *c, int err);
void rt_connect_failed(struct sh_conn *c, int err);
void rt_output_taken(struct sh_conn *c);
void rt_connected(struct sh_conn *c, const struct so_addrpair *a);
struct sh_conn *rt_accepted(struct sh_listener *l,
			    const struct so_addrpair *a);
size_t rt_input_room(struct sh_conn *c);
size_t rt_deliver(struct sh_conn *c, const void *p, size_t n);
void rt_eof(struct sh_conn *c);
void rt_listen_failed(struct sh_listener *l, int err);

/* forward.c */
enum { CTL_NONE, CTL_OPEN, CTL_LISTEN, CTL_CANCEL }; /* s->ctl_kind */
extern uint64_t ssh_fwd_accepted;
/** ssh_rendezvous_init() - register the `rendezvous' forward, if any. */
int ssh_rendezvous_init(void);
int ssh_op_listen(struct sh_listener *l);
void ssh_op_unlisten(struct sh_listener *l);
/** ssh_fwd_find_listener() - the guest listener peers may reach on @port. */
struct sh_listener *ssh_fwd_find_listener(uint16_t port);
/** ssh_fwd_pick_ctl() - make a due forward request or cancel @s's
 *  control operation (sets s->ctl_busy/ctl_kind), if there is one. */
void ssh_fwd_pick_ctl(struct ssh_sess *s);
int ssh_fwd_ctl(struct ssh_sess *s);
/** ssh_fwd_accepts() - take the channels the server opened to our
 *  forwards.  Returns >0 if any, 0, or a fatal libssh2 rc / -EAGAIN. */
int ssh_fwd_accepts(struct ssh_sess *s);
bool ssh_fwd_wants_input(void);
void ssh_fwd_session_down(void);
unsigned ssh_fwd_count_up(void);

#endif
