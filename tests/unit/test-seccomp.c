// SPDX-License-Identifier: MIT
/*
 * test-seccomp.c - the seccomp supervisor's pure parts: which programs get
 * it (sc_wants_seccomp reading ELF headers), and the filter itself,
 * installed in a child without a listener — every call it traps then fails
 * with ENOSYS (as after the supervisor's death), so each verdict of the
 * filter shows: allowed, trapped, or refused with its own errno.
 */
#include "guest/gp-client.c"
#include "guest/seccomp.c"

#include <elf.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "tests/unit/t.h"

static char dir[] = "/tmp/test-seccomp.XXXXXX";

/* write_elf() - a minimal ELF64 file: @interp adds a PT_INTERP, @section a
 * section of that name (with its string table). */
static void write_elf(const char *path, int interp, const char *section)
{
	Elf64_Ehdr eh = { 0 };
	Elf64_Phdr ph = { 0 };
	Elf64_Shdr sh[3] = { { 0 } };
	char names[64] = { 0 };
	size_t nl = 1;
	FILE *f = fopen(path, "w");

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_phentsize = sizeof(ph);
	eh.e_phnum = interp ? 1 : 0;
	eh.e_phoff = sizeof(eh);
	if (section) {
		eh.e_shentsize = sizeof(Elf64_Shdr);
		eh.e_shnum = 3;
		eh.e_shstrndx = 2;
		eh.e_shoff = sizeof(eh) + sizeof(ph) + sizeof(names);
		sh[1].sh_name = (uint32_t)nl;
		strcpy(names + nl, section);
		nl += strlen(section) + 1;
		sh[2].sh_name = (uint32_t)nl;
		strcpy(names + nl, ".shstrtab");
		nl += strlen(".shstrtab") + 1;
		sh[2].sh_offset = sizeof(eh) + sizeof(ph);
		sh[2].sh_size = nl;
	}
	ph.p_type = PT_INTERP;
	fwrite(&eh, sizeof(eh), 1, f);
	fwrite(&ph, sizeof(ph), 1, f);
	fwrite(names, sizeof(names), 1, f);
	fwrite(sh, sizeof(sh), 1, f);
	fclose(f);
	chmod(path, 0755);
}

static void test_choice(void)
{
	char p[128];
	FILE *f;

	snprintf(p, sizeof(p), "%s/static", dir);
	write_elf(p, 0, NULL);
	CHECK_EQ(sc_wants_seccomp(p), 1);
	snprintf(p, sizeof(p), "%s/dynamic", dir);
	write_elf(p, 1, ".text");
	CHECK_EQ(sc_wants_seccomp(p), 0);
	snprintf(p, sizeof(p), "%s/godyn", dir);
	write_elf(p, 1, ".note.go.buildid");
	CHECK_EQ(sc_wants_seccomp(p), 1);
	snprintf(p, sizeof(p), "%s/gobuildinfo", dir);
	write_elf(p, 1, ".go.buildinfo");
	CHECK_EQ(sc_wants_seccomp(p), 1);
	/* found through PATH, as execvp would */
	char *old = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");

	setenv("PATH", dir, 1);
	CHECK_EQ(sc_wants_seccomp("static"), 1);
	CHECK_EQ(sc_wants_seccomp("dynamic"), 0);
	CHECK_EQ(sc_wants_seccomp("missing"), 0);
	setenv("PATH", old, 1);
	free(old);
	snprintf(p, sizeof(p), "%s/script", dir);
	f = fopen(p, "w");
	fputs("#!/bin/sh\nexit 0\n", f);
	fclose(f);
	chmod(p, 0755);
	CHECK_EQ(sc_wants_seccomp(p), 0);
	snprintf(p, sizeof(p), "%s/short", dir);
	f = fopen(p, "w");
	fwrite(ELFMAG, SELFMAG, 1, f);
	fclose(f);
	CHECK_EQ(sc_wants_seccomp(p), 0);
	/* this test program: dynamically linked C */
	CHECK_EQ(sc_wants_seccomp("/proc/self/exe"), 0);
}

/* the verdicts of the filter on x86_64: allowed (the call's own result),
 * trapped (ENOSYS: nobody listens), refused with its own errno */
enum { V_ALLOW, V_TRAP, V_EPERM };

/* CHK() - in the child: return the check's line (mod 256, never 0) unless
 * @call got the verdict @want. */
#define CHK(call, want)                                                      \
	do {                                                                 \
		long r_ = (long)(call);                                      \
		int e_ = errno;                                              \
		if ((want) == V_ALLOW ? r_ < 0                              \
				      : !(r_ == -1 && e_ == ((want) == V_EPERM \
							      ? SC_IO_URING_ERRNO \
							      : ENOSYS)))    \
			return __LINE__ % 255 + 1;                           \
	} while (0)

