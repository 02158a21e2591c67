// SPDX-License-Identifier: MIT
/*
 * im-inject - an attacker (or a confused client) on the XMPP network, for
 * the sockout-im bad-input tests.  It logs in with libstrophe and sends
 * a sockout-im helper what a real helper never would:
 *
 *   im-inject HOST PORT JID PASSWORD CAFILE TO MODE [IDENTITY PEERKEY]
 *
 *   junk          random bytes in our element (from any JID)
 *   forged-hello  a hello signed by a key nobody pinned
 *   session       with the real identity file of the JID's owner: a real
 *                 handshake, a sealed "connect" to port 9 (expects the
 *                 sealed "refuse"), then that message replayed, a tampered
 *                 copy, and the first hello replayed.
 *   raw FILE      each line of FILE sent as it is (forged IQ answers:
 *                 the server still stamps our own JID as the sender)
 *
 * and, as baselines for bench/im.sh (TO is our own full JID):
 *
 *   s5bench PROXYJID HOST PORT SECS [to-initiator]   a raw SOCKS5
 *                 bytestream through the server's proxy, both ends in this
 *                 process, the initiator sending (or the target); prints MB/s
 *   msgbench COUNT SIZE INFLIGHT   COUNT messages of SIZE base64 bytes to
 *                 ourselves through the server, at most INFLIGHT unreceived;
 *                 prints MB/s and a small message's round-trip time in ms
 *
 * Exit 0 when the mode ran (and, for session, the refuse came back).
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strophe.h>
#include <time.h>
#include <poll.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers/im/im.h"

static xmpp_ctx_t *ctx;
static xmpp_conn_t *conn;
static int connected, failed;
static const char *to, *mode;
static char me_bare[IM_JID_MAX], to_bare[IM_JID_MAX];
static struct im_identity id;
static uint8_t peer_pk[32];
static struct im_eph eph;
static struct im_keys keys;
static int have_keys, refused;
static uint8_t hello1[IM_HELLO_LEN];
static uint8_t sealed[1024];
static size_t sealed_len;
static long bench_got;
static int activated;

static void send_b64(const uint8_t *p, size_t n)
{
	char *b = malloc(sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL));

	sodium_bin2base64(b, sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL),
			  p, n, sodium_base64_VARIANT_ORIGINAL);
	xmpp_send_raw_string(conn,
			     "<message type='normal' to='%s'><sockout xmlns='" IM_NS
			     "'>%s</sockout></message>",
			     to, b);
	free(b);
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void run_for(int ms)
{
	for (int i = 0; i < ms / 10; i++)
		xmpp_run_once(ctx, 10);
}

static int on_message(xmpp_conn_t *c, xmpp_stanza_t *st, void *ud)
{
	(void)c;
	(void)ud;
	xmpp_stanza_t *x = xmpp_stanza_get_child_by_name_and_ns(st, "sockout", IM_NS);
	static uint8_t bin[IM_B64_MAX], out[IM_PLAIN_MAX], scratch[IM_PLAIN_MAX];
	size_t n;

	if (!x)
		return 1;
	if (!strcmp(mode, "msgbench")) {
		bench_got++;
		return 1;
	}
	char *t = xmpp_stanza_get_text(x);
	if (!t || sodium_base642bin(bin, sizeof(bin), t, strlen(t), NULL, &n,
				    NULL, sodium_base64_VARIANT_ORIGINAL) < 0) {
		xmpp_free(ctx, t);
		return 1;
	}
	xmpp_free(ctx, t);
	if (im_msg_type(bin, n) == IM_T_HELLO && !have_keys) {
		struct im_hello h;
		if (im_hello_decode(bin, n, peer_pk, to_bare, me_bare, &h) < 0) {
			fprintf(stderr, "im-inject: peer hello does not verify\n");
			return 1;
		}
		if (im_keys_derive(&keys, &eph, id.pk, &h, peer_pk) == 0)
			have_keys = 1;
		fprintf(stderr, "im-inject: session keys derived\n");
	} else if (im_msg_type(bin, n) == IM_T_SEALED && have_keys) {
		ssize_t pl = im_open(&keys, to_bare, me_bare, bin, n, out);
		struct im_rpc r;
		if (pl > 0 && im_rpc_decode(out, (size_t)pl, &r, scratch,
					    sizeof(scratch)) == 0 &&
		    r.type == RPC_REFUSE && r.cid == 77) {
			fprintf(stderr, "im-inject: got the sealed refuse\n");
			refused = 1;
		}
	}
	return 1;
}

static void on_conn(xmpp_conn_t *c, xmpp_conn_event_t status, int error,
		    xmpp_stream_error_t *se, void *ud)
{
	(void)c;
	(void)error;
	(void)se;
	(void)ud;
	if (status == XMPP_CONN_CONNECT) {
		connected = 1;
		xmpp_handler_add(conn, on_message, NULL, "message", NULL, NULL);
		xmpp_send_raw_string(conn, "<presence><priority>-1</priority></presence>");
	} else {
		if (!connected)
			failed = 1;
		connected = 0;
	}
}

static int do_session(void)
{
	struct im_hello h;

	im_eph_new(&eph);
	memset(&h, 0, sizeof(h));
	h.ts_ms = wall_ms();
	memcpy(h.sid, eph.sid, IM_SID_LEN);
	memcpy(h.eph, eph.pk, 32);
	im_hello_encode(hello1, &id, me_bare, to_bare, &h);
	send_b64(hello1, sizeof(hello1));
	for (int i = 0; i < 500 && !have_keys; i++)
		xmpp_run_once(ctx, 10);
	if (!have_keys) {
		fprintf(stderr, "im-inject: no handshake\n");
		return 1;
	}
	struct buf j;
	buf_init(&j);
	struct im_rpc r = { .type = RPC_CONNECT, .cid = 77, .opener = true,
			    .port = 9 };
	im_rpc_encode(&r, &j);
	sealed_len = im_seal(&keys, me_bare, to_bare, buf_peek(&j), buf_len(&j),
			     sealed);
	buf_free(&j);
	send_b64(sealed, sealed_len);
	for (int i = 0; i < 500 && !refused; i++)
		xmpp_run_once(ctx, 10);
	if (!refused) {
		fprintf(stderr, "im-inject: no refuse came back\n");
		return 1;
	}
	refused = 0;
	fprintf(stderr, "im-inject: replaying the sealed connect\n");
	send_b64(sealed, sealed_len);
	run_for(300);
	fprintf(stderr, "im-inject: sending a tampered copy\n");
	uint8_t t[1024];
	memcpy(t, sealed, sealed_len);
	t[sealed_len - 20] ^= 0x10;
	t[17] ^= 0x01; /* and a fresh counter, so it is not a replay */
	send_b64(t, sealed_len);
	run_for(300);
	fprintf(stderr, "im-inject: replaying the first hello\n");
	send_b64(hello1, sizeof(hello1));
	run_for(300);
	if (refused) {
		fprintf(stderr, "im-inject: the replay was answered!\n");
		return 1;
	}
	return 0;
}

