// SPDX-License-Identifier: MIT
/*
 * sockout-probe - a tiny client of the dispatcher<->helper protocol, for
 * testing helpers without sockoutd.  It plays the dispatcher for exactly
 * one connection and relays it to stdin/stdout, like nc:
 *
 *   sockout-probe -d DATA -e EVENT [-t TARGET] connect HOST:PORT
 *   sockout-probe -d DATA -e EVENT [-t TARGET] listen PORT
 *   sockout-probe -d DATA -e EVENT status
 *
 * Exit status: 0 done, 2 connect/listen failed (the errno is printed as
 * "connect failed: <strerror>"), 3 the helper reset the connection,
 * 1 anything else.  One request is outstanding at a time: simple, and
 * plenty for tests.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/net.h"
#include "protocol/helperproto.h"

static int dfd, efd;
static struct buf ein;
static uint32_t cid;
static bool arrived = true, writable = true, reset_seen, connected;
static int conn_err;
static uint32_t accepted_id;

static void xwrite(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			perror("write");
			exit(1);
		}
		b += w;
		n -= (size_t)w;
	}
}

static void xread(int fd, void *p, size_t n)
{
	uint8_t *b = p;

	while (n) {
		ssize_t r = read(fd, b, n);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			fprintf(stderr, "sockout-probe: helper closed the data "
					"socket\n");
			exit(1);
		}
		b += r;
		n -= (size_t)r;
	}
}

static void send_msg(uint8_t type, uint32_t id, uint32_t arg, const void *p,
		     size_t n)
{
	struct buf b;

	buf_init(&b);
	if (so_send(&b, type, 0, id, arg, p, n) < 0)
		exit(1);
	xwrite(dfd, buf_peek(&b), buf_len(&b));
	buf_free(&b);
}

/* Read one reply; payload (if any) into *pl (malloc'd). */
static void get_reply(struct so_hdr *h, uint8_t **pl)
{
	uint8_t hb[SO_HDR_LEN];

	xread(dfd, hb, sizeof(hb));
	if (so_hdr_decode(hb, h) < 0 || h->type != SO_REPLY) {
		fprintf(stderr, "sockout-probe: bad reply\n");
		exit(1);
	}
	*pl = malloc(h->len + 1);
	if (!*pl)
		exit(1);
	xread(dfd, *pl, h->len);
}

/* Handle whatever events are readable; block if @wait. */
static void events(bool wait)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	struct so_hdr h;
	const uint8_t *pl;

	if (poll(&p, 1, wait ? -1 : 0) <= 0)
		return;
	ssize_t n = buf_read_fd(&ein, efd, 65536);
	if (n <= 0) {
		fprintf(stderr, "sockout-probe: event socket closed\n");
		exit(1);
	}
	while (so_next(&ein, &h, &pl) > 0) {
		switch (h.type) {
		case SO_CONNECTED:
			if (h.id == cid)
				connected = true;
			break;
		case SO_CONNECT_FAILED:
			if (h.id == cid)
				conn_err = (int)h.arg;
			break;
		case SO_LISTEN_FAILED:
			conn_err = (int)h.arg;
			break;
		case SO_ACCEPTED:
			if (!accepted_id)
				accepted_id = h.id;
			break;
		case SO_ARRIVED:
			if (h.id == cid)
				arrived = true;
			break;
		case SO_WRITABLE:
			if (h.id == cid)
				writable = true;
			break;
		case SO_CLOSED:
			if (h.id == cid) {
				reset_seen = true;
				arrived = true;
			}
			break;
		}
		so_done(&ein, &h);
	}
}

static int relay(void)
{
	static uint8_t in[SO_MAX_DATA];
	size_t inlen = 0, inoff = 0;
	bool in_eof = false, out_eof = false, shut = false;
	struct so_hdr h;
	uint8_t *pl;

	while (!(shut && out_eof)) {
		events(false);
		/* guest -> helper */
		if (inoff == inlen && !in_eof) {
			struct pollfd p = { .fd = 0, .events = POLLIN };
			if (poll(&p, 1, 0) > 0) {
				ssize_t r = read(0, in, sizeof(in));
				if (r <= 0)
					in_eof = true;
				else {
					inlen = (size_t)r;
					inoff = 0;
				}
			}
		}
		if (inoff < inlen && writable) {
			send_msg(SO_WRITE, cid, 0, in + inoff, inlen - inoff);
			get_reply(&h, &pl);
			free(pl);
			if (h.flags & SO_F_ERROR) {
				fprintf(stderr, "write: %s\n", strerror((int)h.arg));
				return 3;
			}
			inoff += h.arg;
			if (inoff < inlen)
				writable = false;
		}
		if (in_eof && inoff == inlen && !shut) {
			send_msg(SO_SHUTDOWN, cid, 0, NULL, 0);
			get_reply(&h, &pl);
			free(pl);
			shut = true;
		}
		/* helper -> guest */
		if (!out_eof && arrived) {
			send_msg(SO_READ, cid, SO_MAX_DATA, NULL, 0);
			get_reply(&h, &pl);
			if (h.flags & SO_F_ERROR) {
				free(pl);
				fprintf(stderr, "connection reset: %s\n",
					strerror((int)h.arg));
				return 3;
			}
			if (h.len)
				xwrite(1, pl, h.len);
			free(pl);
			if (h.flags & SO_F_EOF)
				out_eof = true;
			else if (!h.len)
				arrived = false;
		}
		if (shut && out_eof)
			break;
		/* Nothing to do right now: wait for stdin or an event. */
		if (!(inoff < inlen && writable) && !(!out_eof && arrived) &&
		    !(in_eof && !shut)) {
			struct pollfd p[2] = {
				{ .fd = efd, .events = POLLIN },
				{ .fd = 0, .events = POLLIN },
			};
			bool want_in = !in_eof && inoff == inlen;
			poll(p, want_in ? 2 : 1, -1);
		}
	}
	send_msg(SO_CLOSE, cid, 0, NULL, 0);
	get_reply(&h, &pl);
	free(pl);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: sockout-probe -d DATA -e EVENT [-t TARGET] "
			"connect HOST:PORT | listen PORT | status\n");
	exit(1);
}

