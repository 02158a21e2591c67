// SPDX-License-Identifier: MIT
/*
 * session.c - the SSH transport of sockout-ssh: TCP connect, handshake,
 * host key check, public-key authentication, teardown and reconnect with
 * backoff.
 *
 * Each of the `sessions N` SSH sessions is a state machine DOWN -> TCP ->
 * HANDSHAKE -> AUTH -> UP, run from the one epoll loop with libssh2 in
 * non-blocking mode.  This file makes the TCP connection and the libssh2
 * session; the pump (pump.c) drives it from then on, calling
 * ssh_sess_login_step() until it is up, and ssh_sess_fail() when it
 * breaks.  What happens here is reported upward through the hooks given
 * at start-up (socket events, logged in, lost), so this file calls
 * nothing above it.
 *
 * libssh2_keepalive_send() is not used: it sends from a stack buffer and
 * forgets an EAGAIN, which would wedge the session (a half-sent packet
 * must be repeated by the same call; see pump.c).  Dead links are found
 * by TCP keepalive plus TCP_USER_TIMEOUT instead, and by any socket error
 * the I/O callbacks see.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/daemon.h"
#include "common/log.h"
#include "common/net.h"
#include "ssh.h"

struct ssh_conf *ssh_cfg;
struct ssh_sess ssh_sessions[SSH_MAX_SESSIONS];

static const struct ssh_sess_hooks *hooks;

static void sess_connect(struct ssh_sess *s);
static void sess_down(struct ssh_sess *s, const char *why);

/* ---- I/O callbacks: count bytes, remember the first real error ---- */

/* What libssh2 wants back from a socket call: the count, -EAGAIN to wait,
 * or -errno; the first real error is kept (a closed stream is one). */
static ssize_t io_result(struct ssh_sess *s, ssize_t n, uint64_t *bytes)
{
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return -EAGAIN;
		if (!s->io_err)
			s->io_err = errno;
		return -errno;
	}
	*bytes += (uint64_t)n;
	return n;
}

static ssize_t recv_cb(libssh2_socket_t fd, void *p, size_t len, int flags,
		       void **abstract)
{
	struct ssh_sess *s = *abstract;

	if (s->dead_io)
		return -ECONNRESET;
	ssize_t n = recv(fd, p, len, flags);
	if (n == 0 && !s->io_err)
		s->io_err = ECONNRESET; /* the server closed the TCP stream */
	return io_result(s, n, &s->rx_bytes);
}

static ssize_t send_cb(libssh2_socket_t fd, const void *p, size_t len,
		       int flags, void **abstract)
{
	struct ssh_sess *s = *abstract;

	if (s->dead_io)
		return -ECONNRESET;
	return io_result(s, send(fd, p, len, flags | MSG_NOSIGNAL),
			 &s->tx_bytes);
}

/* ---- libssh2 errors ---- */

bool ssh_fatal_rc(int rc)
{
	switch (rc) {
	case LIBSSH2_ERROR_SOCKET_NONE:
	case LIBSSH2_ERROR_BANNER_RECV:
	case LIBSSH2_ERROR_BANNER_SEND:
	case LIBSSH2_ERROR_INVALID_MAC:
	case LIBSSH2_ERROR_KEX_FAILURE:
	case LIBSSH2_ERROR_ALLOC:
	case LIBSSH2_ERROR_SOCKET_SEND:
	case LIBSSH2_ERROR_KEY_EXCHANGE_FAILURE:
	case LIBSSH2_ERROR_TIMEOUT:
	case LIBSSH2_ERROR_DECRYPT:
	case LIBSSH2_ERROR_SOCKET_DISCONNECT:
	case LIBSSH2_ERROR_PROTO:
	case LIBSSH2_ERROR_SOCKET_TIMEOUT:
	case LIBSSH2_ERROR_SOCKET_RECV:
	case LIBSSH2_ERROR_ENCRYPT:
	case LIBSSH2_ERROR_BAD_SOCKET:
		return true;
	default:
		return false;
	}
}

const char *ssh_errmsg(struct ssh_sess *s)
{
	char *msg = NULL;

	if (!s->ls)
		return "no session";
	libssh2_session_last_error(s->ls, &msg, NULL, 0);
	return msg ? msg : "?";
}

struct ssh_sess *ssh_pick_session(void)
{
	struct ssh_sess *best = NULL, *pending = NULL;

	for (unsigned i = 0; i < ssh_cfg->sessions; i++) {
		struct ssh_sess *s = &ssh_sessions[i];
		if (s->st == SS_UP) {
			if (!best || s->nchans < best->nchans)
				best = s;
		} else if (s->st != SS_DOWN && !pending) {
			pending = s;
		}
	}
	return best ? best : pending;
}

