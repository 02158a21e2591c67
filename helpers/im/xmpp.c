// SPDX-License-Identifier: MIT
/*
 * xmpp.c - the XMPP client session, driven from the helper's epoll loop.
 *
 * libstrophe has its own select() loop; we never run it.  Its socket is
 * caught in the sockopt callback and watched in our epoll set, and
 * xmpp_run_once(ctx, 0) -- which never waits -- is called when the socket
 * is readable or writable, plus on a slow tick for libstrophe's timers.
 * xmpp_run_once() reads at most 4 KiB per call and TLS may hold decrypted
 * bytes the socket no longer shows, so one wake-up runs it several times.
 *
 * What we do on the session: an available presence with negative priority
 * (so nothing addressed to the bare JID is routed to us) carrying our
 * marker element, directed presence to each configured peer (no roster
 * changes needed), our own message stanzas, and XEP-0065 proxy discovery
 * and activation IQs.  When the link drops we log in again with backoff.
 *
 * What arrives (presence, our messages, link up/down, room in the send
 * queue) goes up through the struct im_xmpp_ops given to im_xmpp_start():
 * this file never names peer.c or conn.c.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strophe.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/net.h"
#include "helpers/im/im.h"

#define NS_BYTESTREAMS "http://jabber.org/protocol/bytestreams"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
/* libstrophe send-queue length (stanzas) above which we stop adding. */
#define SENDQ_HIGH 16
#define TICK_MS 200
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000

struct activation {
	char id[32];
	im_activate_cb cb;
	void *arg;
	LIST_ENTRY(activation) link;
};

static const struct im_conf *cf;
static const struct im_xmpp_ops *up;
static xmpp_ctx_t *ctx;
static xmpp_conn_t *conn, *dead_conn;
static struct ev sock_ev = { .fd = -1 };
static struct timer tick, retry;
static bool online, stopping;
static char my_jid[IM_JID_MAX];
static uint64_t backoff_ms = BACKOFF_MIN_MS;
static unsigned iq_seq;
static LIST_HEAD(, activation) activations = LIST_HEAD_INITIALIZER(activations);
static struct {
	bool ok;
	char jid[IM_JID_MAX];
	char host[256];
	uint16_t port;
} proxy;
static unsigned logins;

static void pump(void);
static void sock_cb(struct ev *ev, uint32_t events)
{
	(void)ev;
	(void)events;
	pump();
}

static void connect_now(void);

bool im_xmpp_online(void)
{
	return online;
}

const char *im_xmpp_my_jid(void)
{
	return my_jid;
}

bool im_xmpp_proxy(const char **jid, const char **host, uint16_t *port)
{
	if (!proxy.ok)
		return false;
	*jid = proxy.jid;
	*host = proxy.host;
	*port = proxy.port;
	return true;
}

bool im_xmpp_can_send(void)
{
	return online && xmpp_conn_send_queue_len(conn) < SENDQ_HIGH;
}

/* XML-escape @s into @out; returns false if it does not fit. */
static bool xml_esc(const char *s, char *out, size_t len)
{
	size_t o = 0;

	for (; *s; s++) {
		const char *r = NULL;
		switch (*s) {
		case '<': r = "&lt;"; break;
		case '>': r = "&gt;"; break;
		case '&': r = "&amp;"; break;
		case '\'': r = "&apos;"; break;
		case '"': r = "&quot;"; break;
		}
		size_t n = r ? strlen(r) : 1;
		if (o + n >= len)
			return false;
		memcpy(out + o, r ? r : s, n);
		o += n;
	}
	out[o] = '\0';
	return true;
}

static void update_events(void)
{
	if (sock_ev.fd < 0 || !conn)
		return;
	uint32_t e = EPOLLIN;
	if (xmpp_conn_is_connecting(conn) || xmpp_conn_send_queue_len(conn))
		e |= EPOLLOUT;
	ev_mod(&sock_ev, e);
}