int main(int argc, char **argv)
{
	const char *dpath = NULL, *epath = NULL, *target = "";
	struct so_hdr h;
	uint8_t *pl;
	int c;

	while ((c = getopt(argc, argv, "d:e:t:")) != -1) {
		switch (c) {
		case 'd': dpath = optarg; break;
		case 'e': epath = optarg; break;
		case 't': target = optarg; break;
		default: usage();
		}
	}
	if (!dpath || !epath || optind >= argc)
		usage();
	buf_init(&ein);
	dfd = net_unix_connect(dpath, SOCK_STREAM);
	if (dfd < 0) {
		fprintf(stderr, "sockout-probe: %s: %s\n", dpath, strerror(-dfd));
		return 1;
	}
	send_msg(SO_HELLO, 0, SO_PROTO_VERSION, "probe", 5);
	get_reply(&h, &pl);
	free(pl);
	if (h.flags & SO_F_ERROR)
		return 1;
	efd = net_unix_connect(epath, SOCK_STREAM);
	if (efd < 0) {
		fprintf(stderr, "sockout-probe: %s: %s\n", epath, strerror(-efd));
		return 1;
	}
	{
		struct buf b;
		buf_init(&b);
		so_send(&b, SO_EVHELLO, 0, h.id, 0, NULL, 0);
		xwrite(efd, buf_peek(&b), buf_len(&b));
		buf_free(&b);
	}
	const char *cmd = argv[optind];
	if (strcmp(cmd, "status") == 0) {
		send_msg(SO_STATUS, 0, 0, NULL, 0);
		get_reply(&h, &pl);
		fwrite(pl, 1, h.len, stdout);
		putchar('\n');
		free(pl);
		return 0;
	}
	if (optind + 1 >= argc)
		usage();
	struct so_connect req;
	uint8_t p[SO_ADDR_LEN + 1 + SO_MAX_TARGET];
	memset(&req, 0, sizeof(req));
	snprintf(req.target, sizeof(req.target), "%s", target);
	if (strcmp(cmd, "connect") == 0) {
		char host[256];
		uint16_t port;
		struct sockaddr_storage ss;
		socklen_t sl;
		if (net_split_hostport(argv[optind + 1], host, sizeof(host),
				       &port, 0) < 0 ||
		    net_parse_ip(host, port, &ss, &sl) < 0)
			usage();
		so_addr_from_sa(&req.dst, (struct sockaddr *)&ss);
		cid = 1;
		send_msg(SO_CONNECT, cid, 0, p, so_connect_encode(p, &req));
		get_reply(&h, &pl);
		free(pl);
		if (h.flags & SO_F_ERROR) {
			printf("connect failed: %s\n", strerror((int)h.arg));
			return 2;
		}
		while (!connected && !conn_err)
			events(true);
		if (conn_err) {
			fprintf(stderr, "connect failed: %s\n", strerror(conn_err));
			return 2;
		}
		return relay();
	}
	if (strcmp(cmd, "listen") == 0) {
		req.dst.family = 4;
		req.dst.port = (uint16_t)atoi(argv[optind + 1]);
		send_msg(SO_LISTEN, 1, 0, p, so_connect_encode(p, &req));
		get_reply(&h, &pl);
		free(pl);
		if (h.flags & SO_F_ERROR) {
			fprintf(stderr, "listen failed: %s\n", strerror((int)h.arg));
			return 2;
		}
		fprintf(stderr, "listening\n");
		while (!accepted_id && !conn_err)
			events(true);
		if (conn_err) {
			fprintf(stderr, "listen failed: %s\n", strerror(conn_err));
			return 2;
		}
		cid = accepted_id;
		fprintf(stderr, "accepted\n");
		return relay();
	}
	usage();
	return 1;
}
