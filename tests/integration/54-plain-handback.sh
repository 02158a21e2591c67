#!/bin/bash
# timeout: 240
# 54-plain-handback: hand-back (SO_CAP_HANDBACK).  sockout-plain, as it
# runs by default, gives sockoutd its connected TCP socket with CONNECTED
# (and with ACCEPTED on a helper listener), and the guest gets that very
# socket, as from the direct route (and a stream-mode guest's bridge
# carries it as it carries a direct one): big transfers both ways keep their
# sha256 with either side half-closing first, a server's reset reaches the
# guest, a guest listener gets its connection, and no byte went through
# sockoutd's relay or the helper (its splice and copy counts stay 0);
# `sockoutctl status' counts the hand-backs, and neither daemon keeps a
# descriptor afterwards.  Then a hostile helper (python) hands back what is
# no connected TCP socket: a Unix socket, a listening TCP socket, a pipe,
# a socket with an event not flagged for one, two sockets, the flag with
# no socket, a TCP socket with a filter locked on it (that would keep off
# the filter that pins it: 60-trust-reconnect), and a good socket from a
# helper that did not offer hand-back.
# Each time the guest's connect fails (ECONNREFUSED), sockoutd keeps
# serving, and its descriptors come back to where they were; a good
# socket from the same helper does reach the guest.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/sockoutd-lib.sh"
need python3

topo_basic
mkdir -p "$T/run"
GUEST_SOCK=$T/run/guest.sock
# sockout-plain with its defaults: hand-back on
printf 'data-socket %s\nevent-socket %s\n' "$T/run/plain.data" "$T/run/plain.event" >"$T/plain.conf"
bgns "$NS_H" "$BIN/sockout-plain" -f -v -c "$T/plain.conf" >"$T/plain.log" 2>&1
PLAIN_PID=$(echo $_pids | cut -d' ' -f1)
wait_sock "$T/run/plain.event"

# The hostile helper: CAPS is its HELLO capability mask; what it answers a
# CONNECT with depends on the port the guest asked for.
cat >"$T/evil.py" <<'PY'
import ctypes, os, socket, struct, sys
data_path, event_path, caps, logf = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
F_FD = 4
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
    ln, typ, fl, _r, mid, arg = struct.unpack(">IBBHII", recvn(c, 16))
    return typ, mid, arg, recvn(c, ln) if ln else b""
def hdr(typ, mid, arg, n=0, flags=0):
    return struct.pack(">IBBHII", n, typ, flags, 0, mid, arg)
def send(c, typ, mid, arg, payload=b"", flags=0):
    c.sendall(hdr(typ, mid, arg, len(payload), flags) + payload)
def tcp():
    s = socket.create_connection(("198.51.100.2", 7000)); return s
def connected(e, cid, fds, flags=F_FD):
    socket.send_fds(e, [hdr(64, cid, 0, 0, flags)], [f.fileno() if hasattr(f, "fileno") else f for f in fds])
while True:
    d, _ = ds.accept()
    typ, mid, arg, p = msg(d); assert typ == 1, typ                 # HELLO
    send(d, 32, 77, 1, struct.pack(">I", caps))
    e, _ = es.accept()
    typ, mid, arg, p = msg(e); assert typ == 10 and mid == 77
    try:
        while True:
            typ, cid, arg, p = msg(d)
            if typ == 9:
                send(d, 32, 0, 0, b'{"helper":"evil"}'); continue
            send(d, 32, cid, 0)                                    # any request: ok
            if typ != 2:
                continue
            port = struct.unpack(">H", p[2:4])[0]
            log("connect", cid, "port", port)
            keep = []
            if port == 8001:                                       # a Unix socket
                a, b = socket.socketpair(); keep = [a, b]; connected(e, cid, [a])
            elif port == 8002:                                     # a TCP listener
                l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(); keep = [l]
                connected(e, cid, [l])
            elif port == 8003:                                     # a pipe
                r, w = os.pipe(); connected(e, cid, [r]); os.close(r); os.close(w)
            elif port == 8004:                                     # not flagged
                s = tcp(); keep = [s]; connected(e, cid, [s], flags=0)
            elif port == 8005:                                     # two sockets
                s1, s2 = tcp(), tcp(); keep = [s1, s2]; connected(e, cid, [s1, s2])
            elif port == 8006:                                     # the flag alone
                send(e, 64, cid, 0, flags=F_FD)
            elif port == 8007:                                     # its filter locked
                s = tcp(); keep = [s]
                accept_all = struct.pack("HBBI", 6, 0, 0, 0xffffffff)  # ret #-1
                prog = ctypes.create_string_buffer(accept_all)
                fprog = struct.pack("HxxxxxxQ", 1, ctypes.addressof(prog))
                s.setsockopt(socket.SOL_SOCKET, 26, fprog)             # SO_ATTACH_FILTER
                s.setsockopt(socket.SOL_SOCKET, 44, 1)             # SO_LOCK_FILTER
                connected(e, cid, [s])
            elif port == 8009:                                     # a good one
                s = tcp(); keep = [s]; connected(e, cid, [s])
            for k in keep:
                k.close()
    except (EOFError, ConnectionError):
        log("dispatcher gone")
