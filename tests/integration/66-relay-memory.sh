#!/bin/bash
# timeout: 150
# 66-relay-memory: sockoutd's queue budget (limit helper-queue) bounds what
# it buffers on the helper route (the READ/WRITE relay: sockout-plain runs
# with `handoff no', as a handed connection is not buffered in sockoutd at
# all).  150 guest connections through sockout-plain
# to a server that sends without end; the guest reads none of them.  Each
# connection may hold two READ replies (512 KiB) for its guest: on main that
# grew sockoutd by 11-15 MiB; with `limit helper-queue 1M' (then 16 KiB READs) the
# growth of sockoutd's VmRSS must stay under 8 MiB.  Then the guest reads
# from every connection: shrunken windows still move.
#
# (It ran 100 connections while 150 stalled a reader once.  Found in the
# handed-over run of this scenario, where the helper's own budget is what
# is spent: the stalled connection was not paused in the helper, which
# waited for its server, and the server's TCP was in retransmission backoff
# (ss -ti: backoff:6, rto 13 s, lost 61) after the helper host's full
# receive queues dropped segments, longer than the guest's 20 s recv.)
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/sockoutd-lib.sh"
need python3
[ -x "$BIN/sockout-plain" ] || fail "sockout-plain not built (run make)"

# Under ASan, freed blocks wait in its quarantine (256 MiB by default) and
# count in VmRSS: measure the program's memory, not the sanitizer's.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0"

topo_basic
mkdir -p "$T/run"
GUEST_SOCK=$T/run/guest.sock
PLAIN_HANDOFF=no start_plain "$T/run/p.data" "$T/run/p.event"
cat >"$T/sockoutd.conf" <<CONF
guest-socket    $GUEST_SOCK
control-socket  $T/run/control.sock
helper plain    data $T/run/p.data event $T/run/p.event
connect port 7400 helper plain to 198.51.100.2:7400
limit helper-queue 1M
CONF
start_sockoutd "$T/sockoutd.conf"
CTL="$BIN/sockoutctl -s $T/run/control.sock"
wait_for 10 sh -c "$CTL helpers | grep -q '^plain *up '" || fail "helper not up"

cat >"$T/firehose.py" <<'PY'
import socket, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.51.100.2", 7400))
s.listen(128)
blob = b"z" * (1 << 20)
def pour(c):
    try:
        while True:
            c.sendall(blob)
    except OSError:
        pass
while True:
    c, _ = s.accept()
    threading.Thread(target=pour, args=(c,), daemon=True).start()
PY
bgns "$NS_S" python3 "$T/firehose.py"
wait_tcp "$NS_S" 7400

rss() { awk '/^VmRSS/{print $2}' "/proc/$SOCKOUTD_PID/status"; }
base=$(rss)
N=150
cat >"$T/idle-guest.py" <<'PY'
import os, socket, sys, time
sys.path.insert(0, sys.argv[1])
import gpclient as g
n = int(sys.argv[3])
cs = []
for i in range(n):
    r, fds = g.ask(sys.argv[2], g.CONNECT, "198.51.100.2", 7400)
    assert r and r[1] == 0, r
    cs.append(socket.socket(fileno=fds[0]))
open(sys.argv[4], "w").close()
while not os.path.exists(sys.argv[5]):
    time.sleep(0.05)
# now read 8 MiB from each: more than a shrunken window, more than the
# full one
for c in cs:
    c.settimeout(20)
    got = 0
    while got < (8 << 20):
        d = c.recv(1 << 18)
        assert d, "EOF"
        got += len(d)
print("read 8 MiB from each of %d" % n)
PY
ip netns exec "$NS_G" python3 "$T/idle-guest.py" "$TOP/tests/integration" "$GUEST_SOCK" $N \
	"$T/guest.ready" "$T/guest.go" >"$T/guest.out" 2>&1 &
GP=$!
_pids="$GP $_pids"
wait_for 30 test -e "$T/guest.ready" || fail "guest: $(cat "$T/guest.out")"

log "$N connections open, the guest reads none: sampling sockoutd's memory for 5 s"
max=0
for i in $(seq 20); do
	r=$(rss)
	[ "$r" -gt "$max" ] && max=$r
	sleep 0.25
done
log "sockoutd's VmRSS grew by $(( (max - base) / 1024 )) MiB (from $((base / 1024)) MiB)"
[ $((max - base)) -lt $((8 * 1024)) ] ||
	fail "sockoutd grew by $(( (max - base) / 1024 )) MiB for $N unread connections"

log "the guest reads from every connection"
touch "$T/guest.go"
wait $GP || fail "guest: $(cat "$T/guest.out")"
cat "$T/guest.out"
sockoutd_stop_clean
pass
