/* SPDX-License-Identifier: MIT */
/*
 * gp-client.h - one exchange with sockoutd over the guest socket, shared by
 * the LD_PRELOAD shim (shim-client.c) and the seccomp supervisor of
 * sockout-run (seccomp.c): the request is built and the reply checked in
 * one place, whichever mechanism caught the program's call.
 */
#ifndef SOCKOUT_GUEST_GP_CLIENT_H
#define SOCKOUT_GUEST_GP_CLIENT_H

#include <sys/socket.h>

#include "../protocol/addr.h"
#include "../protocol/guestproto.h"

/* Upper bound on one exchange with sockoutd; sockoutd's own
 * connect-timeout is meant to be far below it. */
#define GPC_REPLY_TIMEOUT_S 300

/* The shim must not call its own wrappers: it passes libc's. */
struct gpc_ops {
	int (*connect_fn)(int fd, const struct sockaddr *sa, socklen_t len);
	int (*setsockopt_fn)(int fd, int level, int name, const void *val,
			     socklen_t len);
};

/**
 * gpc_exchange() - send @req to the guest socket at @path, read the reply.
 * @rep:  the decoded reply
 * @fd:   set to the received descriptor (close-on-exec) or -1
 * @why:  set to a short reason when the reply is malformed (else NULL)
 *
 * Returns 0 when a well-formed reply of the same op (or GP_REFUSED, always
 * with a status) arrived — @rep->status may still be an errno for the
 * program, and then no descriptor is kept — or -errno: -EPROTO for a
 * malformed reply, -ETIMEDOUT for none in GPC_REPLY_TIMEOUT_S, other
 * values when sockoutd could not be reached.  errno is left unchanged.
 */
int gpc_exchange(const struct gpc_ops *ops, const char *path,
		 const struct gp_req *req, struct gp_reply *rep, int *fd,
		 const char **why);
/**
 * gpc_exchange_answer() - the same, for requests answered with a struct
 * gp_answer (RESOLVE, REVERSE: the request's name is sent after it, the
 * answer read into @ans when the status is 0; no descriptor).
 */
int gpc_exchange_answer(const struct gpc_ops *ops, const char *path,
			const struct gp_req *req, struct gp_reply *rep, int *fd,
			struct gp_answer *ans, const char **why);
/**
 * gpc_exchange_fd() - gpc_exchange() that also passes @passfd (if >= 0)
 * with the request (SCM_RIGHTS): the seccomp supervisor's pidfd of the
 * process it asks for (PROTOCOL.md, "The guest's pid under seccomp").
 */
int gpc_exchange_fd(const struct gpc_ops *ops, const char *path,
		    const struct gp_req *req, struct gp_reply *rep, int *fd,
		    const char **why, int passfd);
/*
 * Where sockoutd is (sockout-run -s, SOCKOUT_SOCKET): a Unix socket path
 * (descriptor passing), or a stream transport — "tcp:HOST:PORT" (numeric;
 * [v6]:PORT) or "vsock:CID:PORT" — for a guest that shares no kernel with
 * sockoutd (a VM): the guest protocol's stream mode (PROTOCOL.md part 2),
 * where the stream that carried a request becomes the connection.
 */
/** gpc_stream_addr() - 1 and the address in @ss/@len if @spec names a
 *  stream transport, 0 if it is a path, -EINVAL if it is a malformed
 *  tcp:/vsock: spec. */
int gpc_stream_addr(const char *spec, struct sockaddr_storage *ss,
		    socklen_t *len);
/** gpc_is_stream() - @spec names a stream transport. */
int gpc_is_stream(const char *spec);

/**
 * gpc_stream_accept() - stream mode: take one ACCEPT notice off the
 * listen stream @lfd (-EAGAIN if none is there and @lfd is non-blocking,
 * -EPIPE at EOF: sockoutd dropped the listener) and CLAIM its connection
 * on a new stream, which is put in *@fd (close-on-exec if @cloexec).
 * @rep gets the claim's reply (its addresses).  -ECONNABORTED when the
 * connection went away before it was claimed, other -errno as
 * gpc_exchange().  errno is left unchanged.
 */
int gpc_stream_accept(const struct gpc_ops *ops, const char *spec, int lfd,
		      int cloexec, struct gp_reply *rep, int *fd);

/** gpc_take_fds() - keep the first descriptor of @m's SCM_RIGHTS in *@fd
 * (if it is still -1), close every other. */
void gpc_take_fds(struct msghdr *m, int *fd);

/**
 * gpc_concrete_local() - a kernel never reports a wildcard address for an
 * accepted socket.  If sockoutd said "the listener's 0.0.0.0:P" (@local),
 * and the socket it handed over is the host's own TCP socket (whose own
 * name is @sa, @len), make @local the host address the client reached,
 * with the guest's port P.
 */
void gpc_concrete_local(struct so_addr *local, const struct sockaddr *sa,
			socklen_t len);

#endif