int im_xmpp_send(const char *to, const uint8_t *p, size_t len)
{
	char eto[IM_JID_MAX * 6];
	static const char head[] = "<message type='normal' to='%s'><sockout xmlns='" IM_NS "'>";
	static const char tail[] = "</sockout><no-store xmlns='urn:xmpp:hints'/></message>";
	size_t bl = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);

	if (!online)
		return -ENOTCONN;
	if (!xml_esc(to, eto, sizeof(eto)))
		return -EINVAL;
	size_t cap = sizeof(head) + strlen(eto) + bl + sizeof(tail);
	char *s = malloc(cap);
	if (!s)
		return -ENOMEM;
	int n = snprintf(s, cap, head, eto);
	sodium_bin2base64(s + n, bl, p, len, sodium_base64_VARIANT_ORIGINAL);
	n += (int)bl - 1;
	memcpy(s + n, tail, sizeof(tail));
	n += (int)sizeof(tail) - 1;
	xmpp_send_raw(conn, s, (size_t)n);
	free(s);
	update_events();
	return 0;
}

/* probe: ask the receiving helpers to answer with their own presence even
 * if they think we know them (after we lost track of a peer). */
void im_xmpp_directed_presence(const char *to, bool probe)
{
	char eto[IM_JID_MAX * 6];

	if (!online || !xml_esc(to, eto, sizeof(eto)))
		return;
	xmpp_send_raw_string(conn,
			     "<presence to='%s'><priority>-1</priority>"
			     "<sockout xmlns='" IM_NS "'%s/></presence>",
			     eto, probe ? " probe='1'" : "");
	update_events();
}

/* ---- incoming stanzas ---- */

static int on_message(xmpp_conn_t *cn, xmpp_stanza_t *st, void *ud)
{
	(void)cn;
	(void)ud;
	const char *from = xmpp_stanza_get_from(st);
	const char *type = xmpp_stanza_get_type(st);
	xmpp_stanza_t *x = xmpp_stanza_get_child_by_name_and_ns(st, "sockout",
								 IM_NS);

	if (!from || !x)
		return 1;
	if (type && !strcmp(type, "error")) {
		debug("xmpp: error bounce from %s", from);
		return 1;
	}
	char *text = xmpp_stanza_get_text(x);
	if (text) {
		up->message(from, text);
		xmpp_free(ctx, text);
	}
	return 1;
}

static int on_presence(xmpp_conn_t *cn, xmpp_stanza_t *st, void *ud)
{
	(void)cn;
	(void)ud;
	const char *from = xmpp_stanza_get_from(st);
	const char *type = xmpp_stanza_get_type(st);
	xmpp_stanza_t *m = xmpp_stanza_get_child_by_name_and_ns(st, "sockout",
								 IM_NS);
	bool marked = m != NULL;
	const char *probe = m ? xmpp_stanza_get_attribute(m, "probe") : NULL;

	if (!from || !strchr(from, '/'))
		return 1;
	if (!type)
		up->presence(from, true, marked, probe != NULL);
	else if (!strcmp(type, "unavailable") || !strcmp(type, "error"))
		up->presence(from, false, marked, false);
	/* subscribe requests etc.: we use directed presence, ignore them */
	return 1;
}

/* RFC 6120 8.2.3: every get/set gets an answer; we serve none. */
static int on_iq(xmpp_conn_t *cn, xmpp_stanza_t *st, void *ud)
{
	(void)cn;
	(void)ud;
	const char *type = xmpp_stanza_get_type(st);
	const char *id = xmpp_stanza_get_id(st);
	const char *from = xmpp_stanza_get_from(st);
	char eid[256], efrom[IM_JID_MAX * 6];

	if (!type || (strcmp(type, "get") != 0 && strcmp(type, "set") != 0) ||
	    !id || !from || !xml_esc(id, eid, sizeof(eid)) ||
	    !xml_esc(from, efrom, sizeof(efrom)))
		return 1;
	xmpp_send_raw_string(conn,
			     "<iq type='error' id='%s' to='%s'><error type='cancel'>"
			     "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
			     "</error></iq>",
			     eid, efrom);
	update_events();
	return 1;
}

