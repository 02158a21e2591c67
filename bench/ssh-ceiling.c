// SPDX-License-Identifier: MIT
/*
 * ssh-ceiling - what one libssh2 session can carry at all: the ceiling
 * against which `make bench` measures sockout-ssh (bench/ssh.sh).
 *
 *   ssh-ceiling [-R] [-t SECS] [-w WINDOW] -u USER -i IDENTITY
 *               -k KNOWN_HOSTS SSHADDR SSHPORT TARGETADDR TARGETPORT
 *
 * One blocking session, one direct-tcpip channel to TARGET, the same
 * algorithms and channel window as sockout-ssh's bench configuration
 * (aes128-ctr, hmac-sha2-256, 4 MiB window, 32 KiB packets), and nothing
 * else: no event loop, no guest, no helper protocol.  It writes 32 KiB
 * blocks for SECS seconds to a sink (`sockbench sink`), sends EOF and waits
 * for the sink's EOF, which comes only once every byte has arrived; with
 * -R it reads from a source (`sockbench source`) for SECS seconds instead.
 * It prints "gbps G bytes N secs S" (G counts payload bits / 1e9 per
 * second, as iperf3 does).
 *
 * Why a separate program: libssh2 1.10 encrypts one 16-byte block per
 * cipher call, so a single session is CPU-bound well below OpenSSH; this
 * says how far below, on this machine, in this run.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libssh2.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BLOCK 32768u

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die_ssh(LIBSSH2_SESSION *s, const char *what)
{
	char *msg = NULL;

	libssh2_session_last_error(s, &msg, NULL, 0);
	fprintf(stderr, "ssh-ceiling: %s: %s\n", what, msg ? msg : "?");
	exit(1);
}

static int dial(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	int fd, one = 1, r;

	if ((r = getaddrinfo(host, port, &hints, &ai)) != 0) {
		fprintf(stderr, "ssh-ceiling: %s: %s\n", host, gai_strerror(r));
		exit(1);
	}
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		fprintf(stderr, "ssh-ceiling: connect %s:%s: %s\n", host, port,
			strerror(errno));
		exit(1);
	}
	freeaddrinfo(ai);
	/* as sockout-ssh does (helpers/ssh/session.c tune_socket) */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* The server's host key must be the one in @known, as for sockout-ssh. */
static void check_host(LIBSSH2_SESSION *s, const char *known,
		       const char *host, int port)
{
	LIBSSH2_KNOWNHOSTS *kh = libssh2_knownhost_init(s);
	size_t len;
	int type, r;
	const char *key = libssh2_session_hostkey(s, &len, &type);

	if (!kh || !key ||
	    libssh2_knownhost_readfile(kh, known,
				       LIBSSH2_KNOWNHOST_FILE_OPENSSH) < 0)
		die_ssh(s, "known hosts");
	r = libssh2_knownhost_checkp(kh, host, port, key, len,
				     LIBSSH2_KNOWNHOST_TYPE_PLAIN |
					     LIBSSH2_KNOWNHOST_KEYENC_RAW,
				     NULL);
	libssh2_knownhost_free(kh);
	if (r != LIBSSH2_KNOWNHOST_CHECK_MATCH) {
		fprintf(stderr, "ssh-ceiling: %s:%d: host key not in %s\n",
			host, port, known);
		exit(1);
	}
}

static size_t put_str(uint8_t *p, const char *s)
{
	uint32_t n = (uint32_t)strlen(s);

	p[0] = (uint8_t)(n >> 24);
	p[1] = (uint8_t)(n >> 16);
	p[2] = (uint8_t)(n >> 8);
	p[3] = (uint8_t)n;
	memcpy(p + 4, s, n);
	return 4 + n;
}

static size_t put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return 4;
}

/* direct-tcpip with an explicit window, as helpers/ssh/channel-open.c
 * opens it (libssh2_channel_direct_tcpip() would use libssh2's default). */
static LIBSSH2_CHANNEL *open_direct(LIBSSH2_SESSION *s, const char *host,
				    unsigned port, unsigned window)
{
	uint8_t msg[600];
	size_t n = 0;

	if (strlen(host) > 255) {
		fprintf(stderr, "ssh-ceiling: target name too long\n");
		exit(2);
	}
	n += put_str(msg + n, host);
	n += put_u32(msg + n, port);
	n += put_str(msg + n, "127.0.0.1");
	n += put_u32(msg + n, 0);
	return libssh2_channel_open_ex(s, "direct-tcpip",
				       sizeof("direct-tcpip") - 1, window,
				       BLOCK, (const char *)msg, (unsigned)n);
}

