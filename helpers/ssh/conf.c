// SPDX-License-Identifier: MIT
/*
 * conf.c - sockout-ssh configuration: one file per SSH gateway.
 *
 * Every key takes one value; unknown keys, bad values and missing required
 * keys are all reported as file:line: message (see common/conf.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/net.h"
#include "ssh.h"

#define DEF_CIPHERS "aes128-ctr,aes256-ctr"
#define DEF_MACS "hmac-sha2-256,hmac-sha2-512"
/* No SHA-1 key exchange. */
#define DEF_KEX                                                                \
	"curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,"  \
	"ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group16-sha512," \
	"diffie-hellman-group18-sha512,diffie-hellman-group14-sha256"
/* No ssh-rsa (SHA-1) signatures. */
#define DEF_HOSTKEYS                                                           \
	"ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,"                 \
	"ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256"

void ssh_conf_defaults(struct ssh_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->server_port = 22;
	c->keepalive_ms = 15000;
	c->reconnect_min_ms = 1000;
	c->reconnect_max_ms = 30000;
	c->connect_timeout_ms = 15000;
	c->peer_timeout_ms = 5000;
	c->sessions = 1;
	c->window = 4u * 1024 * 1024;
}

void ssh_conf_free(struct ssh_conf *c)
{
	free(c->data_socket);
	free(c->event_socket);
	free(c->user);
	free(c->identity);
	free(c->identity_pub);
	free(c->passphrase_file);
	free(c->known_hosts);
	free(c->ciphers);
	free(c->macs);
	free(c->kex);
	free(c->hostkeys);
	free(c->listen_address);
	if (c->rdv_key) {
		explicit_bzero(c->rdv_key, c->rdv_key_len);
		free(c->rdv_key);
	}
	memset(c, 0, sizeof(*c));
}

/*
 * libssh2 1.10 has no strict key exchange, so the Terrapin prefix
 * truncation attack works against chacha20-poly1305 and every EtM MAC.
 * Refuse them here rather than trusting the server's preferences.
 */
const char *ssh_algo_check(const char *what, const char *list)
{
	if (!*list)
		return "empty list";
	if (strstr(list, "chacha20"))
		return "chacha20-poly1305 is open to the Terrapin attack with "
		       "libssh2 1.10 (no strict key exchange)";
	if (strstr(list, "-etm@"))
		return "EtM MACs are open to the Terrapin attack with libssh2 "
		       "1.10 (no strict key exchange)";
	if (strstr(list, "none"))
		return "\"none\" is not allowed";
	if (strcmp(what, "ciphers") == 0 && (strstr(list, "cbc") ||
					     strstr(list, "arcfour")))
		return "CBC and arcfour ciphers are not allowed";
	if (strspn(list, "abcdefghijklmnopqrstuvwxyz0123456789-@.,_") !=
	    strlen(list))
		return "not a comma-separated list of algorithm names";
	return NULL;
}

struct ctx {
	struct ssh_conf *c;
	bool seen_server, seen_data, seen_event, seen_user, seen_id, seen_kh;
	int rdv_line; /* where `rendezvous' was given */
};

static void set_str(char **dst, const struct conf_line *l,
		    struct conf_errors *e)
{
	if (*dst)
		conf_error(e, l->file, l->line, "%s given twice", l->argv[0]);
	free(*dst);
	*dst = strdup(l->argv[1]);
}

static void set_dur(uint64_t *dst, const struct conf_line *l,
		    struct conf_errors *e, uint64_t min, uint64_t max)
{
	uint64_t v;

	if (conf_duration_ms(l->argv[1], &v) < 0 || v < min || v > max)
		conf_error(e, l->file, l->line,
			   "%s: bad duration `%s' (e.g. 500ms, 5s, 2m)",
			   l->argv[0], l->argv[1]);
	else
		*dst = v;
}

static void need_file(const struct conf_line *l, struct conf_errors *e)
{
	if (access(l->argv[1], R_OK) < 0)
		conf_error(e, l->file, l->line, "%s: cannot read `%s': %s",
			   l->argv[0], l->argv[1], strerror(errno));
}

/* Shortest and longest key accepted (bytes, trailing white space
 * dropped): 32 is 128 bits as hex, and `openssl rand -hex 32' makes 64. */
#define RDV_KEY_MIN 32
#define RDV_KEY_MAX 1024

