#!/bin/bash
# timeout: 120
# 59-seccomp-races: a thread of the program swaps the descriptor of a
# trapped call (dup2 in a loop) between the supervisor's look at it and the
# kernel's execution of the call.  Run where the network is reachable (the
# host's namespace, as a static program run on a host), with a table that
# lets nothing out: a connect() or bind() checked on a Unix socket must not
# be executed by the kernel on a TCP one, a sendto()/sendmsg() checked on a
# Unix or TCP socket must not be executed on a UDP one (no datagram reaches
# the outside server, no native connection or listener appears).  Then the
# Unix calls the supervisor now makes itself still behave as the kernel's
# (a relative path in the caller's cwd, its umask, SCM_RIGHTS, SIGPIPE),
# and setsockopt() on a listener after listen() works, its TCP options
# reaching the accepted sockets.
. "$(dirname "$0")/../lib.sh"
need python3

topo_basic
GUEST_SOCK=$T/guest.sock
cat >"$T/sockoutd.conf" <<CONF
guest-socket   $GUEST_SOCK
control-socket $T/control.sock
connect any      deny
accept port 7400 direct 17400
accept any       deny
CONF
start_sockoutd "$T/sockoutd.conf"
# the supervisor and its program in the host's namespace: a way out exists
hguest() { ip netns exec "$NS_H" "$BIN/sockout-run" --seccomp -s "$GUEST_SOCK" -- "$@"; }

# the outside: a TCP server on port 81 and a UDP one on 5300, counting
cat >"$T/outside.py" <<'PY'
import socket, sys, threading
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("198.51.100.2", 81)); t.listen(64)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("198.51.100.2", 5300))
out = open(sys.argv[1], "a", buffering=1)
def tcp():
    while True:
        c, a = t.accept(); out.write("tcp %s\n" % (a,)); c.close()
threading.Thread(target=tcp, daemon=True).start()
while True:
    d, a = u.recvfrom(100); out.write("udp %s\n" % (a,))
PY
: >"$T/outside.log"
bgns "$NS_S" python3 "$T/outside.py" "$T/outside.log"
wait_tcp "$NS_S" 81

cat >"$T/race.py" <<'PY'
# race.py MODE SECONDS: MODE connect, bind or send; prints "bypass ..." for
# every call the kernel carried out on a socket the supervisor never saw.
import ctypes, errno, os, socket, struct, sys, threading, time
libc = ctypes.CDLL(None, use_errno=True)
mode, secs = sys.argv[1], float(sys.argv[2])
def sin(host, port):
    return struct.pack("=H", socket.AF_INET) + struct.pack("!H4s8x", port, socket.inet_aton(host))
class Iov(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
class Msg(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32),
                ("iov", ctypes.POINTER(Iov)), ("iovlen", ctypes.c_size_t),
                ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]
def flip(fd, socks, stop):
    while not stop:
        for s in socks:
            os.dup2(s.fileno(), fd)
tries = bypass = 0
end = time.time() + secs
while time.time() < end and tries < 3000:
    tries += 1
    if mode == "send":
        # a Unix datagram socket and an unconnected TCP one look fine to
        # the supervisor (no way out); the UDP one would send out
        socks = [socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM), socket.socket(),
                 socket.socket(socket.AF_INET, socket.SOCK_DGRAM)]
    else:
        socks = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM), socket.socket()]
    fd = os.dup(socks[0].fileno())
    stop = []
    th = threading.Thread(target=flip, args=(fd, socks, stop)); th.start()
    if mode == "connect":
        sa = sin("198.51.100.2", 81)
        r = libc.syscall(42, fd, ctypes.c_char_p(sa), len(sa))
    elif mode == "bind":
        sa = sin("0.0.0.0", 0)
        r = libc.syscall(49, fd, ctypes.c_char_p(sa), len(sa))
    else:
        sa = sin("198.51.100.2", 5300)
        buf = ctypes.create_string_buffer(b"x")
        if tries % 2:
            r = libc.sendto(fd, buf, 1, 0, ctypes.c_char_p(sa), len(sa))
        else:
            iov = Iov(ctypes.cast(buf, ctypes.c_void_p), 1)
            name = ctypes.create_string_buffer(sa, len(sa))
            m = Msg(ctypes.cast(name, ctypes.c_void_p), len(sa), ctypes.pointer(iov), 1, None, 0, 0)
            r = libc.sendmsg(fd, ctypes.byref(m), 0)
    stop.append(1); th.join()
    if mode == "connect":
        try:
            print("bypass connected to", socks[1].getpeername(), flush=True); bypass += 1
        except OSError:
            pass
    elif mode == "bind" and r == 0:
        # native, the TCP socket has a port on the host; sockoutd's
        # listener would have been refused (accept any deny)
        try:
            socks[1].listen(1)
            name = socks[1].getsockname()
            if name[1] != 0:
                print("bypass listening natively on", name, flush=True); bypass += 1
        except OSError:
            pass
    elif mode == "send" and r == 1:
        print("bypass sent", flush=True); bypass += 1
    os.close(fd)
    for s in socks:
        s.close()
    if bypass >= 3:
        break
