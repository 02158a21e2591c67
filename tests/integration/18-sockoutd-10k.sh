#!/bin/bash
# timeout: 240
# 18-sockoutd-10k: 10,000 concurrent relayed connections through the
# helper route (sockout-plain) are held open with sockoutd's RSS <= 64 MB;
# they all still carry bytes, and closing them returns every descriptor.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/sockoutd-lib.sh"
need python3
[ -x "$BIN/sockout-plain" ] || fail "sockout-plain not built (run make)"
N=${SOCKOUT_10K:-10000}
[ "$(ulimit -Hn)" -ge $((N + 2000)) ] || skip "hard descriptor limit $(ulimit -Hn) is below $((N + 2000))"
ulimit -n "$(ulimit -Hn)"

topo_basic
mkdir -p "$T/run"
GUEST_SOCK=$T/run/guest.sock
start_plain "$T/run/p.data" "$T/run/p.event"
cat >"$T/sockoutd.conf" <<CONF
guest-socket    $GUEST_SOCK
control-socket  $T/run/control.sock
helper plain    data $T/run/p.data event $T/run/p.event
connect port 7000 helper plain to 198.51.100.2:7000
limit connections 20000
CONF
start_sockoutd "$T/sockoutd.conf"
CTL="$BIN/sockoutctl -s $T/run/control.sock"
wait_for 10 sh -c "$CTL helpers | grep -q '^plain *up '" || fail "helper not up"
bgns "$NS_S" python3 "$TOP/tests/integration/echo-server.py" 198.51.100.2 7000 --hold
wait_tcp "$NS_S" 7000
base_fds=$(ls /proc/$SOCKOUTD_PID/fd | wc -l)

cat >"$T/many.py" <<'PY'
import os, socket, sys, time
sys.path.insert(0, sys.argv[1])
import gpclient as g
path, n, ready, go = sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
conns = []
for i in range(n):
    r, fds = g.ask(path, g.CONNECT, "198.51.100.2", 7000)
    if not r or r[1] != 0:
        print("connect %d failed: %r" % (i, r)); sys.exit(1)
    conns.append(socket.socket(fileno=fds[0]))
for c in conns:
    c.sendall(b"ping")          # every one of them carries bytes
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.1)
for c in conns:
    c.close()
print("ok %d" % n)
PY
log "opening $N relayed connections"
ip netns exec "$NS_G" python3 "$T/many.py" "$TOP/tests/integration" "$GUEST_SOCK" $N "$T/ready" "$T/go" >"$T/many.out" 2>&1 &
MP=$!
wait_for 200 test -e "$T/ready" || fail "not all connected: $(cat "$T/many.out")"
wait_for 30 sh -c "$CTL status | grep -q 'open $N)'" || fail "sockoutd does not show $N open: $($CTL status | head -3)"
log "RSS before listing them: $(awk '/^VmRSS/{print $2}' /proc/$SOCKOUTD_PID/status) kB"
# the pings have crossed: every connection moved bytes
wait_for 30 sh -c "[ \$($CTL connections --json | grep -o '\"bytes_up\":4' | wc -l) -eq $N ]" ||
	fail "not every connection carried its bytes"
rss=$(awk '/^VmRSS/{print $2}' /proc/$SOCKOUTD_PID/status)
fds=$(ls /proc/$SOCKOUTD_PID/fd | wc -l)
log "$N connections held: sockoutd RSS $rss kB, $fds fds"
if ldd "$BIN/sockoutd" | grep -q libasan; then
	log "sanitizer build: ASan's redzones and quarantine make RSS meaningless, not judged"
else
	[ "$rss" -le 65536 ] || fail "RSS $rss kB > 64 MB"
fi
touch "$T/go"
wait $MP || fail "guest: $(cat "$T/many.out")"
wait_for 60 sh -c "$CTL status | grep -q 'open 0)'" || fail "connections not closed: $($CTL status | head -3)"
wait_for 20 sh -c "[ \$(ls /proc/$SOCKOUTD_PID/fd | wc -l) -le $base_fds ]" ||
	fail "fds: $base_fds before, $(ls /proc/$SOCKOUTD_PID/fd | wc -l) after"
sockoutd_stop_clean
pass
