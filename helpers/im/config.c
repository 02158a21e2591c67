// SPDX-License-Identifier: MIT
/*
 * config.c - the sockout-im config file (see conf/sockout-im.conf).
 *
 * Every error is collected with its file:line; the password is read from
 * its own file (mode 0600 expected) so the config itself can be readable,
 * and the identity is loaded here too, so that a missing or unreadable
 * one is reported at the line that names it, with the other errors.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/net.h"
#include "helpers/im/im.h"

/* Characters we never accept in a JID: they would need XML escaping and
 * no sane account name has them. */
bool im_jid_ok(const char *jid)
{
	size_t n = strlen(jid);

	if (!n || n >= IM_JID_MAX)
		return false;
	for (const char *s = jid; *s; s++)
		if (strchr("<>&'\"\\ \t\r\n", *s) || (unsigned char)*s < 0x20)
			return false;
	const char *at = strchr(jid, '@');
	const char *sl = strchr(jid, '/');
	if (at && sl && sl < at)
		return false;
	if (at == jid || (at && (at[1] == '\0' || at[1] == '/')))
		return false;
	return true;
}

int im_jid_bare(const char *jid, char *out, size_t len)
{
	size_t n = strcspn(jid, "/");

	if (!n || n >= len)
		return -EINVAL;
	memcpy(out, jid, n);
	out[n] = '\0';
	/* JIDs compare case-insensitively in the local and domain parts;
	 * servers send them lower-cased for ASCII, and so do we. */
	for (size_t i = 0; i < n; i++)
		if (out[i] >= 'A' && out[i] <= 'Z')
			out[i] = (char)(out[i] - 'A' + 'a');
	return 0;
}

static int read_password(const char *path, char **out)
{
	char buf[1024];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) == 0 && (st.st_mode & 0077))
		warn("%s: password file is readable by others (mode %04o)",
		     path, (unsigned)(st.st_mode & 07777));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!buf[0])
		return -ENODATA;
	*out = strdup(buf);
	return *out ? 0 : -ENOMEM;
}

static void set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = strdup(v);
}

