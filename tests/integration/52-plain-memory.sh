#!/bin/bash
# timeout: 150
# 52-plain-memory: the helper runtime's queue budget bounds sockout-plain's
# memory.  50 guest connections through sockoutd and sockout-plain to a
# server that sends without end; the guest reads none of them.  Each
# connection may queue SH_QUEUE_MAX (4 MiB), which used to add up to over
# 200 MiB; with the budget (32 MiB, then 64 KiB windows) sockout-plain's
# VmRSS must stay under 64 MiB.  Then the guest reads from every connection:
# shrunken windows still move, and the budget frees again.
. "$(dirname "$0")/../lib.sh"
need python3
[ -x "$BIN/sockout-plain" ] || fail "sockout-plain not built (run make)"

# Under ASan, freed blocks wait in its quarantine (256 MiB by default) and
# count in VmRSS: measure the program's memory, not the sanitizer's.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0"

topo_basic
mkdir -p "$T/run"
GUEST_SOCK=$T/run/guest.sock
start_plain "$T/run/p.data" "$T/run/p.event"
cat >"$T/sockoutd.conf" <<CONF
guest-socket    $GUEST_SOCK
control-socket  $T/run/control.sock
helper plain    data $T/run/p.data event $T/run/p.event
connect port 7400 helper plain to 198.51.100.2:7400
CONF
start_sockoutd "$T/sockoutd.conf"
CTL="$BIN/sockoutctl -s $T/run/control.sock"
wait_for 10 sh -c "$CTL helpers | grep -q '^plain *up '" || fail "helper not up"

bgns "$NS_S" python3 "$TOP/tests/integration/firehose.py"
wait_tcp "$NS_S" 7400

N=50
ip netns exec "$NS_G" python3 "$TOP/tests/integration/idle-guest.py" "$TOP/tests/integration" "$GUEST_SOCK" $N \
	"$T/guest.ready" "$T/guest.go" >"$T/guest.out" 2>&1 &
GP=$!
_pids="$GP $_pids"
wait_for 30 test -e "$T/guest.ready" || fail "guest: $(cat "$T/guest.out")"

rss() { awk '/^VmRSS/{print int($2 / 1024)}' "/proc/$PLAIN_PID/status"; }
log "$N connections open, the guest reads none: sampling sockout-plain's memory for 5 s"
max=0
for i in $(seq 20); do
	r=$(rss)
	[ "$r" -gt "$max" ] && max=$r
	sleep 0.25
done
log "sockout-plain VmRSS peaked at $max MiB"
$CTL helpers --json | grep -o '"queued":[0-9]*,"queue_budget":[0-9]*' || true
[ "$max" -lt 64 ] || fail "sockout-plain grew to $max MiB for $N unread connections"

log "the guest reads from every connection"
touch "$T/guest.go"
wait $GP || fail "guest: $(cat "$T/guest.out")"
cat "$T/guest.out"
kill -0 "$PLAIN_PID" || fail "sockout-plain died"
grep -E "Sanitizer|runtime error" "$T/plain.log" && fail "sanitizer report in sockout-plain's log"
pass
