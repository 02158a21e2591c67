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
/* Random bytes in an IQ id (hex on the wire). */
#define IQ_ID_BYTES 12
/* Log lines about forged IQ answers: at most one per interval. */
#define DROPLOG_MS 2000

struct iq;
typedef void (*iq_answer_fn)(struct iq *q, xmpp_stanza_t *st, bool ok);

/* An IQ we sent, waiting for its answer (see on_iq_answer()). */
struct iq {
	char id[IQ_ID_BYTES * 2 + 1];
	char to[IM_JID_MAX]; /* who must answer */
	iq_answer_fn answer;
	im_activate_cb cb;   /* activations: the caller's callback */
	void *arg;
	LIST_ENTRY(iq) link;
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
static LIST_HEAD(, iq) iqs = LIST_HEAD_INITIALIZER(iqs);
static uint64_t iq_drops, iq_droplog;
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

/* ---- our IQs and their answers ---- */

/*
 * Anyone on the XMPP network can send us an <iq type='result'>: the server
 * routes it to our full JID whatever its id.  So an answer counts only if
 * it carries the random id we chose and comes from the JID we asked (for
 * the server's disco, its domain): otherwise any user could name the
 * bytestream proxy and make us dial an address of its choosing.  A forged
 * answer is logged and dropped, and we go on waiting for the real one.
 */
static int on_iq_answer(xmpp_conn_t *cn, xmpp_stanza_t *st, void *ud)
{
	struct iq *q = ud;
	const char *from = xmpp_stanza_get_from(st);
	const char *type = xmpp_stanza_get_type(st);

	(void)cn;
	if (!type || (strcmp(type, "result") != 0 && strcmp(type, "error") != 0))
		return 1; /* not an answer: on_iq deals with it */
	/* JIDs compare case-insensitively in their domain (and, after
	 * nodeprep, local) parts; the server sends them lower-cased. */
	if (!from || strcasecmp(from, q->to) != 0) {
		uint64_t t = now_ms();
		iq_drops++;
		if (!iq_droplog || t - iq_droplog >= DROPLOG_MS) {
			iq_droplog = t;
			warn("xmpp: dropped an IQ %s from %s: we asked %s", type,
			     from ? from : "(no sender)", q->to);
		}
		return 1;
	}
	LIST_REMOVE(q, link);
	q->answer(q, st, !strcmp(type, "result"));
	free(q);
	return 0;
}

/**
 * iq_send() - send an IQ to @to and wait for its answer.
 * @type: "get" or "set"
 * @to: the JID asked; only it may answer
 * @body: the IQ's child element (XML, escaped)
 * @answer: called once with the answer (ok: type result), never if the
 *	link drops first
 * Returns the pending IQ (to attach a callback to) or NULL.
 */
static struct iq *iq_send(const char *type, const char *to, const char *body,
			  iq_answer_fn answer)
{
	char eto[IM_JID_MAX * 6];
	uint8_t rnd[IQ_ID_BYTES];
	struct iq *q;

	if (!conn || !im_jid_ok(to) || strlen(to) >= sizeof(q->to) ||
	    !xml_esc(to, eto, sizeof(eto)) || !(q = calloc(1, sizeof(*q))))
		return NULL;
	/* Unguessable, so an answer cannot be forged ahead of time. */
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(q->id, sizeof(q->id), rnd, sizeof(rnd));
	snprintf(q->to, sizeof(q->to), "%s", to);
	q->answer = answer;
	LIST_INSERT_HEAD(&iqs, q, link);
	xmpp_id_handler_add(conn, on_iq_answer, q->id, q);
	xmpp_send_raw_string(conn, "<iq type='%s' id='%s' to='%s'>%s</iq>", type,
			     q->id, eto, body);
	update_events();
	return q;
}

static void iq_get(const char *to, const char *ns, iq_answer_fn answer)
{
	char body[128];

	snprintf(body, sizeof(body), "<query xmlns='%s'/>", ns);
	iq_send("get", to, body, answer);
}

/* The link is gone (@cn, NULL if it was released): every pending IQ
 * fails, activations call back. */
static void iq_fail_all(xmpp_conn_t *cn)
{
	struct iq *q;

	while ((q = LIST_FIRST(&iqs))) {
		LIST_REMOVE(q, link);
		if (cn)
			xmpp_id_handler_delete(cn, on_iq_answer, q->id);
		if (q->cb)
			q->cb(q->arg, -ENOTCONN);
		free(q);
	}
}

static void on_streamhost(struct iq *q, xmpp_stanza_t *st, bool ok)
{
	xmpp_stanza_t *qu = xmpp_stanza_get_child_by_name_and_ns(st, "query",
								  NS_BYTESTREAMS);
	xmpp_stanza_t *sh = qu ? xmpp_stanza_get_child_by_name(qu, "streamhost") :
				 NULL;

	if (proxy.ok || !ok || !sh) {
		if (!proxy.ok)
			warn("xmpp: proxy %s gave no streamhost", q->to);
		return;
	}
	const char *jid = xmpp_stanza_get_attribute(sh, "jid");
	const char *host = xmpp_stanza_get_attribute(sh, "host");
	const char *port = xmpp_stanza_get_attribute(sh, "port");
	unsigned long p = port ? strtoul(port, NULL, 10) : 0;
	if (!jid || !host || !im_jid_ok(jid) || strlen(host) >= sizeof(proxy.host) ||
	    !p || p > 65535)
		return;
	snprintf(proxy.jid, sizeof(proxy.jid), "%s", jid);
	snprintf(proxy.host, sizeof(proxy.host), "%s", host);
	proxy.port = (uint16_t)p;
	proxy.ok = true;
	info("xmpp: bytestream proxy %s at %s:%u", proxy.jid, proxy.host,
	     proxy.port);
}

static void on_disco_info(struct iq *q, xmpp_stanza_t *st, bool ok)
{
	xmpp_stanza_t *qu = xmpp_stanza_get_child_by_name_and_ns(st, "query",
								  NS_DISCO_INFO);

	if (!ok || !qu || proxy.ok)
		return;
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(qu); c;
	     c = xmpp_stanza_get_next(c)) {
		const char *n = xmpp_stanza_get_name(c);
		const char *cat = xmpp_stanza_get_attribute(c, "category");
		const char *ty = xmpp_stanza_get_attribute(c, "type");
		if (n && !strcmp(n, "identity") && cat && ty &&
		    !strcmp(cat, "proxy") && !strcmp(ty, "bytestreams")) {
			iq_get(q->to, NS_BYTESTREAMS, on_streamhost);
			break;
		}
	}
}

