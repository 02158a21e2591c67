#!/bin/bash
# timeout: 120
# 17-sockoutd-bad-helper: a fake helper (python) that breaks the protocol.
# Session 1 answers a CONNECT with a malformed frame on the data socket;
# session 2 lets a connection open, then sends an unknown event.  Each
# time sockoutd drops only that helper (the waiting guest is refused, the
# open connection is reset), keeps serving the direct route, and redials.
# Session 3 refuses a CONNECT (the errno reaches the guest), then serves a
# connection whose ARRIVED and WRITABLE events overtake the replies they
# follow: nothing stalls.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/sockoutd-lib.sh"
need python3

topo_basic
mkdir -p "$T/run"
GUEST_SOCK=$T/run/guest.sock
cat >"$T/fake.py" <<'PY'
import os, socket, struct, sys, time
data_path, event_path, logf = sys.argv[1:4]
def log(*a):
    with open(logf, "a") as f: print(*a, file=f)
def listen(p):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind(p); s.listen(); return s
ds, es = listen(data_path), listen(event_path)
def recvn(c, n):
    b = b""
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d: raise EOFError
        b += d
    return b
def msg(c):
    h = recvn(c, 16)
    ln, typ, fl, _r, mid, arg = struct.unpack(">IBBHII", h)
    return typ, mid, arg, recvn(c, ln) if ln else b""
def send(c, typ, mid, arg, payload=b"", flags=0):
    c.sendall(struct.pack(">IBBHII", len(payload), typ, flags, 0, mid, arg) + payload)
def req(c):
    # the next request that is not STATUS (sockoutctl helpers asks for it)
    while True:
        m = msg(c)
        if m[0] != 9:
            return m
        send(c, 32, 0, 0, b'{"helper":"fake"}')
session = 0
while True:
    d, _ = ds.accept(); session += 1
    typ, mid, arg, p = msg(d); assert typ == 1, typ          # HELLO
    log("session", session, "hello", p.decode())
    send(d, 32, 1000 + session, 1)                          # REPLY token
    e, _ = es.accept()
    typ, mid, arg, p = msg(e); assert typ == 10 and mid == 1000 + session
    try:
        typ, cid, arg, p = req(d); assert typ == 2, typ      # CONNECT
        if session == 1:
            log("session 1: garbage on the data socket")
            d.sendall(b"\x00\x00\x00\x00\x20\x00\xff\xff" + bytes(8))   # reserved bits set
        elif session == 2:
            send(d, 32, cid, 0)                              # CONNECT ok
            send(e, 64, cid, 0)                              # CONNECTED
            typ, mid, arg, p = req(d); assert typ == 6, typ  # READ
            send(d, 32, cid, 0)                              # nothing yet
            time.sleep(1)
            log("session 2: unknown event")
            send(e, 99, cid, 0)
        else:
            send(d, 32, cid, 111, flags=1)                  # CONNECT refused
            # then a well-behaved connection whose events overtake the
            # replies they follow (the two sockets race in real helpers)
            typ, cid, arg, p = req(d); assert typ == 2, typ
            send(d, 32, cid, 0)
            send(e, 64, cid, 0)                              # CONNECTED
            reads, got, wrote = 0, b"", 0
            while True:
                typ, mid, arg, p = req(d)
                if typ == 6:                                 # READ
                    reads += 1
                    if reads == 1:
                        send(e, 67, cid, 0)                  # ARRIVED first...
                        time.sleep(0.3)
                        send(d, 32, cid, 0)                  # ...then the empty reply
                    elif reads == 2:
                        send(d, 32, cid, 0)
                    else:
                        send(d, 32, cid, 5, b"hello", flags=2)  # data + EOF
                elif typ == 5:                               # WRITE
                    wrote += 1
                    if wrote == 1 and len(p) > 1:
                        send(e, 68, cid, 0)                  # WRITABLE first...
                        time.sleep(0.3)
                        got += p[:1]
                        send(d, 32, cid, 1)                  # ...then a partial reply
                    else:
                        got += p
                        send(d, 32, cid, len(p))
                elif typ == 7:                               # SHUTDOWN
                    log("session 3 got %r then shutdown" % got)
                    send(d, 32, cid, 0)
                elif typ == 8:                               # CLOSE
                    send(d, 32, cid, 0)
                    log("session 3 closed %d" % arg)
                else:
                    send(d, 32, mid, 0)
        while d.recv(65536): pass
    except (EOFError, ConnectionResetError) as ex:
        pass
    log("session", session, "dropped by sockoutd")
    d.close(); e.close()
