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

bgns "$NS_S" python3 "$TOP/tests/integration/firehose.py"
wait_tcp "$NS_S" 7400

rss() { awk '/^VmRSS/{print $2}' "/proc/$SOCKOUTD_PID/status"; }
base=$(rss)
N=150
ip netns exec "$NS_G" python3 "$TOP/tests/integration/idle-guest.py" "$TOP/tests/integration" "$GUEST_SOCK" $N \
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
