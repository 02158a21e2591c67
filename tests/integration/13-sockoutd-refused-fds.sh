#!/bin/bash
# timeout: 180
# 13-sockoutd-refused-fds: 10,000 refused or denied guest connections (deny
# rule, no rule, host refusal, helper down, listen denied) leave sockoutd's
# descriptor count where it was, and its memory about where it was.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/sockoutd-lib.sh"
need python3

topo_basic
mkdir -p "$T/run"
GUEST_SOCK=$T/run/guest.sock
cat >"$T/sockoutd.conf" <<CONF
guest-socket    $GUEST_SOCK
control-socket  $T/run/control.sock
helper absent   data $T/run/absent.data event $T/run/absent.event
connect port 81        deny
connect port 82        helper absent to x
connect 198.51.100.0/24 direct
accept  any            deny
CONF
start_sockoutd "$T/sockoutd.conf"
sleep 0.5
fds() { ls /proc/$SOCKOUTD_PID/fd | wc -l; }
rss() { awk '/^VmRSS/{print $2}' /proc/$SOCKOUTD_PID/status; }
G="ip netns exec $NS_G python3 $TOP/tests/integration/gpclient.py $GUEST_SOCK"
# warm up once so lazily allocated things are counted in the baseline
$G flood 10 198.51.100.2 81 >/dev/null
base_fds=$(fds) base_rss=$(rss)
log "baseline: $base_fds fds, RSS $base_rss kB"

$G flood 4000 198.51.100.2 81 >"$T/f1" || fail "flood 1"
$G flood 3000 203.0.113.5 80 >"$T/f2" || fail "flood 2"
$G flood 2000 198.51.100.2 7999 >"$T/f3" || fail "flood 3"
$G flood 1000 198.51.100.2 82 >"$T/f4" || fail "flood 4"
for f in f1 f2 f3 f4; do log "$f: $(cat "$T/$f")"; done
[ "$(cat "$T/f1")" = "111:4000" ] || fail "deny: $(cat "$T/f1")"
[ "$(cat "$T/f2")" = "111:3000" ] || fail "no rule: $(cat "$T/f2")"
[ "$(cat "$T/f3")" = "111:2000" ] || fail "host refused: $(cat "$T/f3")"
[ "$(cat "$T/f4")" = "111:1000" ] || fail "helper down: $(cat "$T/f4")"
$G listen 0.0.0.0 80 --expect-status 13 >/dev/null || fail "listen deny"

wait_for 10 sh -c "[ \$(ls /proc/$SOCKOUTD_PID/fd | wc -l) -le $base_fds ]" || fail "fds grew: $base_fds -> $(fds)"
now_rss=$(rss)
log "after 10,000: $(fds) fds, RSS $now_rss kB"
# ASan keeps freed blocks in quarantine (every request's state, about 1 KiB
# since requests carry a name): RSS is judged on the plain build, as in 18
if ldd "$BIN/sockoutd" | grep -q libasan; then
	log "sanitizer build: ASan's quarantine makes RSS meaningless, not judged"
else
	[ $((now_rss - base_rss)) -lt 4096 ] || fail "RSS grew by $((now_rss - base_rss)) kB"
fi
"$BIN/sockoutctl" -s "$T/run/control.sock" status >"$T/status.txt" || fail "status"
cat "$T/status.txt"
grep -q "requests 10011:" "$T/status.txt" || fail "request count"
log "out of descriptors: sockoutd pauses accepting instead of spinning, then recovers"
if command -v prlimit >/dev/null; then
	hard=$(awk '/^Max open files/{print $5}' /proc/$SOCKOUTD_PID/limits)
	prlimit --pid $SOCKOUTD_PID --nofile=$((base_fds + 20)):$hard || fail prlimit
	cat >"$T/hog.py" <<'PY'
import socket, sys, time
ss = []
for i in range(60):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.sendall(b"SOG1")          # a stalled half request holds a descriptor
    ss.append(s)
open(sys.argv[2], "w").close()
time.sleep(3)
PY
	python3 "$T/hog.py" "$GUEST_SOCK" "$T/hog.ready" &
	HP=$!
	wait_for 10 test -e "$T/hog.ready" || fail "hog"
	sleep 0.5
	a=$(awk '{print $14+$15}' /proc/$SOCKOUTD_PID/stat)
	sleep 1.5
	b=$(awk '{print $14+$15}' /proc/$SOCKOUTD_PID/stat)
	log "CPU while out of descriptors: $((b - a)) ticks in 1.5 s"
	[ $((b - a)) -le 30 ] || fail "sockoutd spins when out of descriptors ($((b - a)) ticks)"
	grep -q "guest socket: Too many open files: pausing accepts" "$T/sockoutd.log" || fail "no warning"
	[ "$(grep -c 'pausing accepts' "$T/sockoutd.log")" = 1 ] || fail "warning not rate-limited"
	wait $HP
	prlimit --pid $SOCKOUTD_PID --nofile=$hard:$hard
	wait_for 10 sh -c "[ \$(ls /proc/$SOCKOUTD_PID/fd | wc -l) -le $base_fds ]" || fail "fds after the hog: $(fds)"
	$G connect 198.51.100.2 81 --expect-status 111 >/dev/null || fail "not serving after running out of descriptors"
fi
sockoutd_stop_clean
pass