PY
bgns "$NS_H" python3 "$T/evil.py" "$T/run/evil.data" "$T/run/evil.event" 4 "$T/evil.log"
bgns "$NS_H" python3 "$T/evil.py" "$T/run/nocap.data" "$T/run/nocap.event" 0 "$T/nocap.log"
wait_sock "$T/run/evil.event"
wait_sock "$T/run/nocap.event"

cat >"$T/sockoutd.conf" <<CONF
guest-socket    $GUEST_SOCK
control-socket  $T/run/control.sock
helper plain    data $T/run/plain.data event $T/run/plain.event
helper evil     data $T/run/evil.data event $T/run/evil.event
helper nocap    data $T/run/nocap.data event $T/run/nocap.event
guest-stream    $T/vm1.sock name vm1 uid 4242
connect port 7000 helper plain to 198.51.100.2:7000
connect port 7001 helper plain to 198.51.100.2:7001
connect port 7002 helper plain to 198.51.100.2:7002
connect port 5201 helper plain to 198.51.100.2:5201
accept  port 9100 helper plain
connect port 8009 helper nocap
connect port 8000-8009 helper evil
CONF
start_sockoutd "$T/sockoutd.conf"
CTL="$BIN/sockoutctl -s $T/run/control.sock"
wait_for 10 sh -c "$CTL helpers | grep -c ' up ' | grep -qx 3" || fail "helpers not up: $($CTL helpers)"

# 7001: send FILE, half-close, then read the guest's bytes to EOF and
# write their sha256 to OUT.  7002: send 1 MiB, then reset.  (53's.)
# the guest for 7001 and 7002 (53's): read to EOF (sha256 to stdout), then
# send FILE and half-close, then wait for the server's close

mkdata "$T/a.bin" 32
mkdata "$T/b.bin" 32
mkdata "$T/c.bin" 32
bgns "$NS_S" python3 "$TOP/tests/integration/echo-server.py" 198.51.100.2 7000
bgns "$NS_S" python3 "$TOP/tests/integration/halfclose-server.py" "$T/b.bin" "$T/c.sha"
wait_tcp "$NS_S" 7000
wait_tcp "$NS_S" 7002
GP="python3 $TOP/tests/integration/gpclient.py"
G="ip netns exec $NS_G $GP $GUEST_SOCK"

# jnum JSON KEY: the first number KEY has in JSON
jnum() { echo "$1" | grep -o "\"$2\": *[0-9]*" | head -1 | grep -o '[0-9]*$'; }
# helper_json NAME: that helper's STATUS
helper_json() { $CTL helpers --json | grep -o "\"name\":\"$1\".*" | sed 's/}]}$//; s/},{"name.*//'; }
nfds() { ls "/proc/$1/fd" | wc -l; }
# settle PID N: wait (bounded) until PID holds at most N descriptors
settle() { wait_for 10 sh -c "[ \$(ls /proc/$1/fd | wc -l) -le $2 ]"; }

ofds0=$(nfds "$SOCKOUTD_PID")
pfds0=$(nfds "$PLAIN_PID")
st=$($CTL status --json)
[ "$(jnum "$st" handed_back)" = 0 ] || fail "handed_back before any connection: $st"

