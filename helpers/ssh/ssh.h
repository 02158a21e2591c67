/* SPDX-License-Identifier: MIT */
/*
 * ssh.h - sockout-ssh internals shared by its files.  Each file calls only
 * the files below it in this list (upward reports go through callbacks
 * given at init), so there is no call circle:
 *
 *   main.c          start-up; wires the layers together
 *   ops.c           the struct sh_ops the helper runtime calls
 *   channel-open.c  opening channels: direct-tcpip for guest connects, the
 *                   channels the server opens to our forwards
 *   channel-data.c  the data path: write, EOF, read, free, one channel step;
 *                   the channels' stepper
 *   channel-hello.c the peer hello: the rendezvous connect header exchange
 *   channel.c       channel bookkeeping: create, link, fail, free
 *   forward.c       gateway listeners: reverse forwards (tcpip-forward), the
 *                   rendezvous forward, the ports peers may connect to;
 *                   the forwards' stepper
 *   pump.c          the pump: drives the steppers that channels and
 *                   forwards register, one control operation at a time,
 *                   repeats a half-sent call first, sets epoll interest
 *   session.c       SSH transport: TCP, handshake, host key, auth,
 *                   reconnect; reports to the pump through hooks
 *   thread.c        a fork-join worker pool: parallel pump rounds
 *   conf.c, rdv.c   the configuration file; TARGET and header codecs
 */
#ifndef SOCKOUT_SSH_H
#define SOCKOUT_SSH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

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
	/* rendezvous-key: set = given (a file, or `none': empty key). */
	bool rdv_key_set;
	uint8_t *rdv_key;
	size_t rdv_key_len;
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
#define RDV_VERSION 2 /* bump when the layout changes */
#define RDV_NONCE 16
#define RDV_MAC 32    /* HMAC-SHA256 */
#define RDV_CHAL_LEN (8 + RDV_NONCE)		/* B -> A first */
#define RDV_REQ_LEN (12 + RDV_NONCE + RDV_MAC)	/* A -> B */
#define RDV_REP_LEN (8 + RDV_MAC)		/* B -> A */
#define RDV_HDR_MAX RDV_REQ_LEN
/* The rendezvous key: a secret shared by the helpers of one gateway;
 * empty for `rendezvous-key none'. */
struct rdv_key {
	const uint8_t *p;
	size_t len;
};
void rdv_chal_encode(uint8_t *p, const uint8_t *nonce_b);
int rdv_chal_decode(const uint8_t *p, size_t len, uint8_t *nonce_b);
int rdv_req_encode(uint8_t *p, uint16_t port, uint16_t rdv_port,
		   const uint8_t *nonce_a, const uint8_t *nonce_b,
		   const struct rdv_key *k);
int rdv_req_decode(const uint8_t *p, size_t len, const uint8_t *nonce_b,
		   const struct rdv_key *k, uint16_t *port, uint16_t *rdv_port,
		   uint8_t *nonce_a);
int rdv_rep_encode(uint8_t *p, int err, const uint8_t *nonce_a,
		   const uint8_t *nonce_b, const struct rdv_key *k);
int rdv_rep_decode(const uint8_t *p, size_t len, const uint8_t *nonce_a,
		   const uint8_t *nonce_b, const struct rdv_key *k, int *err);

/* ---- session.c: the SSH transport ---- */

enum ssh_state { SS_DOWN, SS_TCP, SS_HANDSHAKE, SS_AUTH, SS_UP };

struct ssh_sess;
struct ssh_chan;

/* A libssh2 call site the pump can run again.  The function is the tag:
 * it knows what @obj is (a channel, a forward, nothing). */
typedef int (*ssh_opfn)(struct ssh_sess *s, void *obj);
struct ssh_op {
	ssh_opfn fn; /* NULL: none */
	void *obj;
};

TAILQ_HEAD(ssh_chanq, ssh_chan);

struct ssh_sess {
	int idx;
	enum ssh_state st;
	struct ev ev; /* fd -1 when there is no socket */
	LIBSSH2_SESSION *ls;
	struct timer retry_t; /* reconnect backoff, or login timeout */
	uint64_t backoff_ms;
	int io_err;	      /* first socket error seen by the I/O callbacks */
	bool dead_io;	      /* callbacks fail at once: tearing down */
	struct sockaddr_storage peer_sa; /* the server, for ACCEPTED */
	uint64_t rx_bytes, tx_bytes;
	unsigned ups;
	/* The pump's (pump.c). */
	struct timer kick_t;  /* run the pump soon (outside callbacks) */
	bool in_pump, again;
	bool want_out;	      /* a step waits for socket room (EPOLLOUT) */
	bool drained;	      /* this pass already read the socket dry */
	/* A libssh2 call that left a partly sent packet behind: nothing else
	 * may send on this session until that same call is repeated. */
	struct ssh_op blocked;
	/* The channel open or forward request in flight: these use
	 * session-wide libssh2 state, so there is at most one. */
	struct ssh_op ctl;
	uint64_t half_sent;   /* times a call left a packet half sent */
	/* The channels' (channel*.c). */
	struct ssh_chanq chans;
	unsigned nchans;
	char *rbuf;	      /* channel reads land here (per session: the
			       * sessions' workers read at the same time) */
};

/* What the transport reports upward (the pump fills it in). */
struct ssh_sess_hooks {
	void (*init)(struct ssh_sess *s);	  /* once, before any I/O */
	void (*io)(struct ssh_sess *s);		  /* socket event, past TCP */
	void (*up)(struct ssh_sess *s);		  /* logged in */
	void (*down)(struct ssh_sess *s, int err); /* lost: reset its work */
};

