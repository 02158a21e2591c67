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

/* In the child: bit i of the exit status set if check i failed. */
static int filtered_checks(void)
{
	struct sock_fprog prog = { sizeof(filter) / sizeof(filter[0]), filter };
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(9),
				   .sin_addr.s_addr = htonl(0x7f000001) };
	int sp[2], tcp, v, bad = 0;
	socklen_t l = sizeof(v);
	char params[120] = { 0 };

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0 ||
	    (tcp = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return 0x7f;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return 0x7e;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		/* valgrind does not know seccomp(2): nothing to check there */
		return errno == ENOSYS ? 0x7d : 0x7e;
	/* refused by the filter itself */
	if (!(syscall(__NR_io_uring_setup, 1, params) < 0 && errno == SC_IO_URING_ERRNO))
		bad |= 1;
	if (!(syscall(0x40000000 | __NR_getpid) < 0 && errno == ENOSYS))
		bad |= 2;
	/* trapped: with nobody listening, ENOSYS */
	if (!(connect(tcp, (struct sockaddr *)&sin, sizeof(sin)) < 0 && errno == ENOSYS))
		bad |= 4;
	if (!(sendto(sp[0], "x", 1, 0, (struct sockaddr *)&sin, sizeof(sin)) < 0 &&
	      errno == ENOSYS))
		bad |= 8;
	if (!(getsockopt(tcp, SOL_SOCKET, SO_TYPE, &v, &l) < 0 && errno == ENOSYS))
		bad |= 16;
	/* allowed: the data path and other options stay in the kernel */
	if (send(sp[0], "x", 1, 0) != 1 || getpid() <= 0)
		bad |= 32;
	l = sizeof(v);
	if (getsockopt(tcp, SOL_SOCKET, SO_RCVBUF, &v, &l) < 0)
		bad |= 64;
	/* options below SOL_SOCKET trap (a listener's are ours to answer),
	 * SOL_SOCKET ones stay in the kernel */
	v = 1;
	l = sizeof(v);
	if (!(setsockopt(tcp, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof(v)) < 0 &&
	      errno == ENOSYS) ||
	    !(getsockopt(tcp, IPPROTO_TCP, TCP_NODELAY, &v, &l) < 0 && errno == ENOSYS) ||
	    setsockopt(tcp, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof(v)) < 0)
		bad |= 128;
	return bad;
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
		fprintf(stderr, "filter checks failed: %#x\n", WEXITSTATUS(st));
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
