#!/usr/bin/env python3
# gpclient.py - a tiny guest that speaks protocol/guestproto.h directly, for
# the dispatcher's protocol-level tests (no shim involved).
#
#   gpclient.py SOCK connect ADDR PORT [--loopback] [--send FILE]
#                                      [--expect-status N] [--recv FILE]
#   gpclient.py SOCK listen ADDR PORT [--accept N] [--echo]
#   gpclient.py SOCK connect|listen ADDR PORT --reconnect ADDR PORT
#                    (dissolve the passed or accepted socket with
#                    connect(AF_UNSPEC), as a hostile guest may, and try to
#                    connect it elsewhere: prints "reconnect: ok, ..." or
#                    "reconnect: ERROR")
#   gpclient.py SOCK raw HEXBYTES      (send raw bytes, print what comes back)
#   gpclient.py SOCK flood N ADDR PORT (N sequential connects, print status counts)
#
# Prints "status N local A peer B" for the reply; exits 0 when the status
# matches --expect-status (default 0).
#
# Protocol version: 2 (no identity fields), or the one in $GP_VERSION.  With
# GP_VERSION=1 the request carries the claims version 1 had, --netns N and
# --pid N (default: 1 and our pid), so that the tests of the trust boundary
# can show what a daemon speaking version 1 believed.
import argparse, ctypes, ipaddress, os, socket, struct, sys, threading, time

MAGIC = 0x534f4731
VERSION = int(os.environ.get("GP_VERSION", "2"))
CONNECT, LISTEN, ACCEPT = 1, 2, 3
F_LOOPBACK = 1


def enc_addr(host, port):
    ip = ipaddress.ip_address(host)
    fam = 4 if ip.version == 4 else 6
    raw = ip.packed + bytes(16 - len(ip.packed))
    return struct.pack(">BBH", fam, 0, port) + raw


def dec_addr(b):
    fam, _, port = struct.unpack(">BBH", b[:4])
    if fam == 0:
        return "-"
    if fam == 4:
        return "%s:%d" % (ipaddress.IPv4Address(b[4:8]), port)
    return "[%s]:%d" % (ipaddress.IPv6Address(b[4:20]), port)


def req(op, host, port, flags=0, netns=1, pid=None, backlog=16):
    p = struct.pack(">IHBB", MAGIC, VERSION, op, flags) + enc_addr(host, port)
    if VERSION == 1:
        p += struct.pack(">QII", netns, pid if pid is not None else os.getpid(), backlog)
    else:
        p += struct.pack(">I", backlog)
    return p + bytes(64 - len(p))


def dec_reply(b):
    magic, ver, op, _z, status = struct.unpack(">IHBBH", b[:10])
    assert magic == MAGIC and ver == VERSION, "bad reply header"
    return op, status, dec_addr(b[12:32]), dec_addr(b[32:52])


def recv_reply(s):
    msg, fds, _flags, _addr = socket.recv_fds(s, 56, 1)
    if len(msg) != 56:
        return None, fds
    return dec_reply(msg), fds


def send_req(s, p):
    try:
        s.sendall(p)
    except (BrokenPipeError, ConnectionResetError):
        pass  # refused unread (op 0): the reply is there to read


def ask(sock, op, host, port, flags=0, netns=1, pid=None):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    send_req(s, req(op, host, port, flags, netns, pid))
    r, fds = recv_reply(s)
    s.close()
    return r, fds