PY
bgns "$NS_H" python3 "$T/fake.py" "$T/run/f.data" "$T/run/f.event" "$T/fake.log"
wait_sock "$T/run/f.event"
cat >"$T/sockoutd.conf" <<CONF
guest-socket    $GUEST_SOCK
control-socket  $T/run/control.sock
helper fake     data $T/run/f.data event $T/run/f.event
connect port 7000   helper fake to x
connect any         direct
CONF
start_sockoutd "$T/sockoutd.conf"
CTL="$BIN/sockoutctl -s $T/run/control.sock"
bgns "$NS_S" python3 "$TOP/tests/integration/echo-server.py" 198.51.100.2 7001
wait_tcp "$NS_S" 7001
G="ip netns exec $NS_G python3 $TOP/tests/integration/gpclient.py $GUEST_SOCK"
echo hello >"$T/small.txt"
wait_for 10 grep -q "session 1 hello sockoutd" "$T/fake.log" || fail "no HELLO"
wait_for 10 sh -c "$CTL helpers | grep -q '^fake *up '" || fail "fake helper not up"

log "session 1: a malformed reply drops the helper; the guest is refused"
$G connect 198.51.100.2 7000 --expect-status 111 >"$T/c1.out" || fail "guest: $(cat "$T/c1.out")"
wait_for 5 grep -q "session 1 dropped" "$T/fake.log" || fail "helper not dropped"
grep -q "helper fake down: protocol error" "$T/sockoutd.log" || fail "no protocol error logged"
$G connect 198.51.100.2 7001 --send "$T/small.txt" --recv "$T/d1.out" >/dev/null || fail "direct after garbage"
cmp -s "$T/d1.out" "$T/small.txt" || fail "direct data differs"

log "session 2: an unknown event resets the open connection"
wait_for 15 grep -q "session 2 hello" "$T/fake.log" || fail "no redial"
wait_for 10 sh -c "$CTL helpers | grep -q '^fake *up '" || fail "fake helper not up again"
cat >"$T/open.py" <<'PY'
import socket, sys
sys.path.insert(0, sys.argv[1])
import gpclient as g
r, fds = g.ask(sys.argv[2], g.CONNECT, "198.51.100.2", 7000)
assert r and r[1] == 0, r
c = socket.socket(fileno=fds[0])
try:
    d = c.recv(100)
    print("no reset: %r" % d)
except ConnectionResetError:
    print("reset")
PY
ip netns exec "$NS_G" timeout 20 python3 "$T/open.py" "$TOP/tests/integration" "$GUEST_SOCK" >"$T/open.out" 2>&1 || fail "open: $(cat "$T/open.out")"
grep -qx reset "$T/open.out" || fail "guest: $(cat "$T/open.out")"
wait_for 5 grep -q "session 2 dropped" "$T/fake.log" || fail "helper not dropped (2)"
kill -0 $SOCKOUTD_PID || fail "sockoutd died"
$G connect 198.51.100.2 7001 --send "$T/small.txt" --recv "$T/d2.out" >/dev/null || fail "direct after bad event"
cmp -s "$T/d2.out" "$T/small.txt" || fail "direct data differs (2)"
wait_for 15 grep -q "session 3 hello" "$T/fake.log" || fail "no second redial"
$G connect 198.51.100.2 7000 --expect-status 111 >/dev/null || fail "refused CONNECT not passed on"

log "session 3: ARRIVED and WRITABLE overtaking their replies do not stall"
printf abc >"$T/abc.txt"
ip netns exec "$NS_G" timeout 20 python3 "$TOP/tests/integration/gpclient.py" "$GUEST_SOCK" \
	connect 198.51.100.2 7000 --send "$T/abc.txt" --recv "$T/hello.txt" >"$T/c3.out" 2>&1 || fail "guest: $(cat "$T/c3.out")"
[ "$(cat "$T/hello.txt")" = hello ] || fail "guest got: $(cat "$T/hello.txt")"
wait_for 5 grep -q "session 3 got b'abc' then shutdown" "$T/fake.log" || fail "helper did not get abc"
wait_for 5 grep -q "session 3 closed 0" "$T/fake.log" || fail "no orderly CLOSE"
cat "$T/fake.log"
sockoutd_stop_clean
pass
