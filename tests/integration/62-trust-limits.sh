#!/bin/bash
# timeout: 120
# 62-trust-limits: per-uid limits.  With limit pending 3, listeners 2 and
# connections 2, uid A (raw guest-protocol clients) fills each: its next
# LISTEN, relayed CONNECT and guest-socket connection are refused at once
# with EAGAIN (11), while uid B is still served at once every time.  The
# refusals are counted in `sockoutctl status' (text and --json), logged,
# and the relayed connections show the kernel's pid, not a claimed one.
# Run against a daemon speaking guest protocol 1: GP_VERSION=1.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/sockoutd-lib.sh"
need python3 setpriv
[ -x "$BIN/sockout-plain" ] || fail "sockout-plain not built (run make)"
GP="$TOP/tests/integration/gpclient.py"
UA=64101 UB=64102

topo_basic
chmod 755 "$T"
mkdir -p -m 755 "$T/run"
mkdir -m 1777 "$T/w" # what the clients write themselves
GUEST_SOCK=$T/run/guest.sock
start_plain "$T/run/p.data" "$T/run/p.event"
cat >"$T/sockoutd.conf" <<CONF
guest-socket    $GUEST_SOCK
control-socket  $T/run/control.sock
helper plain    data $T/run/p.data event $T/run/p.event
connect port 7000 helper plain to 198.51.100.2:7000
accept  port 9000-9100 direct
limit pending     3
limit listeners   2
limit connections 2
CONF
start_sockoutd "$T/sockoutd.conf"
CTL="$BIN/sockoutctl -s $T/run/control.sock"
wait_for 10 sh -c "$CTL helpers | grep -q '^plain *up '" || fail "helper not up"
bgns "$NS_S" python3 "$TOP/tests/integration/echo-server.py" 198.51.100.2 7000
wait_tcp "$NS_S" 7000
# as_uid U CMD... - CMD in the guest namespace as uid U
as_uid() { local u=$1; shift; ip netns exec "$NS_G" setpriv --reuid=$u --regid=$u --clear-groups "$@"; }
A() { as_uid $UA /usr/bin/python3 "$GP" "$GUEST_SOCK" "$@"; }
B() { as_uid $UB /usr/bin/python3 "$GP" "$GUEST_SOCK" "$@"; }
echo "ping" >"$T/ping.txt"
# quick TIMEOUT CMD... - CMD must finish within TIMEOUT seconds: "at once"
quick() {
	local t=$1 s; shift
	s=$(date +%s%N)
	"$@" || return 1
	[ $(( ($(date +%s%N) - s) / 1000000 )) -le $((t * 1000)) ] || { echo "took more than ${t}s"; return 1; }
}

log "listeners: A holds 2, its third is refused; B still listens"
A listen 0.0.0.0 9001 --accept 1 --ready "$T/w/la1" >"$T/la1.out" 2>&1 &
A listen 0.0.0.0 9002 --accept 1 --ready "$T/w/la2" >"$T/la2.out" 2>&1 &
wait_for 10 sh -c "test -e $T/w/la1 && test -e $T/w/la2" || fail "A's listeners: $(cat "$T"/la?.out)"
quick 3 A listen 0.0.0.0 9003 --expect-status 11 >"$T/la3.out" 2>&1 || fail "A's third listener: $(cat "$T/la3.out")"
B listen 0.0.0.0 9004 --accept 1 --ready "$T/w/lb1" >"$T/lb1.out" 2>&1 &
wait_for 3 test -e "$T/w/lb1" || fail "B's listener: $(cat "$T/lb1.out")"

log "connections: A holds 2 relayed ones, its third is refused; B still connects"
A connect 198.51.100.2 7000 --pid 1 --hold 60 >"$T/ca1.out" 2>&1 &
CA1=$!
A connect 198.51.100.2 7000 --pid 1 --hold 60 >"$T/ca2.out" 2>&1 &
CA2=$!
wait_for 10 sh -c "grep -q '^status 0' $T/ca1.out && grep -q '^status 0' $T/ca2.out" ||
	fail "A's connections: $(cat "$T"/ca?.out)"
quick 3 A connect 198.51.100.2 7000 --expect-status 11 >"$T/ca3.out" 2>&1 || fail "A's third connection: $(cat "$T/ca3.out")"
quick 5 B connect 198.51.100.2 7000 --send "$T/ping.txt" --recv "$T/w/b.txt" >"$T/cb.out" 2>&1 ||
	fail "B's connection: $(cat "$T/cb.out")"
cmp -s "$T/w/b.txt" "$T/ping.txt" || fail "B's data differs"
log "relayed connections show the kernel's pid (setpriv and ip netns exec exec)"
$CTL connections --json >"$T/conns.json" || fail "sockoutctl connections"
python3 - "$T/conns.json" $UA <<'PY' || fail "connection pids: $(cat "$T/conns.json")"
import json, os, sys
cs = json.load(open(sys.argv[1]))["connections"]
ok = len(cs) == 2
for c in cs:  # each is a live gpclient of uid A (the claim was pid 1)
    cmd = open("/proc/%d/cmdline" % c["pid"], "rb").read().split(b"\0")
    ok = ok and b"connect" in cmd and os.stat("/proc/%d" % c["pid"]).st_uid == int(sys.argv[2])
sys.exit(0 if ok else 1)
PY

log "pending: A holds 3 guest-socket connections unanswered, its fourth is refused; B is served"
cat >"$T/hold.py" <<'PY'
import socket, sys, time
held = []
for _ in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    held.append(s)
open(sys.argv[3], "w").close()
time.sleep(60)
PY
as_uid $UA /usr/bin/python3 "$T/hold.py" "$GUEST_SOCK" 3 "$T/w/held" &
HP=$!
wait_for 5 test -e "$T/w/held" || fail "holder"
wait_for 5 sh -c "$CTL status --json | grep -q '\"pending\": *3'" || fail "3 pending: $($CTL status --json)"
quick 3 A connect 198.51.100.2 7000 --expect-status 11 >"$T/pa.out" 2>&1 || fail "A's fourth request: $(cat "$T/pa.out")"
quick 3 A listen 0.0.0.0 9005 --expect-status 11 >"$T/pl.out" 2>&1 || fail "A's fourth request (listen): $(cat "$T/pl.out")"
quick 5 B connect 198.51.100.2 7000 --send "$T/ping.txt" --recv "$T/w/b2.txt" >"$T/pb.out" 2>&1 ||
	fail "B while A is at its pending limit: $(cat "$T/pb.out")"
kill $HP; wait $HP 2>/dev/null

log "counted and logged"
$CTL status --json >"$T/status.json" || fail "status"
python3 - "$T/status.json" <<'PY' || fail "counters: $(cat "$T/status.json")"
import json, sys
c = json.load(open(sys.argv[1]))["counts"]
print({k: v for k, v in c.items() if k.startswith("refused")})
sys.exit(0 if (c["refused_listeners"], c["refused_connections"], c["refused_pending"],
               c["refused_guests"]) == (1, 1, 2, 0) else 1)
PY
$CTL status >"$T/status.txt" || fail "status text"
grep -q "^refused by limits: pending 2, listeners 1, connections 1, guests 0$" "$T/status.txt" ||
	fail "status text: $(cat "$T/status.txt")"
for k in listeners connections pending; do
	grep -q "uid $UA: $k limit ([0-9]*) reached" "$T/sockoutd.log" || fail "no log line for $k"
done
grep -q "uid $UB: .* limit" "$T/sockoutd.log" && fail "B was refused somewhere"
kill $CA1 $CA2 2>/dev/null
sockoutd_stop_clean
pass