log "32 MiB echoed, the guest half-closing first"
$G connect 198.51.100.2 7000 --send "$T/a.bin" --recv "$T/a.got" >"$T/a.out" || fail "connect: $(cat "$T/a.out")"
[ "$(sha "$T/a.got")" = "$(sha "$T/a.bin")" ] || fail "echo: sha256 differs"
grep -Eq "^status 0 local 198.51.100.1:[0-9]+ peer 198.51.100.2:7000 fds 1$" "$T/a.out" || fail "reply: $(cat "$T/a.out")"

log "32 MiB each way, the server half-closing first"
ip netns exec "$NS_G" python3 "$TOP/tests/integration/halfclose-guest.py" "$TOP/tests/integration" "$GUEST_SOCK" 7001 "$T/c.bin" >"$T/b.out" 2>&1 ||
	fail "guest: $(cat "$T/b.out")"
[ "$(cat "$T/b.out")" = "$(sha "$T/b.bin")" ] || fail "server to guest: sha256 differs: $(cat "$T/b.out")"
wait_for 20 test -e "$T/c.sha" || fail "the server never saw the guest's EOF"
[ "$(cat "$T/c.sha")" = "$(sha "$T/c.bin")" ] || fail "guest to server: sha256 differs"

log "a server's reset reaches the guest as a reset"
ip netns exec "$NS_G" python3 "$TOP/tests/integration/halfclose-guest.py" "$TOP/tests/integration" "$GUEST_SOCK" 7002 "$T/c.bin" >"$T/r.out" 2>&1 ||
	fail "guest: $(cat "$T/r.out")"
grep -q "^reset after" "$T/r.out" || fail "no reset: $(cat "$T/r.out")"

if [ -x "$BIN/sockout-run" ] && command -v iperf3 >/dev/null; then
	log "iperf3 in the guest through the helper, both directions"
	bgns "$NS_S" iperf3 -s -p 5201 >"$T/iperf3-server.log" 2>&1
	wait_tcp "$NS_S" 5201
	for args in "" "-R"; do
		guest iperf3 -c 198.51.100.2 -p 5201 -t 1 $args >"$T/iperf.out" 2>&1 ||
			fail "iperf3 $args: $(cat "$T/iperf.out")"
		grep -q "receiver" "$T/iperf.out" || fail "iperf3 $args: $(cat "$T/iperf.out")"
	done
fi

log "a guest listener gets a handed-back connection"
hb0=$(jnum "$($CTL status --json)" handed_back)
$G listen 0.0.0.0 9100 --echo --ready "$T/l.ready" >"$T/l.out" 2>&1 &
LP=$!
wait_for 10 test -e "$T/l.ready" || fail "listen: $(cat "$T/l.out")"
wait_tcp "$NS_H" 9100
echo "via the helper, handed back" | ip netns exec "$NS_S" timeout 20 nc -N 198.51.100.1 9100 >"$T/nc.out" || fail "nc"
[ "$(cat "$T/nc.out")" = "via the helper, handed back" ] || fail "echo: $(cat "$T/nc.out")"
wait $LP || fail "listener: $(cat "$T/l.out")"
grep -q "^accept op 3 status 0 local 0.0.0.0:9100 peer 198.51.100.2:" "$T/l.out" || fail "accept: $(cat "$T/l.out")"
hb1=$(jnum "$($CTL status --json)" handed_back)
[ "$hb1" = $((hb0 + 1)) ] || fail "the accepted connection was not handed back: handed_back $hb0, then $hb1"

if [ -x "$BIN/sockout-run" ] && command -v socat >/dev/null; then
	log "a stream-mode guest (81's bridge) gets a handed-back connection: 8 MiB echoed"
	hb0=$(jnum "$($CTL status --json)" handed_back)
	bgns "$NS_G" socat TCP-LISTEN:7102,bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:"$T/vm1.sock"
	wait_tcp "$NS_G" 7102
	head -c $((8 << 20)) "$T/a.bin" >"$T/s.bin"
	ip netns exec "$NS_G" "$BIN/sockout-run" -s tcp:127.0.0.1:7102 -- \
		socat -t 30 - TCP:198.51.100.2:7000 <"$T/s.bin" >"$T/s.got" 2>"$T/s.err" || fail "stream: $(cat "$T/s.err")"
	[ "$(sha "$T/s.got")" = "$(sha "$T/s.bin")" ] || fail "stream: sha256 differs"
	hb1=$(jnum "$($CTL status --json)" handed_back)
	[ "$hb1" = $((hb0 + 1)) ] || fail "the stream guest's connection was not handed back: handed_back $hb0, then $hb1"
