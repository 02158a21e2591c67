#!/usr/bin/env python3
# guestprog.py - small unmodified-python3 programs the guest tests run
# under sockout-run.  Each mode checks what it can itself, prints one JSON
# line per fact the calling script compares, and exits non-zero on error.
#
#   guestprog.py names-client HOST PORT    getsockname/getpeername of a client
#   guestprog.py names-server PORT         the same for a listener and accept
#   guestprog.py names-peer HOST PORT      (outside the guest) connect, print own name
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


def main():
    m = sys.argv[1]
    if m == "names-client":
        names_client(sys.argv[2], int(sys.argv[3]))
    elif m == "names-server":
        names_server(int(sys.argv[2]))
    elif m == "names-peer":
        names_peer(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit("unknown mode " + m)


if __name__ == "__main__":
    main()