static int do_raw(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[8192];
	int n = 0;

	if (!f) {
		fprintf(stderr, "im-inject: %s: %s\n", path, strerror(errno));
		return 1;
	}
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!line[0])
			continue;
		xmpp_send_raw_string(conn, "%s", line);
		n++;
		run_for(20);
	}
	fclose(f);
	fprintf(stderr, "im-inject: sent %d raw stanzas\n", n);
	return 0;
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int s5_dial(const char *host, const char *port, const char *hex)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	uint8_t b[64];
	int fd;

	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return -1;
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	s5_greeting(b);
	if (write(fd, b, S5_GREETING_LEN) != S5_GREETING_LEN || read(fd, b, 2) != 2 ||
	    s5_parse_method(b, 2) != 2)
		return -1;
	s5_request(b, hex);
	if (write(fd, b, S5_REQ_LEN) != S5_REQ_LEN)
		return -1;
	size_t got = 0;
	while (got < 47) {
		ssize_t n = read(fd, b + got, 47 - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
		if (s5_parse_reply(b, got) > 0)
			break;
	}
	return fd;
}

static int on_act(xmpp_conn_t *c, xmpp_stanza_t *st, void *ud)
{
	(void)c;
	(void)ud;
	const char *t = xmpp_stanza_get_type(st);
	activated = t && !strcmp(t, "result") ? 1 : -1;
	return 0;
}