static double pump_out(LIBSSH2_SESSION *s, LIBSSH2_CHANNEL *ch, double secs,
		       uint64_t *bytes)
{
	static char buf[BLOCK];
	double t0 = now_s(), end = t0 + secs;

	memset(buf, 'x', sizeof(buf));
	while (now_s() < end) {
		ssize_t w = libssh2_channel_write(ch, buf, sizeof(buf));
		if (w < 0)
			die_ssh(s, "write");
		*bytes += (uint64_t)w;
	}
	/* the sink's EOF comes after it has read the last byte */
	if (libssh2_channel_send_eof(ch) < 0 || libssh2_channel_wait_eof(ch) < 0)
		die_ssh(s, "eof");
	return now_s() - t0;
}

static double pump_in(LIBSSH2_SESSION *s, LIBSSH2_CHANNEL *ch, double secs,
		      uint64_t *bytes)
{
	static char buf[BLOCK];
	double t0 = now_s(), end = t0 + secs;

	while (now_s() < end) {
		ssize_t r = libssh2_channel_read(ch, buf, sizeof(buf));
		if (r < 0)
			die_ssh(s, "read");
		if (r == 0 && libssh2_channel_eof(ch)) {
			fprintf(stderr, "ssh-ceiling: the source closed\n");
			exit(1);
		}
		*bytes += (uint64_t)r;
	}
	return now_s() - t0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: ssh-ceiling [-R] [-t SECS] [-w WINDOW] -u USER "
		"-i IDENTITY -k KNOWN_HOSTS\n"
		"                   SSHADDR SSHPORT TARGETADDR TARGETPORT\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *user = NULL, *id = NULL, *known = NULL;
	const char *alg = "aes128-ctr", *mac = "hmac-sha2-256";
	unsigned window = 4u * 1024 * 1024;
	double secs = 5, el;
	uint64_t bytes = 0;
	int rev = 0, o;
	char pub[4096];

	while ((o = getopt(argc, argv, "Rt:w:u:i:k:")) != -1) {
		switch (o) {
		case 'R': rev = 1; break;
		case 't': secs = atof(optarg); break;
		case 'w': window = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'u': user = optarg; break;
		case 'i': id = optarg; break;
		case 'k': known = optarg; break;
		default: usage();
		}
	}
	if (!user || !id || !known || argc - optind != 4 || secs <= 0 ||
	    window < 32768)
		usage();
	const char *host = argv[optind], *port = argv[optind + 1];
	const char *thost = argv[optind + 2];
	unsigned tport = (unsigned)atoi(argv[optind + 3]);
	snprintf(pub, sizeof(pub), "%s.pub", id);

	if (libssh2_init(0) != 0)
		return 1;
	int fd = dial(host, port);
	LIBSSH2_SESSION *s = libssh2_session_init();
	if (!s)
		return 1;
	if (libssh2_session_method_pref(s, LIBSSH2_METHOD_CRYPT_CS, alg) ||
	    libssh2_session_method_pref(s, LIBSSH2_METHOD_CRYPT_SC, alg) ||
	    libssh2_session_method_pref(s, LIBSSH2_METHOD_MAC_CS, mac) ||
	    libssh2_session_method_pref(s, LIBSSH2_METHOD_MAC_SC, mac))
		die_ssh(s, "algorithms");
	libssh2_session_set_blocking(s, 1);
	if (libssh2_session_handshake(s, fd))
		die_ssh(s, "handshake");
	check_host(s, known, host, atoi(port));
	if (libssh2_userauth_publickey_fromfile(s, user, pub, id, NULL))
		die_ssh(s, "public key authentication");
	LIBSSH2_CHANNEL *ch = open_direct(s, thost, tport, window);
	if (!ch)
		die_ssh(s, "direct-tcpip");

	el = rev ? pump_in(s, ch, secs, &bytes) : pump_out(s, ch, secs, &bytes);
	printf("gbps %.2f bytes %llu secs %.3f cipher %s mac %s\n",
	       (double)bytes * 8 / el / 1e9, (unsigned long long)bytes, el,
	       libssh2_session_methods(s, LIBSSH2_METHOD_CRYPT_CS),
	       libssh2_session_methods(s, LIBSSH2_METHOD_MAC_CS));
	libssh2_channel_free(ch);
	libssh2_session_disconnect(s, "done");
	libssh2_session_free(s);
	close(fd);
	libssh2_exit();
	return 0;
}