fi

log "every connection was handed back: nothing went through the relay or the helper"
st=$($CTL status --json)
n=$(jnum "$st" handed_back)
want=4 # echo, each way, reset, accepted
[ -x "$BIN/sockout-run" ] && command -v iperf3 >/dev/null && want=8 # and 2 x 2
[ "$n" -ge $want ] || fail "handed_back $n, want at least $want: $st"
[ "$(jnum "$st" handback_refused)" = 0 ] || fail "refused hand-backs: $st"
[ "$(jnum "$st" bytes_up)" = 0 ] && [ "$(jnum "$st" bytes_down)" = 0 ] || fail "bytes through the relay: $st"
[ "$(jnum "$st" relayed_open)" = 0 ] || fail "connections left in the relay: $st"
$CTL status | grep -q "handed back $n" || fail "sockoutctl status does not show the hand-backs: $($CTL status)"
hj=$(helper_json plain)
echo "$hj" | grep -q '"spliced":0,"copied":0' || fail "bytes through the helper: $hj"

log "no descriptor left in sockoutd or sockout-plain"
settle "$SOCKOUTD_PID" "$ofds0" || fail "sockoutd holds $(nfds "$SOCKOUTD_PID") descriptors, $ofds0 before"
settle "$PLAIN_PID" "$pfds0" || fail "sockout-plain holds $(nfds "$PLAIN_PID") descriptors, $pfds0 before"

log "a hostile helper's hand-backs are refused"
ofds0=$(nfds "$SOCKOUTD_PID")
for c in "8001 a Unix socket" "8002 a listening TCP socket" "8003 a pipe" \
	"8004 a socket with an event not flagged" "8005 two sockets" \
	"8006 the flag and no socket" "8007 a socket whose filter is locked" \
	"8009 a socket from a helper without hand-back"; do
	port=${c%% *}
	log "  $port: ${c#* }"
	# 8009 goes to nocap: its rule comes first
	$G connect 198.51.100.2 "$port" --expect-status 111 >"$T/e.out" 2>&1 ||
		fail "$port (${c#* }): $(cat "$T/e.out")"
	grep -q "fds 0$" "$T/e.out" || fail "$port: a descriptor reached the guest: $(cat "$T/e.out")"
	kill -0 "$SOCKOUTD_PID" || fail "sockoutd died"
	$G connect 198.51.100.2 7000 --send "$T/plain.conf" --recv "$T/x.got" >"$T/x.out" ||
		fail "after $port: $(cat "$T/x.out")"
	cmp -s "$T/x.got" "$T/plain.conf" || fail "after $port: echo differs"
	settle "$SOCKOUTD_PID" "$ofds0" || fail "after $port: sockoutd holds $(nfds "$SOCKOUTD_PID") descriptors, $ofds0 before"
done
st=$($CTL status --json)
[ "$(jnum "$st" handback_refused)" -ge 8 ] || fail "handback_refused: $st"
grep -q "helper evil: .*(said once)\|helper evil: connection .* refused" "$T/sockoutd.log" || fail "no warning naming the helper"
grep -q "helper nocap: descriptors from a helper without hand-back" "$T/sockoutd.log" || fail "nocap not warned about"
$CTL helpers | grep -Eq '^evil +up ' || fail "the hostile helper was dropped: $($CTL helpers)"

log "the same helper's good socket reaches the guest"
$G connect 198.51.100.2 8009 --expect-status 111 >/dev/null 2>&1 # nocap: still refused
sed -i 's/^connect port 8009 helper nocap$//' "$T/sockoutd.conf"
$CTL reload >/dev/null || fail "reload"
$G connect 198.51.100.2 8009 --send "$T/plain.conf" --recv "$T/y.got" >"$T/y.out" || fail "good hand-back: $(cat "$T/y.out")"
cmp -s "$T/y.got" "$T/plain.conf" || fail "good hand-back: echo differs"
settle "$SOCKOUTD_PID" "$ofds0" || fail "sockoutd holds $(nfds "$SOCKOUTD_PID") descriptors, $ofds0 before"

kill -0 "$PLAIN_PID" || fail "sockout-plain died"
! grep -E "Sanitizer|runtime error" "$T/plain.log" || fail "sanitizer report in sockout-plain's log"
sockoutd_stop_clean
pass