/* ---- host key ---- */

static void b64(const uint8_t *in, size_t n, char *out)
{
	static const char t[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | in[i + 1] << 8 | in[i + 2];
		out[o++] = t[v >> 18];
		out[o++] = t[(v >> 12) & 63];
		out[o++] = t[(v >> 6) & 63];
		out[o++] = t[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = t[v >> 18];
		out[o++] = t[(v >> 12) & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | in[i + 1] << 8;
		out[o++] = t[v >> 18];
		out[o++] = t[(v >> 12) & 63];
		out[o++] = t[(v >> 6) & 63];
	}
	out[o] = '\0'; /* OpenSSH prints fingerprints without padding */
}

/* Returns 0 if the server's key is in known-hosts, else -EPERM (logged). */
static int check_hostkey(struct ssh_sess *s)
{
	const struct ssh_conf *c = ssh_cfg;
	size_t len = 0;
	int type = 0, kt, r = -EPERM;
	const char *key = libssh2_session_hostkey(s->ls, &len, &type);
	const char *h = libssh2_hostkey_hash(s->ls, LIBSSH2_HOSTKEY_HASH_SHA256);
	char fp[64] = "?";
	char name[SSH_HOSTLEN + 8];
	LIBSSH2_KNOWNHOSTS *kh;

	if (h)
		b64((const uint8_t *)h, 32, fp);
	if (c->server_port == 22)
		snprintf(name, sizeof(name), "%s", c->server_host);
	else
		snprintf(name, sizeof(name), "[%s]:%u", c->server_host,
			 c->server_port);
	switch (type) {
	case LIBSSH2_HOSTKEY_TYPE_RSA: kt = LIBSSH2_KNOWNHOST_KEY_SSHRSA; break;
	case LIBSSH2_HOSTKEY_TYPE_DSS: kt = LIBSSH2_KNOWNHOST_KEY_SSHDSS; break;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: kt = LIBSSH2_KNOWNHOST_KEY_ECDSA_256; break;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: kt = LIBSSH2_KNOWNHOST_KEY_ECDSA_384; break;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: kt = LIBSSH2_KNOWNHOST_KEY_ECDSA_521; break;
	case LIBSSH2_HOSTKEY_TYPE_ED25519: kt = LIBSSH2_KNOWNHOST_KEY_ED25519; break;
	default:
		err("host key of %s has an unknown type; refusing", name);
		return -EPERM;
	}
	if (!key) {
		err("server %s sent no host key; refusing", name);
		return -EPERM;
	}
	kh = libssh2_knownhost_init(s->ls);
	if (!kh)
		return -ENOMEM;
	/* Read every time: an edited known-hosts applies at the next login. */
	if (libssh2_knownhost_readfile(kh, c->known_hosts,
				       LIBSSH2_KNOWNHOST_FILE_OPENSSH) < 0) {
		err("cannot read known-hosts %s: %s; refusing (host key "
		    "cannot be verified)",
		    c->known_hosts, ssh_errmsg(s));
		goto out;
	}
	switch (libssh2_knownhost_checkp(kh, c->server_host, c->server_port,
					 key, len,
					 LIBSSH2_KNOWNHOST_TYPE_PLAIN |
						 LIBSSH2_KNOWNHOST_KEYENC_RAW |
						 kt,
					 NULL)) {
	case LIBSSH2_KNOWNHOST_CHECK_MATCH:
		debug("host key of %s is known: SHA256:%s", name, fp);
		r = 0;
		break;
	case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
		err("host key of %s does NOT match known-hosts %s (server "
		    "offers SHA256:%s): someone may be in the middle; refusing",
		    name, c->known_hosts, fp);
		break;
	case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
		err("host key of %s is not in known-hosts %s (server offers "
		    "SHA256:%s); refusing",
		    name, c->known_hosts, fp);
		break;
	default:
		err("host key of %s could not be checked: %s; refusing", name,
		    ssh_errmsg(s));
		break;
	}
out:
	libssh2_knownhost_free(kh);
	return r;
}

/* ---- login ---- */

static char *read_passphrase(void)
{
	char *line = NULL;
	size_t cap = 0;
	FILE *f;

	if (!ssh_cfg->passphrase_file)
		return NULL;
	f = fopen(ssh_cfg->passphrase_file, "re");
	if (!f)
		return NULL;
	if (getline(&line, &cap, f) < 0) {
		free(line);
		line = NULL;
	} else {
		line[strcspn(line, "\r\n")] = '\0';
	}
	fclose(f);
	return line;
}

static int step_handshake(struct ssh_sess *s)
{
	int r = libssh2_session_handshake(s->ls, s->ev.fd);

	if (r == LIBSSH2_ERROR_EAGAIN)
		return 0;
	if (r) {
		warn("session %d: SSH handshake with %s failed: %s", s->idx,
		     ssh_cfg->server_host, ssh_errmsg(s));
		return r;
	}
	if (check_hostkey(s) < 0)
		return LIBSSH2_ERROR_KEX_FAILURE;
	s->st = SS_AUTH;
	return 1;
}

static int step_auth(struct ssh_sess *s)
{
	const struct ssh_conf *c = ssh_cfg;
	char pubbuf[4096];
	const char *pub = c->identity_pub;
	char *pass;
	int r;

	if (!pub) {
		snprintf(pubbuf, sizeof(pubbuf), "%s.pub", c->identity);
		if (access(pubbuf, R_OK) == 0)
			pub = pubbuf;
	}
	pass = read_passphrase();
	r = libssh2_userauth_publickey_fromfile_ex(
		s->ls, c->user, (unsigned)strlen(c->user), pub, c->identity,
		pass);
	if (pass) {
		explicit_bzero(pass, strlen(pass));
		free(pass);
	}
	if (r == LIBSSH2_ERROR_EAGAIN)
		return 0;
	if (r) {
		err("session %d: public key authentication as %s with %s "
		    "failed: %s",
		    s->idx, c->user, c->identity, ssh_errmsg(s));
		return r;
	}
	s->st = SS_UP;
	s->backoff_ms = 0;
	s->ups++;
	timer_cancel(&s->retry_t);
	info("session %d: logged in to %s:%u as %s", s->idx, c->server_host,
	     c->server_port, c->user);
	hooks->up(s);
	return 1;
}

int ssh_sess_login_step(struct ssh_sess *s)
{
	switch (s->st) {
	case SS_HANDSHAKE: return step_handshake(s);
	case SS_AUTH: return step_auth(s);
	default: return 0;
	}
}

void ssh_sess_fail(struct ssh_sess *s, const char *why)
{
	sess_down(s, why);
}

/* ---- connection management ---- */

static void sess_cb(struct ev *ev, uint32_t events)
{
	struct ssh_sess *s = container_of(ev, struct ssh_sess, ev);

	if (s->st == SS_TCP) {
		int e = 0;
		socklen_t l = sizeof(e);
		if (getsockopt(ev->fd, SOL_SOCKET, SO_ERROR, &e, &l) < 0)
			e = errno;
		if (e) {
			s->io_err = e;
			sess_down(s, strerror(e));
			return;
		}
		s->ls = libssh2_session_init_ex(NULL, NULL, NULL, s);
		if (!s->ls) {
			sess_down(s, "out of memory");
			return;
		}
		libssh2_session_callback_set(s->ls, LIBSSH2_CALLBACK_RECV,
					     (void *)recv_cb);
		libssh2_session_callback_set(s->ls, LIBSSH2_CALLBACK_SEND,
					     (void *)send_cb);
		if (libssh2_session_method_pref(s->ls, LIBSSH2_METHOD_CRYPT_CS,
						ssh_cfg->ciphers) ||
		    libssh2_session_method_pref(s->ls, LIBSSH2_METHOD_CRYPT_SC,
						ssh_cfg->ciphers) ||
		    libssh2_session_method_pref(s->ls, LIBSSH2_METHOD_MAC_CS,
						ssh_cfg->macs) ||
		    libssh2_session_method_pref(s->ls, LIBSSH2_METHOD_MAC_SC,
						ssh_cfg->macs) ||
		    libssh2_session_method_pref(s->ls, LIBSSH2_METHOD_KEX,
						ssh_cfg->kex) ||
		    libssh2_session_method_pref(s->ls, LIBSSH2_METHOD_HOSTKEY,
						ssh_cfg->hostkeys)) {
			err("session %d: libssh2 rejects the algorithm lists: "
			    "%s",
			    s->idx, ssh_errmsg(s));
			sess_down(s, "bad algorithm configuration");
			return;
		}
		libssh2_session_set_blocking(s->ls, 0);
		s->st = SS_HANDSHAKE;
	}
	hooks->io(s);
	if (s->st != SS_DOWN && (events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) &&
	    !(events & EPOLLIN))
		sess_down(s, "connection closed by the server");
}

static void tune_socket(int fd)
{
	int one = 1;
	uint64_t k = ssh_cfg->keepalive_ms;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (!k)
		return;
	int secs = (int)(k / 1000);
	/* Unacknowledged data for 4 keepalive periods also means the link
	 * is dead. */
	net_tcp_liveness(fd, secs, secs, 3, (unsigned)(k * 4));
}

static void retry_cb(struct timer *t)
{
	struct ssh_sess *s = container_of(t, struct ssh_sess, retry_t);

	if (s->st == SS_DOWN)
		sess_connect(s);
	else if (s->st != SS_UP)
		sess_down(s, "login timed out");
}

static void sess_connect(struct ssh_sess *s)
{
	const struct ssh_conf *c = ssh_cfg;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	char port[8];
	int fd = -1, r;

	snprintf(port, sizeof(port), "%u", c->server_port);
	/* A blocking lookup; numeric addresses or /etc/hosts are instant. */
	r = getaddrinfo(c->server_host, port, &hints, &ai);
	if (r) {
		warn("session %d: cannot resolve %s: %s", s->idx,
		     c->server_host, gai_strerror(r));
		goto fail;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		goto fail;
	tune_socket(fd);
	memcpy(&s->peer_sa, ai->ai_addr, ai->ai_addrlen);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 &&
	    errno != EINPROGRESS) {
		warn("session %d: connect to %s:%u: %s", s->idx,
		     c->server_host, c->server_port, strerror(errno));
		goto fail;
	}
	freeaddrinfo(ai);
	if (ev_add(&s->ev, fd, EPOLLOUT, sess_cb) < 0) {
		close(fd);
		s->ev.fd = -1;
		goto retry;
	}
	s->st = SS_TCP;
	s->io_err = 0;
	s->dead_io = false;
	timer_set(&s->retry_t, c->connect_timeout_ms);
	debug("session %d: connecting to %s:%u", s->idx, c->server_host,
	      c->server_port);
	return;
fail:
	if (ai)
		freeaddrinfo(ai);
	if (fd >= 0)
		close(fd);
retry:
	s->st = SS_DOWN;
	s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : c->reconnect_min_ms;
	if (s->backoff_ms > c->reconnect_max_ms)
		s->backoff_ms = c->reconnect_max_ms;
	timer_set(&s->retry_t, s->backoff_ms);
}

/* Tear the session down; every connection on it is reset. */
static void sess_down(struct ssh_sess *s, const char *why)
{
	const struct ssh_conf *c = ssh_cfg;
	enum ssh_state was = s->st;

	s->st = SS_DOWN;
	hooks->down(s, ENETUNREACH);
	if (s->ls) {
		/* The link is gone or unusable: make every send and receive
		 * fail at once so freeing cannot wait for the server. */
		s->dead_io = true;
		for (int i = 0; i < 100; i++)
			if (libssh2_session_free(s->ls) != LIBSSH2_ERROR_EAGAIN)
				break;
		s->ls = NULL;
	}
	if (s->ev.fd >= 0) {
		int fd = s->ev.fd;
		ev_del(&s->ev);
		close(fd);
		s->ev.fd = -1;
	}
	s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : c->reconnect_min_ms;
	if (s->backoff_ms > c->reconnect_max_ms)
		s->backoff_ms = c->reconnect_max_ms;
	if (daemon_stopping())
		return;
	if (was == SS_UP)
		warn("session %d to %s:%u lost: %s; reconnecting in %llu ms",
		     s->idx, c->server_host, c->server_port, why,
		     (unsigned long long)s->backoff_ms);
	else
		warn("session %d to %s:%u failed: %s; retrying in %llu ms",
		     s->idx, c->server_host, c->server_port, why,
		     (unsigned long long)s->backoff_ms);
	timer_set(&s->retry_t, s->backoff_ms);
}

int ssh_sessions_start(const struct ssh_sess_hooks *h)
{
	int r = libssh2_init(0);

	if (r)
		return -EIO;
	hooks = h;
	for (unsigned i = 0; i < ssh_cfg->sessions; i++) {
		struct ssh_sess *s = &ssh_sessions[i];
		memset(s, 0, sizeof(*s));
		s->rbuf = malloc(SSH_RBUF);
		if (!s->rbuf)
			return -ENOMEM;
		s->idx = (int)i;
		s->ev.fd = -1;
		TAILQ_INIT(&s->chans);
		timer_init(&s->retry_t, retry_cb);
		hooks->init(s);
	}
	for (unsigned i = 0; i < ssh_cfg->sessions; i++)
		sess_connect(&ssh_sessions[i]);
	return 0;
}

void ssh_sessions_stop(void)
{
	for (unsigned i = 0; i < ssh_cfg->sessions; i++) {
		struct ssh_sess *s = &ssh_sessions[i];
		timer_cancel(&s->retry_t);
		if (s->st != SS_DOWN)
			sess_down(s, "stopping");
		timer_cancel(&s->retry_t);
		free(s->rbuf);
		s->rbuf = NULL;
	}
	libssh2_exit();
}
