// SPDX-License-Identifier: MIT
/*
 * sockout-run - run a program with its TCP sockets handed to sockoutd.
 *
 *   sockout-run [-s SOCKET] [--seccomp | --shim] [--no-dns] -- COMMAND [ARG...]
 *
 * SOCKET is sockoutd's guest socket (a Unix path), or in a VM a stream
 * transport to one of its guest-stream endpoints: tcp:HOST:PORT or
 * vsock:CID:PORT (gp-client.h; shim only).
 *
 * Two mechanisms (docs/guest.md): the shim — sets SOCKOUT_SOCKET, puts
 * libsockout-guest.so first in LD_PRELOAD and execs COMMAND — or the
 * seccomp supervisor (seccomp.c), for programs that do not make their
 * socket calls through a dynamically linked libc: sockout-run then stays
 * as COMMAND's parent and answers its trapped socket calls.  By default
 * the supervisor is chosen for static ELF programs and Go programs.  The library is looked for next to this program, then in
 * ../lib/sockout/ (the installed layout); $SOCKOUT_GUEST_LIB overrides.
 * In a network namespace with only loopback, a DNS stub answers the
 * nameserver of /etc/resolv.conf through sockoutd (dns-stub.c), unless
 * --no-dns.  Exit status, as env(1): 125 for its own errors, 126 if COMMAND cannot be
 * run, 127 if it is not found; otherwise COMMAND's own.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dns-stub.h"
#include "gp-client.h"
#include "seccomp.h"

#define DEFAULT_SOCKET "/run/sockout/guest.sock"
#define LIBNAME "libsockout-guest.so"

static const char *prog = "sockout-run";

static void usage(FILE *f)
{
	fprintf(f, "usage: %s [-s SOCKET|tcp:HOST:PORT|vsock:CID:PORT] [--seccomp | --shim] [--no-dns] -- COMMAND [ARG...]\n",
		prog);
}

static int exists_file(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* find_lib() - absolute path of the shim into @out, or -ENOENT. */
static int find_lib(char *out, size_t len)
{
	const char *env = getenv("SOCKOUT_GUEST_LIB");
	char exe[PATH_MAX], cand[PATH_MAX + 64];
	const char *rel[] = { "/" LIBNAME, "/../lib/sockout/" LIBNAME };
	ssize_t n;
	char *slash;

	if (env && *env) {
		if (!realpath(env, out) || !exists_file(out))
			return -ENOENT;
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return -errno;
	exe[n] = 0;
	slash = strrchr(exe, '/');
	if (!slash)
		return -ENOENT;
	*slash = 0;
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		snprintf(cand, sizeof(cand), "%s%s", exe, rel[i]);
		if (exists_file(cand) && realpath(cand, out) &&
		    strlen(out) < len)
			return 0;
	}
	return -ENOENT;
}