static void send_iq_get(const char *to, const char *ns, xmpp_handler h)
{
	char id[32], eto[IM_JID_MAX * 6];

	if (!xml_esc(to, eto, sizeof(eto)))
		return;
	snprintf(id, sizeof(id), "so%u", ++iq_seq);
	xmpp_id_handler_add(conn, h, id, NULL);
	xmpp_send_raw_string(conn,
			     "<iq type='get' id='%s' to='%s'><query xmlns='%s'/></iq>",
			     id, eto, ns);
	update_events();
}

static int on_streamhost(xmpp_conn_t *cn, xmpp_stanza_t *st, void *ud)
{
	(void)cn;
	(void)ud;
	const char *type = xmpp_stanza_get_type(st);
	xmpp_stanza_t *q = xmpp_stanza_get_child_by_name_and_ns(st, "query",
								 NS_BYTESTREAMS);
	xmpp_stanza_t *sh = q ? xmpp_stanza_get_child_by_name(q, "streamhost") :
				NULL;

	if (proxy.ok || !type || strcmp(type, "result") != 0 || !sh) {
		if (!proxy.ok)
			warn("xmpp: proxy %s gave no streamhost",
			     xmpp_stanza_get_from(st) ? xmpp_stanza_get_from(st) : "?");
		return 0;
	}
	const char *jid = xmpp_stanza_get_attribute(sh, "jid");
	const char *host = xmpp_stanza_get_attribute(sh, "host");
	const char *port = xmpp_stanza_get_attribute(sh, "port");
	unsigned long p = port ? strtoul(port, NULL, 10) : 0;
	if (!jid || !host || !im_jid_ok(jid) || strlen(host) >= sizeof(proxy.host) ||
	    !p || p > 65535)
		return 0;
	snprintf(proxy.jid, sizeof(proxy.jid), "%s", jid);
	snprintf(proxy.host, sizeof(proxy.host), "%s", host);
	proxy.port = (uint16_t)p;
	proxy.ok = true;
	info("xmpp: bytestream proxy %s at %s:%u", proxy.jid, proxy.host,
	     proxy.port);
	return 0;
}

static int on_disco_info(xmpp_conn_t *cn, xmpp_stanza_t *st, void *ud)
{
	(void)cn;
	(void)ud;
	const char *from = xmpp_stanza_get_from(st);
	xmpp_stanza_t *q = xmpp_stanza_get_child_by_name_and_ns(st, "query",
								 NS_DISCO_INFO);

	if (!q || !from || proxy.ok || !im_jid_ok(from))
		return 0;
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(q); c;
	     c = xmpp_stanza_get_next(c)) {
		const char *n = xmpp_stanza_get_name(c);
		const char *cat = xmpp_stanza_get_attribute(c, "category");
		const char *ty = xmpp_stanza_get_attribute(c, "type");
		if (n && !strcmp(n, "identity") && cat && ty &&
		    !strcmp(cat, "proxy") && !strcmp(ty, "bytestreams")) {
			send_iq_get(from, NS_BYTESTREAMS, on_streamhost);
			break;
		}
	}
	return 0;
}

static int on_disco_items(xmpp_conn_t *cn, xmpp_stanza_t *st, void *ud)
{
	(void)cn;
	(void)ud;
	xmpp_stanza_t *q = xmpp_stanza_get_child_by_name_and_ns(st, "query",
								 NS_DISCO_ITEMS);
	unsigned n = 0;

	if (!q)
		return 0;
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(q); c && n < 32;
	     c = xmpp_stanza_get_next(c)) {
		const char *name = xmpp_stanza_get_name(c);
		const char *jid = xmpp_stanza_get_attribute(c, "jid");
		if (name && !strcmp(name, "item") && jid && im_jid_ok(jid)) {
			send_iq_get(jid, NS_DISCO_INFO, on_disco_info);
			n++;
		}
	}
	if (!n)
		info("xmpp: the server lists no services: in-band data only");
	return 0;
}

