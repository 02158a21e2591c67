#!/bin/bash
# timeout: 180
# 19-sockoutd-backpressure: nobody's memory or descriptors grow because a
# peer is slow.  A guest that does not accept: sockoutd holds at most one
# accepted connection and lets the kernel backlog queue the rest, and all
# are delivered once the guest accepts.  Through the helper: a slow server
# (partial WRITEs, WRITABLE) and a slow guest reader still get every byte.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/sockoutd-lib.sh"
need python3
[ -x "$BIN/sockout-plain" ] || fail "sockout-plain not built (run make)"

topo_basic
mkdir -p "$T/run"
GUEST_SOCK=$T/run/guest.sock
start_plain "$T/run/p.data" "$T/run/p.event"
cat >"$T/sockoutd.conf" <<CONF
guest-socket    $GUEST_SOCK
control-socket  $T/run/control.sock
helper plain    data $T/run/p.data event $T/run/p.event
connect port 7100 helper plain to 198.51.100.2:7100
connect port 7200 helper plain to 198.51.100.2:7200
accept  port 9200 direct
CONF
start_sockoutd "$T/sockoutd.conf"
CTL="$BIN/sockoutctl -s $T/run/control.sock"
wait_for 10 sh -c "$CTL helpers | grep -q '^plain *up '" || fail "helper not up"
G="ip netns exec $NS_G python3 $TOP/tests/integration/gpclient.py $GUEST_SOCK"
fds() { ls /proc/$SOCKOUTD_PID/fd | wc -l; }

log "a guest listener that does not accept"
cat >"$T/lazy.py" <<'PY'
import os, socket, sys, time
sys.path.insert(0, sys.argv[1])
import gpclient as g
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[2])
s.sendall(g.req(g.LISTEN, "0.0.0.0", 9200, backlog=512))
r, fds = g.recv_reply(s)
assert r[1] == 0, r
lst = socket.socket(fileno=fds[0])
open(sys.argv[3], "w").close()
while not os.path.exists(sys.argv[4]):
    time.sleep(0.05)
n = int(sys.argv[5])
for i in range(n):
    r, cfds = g.recv_reply(lst)
    c = socket.socket(fileno=cfds[0])
    d = c.recv(100)
    c.sendall(d)
    c.close()
print("accepted %d" % n)
PY
NC=400
ip netns exec "$NS_G" python3 "$T/lazy.py" "$TOP/tests/integration" "$GUEST_SOCK" "$T/lazy.ready" "$T/lazy.go" $NC >"$T/lazy.out" 2>&1 &
LP=$!
wait_for 10 test -e "$T/lazy.ready" || fail "lazy listener: $(cat "$T/lazy.out")"
base=$(fds)
cat >"$T/clients.py" <<'PY'
import socket, sys, threading
n, ok = int(sys.argv[1]), []
def one(i):
    c = socket.create_connection(("198.51.100.1", 9200), timeout=60)
    c.sendall(b"client %d" % i)
    if c.recv(100) == b"client %d" % i:
        ok.append(i)
ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in ts: t.start()
for t in ts: t.join()
print("ok %d" % len(ok))
PY
ip netns exec "$NS_S" python3 "$T/clients.py" $NC >"$T/clients.out" 2>&1 &
CP=$!
# the seqpacket queue fills (a few hundred messages), then sockoutd must stop
wait_for 20 grep -q "not accepting on port 9200" "$T/sockoutd.log" || fail "backpressure never engaged"
sleep 1
held=$(( $(fds) - base ))
log "with $NC connections waiting, sockoutd holds $held more descriptors"
[ $held -le 1 ] || fail "sockoutd holds $held descriptors for a guest that does not accept"
touch "$T/lazy.go"
wait $LP || fail "lazy: $(cat "$T/lazy.out")"
wait $CP || fail "clients: $(cat "$T/clients.out")"
[ "$(cat "$T/clients.out")" = "ok $NC" ] || fail "clients: $(cat "$T/clients.out")"

log "through the helper to a slow server: every byte arrives"
mkdata "$T/up.bin" 24
bgns "$NS_S" python3 "$TOP/tests/integration/echo-server.py" 198.51.100.2 7100 --sink "$T/sink.bin"
wait_tcp "$NS_S" 7100
$G connect 198.51.100.2 7100 --send "$T/up.bin" >"$T/up.out" || fail "upload: $(cat "$T/up.out")"
wait_for 60 test -e "$T/sink.bin" || fail "sink never finished"
[ "$(sha "$T/sink.bin")" = "$(sha "$T/up.bin")" ] || fail "upload sha256 differs"
grep -q "helper plain .*WRITE" "$T/sockoutd.log" && fail "a WRITE went wrong"

log "from the helper to a slow guest reader: every byte arrives"
bgns "$NS_S" python3 "$TOP/tests/integration/echo-server.py" 198.51.100.2 7200 --source "$T/up.bin"
wait_tcp "$NS_S" 7200
: >"$T/empty"
$G connect 198.51.100.2 7200 --slow --recv "$T/down.bin" >"$T/down.out" || fail "download: $(cat "$T/down.out")"
[ "$(sha "$T/down.bin")" = "$(sha "$T/up.bin")" ] || fail "download sha256 differs"
wait_for 10 sh -c "$CTL status | grep -q 'open 0)'" || fail "connections left open"
# Which data path carried the connections: handed to the helper (the
# default), or the READ/WRITE relay with `handoff no' (69-relay-both-paths).
if [ "${PLAIN_HANDOFF:-yes}" = no ]; then
	! grep -q "handed over" "$T/sockoutd.log" || fail "handoff no, yet a connection was handed over"
else
	grep -q "handed over" "$T/sockoutd.log" || fail "no connection was handed over to the helper"
fi
sockoutd_stop_clean
pass