def reconnect(c, host, port):
    """What a hostile guest may do with the socket it was given: dissolve
    the association (Python's connect() cannot pass AF_UNSPEC, so libc's
    is called) and connect the same socket somewhere the table never
    allowed.  The socket lives in sockoutd's namespace, so this would reach
    the host's own loopback."""
    libc = ctypes.CDLL(None, use_errno=True)
    # first try to take off what may stand in the way (SO_DETACH_FILTER)
    zero = ctypes.c_int(0)
    if libc.setsockopt(c.fileno(), socket.SOL_SOCKET, 27, ctypes.byref(zero), 4) < 0:
        print("detach filter: %s" % os.strerror(ctypes.get_errno()))
    unspec = (ctypes.c_ubyte * 16)()  # sa_family 0 = AF_UNSPEC
    if libc.connect(c.fileno(), unspec, 16) < 0:
        print("dissolve: %s" % os.strerror(ctypes.get_errno()))
    c.settimeout(3)
    try:
        c.connect((host, port))
        c.sendall(b"reconnected\n")
        d = c.recv(100)
        print("reconnect: ok, got %r" % d)
    except OSError as e:
        print("reconnect: %s" % (e.strerror or e))
    sys.stdout.flush()
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sock")
    ap.add_argument("cmd")
    ap.add_argument("args", nargs="*")
    ap.add_argument("--loopback", action="store_true")
    ap.add_argument("--netns", type=int, default=1)
    ap.add_argument("--pid", type=int)
    ap.add_argument("--send")
    ap.add_argument("--recv")
    ap.add_argument("--expect-status", type=int, default=0)
    ap.add_argument("--accept", type=int, default=1)
    ap.add_argument("--echo", action="store_true")
    ap.add_argument("--ready")
    ap.add_argument("--hold", type=float, default=0)
    ap.add_argument("--slow", action="store_true", help="read slowly")
    ap.add_argument("--reconnect", nargs=2, metavar=("ADDR", "PORT"))
    a = ap.parse_args()

    if a.cmd == "connect":
        host, port = a.args[0], int(a.args[1])
        r, fds = ask(a.sock, CONNECT, host, port, F_LOOPBACK if a.loopback else 0,
                     a.netns, a.pid)
        if r is None:
            print("no reply")
            return 1
        op, status, local, peer = r
        print("status %d local %s peer %s fds %d" % (status, local, peer, len(fds)))
        sys.stdout.flush()
        if status != a.expect_status:
            return 1
        if status:
            return 0
        c = socket.socket(fileno=fds[0])
        if c.getblocking() is False:
            print("error: the passed socket is non-blocking")
            return 1
        if a.reconnect:
            return reconnect(c, a.reconnect[0], int(a.reconnect[1]))
        sender = None
        if a.send:
            def send():
                with open(a.send, "rb") as f:
                    while True:
                        d = f.read(1 << 16)
                        if not d:
                            break
                        c.sendall(d)
                c.shutdown(socket.SHUT_WR)
            # send and receive at once: an echo peer would deadlock
            # a client that sends everything before reading
            sender = threading.Thread(target=send)
            sender.start()
        if a.recv:
            with open(a.recv, "wb") as f:
                while True:
                    d = c.recv(65536)
                    if not d:
                        break
                    f.write(d)
                    if a.slow:
                        time.sleep(0.002)
        if sender:
            sender.join()
        if a.hold:
            time.sleep(a.hold)
        c.close()
        return 0

    if a.cmd == "listen":
        host, port = a.args[0], int(a.args[1])
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(a.sock)
        send_req(s, req(LISTEN, host, port, 0, a.netns, a.pid))
        r, fds = recv_reply(s)
        s.close()
        op, status, local, peer = r
        print("status %d local %s" % (status, local))
        sys.stdout.flush()
        if status != a.expect_status:
            return 1
        if status:
            return 0
        lst = socket.socket(fileno=fds[0])
        if a.ready:
            open(a.ready, "w").close()
        for _ in range(a.accept):
            r, cfds = recv_reply(lst)
            if r is None:
                print("listener closed")
                return 1
            op, status, local, peer = r
            print("accept op %d status %d local %s peer %s" % (op, status, local, peer))
            sys.stdout.flush()
            c = socket.socket(fileno=cfds[0])
            if a.reconnect:
                reconnect(c, a.reconnect[0], int(a.reconnect[1]))
                continue
            if a.echo:
                while True:
                    d = c.recv(65536)
                    if not d:
                        break
                    c.sendall(d)
            c.close()
        return 0

    if a.cmd == "raw":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(a.sock)
        s.sendall(bytes.fromhex(a.args[0]))
        s.settimeout(5)
        try:
            d = s.recv(100)
        except socket.timeout:
            print("timeout")
            return 1
        print("got %d bytes" % len(d))
        return 0

    if a.cmd == "flood":
        n, host, port = int(a.args[0]), a.args[1], int(a.args[2])
        counts = {}
        for _ in range(n):
            r, fds = ask(a.sock, CONNECT, host, port)
            for fd in fds:
                os.close(fd)
            st = r[1] if r else -1
            counts[st] = counts.get(st, 0) + 1
        print(" ".join("%d:%d" % kv for kv in sorted(counts.items())))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
