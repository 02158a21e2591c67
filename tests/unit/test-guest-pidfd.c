// SPDX-License-Identifier: MIT
/*
 * test-guest-pidfd.c - sockoutd's reading of a seccomp supervisor's pidfd
 * (dispatcher/guest-pidfd.c): the pid is kept only for a process of the
 * peer's uid that descends from the peer, a thread's is taken to its
 * process, anything else gives 0; net_recv_fd() keeps the first descriptor
 * passed with the request and closes the others.
 */
#include "dispatcher/guest-pidfd.c"
#include "common/net.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "tests/unit/t.h"

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

static pid_t sleeper(void)
{
	pid_t p = fork();

	if (p == 0) {
		pause();
		_exit(0);
	}
	return p;
}

static int pidfd_of(pid_t p, unsigned flags)
{
	return (int)syscall(SYS_pidfd_open, p, flags);
}

static void *idle_thread(void *arg)
{
	*(pid_t *)arg = gettid();
	pause();
	return NULL;
}

static void test_pid(void)
{
	struct peer_id me = { .uid = geteuid(), .pid = getpid() };
	pid_t a = sleeper(), b = sleeper(), tid = 0;
	int fa = pidfd_of(a, 0), fb = pidfd_of(b, 0), p[2];
	pthread_t t;

	CHECK(a > 0 && b > 0 && fa >= 0 && fb >= 0);
	/* our child: its pid */
	CHECK_EQ(guest_pidfd_pid(fa, &me), a);
	/* another uid than the peer's */
	struct peer_id other = me;

	other.uid = me.uid + 1;
	CHECK_EQ(guest_pidfd_pid(fa, &other), 0);
	/* not a descendant: b asked for as a's guest, a as its own */
	other = me;
	other.pid = a;
	CHECK_EQ(guest_pidfd_pid(fb, &other), 0);
	CHECK_EQ(guest_pidfd_pid(fa, &other), 0);
	/* not a pidfd */
	CHECK(pipe(p) == 0);
	CHECK_EQ(guest_pidfd_pid(p[0], &me), 0);
	/* gone: a reaped child's pidfd names no pid */
	kill(a, SIGKILL);
	waitpid(a, NULL, 0);
	CHECK_EQ(guest_pidfd_pid(fa, &me), 0);
	/* a thread's pidfd: its process (we descend from our parent) */
	CHECK(pthread_create(&t, NULL, idle_thread, &tid) == 0);
	while (!__atomic_load_n(&tid, __ATOMIC_ACQUIRE))
		usleep(1000);
	int ft = pidfd_of(tid, PIDFD_THREAD);

	if (ft >= 0) {
		other = me;
		other.pid = getppid();
		CHECK_EQ(guest_pidfd_pid(ft, &other), getpid());
		close(ft);
	} else {
		fprintf(stderr, "no PIDFD_THREAD here: thread case not checked\n");
	}
	pthread_cancel(t);
	pthread_join(t, NULL);
	kill(b, SIGKILL);
	waitpid(b, NULL, 0);
	close(fa);
	close(fb);
	close(p[0]);
	close(p[1]);
}

static void test_recv(void)
{
	int sp[2], pp[2], fds[2], got = -1;
	char buf[8] = { 0 };
	union {
		char b[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} cm;
	struct iovec iov = { "abcd", 4 };
	struct msghdr m = { .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = cm.b,
			    .msg_controllen = sizeof(cm.b) };
	struct cmsghdr *c;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0 && pipe(pp) == 0);
	fds[0] = pp[0];
	fds[1] = pp[1];
	memset(&cm, 0, sizeof(cm));
	c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	CHECK_EQ(sendmsg(sp[0], &m, 0), 4);
	CHECK_EQ(net_recv_fd(sp[1], buf, sizeof(buf), &got), 4);
	CHECK_STR(buf, "abcd");
	CHECK(got >= 0);
	/* the one kept is the read end: the write end sent was closed, so
	 * closing ours leaves the pipe without writers */
	close(pp[1]);
	CHECK_EQ(read(got, buf, 1), 0);
	/* nothing more: EAGAIN, not a block */
	CHECK_EQ(net_recv_fd(sp[1], buf, sizeof(buf), &got), -1);
	CHECK_EQ(errno, EAGAIN);
	close(got);
	close(pp[0]);
	close(sp[0]);
	close(sp[1]);
}

int main(void)
{
	test_pid();
	test_recv();
	T_DONE();
}