static int on_activated(xmpp_conn_t *cn, xmpp_stanza_t *st, void *ud)
{
	(void)cn;
	(void)ud;
	const char *id = xmpp_stanza_get_id(st);
	const char *type = xmpp_stanza_get_type(st);
	struct activation *a;

	LIST_FOREACH(a, &activations, link) {
		if (id && !strcmp(a->id, id)) {
			LIST_REMOVE(a, link);
			if (a->cb)
				a->cb(a->arg, type && !strcmp(type, "result") ?
						      0 :
						      -ECONNREFUSED);
			free(a);
			break;
		}
	}
	return 0;
}

int im_xmpp_activate(const char *sid, const char *target, im_activate_cb cb,
		     void *arg)
{
	char eto[IM_JID_MAX * 6], ep[IM_JID_MAX * 6];
	struct activation *a;

	if (!online || !proxy.ok)
		return -ENOTCONN;
	if (!xml_esc(target, eto, sizeof(eto)) ||
	    !xml_esc(proxy.jid, ep, sizeof(ep)))
		return -EINVAL;
	if (!(a = calloc(1, sizeof(*a))))
		return -ENOMEM;
	snprintf(a->id, sizeof(a->id), "act%u", ++iq_seq);
	a->cb = cb;
	a->arg = arg;
	LIST_INSERT_HEAD(&activations, a, link);
	xmpp_id_handler_add(conn, on_activated, a->id, NULL);
	xmpp_send_raw_string(conn,
			     "<iq type='set' id='%s' to='%s'><query xmlns='" NS_BYTESTREAMS
			     "' sid='%s'><activate>%s</activate></query></iq>",
			     a->id, ep, sid, eto);
	update_events();
	return 0;
}

void im_xmpp_activate_cancel(void *arg)
{
	struct activation *a;

	LIST_FOREACH(a, &activations, link)
		if (a->arg == arg)
			a->cb = NULL;
}

static void fail_activations(void)
{
	struct activation *a;

	while ((a = LIST_FIRST(&activations))) {
		LIST_REMOVE(a, link);
		if (a->cb)
			a->cb(a->arg, -ENOTCONN);
		free(a);
	}
}

/* ---- connection life ---- */

static void on_conn(xmpp_conn_t *cn, xmpp_conn_event_t status, int error,
		    xmpp_stream_error_t *se, void *ud)
{
	(void)ud;
	if (status == XMPP_CONN_CONNECT) {
		const char *b = xmpp_conn_get_bound_jid(cn);
		snprintf(my_jid, sizeof(my_jid), "%s", b ? b : cf->jid);
		online = true;
		logins++;
		backoff_ms = BACKOFF_MIN_MS;
		info("xmpp: logged in as %s (%s)", my_jid,
		     xmpp_conn_is_secured(cn) ? "TLS" : "NOT ENCRYPTED");
		xmpp_handler_add(cn, on_message, NULL, "message", NULL, NULL);
		xmpp_handler_add(cn, on_presence, NULL, "presence", NULL, NULL);
		xmpp_handler_add(cn, on_iq, NULL, "iq", NULL, NULL);
		xmpp_send_raw_string(cn, "<presence><priority>-1</priority>"
					 "<sockout xmlns='" IM_NS "'/></presence>");
		proxy.ok = false;
		if (!cf->inband) {
			if (cf->proxy[0])
				send_iq_get(cf->proxy, NS_BYTESTREAMS,
					    on_streamhost);
			else {
				const char *at = strchr(my_jid, '@');
				char dom[256];
				size_t n = strcspn(at ? at + 1 : "", "/");
				if (at && n < sizeof(dom)) {
					memcpy(dom, at + 1, n);
					dom[n] = '\0';
					send_iq_get(dom, NS_DISCO_ITEMS,
						    on_disco_items);
				}
			}
		}
		up->link_up();
		sd_notifyf("STATUS=logged in as %s", my_jid);
		update_events();
		return;
	}
	/* XMPP_CONN_DISCONNECT / XMPP_CONN_FAIL: libstrophe closed the
	 * socket already; epoll forgot it with the close. */
	bool was = online;
	online = false;
	sock_ev.fd = -1;
	if (was)
		warn("xmpp: link lost (%s%s%s)", error ? strerror(error) : "closed",
		     se && se->text ? ": " : "", se && se->text ? se->text : "");
	else
		warn("xmpp: cannot log in as %s via %s:%u (%s)", cf->jid,
		     cf->server_host, cf->server_port,
		     error ? strerror(error) : "refused");
	fail_activations();
	proxy.ok = false;
	if (was)
		up->link_down();
	sd_notifyf("STATUS=XMPP link down, retrying");
	dead_conn = cn;
	conn = NULL;
	if (!stopping) {
		timer_set(&retry, backoff_ms);
		info("xmpp: retrying in %llu ms", (unsigned long long)backoff_ms);
		backoff_ms = backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
							      backoff_ms * 2;
	}
}