/*
 * rendezvous-key FILE: the secret that authenticates the helpers of one
 * gateway to each other.  Whoever can read it can reach every guest
 * listener registered on this host's rendezvous, so a file that group or
 * others may read (or write) is refused, as OpenSSH refuses such a
 * private key.
 */
static void set_rdv_key(struct ssh_conf *c, const struct conf_line *l,
			struct conf_errors *e)
{
	const char *path = l->argv[1];
	uint8_t buf[RDV_KEY_MAX + 2];
	struct stat st;
	ssize_t n;
	int fd;

	if (c->rdv_key_set) {
		conf_error(e, l->file, l->line, "rendezvous-key given twice");
		return;
	}
	c->rdv_key_set = true;
	if (strcmp(path, "none") == 0)
		return; /* the empty key: no authentication (docs/ssh.md) */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		conf_error(e, l->file, l->line,
			   "rendezvous-key: cannot read `%s': %s", path,
			   strerror(errno));
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		conf_error(e, l->file, l->line,
			   "rendezvous-key: `%s' is not a regular file", path);
		goto out;
	}
	if (st.st_mode & 077) {
		conf_error(e, l->file, l->line,
			   "rendezvous-key: `%s' is accessible by group or "
			   "others (mode %04o); it must be private: chmod 600 "
			   "it",
			   path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	n = read(fd, buf, sizeof(buf));
	if (n < 0) {
		conf_error(e, l->file, l->line,
			   "rendezvous-key: cannot read `%s': %s", path,
			   strerror(errno));
		goto out;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
			 buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		n--;
	if (n < RDV_KEY_MIN || n > RDV_KEY_MAX) {
		conf_error(e, l->file, l->line,
			   "rendezvous-key: `%s' holds %s key (%zd bytes; "
			   "%d to %d, e.g. from `openssl rand -hex 32')",
			   path, n < RDV_KEY_MIN ? "too short a" : "too long a",
			   n, RDV_KEY_MIN, RDV_KEY_MAX);
		goto out;
	}
	c->rdv_key = malloc((size_t)n);
	if (!c->rdv_key) {
		conf_error(e, l->file, l->line, "out of memory");
		goto out;
	}
	memcpy(c->rdv_key, buf, (size_t)n);
	c->rdv_key_len = (size_t)n;
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
}

static void line_fn(void *vctx, const struct conf_line *l,
		    struct conf_errors *e)
{
	struct ctx *x = vctx;
	struct ssh_conf *c = x->c;
	const char *k = l->argv[0];
	unsigned long u;
	uint64_t v;
	const char *why;

	if (l->argc != 2) {
		conf_error(e, l->file, l->line,
			   "%s: expected exactly one value", k);
		return;
	}
	const char *a = l->argv[1];
	if (strcmp(k, "data-socket") == 0) {
		set_str(&c->data_socket, l, e);
		x->seen_data = true;
	} else if (strcmp(k, "event-socket") == 0) {
		set_str(&c->event_socket, l, e);
		x->seen_event = true;
	} else if (strcmp(k, "server") == 0) {
		if (net_split_hostport(a, c->server_host,
				       sizeof(c->server_host), &c->server_port,
				       22) < 0)
			conf_error(e, l->file, l->line,
				   "server: bad HOST[:PORT] `%s'", a);
		x->seen_server = true;
	} else if (strcmp(k, "user") == 0) {
		set_str(&c->user, l, e);
		x->seen_user = true;
	} else if (strcmp(k, "identity") == 0) {
		set_str(&c->identity, l, e);
		need_file(l, e);
		x->seen_id = true;
	} else if (strcmp(k, "identity-pub") == 0) {
		set_str(&c->identity_pub, l, e);
		need_file(l, e);
	} else if (strcmp(k, "passphrase-file") == 0) {
		set_str(&c->passphrase_file, l, e);
		need_file(l, e);
	} else if (strcmp(k, "known-hosts") == 0) {
		set_str(&c->known_hosts, l, e);
		need_file(l, e);
		x->seen_kh = true;
	} else if (strcmp(k, "ciphers") == 0 || strcmp(k, "macs") == 0 ||
		   strcmp(k, "kex") == 0 ||
		   strcmp(k, "hostkey-algorithms") == 0) {
		char **dst = k[0] == 'c' ? &c->ciphers :
			     k[0] == 'm' ? &c->macs :
			     k[0] == 'k' ? &c->kex : &c->hostkeys;
		if ((why = ssh_algo_check(k, a)))
			conf_error(e, l->file, l->line, "%s: `%s': %s", k, a,
				   why);
		set_str(dst, l, e);
	} else if (strcmp(k, "keepalive") == 0) {
		if (strcmp(a, "off") == 0 || strcmp(a, "0") == 0)
			c->keepalive_ms = 0;
		else
			set_dur(&c->keepalive_ms, l, e, 1000, 3600000);
	} else if (strcmp(k, "reconnect-min") == 0) {
		set_dur(&c->reconnect_min_ms, l, e, 10, 3600000);
	} else if (strcmp(k, "reconnect-max") == 0) {
		set_dur(&c->reconnect_max_ms, l, e, 10, 3600000);
	} else if (strcmp(k, "connect-timeout") == 0) {
		set_dur(&c->connect_timeout_ms, l, e, 100, 600000);
	} else if (strcmp(k, "peer-timeout") == 0) {
		set_dur(&c->peer_timeout_ms, l, e, 100, 600000);
	} else if (strcmp(k, "sessions") == 0) {
		if (conf_uint(a, 1, SSH_MAX_SESSIONS, &u) < 0)
			conf_error(e, l->file, l->line,
				   "sessions: `%s' is not a number from 1 to %d",
				   a, SSH_MAX_SESSIONS);
		else
			c->sessions = (unsigned)u;
	} else if (strcmp(k, "window") == 0) {
		if (conf_size(a, &v) < 0 || v < 256 * 1024 ||
		    v > 256u * 1024 * 1024)
			conf_error(e, l->file, l->line,
				   "window: `%s' must be a size from 256k to 256M",
				   a);
		else
			c->window = (uint32_t)v;
	} else if (strcmp(k, "rendezvous") == 0) {
		if (net_split_hostport(a, c->rdv_host, sizeof(c->rdv_host),
				       &c->rdv_port, 0) < 0)
			conf_error(e, l->file, l->line,
				   "rendezvous: bad HOST:PORT `%s'", a);
		else
			c->rendezvous = true;
		x->rdv_line = l->line;
	} else if (strcmp(k, "rendezvous-key") == 0) {
		set_rdv_key(c, l, e);
	} else if (strcmp(k, "listen-address") == 0) {
		set_str(&c->listen_address, l, e);
	} else {
		conf_error(e, l->file, l->line, "unknown keyword `%s'", k);
	}
}

int ssh_conf_load(const char *path, struct ssh_conf *c, struct conf_errors *e)
{
	struct ctx x = { .c = c };

	conf_parse_file(path, line_fn, &x, e);
	if (!x.seen_data)
		conf_error(e, path, 0, "data-socket is required");
	if (!x.seen_event)
		conf_error(e, path, 0, "event-socket is required");
	if (!x.seen_server)
		conf_error(e, path, 0, "server is required");
	if (!x.seen_user)
		conf_error(e, path, 0, "user is required");
	if (!x.seen_id)
		conf_error(e, path, 0, "identity is required");
	if (!x.seen_kh)
		conf_error(e, path, 0,
			   "known-hosts is required (host keys are always "
			   "verified)");
	/* Safe by default: a rendezvous without a key would let anyone who
	 * can open a TCP connection to it on the gateway reach every guest
	 * listener registered here.  Opting out is explicit. */
	if (c->rendezvous && !c->rdv_key_set)
		conf_error(e, path, x.rdv_line,
			   "rendezvous: needs rendezvous-key FILE (a secret "
			   "shared by the sockout-ssh helpers of this gateway), "
			   "or `rendezvous-key none' to let anyone who can "
			   "connect to %s:%u on the gateway reach this host's "
			   "guests",
			   c->rdv_host, c->rdv_port);
	if (c->reconnect_min_ms > c->reconnect_max_ms)
		conf_error(e, path, 0,
			   "reconnect-min is larger than reconnect-max");
	if (!c->ciphers)
		c->ciphers = strdup(DEF_CIPHERS);
	if (!c->macs)
		c->macs = strdup(DEF_MACS);
	if (!c->kex)
		c->kex = strdup(DEF_KEX);
	if (!c->hostkeys)
		c->hostkeys = strdup(DEF_HOSTKEYS);
	if (!c->listen_address)
		c->listen_address = strdup("127.0.0.1");
	if (!c->ciphers || !c->macs || !c->kex || !c->hostkeys ||
	    !c->listen_address)
		conf_error(e, path, 0, "out of memory");
	return e->count;
}