extern struct ssh_conf *ssh_cfg;
extern struct ssh_sess ssh_sessions[SSH_MAX_SESSIONS];

int ssh_sessions_start(const struct ssh_sess_hooks *h);
void ssh_sessions_stop(void);
/** ssh_pick_session() - the session a new channel goes to: the live one
 *  with the fewest channels, else one still logging in; NULL if all are
 *  down (fail fast). */
struct ssh_sess *ssh_pick_session(void);
/** ssh_sess_login_step() - one non-blocking step of the handshake or the
 *  authentication: >0 progress, 0 waiting, else a libssh2 error. */
int ssh_sess_login_step(struct ssh_sess *s);
/** ssh_sess_fail() - tear @s down (every connection on it is reset) and
 *  log in again later. */
void ssh_sess_fail(struct ssh_sess *s, const char *why);
/** ssh_fatal_rc() - is this libssh2 error the end of the session? */
bool ssh_fatal_rc(int rc);
const char *ssh_errmsg(struct ssh_sess *s);

/* ---- pump.c ---- */

/*
 * What channels and forwards register with the pump: the work they do in
 * each pass on a session that is up.  Steppers run in the order they were
 * registered; every member may be NULL.
 */
struct ssh_stepper {
	/** Choose the next control operation for @s (a channel open, a
	 *  forward request); fill @op and return true, or false. */
	bool (*pick_ctl)(struct ssh_sess *s, struct ssh_op *op);
	/** One pass: >0 if anything moved, 0 if idle, -EAGAIN if blocked on
	 *  a half-sent packet, or a fatal libssh2 rc. */
	int (*step)(struct ssh_sess *s);
	/** Will step() read @s's socket?  When nothing would, EPOLLIN must
	 *  be off or unread bytes would wake the loop forever. */
	bool (*wants_input)(const struct ssh_sess *s);
	/** Has @s guest bytes queued to send? */
	bool (*has_output)(const struct ssh_sess *s);
	/** @s is gone: fail what it carried (libssh2 frees its objects). */
	void (*down)(struct ssh_sess *s, int err);
};

extern const struct ssh_sess_hooks ssh_pump_hooks;
/** ssh_pump_register() - add @st to every session's passes. */
void ssh_pump_register(const struct ssh_stepper *st);
/** ssh_pump_start()/ssh_pump_stop() - the workers and the sessions. */
int ssh_pump_start(void);
void ssh_pump_stop(void);
void ssh_kick(struct ssh_sess *s);
void ssh_pump(struct ssh_sess *s);
/** ssh_op_blocked() - after a libssh2 EAGAIN: if a packet is half sent,
 *  remember (@fn, @obj) as the call to repeat first and return -EAGAIN;
 *  else 0 (just waiting for the peer). */
int ssh_op_blocked(struct ssh_sess *s, ssh_opfn fn, void *obj);
/** ssh_ctl_done() - the control operation in flight has finished. */
void ssh_ctl_done(struct ssh_sess *s);
/** ssh_ctl_holds() - is @obj @s's control operation in flight?  Then it
 *  must stay allocated until that operation finishes. */
bool ssh_ctl_holds(const struct ssh_sess *s, const void *obj);

/* ---- thread.c ---- */
#define SSH_RBUF (256 * 1024)
extern uint64_t ssh_mt_rounds; /* parallel rounds run */
/** ssh_mt_start() - one worker thread per session when there are two or
 *  more; @work is what a worker runs in a round. */
int ssh_mt_start(unsigned n, void (*work)(struct ssh_sess *s));
void ssh_mt_stop(void);
/** ssh_mt_busy() - is a parallel round running? */
bool ssh_mt_busy(void);
/** ssh_mt_unlock()/ssh_mt_relock() - around a libssh2 data call: lets the
 *  other sessions' workers run meanwhile (no-ops on the main thread). */
void ssh_mt_unlock(void);
void ssh_mt_relock(void);
/** ssh_mt_round() - run work() for the sessions @v at once, one per
 *  worker; returns when all are done.  False if there are no workers. */
bool ssh_mt_round(struct ssh_sess **v, unsigned n);

/* ---- forward.c ---- */
extern uint64_t ssh_fwd_accepted;
/** The server opened @lc to one of our forwards: @peer for the
 *  rendezvous, else @l is the guest listener (NULL: gone, close it).
 *  Returns 0 or -ENOMEM (then @lc is left to libssh2). */
typedef int (*ssh_incoming_fn)(struct ssh_sess *s, LIBSSH2_CHANNEL *lc,
			       const char *host, uint16_t port,
			       struct sh_listener *l, bool peer);
/** ssh_fwd_init() - register the forwards' stepper and the `rendezvous'
 *  forward, if any; incoming channels go to @incoming. */
int ssh_fwd_init(ssh_incoming_fn incoming);
int ssh_fwd_listen(struct sh_listener *l);
void ssh_fwd_unlisten(struct sh_listener *l);
/** ssh_fwd_find_listener() - the guest listener peers may reach on @port. */
struct sh_listener *ssh_fwd_find_listener(uint16_t port);
unsigned ssh_fwd_count_up(void);

/* ---- channel*.c and ops.c ---- */
extern const struct sh_ops ssh_ops;
/** ssh_chan_init() - register the channels' stepper. */
void ssh_chan_init(void);
/** ssh_chan_incoming() - an ssh_incoming_fn: a channel for @lc. */
int ssh_chan_incoming(struct ssh_sess *s, LIBSSH2_CHANNEL *lc,
		      const char *host, uint16_t port, struct sh_listener *l,
		      bool peer);

#endif