static int on_sockopt(xmpp_conn_t *cn, void *sockp)
{
	(void)cn;
	int fd = *(int *)sockp;
	int one = 1;

	/* Called for each socket libstrophe creates (one per address it
	 * tries); an earlier one is closed already. */
	sock_ev.fd = -1;
	/* Control messages are small and answered: do not let Nagle hold
	 * one back for the server's delayed ACK. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* A link that dies silently (a NAT forgetting us, a cable) must end
	 * the session in about a minute, not after TCP's 15 minutes: the
	 * carried connections then fail and we log in again. */
	int idle = 30, intvl = 10, cnt = 3;
	unsigned int utmo = 60000;
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &utmo, sizeof(utmo));
	if (ev_add(&sock_ev, fd, EPOLLIN | EPOLLOUT, sock_cb) < 0)
		return -1;
	return 0;
}


static void pump(void)
{
	int fd, extra = 0, qlen0;

	if (!ctx)
		return;
	qlen0 = conn ? xmpp_conn_send_queue_len(conn) : 0;
	/* The server keeps Nagle on: its next small stanza waits for our
	 * ACK, which Linux delays up to 40 ms -- a connect answered right
	 * after a close would wait that long.  Quick ACKs are not sticky,
	 * so ask again on every wake-up. */
	if (sock_ev.fd >= 0) {
		int one = 1;
		setsockopt(sock_ev.fd, IPPROTO_TCP, TCP_QUICKACK, &one,
			   sizeof(one));
	}
	/* Each call reads at most 4 KiB; TLS may hold up to one 16 KiB
	 * record the socket no longer shows: keep going while the kernel
	 * has bytes, then four more rounds for what TLS holds. */
	for (int i = 0; i < 256 && extra < 4; i++) {
		xmpp_run_once(ctx, 0);
		int avail = 0;
		fd = sock_ev.fd;
		if (fd < 0 || !conn || ioctl(fd, FIONREAD, &avail) < 0 ||
		    avail == 0)
			extra++;
	}
	update_events();
	/* Room in the send queue again: let blocked connections go on. */
	if (online && qlen0 >= SENDQ_HIGH / 2 &&
	    xmpp_conn_send_queue_len(conn) < SENDQ_HIGH)
		up->writable();
}

static void tick_cb(struct timer *t)
{
	pump();
	timer_set(t, TICK_MS);
}

static void retry_cb(struct timer *t)
{
	(void)t;
	connect_now();
	pump();
}