static int do_s5bench(char **a)
{
	const char *me = xmpp_conn_get_bound_jid(conn);
	char hex[41], sid[33];
	uint8_t rnd[16];
	int secs = atoi(a[3]);

	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(sid, sizeof(sid), rnd, sizeof(rnd));
	if (s5_dst_addr(sid, me, me, hex) < 0)
		return 1;
	int tfd = s5_dial(a[1], a[2], hex);
	int ifd = tfd >= 0 ? s5_dial(a[1], a[2], hex) : -1;
	if (ifd < 0) {
		fprintf(stderr, "im-inject: SOCKS5 to the proxy failed\n");
		return 1;
	}
	xmpp_id_handler_add(conn, on_act, "act1", NULL);
	xmpp_send_raw_string(conn, "<iq type='set' id='act1' to='%s'><query xmlns="
			     "'http://jabber.org/protocol/bytestreams' sid='%s'>"
			     "<activate>%s</activate></query></iq>", a[0], sid, me);
	for (int i = 0; i < 500 && !activated; i++)
		xmpp_run_once(ctx, 10);
	if (activated != 1) {
		fprintf(stderr, "im-inject: activation failed\n");
		return 1;
	}
	static uint8_t buf[256 * 1024];
	double t0 = mono(), t1;
	long long rx = 0;
	/* A 5th argument `to-initiator': the target sends, as sockout-im's
	 * accepting side does; by default the initiator sends. */
	bool rev = a[4] && !strcmp(a[4], "to-initiator");
	struct pollfd p[2] = { { .fd = rev ? tfd : ifd, .events = POLLOUT },
			       { .fd = rev ? ifd : tfd, .events = POLLIN } };
	while ((t1 = mono()) - t0 < secs) {
		if (poll(p, 2, 100) < 0)
			break;
		if (p[0].revents & POLLOUT)
			if (send(p[0].fd, buf, sizeof(buf), MSG_DONTWAIT) < 0 && errno != EAGAIN)
				break;
		if (p[1].revents & POLLIN) {
			ssize_t n = recv(p[1].fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (n > 0)
				rx += n;
			else if (n == 0)
				break;
		}
	}
	printf("%.1f\n", (double)rx / (t1 - t0) / 1e6);
	close(ifd);
	close(tfd);
	return 0;
}

static int do_msgbench(char **a)
{
	long count = atol(a[0]);
	size_t size = (size_t)atol(a[1]);
	long inflight = atol(a[2]);
	char *body = malloc(size + 1);

	memset(body, 'A', size);
	body[size] = '\0';
	/* round trip of a small message, averaged */
	double rtt = 0;
	for (int i = 0; i < 20; i++) {
		long want = bench_got + 1;
		double t0 = mono();
		xmpp_send_raw_string(conn, "<message type='normal' to='%s'><sockout "
				     "xmlns='" IM_NS "'>AAAA</sockout></message>", to);
		while (bench_got < want && mono() - t0 < 5)
			xmpp_run_once(ctx, 1);
		rtt += mono() - t0;
	}
	bench_got = 0;
	double t0 = mono();
	long sent = 0;
	while (bench_got < count && mono() - t0 < 60) {
		/* keep a bounded number in flight, like a windowed sender */
		while (sent < count && sent - bench_got < inflight) {
			xmpp_send_raw_string(conn, "<message type='normal' to='%s'>"
					     "<sockout xmlns='" IM_NS "'>%s</sockout></message>",
					     to, body);
			sent++;
		}
		xmpp_run_once(ctx, 1);
	}
	double dt = mono() - t0;
	/* payload bytes a helper would carry: base64 decodes to 3/4 */
	printf("%.2f %.2f\n", (double)bench_got * size * 3 / 4 / dt / 1e6,
	       rtt / 20 * 1000);
	free(body);
	return bench_got == count ? 0 : 1;
}

int main(int argc, char **argv)
{
	int rc = 0;

	if (argc < 8) {
		fprintf(stderr, "usage: im-inject HOST PORT JID PASSWORD CAFILE TO "
				"junk|forged-hello|session [IDENTITY PEERKEY] | raw FILE\n"
				"       ... s5bench PROXYJID HOST PORT SECS [to-initiator] | msgbench COUNT SIZE INFLIGHT\n");
		return 2;
	}
	if (sodium_init() < 0)
		return 1;
	to = argv[6];
	mode = argv[7];
	im_jid_bare(argv[3], me_bare, sizeof(me_bare));
	im_jid_bare(to, to_bare, sizeof(to_bare));
	if (!strcmp(mode, "session")) {
		if (argc < 10 || im_identity_load(argv[8], &id) < 0 ||
		    im_pubkey_parse(argv[9], peer_pk) < 0) {
			fprintf(stderr, "im-inject: session needs IDENTITY PEERKEY\n");
			return 2;
		}
	}
	xmpp_initialize();
	ctx = xmpp_ctx_new(NULL, NULL);
	conn = xmpp_conn_new(ctx);
	xmpp_conn_set_flags(conn, XMPP_CONN_FLAG_MANDATORY_TLS |
					  XMPP_CONN_FLAG_DISABLE_SM);
	xmpp_conn_set_jid(conn, argv[3]);
	xmpp_conn_set_pass(conn, argv[4]);
	xmpp_conn_set_cafile(conn, argv[5]);
	if (xmpp_connect_client(conn, argv[1], (unsigned short)atoi(argv[2]),
				on_conn, NULL) != XMPP_EOK)
		return 1;
	for (int i = 0; i < 1000 && !connected && !failed; i++)
		xmpp_run_once(ctx, 10);
	if (!connected) {
		fprintf(stderr, "im-inject: cannot log in as %s\n", argv[3]);
		return 1;
	}
	if (!strcmp(mode, "junk")) {
		uint8_t r[200];
		randombytes_buf(r, sizeof(r));
		memcpy(r, IM_MAGIC, 4);
		r[4] = IM_VERSION;
		r[5] = IM_T_SEALED;
		r[6] = r[7] = 0;
		send_b64(r, sizeof(r));
	} else if (!strcmp(mode, "forged-hello")) {
		struct im_identity fake;
		uint8_t seed[32], m[IM_HELLO_LEN], sk[64];
		struct im_hello h;
		fake.sk = sk;
		randombytes_buf(seed, sizeof(seed));
		crypto_sign_seed_keypair(fake.pk, fake.sk, seed);
		im_eph_new(&eph);
		memset(&h, 0, sizeof(h));
		h.ts_ms = wall_ms();
		memcpy(h.sid, eph.sid, IM_SID_LEN);
		memcpy(h.eph, eph.pk, 32);
		im_hello_encode(m, &fake, me_bare, to_bare, &h);
		send_b64(m, sizeof(m));
	} else if (!strcmp(mode, "session")) {
		rc = do_session();
	} else if (!strcmp(mode, "raw") && argc >= 9) {
		rc = do_raw(argv[8]);
	} else if (!strcmp(mode, "s5bench") && argc >= 12) {
		rc = do_s5bench(argv + 8);
	} else if (!strcmp(mode, "msgbench") && argc >= 11) {
		rc = do_msgbench(argv + 8);
	} else {
		fprintf(stderr, "im-inject: unknown mode %s\n", mode);
		rc = 2;
	}
	run_for(300);
	xmpp_disconnect(conn);
	run_for(200);
	xmpp_conn_release(conn);
	xmpp_ctx_free(ctx);
	xmpp_shutdown();
	if (id.sk)
		im_identity_free(&id);
	return rc;
}
