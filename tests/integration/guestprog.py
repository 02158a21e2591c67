#!/usr/bin/env python3
# guestprog.py - small unmodified-python3 programs the guest tests run
# under sockout-run.  Each mode checks what it can itself, prints one JSON
# line per fact the calling script compares, and exits non-zero on error.
#
#   guestprog.py names-client HOST PORT    getsockname/getpeername of a client
#   guestprog.py names-server PORT         the same for a listener and accept
#   guestprog.py names-peer HOST PORT      (outside the guest) connect, print own name
#   guestprog.py epoll-first HOST PORT     epoll_ctl(ADD) before connect() (nginx)
#   guestprog.py loopback PORT_SOCKOUT PORT_NATIVE   see 25-guest-loopback.sh
import json
import sys
import socket


def out(**kw):
    print(json.dumps(kw), flush=True)


def names_client(host, port):
    # TCP_NODELAY set before connect must survive the shim's dup2().
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(20)
    s.connect((host, port))
    out(sock=list(s.getsockname()), peer=list(s.getpeername()),
        type=int(s.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE)),
        nodelay=s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    s.sendall(b"ping\n")
    s.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        b = s.recv(100)
        if not b:
            break
        got += b
    out(echo=got.decode())


def names_server(port):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(8)
    out(listen=list(ls.getsockname()),
        type=ls.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE),
        domain=ls.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN),
        acceptconn=ls.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
    try:
        ls.getpeername()
        out(listener_peer="unexpected")
    except OSError as e:
        out(listener_peer=e.errno)
    ls.settimeout(30)
    c, a = ls.accept()
    out(accept=list(a), peer=list(c.getpeername()), sock=list(c.getsockname()),
        nodelay=c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    c.sendall(c.recv(100))
    c.close()


def names_peer(host, port):
    s = socket.create_connection((host, port), timeout=20)
    out(mine=list(s.getsockname()))
    s.sendall(b"x")
    s.recv(10)


# ---- loopback: everything a guest does with its own 127.0.0.1 ----

import errno as _errno
import hashlib
import os
import select
import selectors
import threading

BLOB = os.urandom(1 << 20)
BLOB_SHA = hashlib.sha256(BLOB).hexdigest()


def echo_conn(c):
    """Echo until EOF, then close: the client half-closes first."""
    c.settimeout(30)
    with c:
        while True:
            b = c.recv(65536)
            if not b:
                return
            c.sendall(b)


def serve(ls, sel_cls, stop):
    """Accept with a given selector class (select, poll...) on a
    non-blocking listener; one thread per connection."""
    ls.setblocking(False)
    sel = sel_cls()
    sel.register(ls, selectors.EVENT_READ)
    while not stop.is_set():
        for _k, _ev in sel.select(timeout=0.2):
            try:
                c, _a = ls.accept()
            except BlockingIOError:
                continue
            c.setblocking(True)
            threading.Thread(target=echo_conn, args=(c,), daemon=True).start()


def exchange(s, data=BLOB, want_eof=True):
    """Send data, half-close, read the echo back; return its sha256.
    A forked child does not wait for EOF: it holds copies of the parent's
    accepted sockets, so the server's close would not end the stream."""
    s.settimeout(30)
    h = hashlib.sha256()
    t = threading.Thread(target=lambda: (s.sendall(data), s.shutdown(socket.SHUT_WR)))
    t.start()
    n = 0
    while want_eof or n < len(data):
        b = s.recv(65536)
        if not b:
            break
        n += len(b)
        h.update(b)
    t.join(30)
    s.close()
    return h.hexdigest()


def check(what, cond):
    out(check=what, ok=bool(cond))
    if not cond:
        sys.exit("FAILED: " + what)


def nb_connect_poll(addr, fam=socket.AF_INET):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setblocking(False)
    r = s.connect_ex(addr)
    check("non-blocking connect %s returns 0/EINPROGRESS (%d)" % (addr, r),
          r in (0, _errno.EINPROGRESS))
    p = select.poll()
    p.register(s, select.POLLOUT)
    check("poll says writable", p.poll(20000))
    check("SO_ERROR is 0", s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0)
    s.setblocking(True)
    return s


def epoll_exchange(addr):
    """A non-blocking client driven only by epoll."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.connect_ex(addr)
    ep = select.epoll()
    ep.register(s.fileno(), select.EPOLLOUT | select.EPOLLIN)
    sent, got, shut = 0, hashlib.sha256(), False
    deadline = 600
    while deadline:
        deadline -= 1
        for _fd, ev in ep.poll(1):
            if ev & select.EPOLLOUT and not shut:
                try:
                    sent += s.send(BLOB[sent:sent + 65536])
                except BlockingIOError:
                    pass
                if sent == len(BLOB):
                    s.shutdown(socket.SHUT_WR)
                    shut = True
                    ep.modify(s.fileno(), select.EPOLLIN)
            if ev & (select.EPOLLIN | select.EPOLLHUP):
                try:
                    b = s.recv(65536)
                except BlockingIOError:
                    continue
                if not b:
                    ep.close()
                    s.close()
                    return got.hexdigest()
                got.update(b)
    return "timeout"


def epoll_first(addr):
    """Register in epoll before connecting, as nginx does for upstreams:
    the socket the shim swaps in must still be watched."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    ep = select.epoll()
    ep.register(s.fileno(), select.EPOLLOUT)
    s.connect_ex(addr)
    ev = ep.poll(20)
    ok = len(ev) == 1 and ev[0][0] == s.fileno() and ev[0][1] & select.EPOLLOUT
    ep.close()
    s.setblocking(True)
    return ok and exchange(s) == BLOB_SHA


def loopback(p_sockout, p_native):
    stop = threading.Event()
    # A server the guest listens on through sockoutd (0.0.0.0)...
    a = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    a.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    a.bind(("0.0.0.0", p_sockout))
    a.listen(64)
    # ...a dual-stack one on [::] through sockoutd...
    a6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    a6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    a6.bind(("::", p_sockout + 10))
    a6.listen(64)
    # ...and one bound natively to the guest's own 127.0.0.1.
    b = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    b.bind(("127.0.0.1", p_native))
    b.listen(64)
    check("native listener keeps its address",
          b.getsockname() == ("127.0.0.1", p_native))
    for ls, cls in ((a, selectors.SelectSelector), (a6, selectors.PollSelector),
                    (b, selectors.EpollSelector)):
        threading.Thread(target=serve, args=(ls, cls, stop), daemon=True).start()

    A, A6, B = ("127.0.0.1", p_sockout), ("::1", p_sockout + 10), ("127.0.0.1", p_native)

    for addr, fam in ((A, socket.AF_INET), (B, socket.AF_INET), (A6, socket.AF_INET6),
                      (("127.0.0.1", p_sockout + 10), socket.AF_INET)):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect(addr)
        peer = s.getpeername()[:2]
        check("blocking connect %s: peer %s" % (addr, peer), peer == addr)
        check("blocking connect %s: sha256" % (addr,), exchange(s) == BLOB_SHA)

    for addr in (A, B):
        s = nb_connect_poll(addr)
        check("poll client %s: sha256" % (addr,), exchange(s) == BLOB_SHA)
        check("epoll client %s: sha256" % (addr,), epoll_exchange(addr) == BLOB_SHA)

    for addr in (A, B):
        check("epoll registration before connect %s" % (addr,), epoll_first(addr))

    # select() on a non-blocking connect
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.connect_ex(A)
    _r, w, _x = select.select([], [s], [], 20)
    check("select says writable", w == [s])
    s.setblocking(True)
    check("select client: sha256", exchange(s) == BLOB_SHA)

    # fork: the child uses a socket the parent connected
    for addr in (A, B):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect(addr)
        pid = os.fork()
        if pid == 0:
            os._exit(0 if exchange(s, want_eof=False) == BLOB_SHA else 1)
        s.close()
        _p, st = os.waitpid(pid, 0)
        check("forked child used the socket to %s" % (addr,),
              os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0)

    # fork on the server side: a child accepts on the parent's listener
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.bind(("0.0.0.0", p_sockout + 20))
    c.listen(8)
    pid = os.fork()
    if pid == 0:
        c.settimeout(20)
        try:
            conn, peer = c.accept()
            echo_conn(conn)
            os._exit(0 if peer[0] == "127.0.0.1" else 2)
        except Exception:
            os._exit(1)
    c.close()  # the child's copy keeps the listener alive
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(("127.0.0.1", p_sockout + 20))
    check("prefork child: sha256", exchange(s) == BLOB_SHA)
    _p, st = os.waitpid(pid, 0)
    check("prefork child accepted", os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0)

    # threads: 8 at once against both servers
    results = []

    def worker(addr):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect(addr)
        results.append(exchange(s, BLOB[:256 * 1024]))

    ts = [threading.Thread(target=worker, args=(A if i % 2 else B,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    want = hashlib.sha256(BLOB[:256 * 1024]).hexdigest()
    check("8 threads", len(results) == 8 and all(r == want for r in results))

    # shutdown() of a listener wakes a thread blocked in accept(), which
    # then fails with EINVAL as on a TCP listener
    d = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    d.bind(("0.0.0.0", p_sockout + 5))
    d.listen(4)
    woke = []

    def blocked():
        try:
            d.accept()
            woke.append("accepted?")
        except OSError as e:
            woke.append(e.errno)

    t = threading.Thread(target=blocked)
    t.start()
    t.join(0.3)
    d.shutdown(socket.SHUT_RDWR)
    t.join(20)
    check("shutdown wakes accept with EINVAL (%s)" % woke, woke == [_errno.EINVAL])
    d.close()

    # a listener handed to a new program across exec (socket activation,
    # a server re-executing itself) keeps working there
    import subprocess
    h = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    h.bind(("0.0.0.0", p_sockout + 6))
    h.listen(4)
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import socket, sys\n"
         "l = socket.socket(fileno=int(sys.argv[1]))\n"
         "c, a = l.accept()\n"
         "c.sendall(repr((l.getsockname(), a)).encode())\n"
         "c.close()\n", str(h.fileno())],
        pass_fds=(h.fileno(),))
    h.close()
    s = socket.create_connection(("127.0.0.1", p_sockout + 6), timeout=20)
    got = s.recv(200).decode()
    s.close()
    child.wait(20)
    check("listener inherited across exec accepts (%s)" % got,
          child.returncode == 0 and got.startswith("(('0.0.0.0', %d)" % (p_sockout + 6)))

    # nothing listens here: the guest's own loopback refuses
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(20)
    check("nothing on 127.0.0.1:%d refuses" % (p_native + 1),
          s.connect_ex(("127.0.0.1", p_native + 1)) == _errno.ECONNREFUSED)
    stop.set()
    out(done=True)


def main():
    m = sys.argv[1]
    if m == "names-client":
        names_client(sys.argv[2], int(sys.argv[3]))
    elif m == "names-server":
        names_server(int(sys.argv[2]))
    elif m == "names-peer":
        names_peer(sys.argv[2], int(sys.argv[3]))
    elif m == "epoll-first":
        if not epoll_first((sys.argv[2], int(sys.argv[3]))):
            sys.exit("epoll registration lost across connect")
        out(epoll_first=True)
    elif m == "loopback":
        loopback(int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit("unknown mode " + m)


if __name__ == "__main__":
    main()