static int yesno(const char *s, bool *out)
{
	if (!strcmp(s, "yes") || !strcmp(s, "on") || !strcmp(s, "true"))
		*out = true;
	else if (!strcmp(s, "no") || !strcmp(s, "off") || !strcmp(s, "false"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

/* Every keyword with its word count (the keyword included).  Looked up
 * before the count is checked: a misspelt keyword is "unknown", whatever
 * follows it. */
static const struct {
	const char *k;
	int argc;
} keywords[] = {
	{ "data-socket", 2 }, { "event-socket", 2 }, { "jid", 2 },
	{ "password-file", 2 }, { "identity", 2 }, { "tls-trust", 2 },
	{ "server", 2 }, { "proxy", 2 }, { "inband", 2 }, { "tls", 2 },
	{ "connect-timeout", 2 }, { "peer", 3 }, { "answers", 2 },
};

/* @name (lower case, no trailing dot) against pattern @p. */
static bool answers_one(const char *p, const char *name)
{
	size_t n = strlen(name), pl = strlen(p);

	if (!*p)
		return true;
	if (*p != '.')
		return strcmp(p, name) == 0;
	return n > pl && strcmp(name + n - pl, p) == 0;
}

bool im_conf_answers(const struct im_conf *c, const char *name)
{
	char n[254];
	size_t len = strlen(name);

	if (!im_name_ok(name) || len >= sizeof(n))
		return false;
	for (size_t i = 0; i <= len; i++)
		n[i] = (char)tolower((unsigned char)name[i]);
	if (len && n[len - 1] == '.')
		n[len - 1] = '\0';
	for (size_t i = 0; i < c->nanswers; i++)
		if (answers_one(c->answers[i], n))
			return true;
	return false;
}

/* "answers any|NAME|*.SUFFIX": kept lower case, "*." as ".". */
static void parse_answers(struct im_conf *c, const struct conf_line *l,
			  struct conf_errors *e)
{
	const char *v = l->argv[1];
	bool wild = !strncmp(v, "*.", 2);
	const char *name = wild ? v + 1 : v;
	char *s, **a;

	if (strcmp(v, "any") != 0 &&
	    (!im_name_ok(wild ? v + 2 : v) || strstr(name, "..") ||
	     name[strlen(name) - 1] == '.' || (!wild && v[0] == '.'))) {
		conf_error(e, l->file, l->line,
			   "answers: expected any, NAME or *.SUFFIX: `%s'", v);
		return;
	}
	if (!(s = strdup(strcmp(v, "any") ? name : "")) ||
	    !(a = realloc(c->answers, (c->nanswers + 1) * sizeof(*a)))) {
		free(s);
		conf_error(e, l->file, l->line, "out of memory");
		return;
	}
	for (char *q = s; *q; q++)
		*q = (char)tolower((unsigned char)*q);
	c->answers = a;
	c->answers[c->nanswers++] = s;
}

static void conf_line(void *ctx, const struct conf_line *l,
		      struct conf_errors *e)
{
	struct im_conf *c = ctx;
	const char *k = l->argv[0];
	int want = 0;

	for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
		if (!strcmp(k, keywords[i].k))
			want = keywords[i].argc;
	if (!want) {
		conf_error(e, l->file, l->line, "unknown keyword: `%s'", k);
		return;
	}
	if (l->argc != want) {
		conf_error(e, l->file, l->line, "%s takes %d argument%s", k,
			   want - 1, want > 2 ? "s" : "");
		return;
	}
	const char *v = l->argv[1];
	if (!strcmp(k, "data-socket")) {
		set_str(&c->data_socket, v);
	} else if (!strcmp(k, "event-socket")) {
		set_str(&c->event_socket, v);
	} else if (!strcmp(k, "jid")) {
		if (!im_jid_ok(v) || !strchr(v, '@') || !strchr(v, '/'))
			conf_error(e, l->file, l->line,
				   "jid: need a full JID user@domain/resource: `%s'",
				   v);
		else
			snprintf(c->jid, sizeof(c->jid), "%s", v);
	} else if (!strcmp(k, "password-file")) {
		set_str(&c->password_file, v);
		c->password_line = l->line;
	} else if (!strcmp(k, "identity")) {
		set_str(&c->identity, v);
		c->identity_line = l->line;
	} else if (!strcmp(k, "tls-trust")) {
		set_str(&c->tls_trust, v);
	} else if (!strcmp(k, "server")) {
		if (net_split_hostport(v, c->server_host,
				       sizeof(c->server_host), &c->server_port,
				       5222) < 0)
			conf_error(e, l->file, l->line,
				   "server: expected host[:port]: `%s'", v);
	} else if (!strcmp(k, "proxy")) {
		if (!im_jid_ok(v) || strchr(v, '/'))
			conf_error(e, l->file, l->line,
				   "proxy: expected a component JID: `%s'", v);
		else
			snprintf(c->proxy, sizeof(c->proxy), "%s", v);
	} else if (!strcmp(k, "inband") || !strcmp(k, "tls")) {
		bool b;
		if (yesno(v, &b) < 0)
			conf_error(e, l->file, l->line,
				   "%s: expected yes or no: `%s'", k, v);
		else if (!strcmp(k, "inband"))
			c->inband = b;
		else
			c->tls = b;
	} else if (!strcmp(k, "connect-timeout")) {
		uint64_t ms;
		if (conf_duration_ms(v, &ms) < 0 || ms < 100 || ms > 600000)
			conf_error(e, l->file, l->line,
				   "connect-timeout: expected 100ms..10m: `%s'",
				   v);
		else
			c->connect_timeout_ms = ms;
	} else if (!strcmp(k, "answers")) {
		parse_answers(c, l, e);
	} else if (!strcmp(k, "peer")) {
		struct im_peer_conf *p = calloc(1, sizeof(*p));
		if (!p)
			return;
		if (!im_jid_ok(v) || !strchr(v, '@') || strchr(v, '/') ||
		    im_jid_bare(v, p->jid, sizeof(p->jid)) < 0) {
			conf_error(e, l->file, l->line,
				   "peer: expected a bare JID user@domain: `%s'",
				   v);
			free(p);
			return;
		}
		if (im_pubkey_parse(l->argv[2], p->pk) < 0) {
			conf_error(e, l->file, l->line,
				   "peer: not a public key (base64 of 32 bytes, from `sockout-im keygen'): `%s'",
				   l->argv[2]);
			free(p);
			return;
		}
		struct im_peer_conf *q;
		SLIST_FOREACH(q, &c->peers, link) {
			if (!strcmp(q->jid, p->jid)) {
				conf_error(e, l->file, l->line,
					   "peer: `%s' appears twice", v);
				free(p);
				return;
			}
		}
		SLIST_INSERT_HEAD(&c->peers, p, link);
	}
}

/**
 * im_conf_load() - read and check @path into @c, read the password file
 * and load the identity (libsodium must be initialised: im_crypto_init()).
 * @errtext: on failure, all error lines (caller frees)
 * Returns 0 or -EINVAL.
 */
int im_conf_load(const char *path, struct im_conf *c, char **errtext)
{
	struct conf_errors e = { 0 };
	int r;

	memset(c, 0, sizeof(*c));
	c->tls = true;
	c->connect_timeout_ms = 5000;
	conf_parse_file(path, conf_line, c, &e);
	if (!c->data_socket)
		conf_error(&e, path, 0, "data-socket is required");
	if (!c->event_socket)
		conf_error(&e, path, 0, "event-socket is required");
	if (!c->jid[0])
		conf_error(&e, path, 0, "jid is required");
	if (!c->identity)
		conf_error(&e, path, 0, "identity is required (make one with `sockout-im keygen FILE')");
	else if ((r = im_identity_load(c->identity, &c->id)) < 0)
		conf_error(&e, path, c->identity_line, "identity %s: %s%s",
			   c->identity, strerror(-r),
			   r == -EPERM ? " (mode must be 0600 or stricter)" :
			   r == -EINVAL ? " (not an identity: make one with `sockout-im keygen FILE')" :
					  "");
	if (!c->password_file)
		conf_error(&e, path, 0, "password-file is required");
	else if ((r = read_password(c->password_file, &c->password)) < 0)
		conf_error(&e, path, c->password_line, "password-file %s: %s",
			   c->password_file, strerror(-r));
	if (!c->server_host[0] && c->jid[0]) {
		/* Default: the JID's domain. */
		const char *at = strchr(c->jid, '@');
		size_t n = strcspn(at + 1, "/");
		if (n < sizeof(c->server_host)) {
			memcpy(c->server_host, at + 1, n);
			c->server_host[n] = '\0';
			c->server_port = 5222;
		}
	}
	if (c->jid[0]) {
		char me[IM_JID_MAX];
		struct im_peer_conf *p;
		im_jid_bare(c->jid, me, sizeof(me));
		SLIST_FOREACH(p, &c->peers, link)
			if (!strcmp(p->jid, me))
				conf_error(&e, path, 0,
					   "peer %s is this helper's own JID",
					   p->jid);
	}
	if (e.count) {
		*errtext = e.text;
		e.text = NULL;
		conf_errors_free(&e);
		return -EINVAL;
	}
	conf_errors_free(&e);
	*errtext = NULL;
	return 0;
}

void im_conf_free(struct im_conf *c)
{
	free(c->data_socket);
	free(c->event_socket);
	free(c->password_file);
	if (c->password) {
		explicit_bzero(c->password, strlen(c->password));
		free(c->password);
	}
	free(c->identity);
	im_identity_free(&c->id);
	free(c->tls_trust);
	struct im_peer_conf *p;

	while ((p = SLIST_FIRST(&c->peers))) {
		SLIST_REMOVE_HEAD(&c->peers, link);
		free(p);
	}
	for (size_t i = 0; i < c->nanswers; i++)
		free(c->answers[i]);
	free(c->answers);
	memset(c, 0, sizeof(*c));
}
