#!/bin/bash
# timeout: 120
# 26-guest-sockoutd-restart: a guest server outlives a sockoutd restart.
# python3 -m http.server listens in the guest through sockoutd; sockoutd is
# stopped (the server must idle, not spin on accept errors), started again,
# and the same server process is reachable again without being restarted.
. "$(dirname "$0")/../lib.sh"
need curl python3

topo_basic
mkdir -m 0700 "$T/run"
GUEST_SOCK=$T/run/guest.sock
cat >"$T/sockoutd.conf" <<CONF
guest-socket   $GUEST_SOCK
control-socket $T/run/control.sock
accept port 8080 direct 18080
accept any       deny
CONF
start_sockoutd "$T/sockoutd.conf"

mkdir "$T/www"
mkdata "$T/www/data.bin" 4
cd "$T/www" || fail "cd"
bg guest python3 -m http.server 8080 >"$T/guest-http.log" 2>&1
wait_tcp "$NS_H" 18080
fetch() {
	ip netns exec "$NS_S" curl -sS --max-time 10 -o "$T/got.bin" \
		http://198.51.100.1:18080/data.bin 2>"$T/curl.log" &&
		cmp -s "$T/got.bin" "$T/www/data.bin"
}
fetch || fail "first fetch: $(cat "$T/curl.log")"
srv=$(ip netns pids "$NS_G" | head -1)
[ -n "$srv" ] || fail "no guest server process"

# cputicks PID - user+system clock ticks used so far
cputicks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

log "stop sockoutd"
kill "$SOCKOUTD_PID"
wait_for 10 sh -c "! kill -0 $SOCKOUTD_PID" || fail "sockoutd did not stop"
fetch && fail "fetched with sockoutd stopped"
before=$(cputicks "$srv")
sleep 2
after=$(cputicks "$srv")
log "guest server used $((after - before)) ticks while sockoutd was away"
# A server spinning on a dead listener burns the whole 2 s (200 ticks).
[ $((after - before)) -lt 50 ] || fail "the guest server spins without sockoutd"
kill -0 "$srv" || fail "the guest server died: $(tail -5 "$T/guest-http.log")"

log "start sockoutd again"
rm -f "$GUEST_SOCK"
start_sockoutd "$T/sockoutd.conf"
wait_for 20 fetch || fail "no fetch after the restart: $(cat "$T/curl.log"; tail -5 "$T/guest-http.log")"
fetch || fail "second fetch after the restart"
[ "$(ip netns pids "$NS_G" | head -1)" = "$srv" ] || fail "the guest server was replaced"
grep -q "made again when sockoutd is back" "$T/guest-http.log" ||
	fail "the shim did not say what happened"
pass