print("tries", tries, "bypass", bypass, flush=True)
PY
for m in ${RACE_MODES:-connect bind send}; do
	log "race: $m with the descriptor swapped under it"
	timeout 60 ip netns exec "$NS_H" "$BIN/sockout-run" --seccomp -s "$GUEST_SOCK" -- python3 "$T/race.py" $m 4 >"$T/race-$m.out" 2>&1 || fail "race.py $m: $(tail -3 "$T/race-$m.out")"
	tail -4 "$T/race-$m.out"
	grep -q "^tries [0-9]* bypass 0$" "$T/race-$m.out" || fail "$m: the kernel carried out a call the supervisor never checked"
done
sleep 0.5
[ -s "$T/outside.log" ] && fail "reached the outside: $(head -3 "$T/outside.log")"
ip netns exec "$NS_H" ss -Hltn | grep -v "127.0.0.1\|$GUEST_SOCK" | grep -q "0.0.0.0:" &&
	log "host listeners: $(ip netns exec "$NS_H" ss -Hltn)"

log "Unix calls the supervisor makes itself behave as the kernel's"
mkdir -p "$T/cwd"
cat >"$T/unix.py" <<'PY'
import array, errno, os, signal, socket, stat, sys
os.chdir(sys.argv[1])
os.umask(0o077)
# bind and connect by a path relative to the caller's cwd
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); srv.bind("s.sock"); srv.listen(1)
print("mode", oct(stat.S_IMODE(os.stat("s.sock").st_mode)))
cli = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); cli.connect("s.sock")
con, _ = srv.accept()
# SCM_RIGHTS: the descriptor sent is the caller's
r, w = os.pipe()
cli.sendmsg([b"f"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [w]))])
msg, anc, _, _ = con.recvmsg(1, socket.CMSG_SPACE(4))
got = array.array("i"); got.frombytes(anc[0][2][:4])
os.write(got[0], b"through"); print("rights", os.read(r, 10).decode())
# a datagram by path, with sendto
d = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); d.bind("d.sock")
e = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
e.sendto(b"dgram", "d.sock"); print("dgram", d.recv(10).decode())
# a send on a closed peer: EPIPE, and SIGPIPE unless MSG_NOSIGNAL
con.close()
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPIPE})
try:
    cli.sendmsg([b"x" * 10], [], socket.MSG_NOSIGNAL)
except OSError as ex:
    print("nosignal", errno.errorcode[ex.errno], "sigpipe", signal.SIGPIPE in signal.sigpending())
try:
    cli.sendmsg([b"x" * 10])
except OSError as ex:
    print("epipe", errno.errorcode[ex.errno], "sigpipe", signal.SIGPIPE in signal.sigpending())
PY
hguest python3 "$T/unix.py" "$T/cwd" >"$T/unix.out" 2>&1 || fail "unix.py: $(cat "$T/unix.out")"
cat "$T/unix.out"
for want in "mode 0o700" "rights through" "dgram dgram" "nosignal EPIPE sigpipe False" \
	"epipe EPIPE sigpipe True"; do
	grep -qx "$want" "$T/unix.out" || fail "expected '$want'"
done

log "setsockopt on a listener after listen(): accepted sockets inherit it"
cat >"$T/lopts.py" <<'PY'
import socket
l = socket.socket(); l.bind(("0.0.0.0", 7400))
# TCP_NODELAY is not trapped (every client sets it): before listen()
l.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
l.listen(4)
l.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 77)
l.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 1)
print("set", l.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE), flush=True)
c, a = l.accept()
print("accepted", c.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
      c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY), flush=True)
PY
ip netns exec "$NS_G" "$BIN/sockout-run" --seccomp -s "$GUEST_SOCK" -- \
	python3 "$T/lopts.py" >"$T/lopts.out" 2>&1 &
lp=$!
_pids="$lp $_pids"
wait_for 10 grep -q . "$T/lopts.out" || fail "no listener"
grep -qx "set 77" "$T/lopts.out" || fail "setsockopt on the listener: $(cat "$T/lopts.out")"
ip netns exec "$NS_S" python3 -c 'import socket; s = socket.create_connection(("198.51.100.1", 17400)); s.send(b"x"); s.recv(1)' 2>/dev/null &
wait_for 10 grep -q accepted "$T/lopts.out" || fail "no connection: $(cat "$T/lopts.out")"
cat "$T/lopts.out"
grep -qx "accepted 77 1" "$T/lopts.out" || fail "the accepted socket did not inherit the listener's options"
pass