static void on_disco_items(struct iq *q, xmpp_stanza_t *st, bool ok)
{
	xmpp_stanza_t *qu = xmpp_stanza_get_child_by_name_and_ns(st, "query",
								  NS_DISCO_ITEMS);
	unsigned n = 0;

	(void)q;
	if (!ok || !qu)
		return;
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(qu); c && n < 32;
	     c = xmpp_stanza_get_next(c)) {
		const char *name = xmpp_stanza_get_name(c);
		const char *jid = xmpp_stanza_get_attribute(c, "jid");
		if (name && !strcmp(name, "item") && jid && im_jid_ok(jid)) {
			iq_get(jid, NS_DISCO_INFO, on_disco_info);
			n++;
		}
	}
	if (!n)
		info("xmpp: the server lists no services: in-band data only");
}

static void on_activated(struct iq *q, xmpp_stanza_t *st, bool ok)
{
	(void)st;
	if (q->cb)
		q->cb(q->arg, ok ? 0 : -ECONNREFUSED);
}

int im_xmpp_activate(const char *sid, const char *target, im_activate_cb cb,
		     void *arg)
{
	char body[IM_JID_MAX * 7 + 200], esid[200], etarget[IM_JID_MAX * 6];
	struct iq *q;

	if (!online || !proxy.ok)
		return -ENOTCONN;
	if (!xml_esc(sid, esid, sizeof(esid)) ||
	    !xml_esc(target, etarget, sizeof(etarget)))
		return -EINVAL;
	snprintf(body, sizeof(body),
		 "<query xmlns='" NS_BYTESTREAMS "' sid='%s'>"
		 "<activate>%s</activate></query>",
		 esid, etarget);
	if (!(q = iq_send("set", proxy.jid, body, on_activated)))
		return -ENOMEM;
	q->cb = cb;
	q->arg = arg;
	return 0;
}

void im_xmpp_activate_cancel(void *arg)
{
	struct iq *q;

	LIST_FOREACH(q, &iqs, link)
		if (q->cb && q->arg == arg)
			q->cb = NULL;
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
				iq_get(cf->proxy, NS_BYTESTREAMS,
				       on_streamhost);
			else {
				const char *at = strchr(my_jid, '@');
				char dom[256];
				size_t n = strcspn(at ? at + 1 : "", "/");
				if (at && n < sizeof(dom)) {
					memcpy(dom, at + 1, n);
					dom[n] = '\0';
					iq_get(dom, NS_DISCO_ITEMS,
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
	iq_fail_all(cn);
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
	net_tcp_liveness(fd, IM_KEEPIDLE_S, IM_KEEPINTVL_S, IM_KEEPCNT,
			 IM_USER_TIMEOUT_MS);
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
	iq_fail_all(conn);
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
			 "\"proxy\":%s%s%s,\"iq_dropped\":%llu}",
			 online ? "true" : "false", cf->jid,
			 logins, proxy.ok ? "\"" : "", proxy.ok ? proxy.jid : "null",
			 proxy.ok ? "\"" : "", (unsigned long long)iq_drops);
	if (n > 0 && (size_t)n < sizeof(s))
		buf_append(j, s, (size_t)n);
}