/* In the child: 0, or (the line of) the first check that failed. */
static int filtered_checks(void)
{
	struct sock_fprog prog = { sizeof(filter) / sizeof(filter[0]), filter };
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(9),
				   .sin_addr.s_addr = htonl(0x7f000001) };
	struct sockaddr_storage ss;
	struct mmsghdr mm = { 0 };
	struct msghdr mh = { 0 };
	int sp[2], tcp, v = 1;
	socklen_t l = sizeof(v), sl = sizeof(ss);
	char params[120] = { 0 }, b[1];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0 ||
	    (tcp = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return 0x7f;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return 0x7e;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		/* valgrind does not know seccomp(2): nothing to check there */
		return errno == ENOSYS ? 0x7d : 0x7e;
	send(sp[0], "xy", 2, 0); /* for the two receives below */
	/* refused by the filter itself */
	CHK(syscall(__NR_io_uring_setup, 1, params), V_EPERM);
#ifdef __x86_64__
	CHK(syscall(0x40000000 | __NR_getpid), V_TRAP); /* x32: ENOSYS */
#endif
	/* trapped */
	CHK(connect(tcp, (struct sockaddr *)&sin, sizeof(sin)), V_TRAP);
	CHK(sendto(sp[0], "x", 1, 0, (struct sockaddr *)&sin, sizeof(sin)), V_TRAP);
	CHK(sendmsg(sp[0], &mh, 0), V_TRAP);
	CHK(sendmmsg(sp[0], &mm, 1, 0), V_TRAP);
	CHK(bind(tcp, (struct sockaddr *)&sin, sizeof(sin)), V_TRAP);
	CHK(listen(tcp, 1), V_TRAP);
	CHK(accept(tcp, NULL, NULL), V_TRAP);
	CHK(accept4(tcp, NULL, NULL, 0), V_TRAP);
	CHK(getsockname(tcp, (struct sockaddr *)&ss, &sl), V_TRAP);
	CHK(getpeername(tcp, (struct sockaddr *)&ss, &sl), V_TRAP);
	CHK(shutdown(sp[0], SHUT_RD), V_TRAP);
	CHK(getsockopt(tcp, SOL_SOCKET, SO_TYPE, &v, &l), V_TRAP);
	CHK(getsockopt(tcp, SOL_SOCKET, SO_ACCEPTCONN, &v, &l), V_TRAP);
	/* options below SOL_SOCKET trap (a listener's are ours to answer),
	 * SOL_SOCKET ones stay in the kernel */
	CHK(setsockopt(tcp, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof(v)), V_TRAP);
	CHK(setsockopt(tcp, IPPROTO_IP, IP_TOS, &v, sizeof(v)), V_TRAP);
	CHK(getsockopt(tcp, IPPROTO_TCP, TCP_NODELAY, &v, &l), V_TRAP);
	CHK(epoll_create1(0), V_TRAP);
#ifdef __NR_epoll_create
	CHK(syscall(__NR_epoll_create, 1), V_TRAP);
#endif
	/* allowed: the data path and what cannot lead out */
	CHK(send(sp[0], "x", 1, 0), V_ALLOW);
	CHK(recv(sp[1], b, 1, MSG_DONTWAIT), V_ALLOW);
	CHK(recvfrom(sp[1], b, 1, MSG_DONTWAIT, NULL, NULL), V_ALLOW);
	CHK(socket(AF_INET, SOCK_DGRAM, 0), V_ALLOW);
	CHK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sp), V_ALLOW);
	CHK(getpid(), V_ALLOW);
	CHK(setsockopt(tcp, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof(v)), V_ALLOW);
	/* every client's, once per connection: not worth a round trip */
	CHK(setsockopt(tcp, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)), V_ALLOW);
	CHK(getsockopt(tcp, SOL_SOCKET, SO_RCVBUF, &v, &l), V_ALLOW);
	return 0;
}

static void test_filter(void)
{
	int st = -1;
	pid_t pid = fork();

	if (pid == 0)
		_exit(filtered_checks());
	CHECK(pid > 0);
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st));
	if (WEXITSTATUS(st) == 0x7d) {
		fprintf(stderr, "no seccomp(2) here (valgrind?): filter not checked\n");
		return;
	}
	if (WEXITSTATUS(st))
		fprintf(stderr, "filter check failed: line %% 255 + 1 = %d\n", WEXITSTATUS(st));
	CHECK_EQ(WEXITSTATUS(st), 0);
}

int main(void)
{
	char cmd[64];

	CHECK(mkdtemp(dir) != NULL);
	test_choice();
	test_filter();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_EQ(system(cmd), 0);
	T_DONE();
}