int main(int argc, char **argv)
{
	const char *sock = getenv("SOCKOUT_SOCKET");
	const char *old;
	char lib[PATH_MAX], abs_sock[PATH_MAX], *pre;
	struct stat st;
	int c, mode = 0; /* 0 automatic, 1 seccomp, 2 shim */
	int dns = 1;
	struct so_addr offlo[3];
	unsigned noff = 0;
	static const struct option longopts[] = {
		{ "seccomp", no_argument, NULL, 'S' },
		{ "shim", no_argument, NULL, 'P' },
		{ "no-dns", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};

	if (!sock || !*sock)
		sock = DEFAULT_SOCKET;
	while ((c = getopt_long(argc, argv, "+s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'S':
			mode = 1;
			break;
		case 'P':
			mode = 2;
			break;
		case 'N':
			dns = 0;
			break;
		case 's':
			sock = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 125;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 125;
	}
	if (gpc_is_stream(sock)) {
		struct sockaddr_storage ss;
		socklen_t sl;

		/* A stream transport (a VM guest): nothing to look at here;
		 * whether sockoutd answers is seen at the first call. */
		if (gpc_stream_addr(sock, &ss, &sl) < 0 || strlen(sock) >= 108) {
			fprintf(stderr, "%s: %s: not tcp:ADDRESS:PORT or vsock:CID:PORT\n",
				prog, sock);
			return 125;
		}
		/* The supervisor's listeners take descriptors: stream mode
		 * is the shim's alone for now. */
		if (mode == 1) {
			fprintf(stderr, "%s: --seccomp cannot use a stream transport (%s)\n",
				prog, sock);
			return 125;
		}
		mode = 2;
		/* sockoutd's DNS messages are for guests that share its
		 * kernel (the stub speaks to a Unix path): not in a VM */
		dns = 0;
		snprintf(abs_sock, sizeof(abs_sock), "%s", sock);
		goto run;
	}
	if (stat(sock, &st) < 0) {
		fprintf(stderr, "%s: %s: %s (is sockoutd running?)\n", prog,
			sock, strerror(errno));
		return 125;
	}
	if (!S_ISSOCK(st.st_mode)) {
		fprintf(stderr, "%s: %s: not a socket\n", prog, sock);
		return 125;
	}
	/* The program may chdir(); the shim needs a path that still works. */
	if (!realpath(sock, abs_sock)) {
		fprintf(stderr, "%s: %s: %s\n", prog, sock, strerror(errno));
		return 125;
	}
	if (strlen(abs_sock) >= 108) {
		fprintf(stderr, "%s: %s: path too long for a Unix socket\n",
			prog, abs_sock);
		return 125;
	}
run:
	if (mode == 0)
		mode = sc_wants_seccomp(argv[optind]) ? 1 : 2;
	/* programs that speak DNS themselves: a stub on the guest's
	 * nameserver address (dns-stub.c); failing that, they go without,
	 * which matters most under seccomp (no getaddrinfo hook there) */
	if (dns)
		(void)dns_stub_ensure(abs_sock, mode == 1 || isatty(2), offlo,
				      &noff);
	/* the supervisor lets datagrams reach only loopback: and these */
	for (unsigned i = 0; mode == 1 && i < noff; i++)
		sc_allow_dgram(&offlo[i]);
	if (mode == 1) {
		/* the shim's variable, for the program's own children that
		 * are dynamically linked: harmless, they are trapped anyway */
		unsetenv("SOCKOUT_SOCKET");
		return sc_run(abs_sock, argv + optind);
	}
	if (find_lib(lib, sizeof(lib)) < 0) {
		const char *env = getenv("SOCKOUT_GUEST_LIB");

		if (env && *env)
			fprintf(stderr, "%s: SOCKOUT_GUEST_LIB=%s: no such file\n",
				prog, env);
		else
			fprintf(stderr,
				"%s: cannot find %s next to this program or in ../lib/sockout/ (set SOCKOUT_GUEST_LIB)\n",
				prog, LIBNAME);
		return 125;
	}
	/* ld.so splits LD_PRELOAD at spaces and colons. */
	if (strpbrk(lib, " :")) {
		fprintf(stderr, "%s: %s: path has a space or colon\n", prog, lib);
		return 125;
	}
	old = getenv("LD_PRELOAD");
	if (old && *old) {
		size_t l = strlen(lib) + strlen(old) + 2;

		pre = malloc(l);
		if (!pre) {
			fprintf(stderr, "%s: out of memory\n", prog);
			return 125;
		}
		snprintf(pre, l, "%s %s", lib, old);
	} else {
		pre = lib;
	}
	c = setenv("LD_PRELOAD", pre, 1);
	if (pre != lib)
		free(pre);
	if (c < 0 || setenv("SOCKOUT_SOCKET", abs_sock, 1) < 0) {
		fprintf(stderr, "%s: setenv: %s\n", prog, strerror(errno));
		return 125;
	}
	execvp(argv[optind], argv + optind);
	c = errno;
	fprintf(stderr, "%s: %s: %s\n", prog, argv[optind], strerror(c));
	return c == ENOENT ? 127 : 126;
}
