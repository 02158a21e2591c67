/* SPDX-License-Identifier: MIT */
/*
 * net.h - socket helpers shared by sockoutd, the helpers and the tests:
 * Unix socket setup with tight permissions, address parsing and printing,
 * and systemd readiness notification.
 */
#ifndef SOCKOUT_NET_H
#define SOCKOUT_NET_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* Longest "[ipv6]:port" or "host:port" we print or parse. */
#define NET_ADDRSTRLEN 300

int net_set_nonblock(int fd);

/**
 * net_unix_listen() - listen on a pathname Unix stream socket.
 * @path: socket path; a stale socket file there is replaced, anything
 *        else that exists makes it fail with -EEXIST
 * @mode: permission bits for the socket file (e.g. 0660)
 *
 * The umask is tightened around bind(2) so the socket is never, even
 * briefly, more open than @mode.  Returns a non-blocking, close-on-exec
 * fd or -errno.
 */
int net_unix_listen(const char *path, mode_t mode);
/** net_unix_connect() - blocking connect to a pathname socket; fd or -errno. */
int net_unix_connect(const char *path, int type);
/** net_peer_uid() - SO_PEERCRED uid of a connected Unix socket, or -errno. */
int net_peer_uid(int fd, uid_t *uid);
/**
 * net_accept_trusted() - accept one connection on Unix listener @lfd whose
 * peer is root, our own uid, or runs with our primary gid (SO_PEERCRED);
 * others are logged as @what and closed.  The socket file's mode (0660)
 * is the real gate; this checks again in case a directory or file was
 * opened up by hand.
 * Returns a non-blocking, close-on-exec fd, or -errno (-EPERM if refused).
 */
int net_accept_trusted(int lfd, const char *what);

/**
 * net_split_hostport() - split "host:port", "[v6]:port" or "host" (then
 * @defport is used; 0 means a port is required).  Returns 0 or -EINVAL.
 */
int net_split_hostport(const char *s, char *host, size_t hostlen,
		       uint16_t *port, uint16_t defport);
/** net_parse_ip() - numeric IPv4/IPv6 + port into @ss.  0 or -EINVAL. */
int net_parse_ip(const char *host, uint16_t port, struct sockaddr_storage *ss,
		 socklen_t *len);
/** net_fmt() - "1.2.3.4:80" or "[::1]:80" into @buf (NET_ADDRSTRLEN). */
const char *net_fmt(const struct sockaddr *sa, char *buf, size_t len);
/**
 * net_tcp_liveness() - notice a silently dead TCP link (a NAT that forgot
 * us, a pulled cable) in bounded time: keepalive probes after @idle_s idle
 * seconds, every @intvl_s, @cnt of them unanswered end it; unacknowledged
 * data for @user_timeout_ms ends it too.  Best effort: errors are ignored.
 */
void net_tcp_liveness(int fd, int idle_s, int intvl_s, int cnt,
		      unsigned user_timeout_ms);
/** net_close_reset() - close a TCP socket so that its peer sees a reset
 *  (ECONNRESET), not an orderly EOF; -1 is ignored. */
void net_close_reset(int fd);
/**
 * net_send_fd() - send @len bytes from @p and, when @fd >= 0, the
 * descriptor @fd with them (SCM_RIGHTS), in one message and without
 * blocking.  @fd stays open.  Returns 0 or -errno.
 */
int net_send_fd(int sock, const void *p, size_t len, int fd);
/**
 * net_recv_fd() - recv(2) of up to @len bytes into @p without blocking; a
 * descriptor passed with them (SCM_RIGHTS, close-on-exec) lands in *@fd if
 * that is still -1, any other is closed (a peer cannot make us hold more
 * than we asked for).  Returns recv's count, or -1 with errno.
 */
ssize_t net_recv_fd(int sock, void *p, size_t len, int *fd);
/**
 * net_msg_fds() - hand each descriptor that a received message @m carried
 * (SCM_RIGHTS, in order) to @take, which owns it from then on.
 */
void net_msg_fds(struct msghdr *m, void (*take)(void *arg, int fd), void *arg);
socklen_t net_salen(const struct sockaddr *sa);
uint16_t net_port(const struct sockaddr *sa);

/**
 * sd_notifyf() - send a state string to $NOTIFY_SOCKET if set (systemd
 * Type=notify).  Self-contained so there is no libsystemd dependency.
 */
void sd_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