static void strophe_log(void *ud, xmpp_log_level_t level, const char *area,
			const char *msg)
{
	(void)ud;
	/* -v shows our debug lines; libstrophe's own chatter needs -vv. */
	if (level == XMPP_LEVEL_ERROR)
		warn("libstrophe %s: %s", area, msg);
	else if (log_verbose() >= 2)
		log_msg(LOG_LVL_DEBUG, "libstrophe %s: %s", area, msg);
}

static const xmpp_log_t logger = { strophe_log, NULL };

static void connect_now(void)
{
	long flags = XMPP_CONN_FLAG_DISABLE_SM;

	if (dead_conn) {
		xmpp_conn_release(dead_conn);
		dead_conn = NULL;
	}
	conn = xmpp_conn_new(ctx);
	if (!conn) {
		timer_set(&retry, backoff_ms);
		return;
	}
	flags |= cf->tls ? XMPP_CONN_FLAG_MANDATORY_TLS :
			   XMPP_CONN_FLAG_DISABLE_TLS;
	xmpp_conn_set_flags(conn, flags);
	xmpp_conn_set_jid(conn, cf->jid);
	xmpp_conn_set_pass(conn, cf->password);
	if (cf->tls_trust)
		xmpp_conn_set_cafile(conn, cf->tls_trust);
	xmpp_conn_set_sockopt_callback(conn, on_sockopt);
	debug("xmpp: connecting to %s:%u", cf->server_host, cf->server_port);
	if (xmpp_connect_client(conn, cf->server_host, cf->server_port, on_conn,
				NULL) != XMPP_EOK) {
		warn("xmpp: cannot start connecting to %s:%u", cf->server_host,
		     cf->server_port);
		dead_conn = conn;
		conn = NULL;
		timer_set(&retry, backoff_ms);
		backoff_ms = backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
							      backoff_ms * 2;
	}
}

/**
 * im_xmpp_start() - log in as configured and keep the session up.
 * @c: the config (kept)
 * @ops: where stanzas and link changes go (kept)
 * Returns 0 or -ENOMEM.
 */
int im_xmpp_start(const struct im_conf *c, const struct im_xmpp_ops *ops)
{
	cf = c;
	up = ops;
	sock_ev.cb = sock_cb;
	xmpp_initialize();
	ctx = xmpp_ctx_new(NULL, &logger);
	if (!ctx)
		return -ENOMEM;
	timer_init(&tick, tick_cb);
	timer_init(&retry, retry_cb);
	timer_set(&tick, TICK_MS);
	if (!cf->tls)
		warn("xmpp: TLS is off (`tls no'): the server link is readable "
		     "on the wire; messages stay end-to-end encrypted");
	connect_now();
	return 0;
}

void im_xmpp_stop(void)
{
	stopping = true;
	timer_cancel(&tick);
	timer_cancel(&retry);
	if (conn && online) {
		xmpp_disconnect(conn);
		for (int i = 0; i < 20 && conn; i++)
			xmpp_run_once(ctx, 10);
	}
	if (sock_ev.fd >= 0)
		ev_del(&sock_ev);
	fail_activations();
	if (conn)
		xmpp_conn_release(conn);
	if (dead_conn)
		xmpp_conn_release(dead_conn);
	conn = dead_conn = NULL;
	if (ctx)
		xmpp_ctx_free(ctx);
	ctx = NULL;
	xmpp_shutdown();
}

void im_xmpp_status(struct buf *j)
{
	char s[IM_JID_MAX * 2 + 300];
	int n = snprintf(s, sizeof(s),
			 ",\"xmpp\":{\"online\":%s,\"jid\":\"%s\",\"logins\":%u,"
			 "\"proxy\":%s%s%s}",
			 online ? "true" : "false", cf->jid,
			 logins, proxy.ok ? "\"" : "", proxy.ok ? proxy.jid : "null",
			 proxy.ok ? "\"" : "");
	if (n > 0 && (size_t)n < sizeof(s))
		buf_append(j, s, (size_t)n);
}
