#!/bin/bash
# timeout: 180
# 67-helper-restart-listener: a guest server outlives restarts of the helper
# that serves it.  An unmodified `python3 -m http.server' in the guest
# behind `accept port 9100 helper plain'; sockout-plain is killed (-9, then
# SIGTERM) and started again: each time sockoutd keeps the guest's
# listener, registers it again when the helper is back, and a fetch from
# outside gets the file (sha256), from the same server process.  A listener
# asked for while the helper is down is granted and served once it is up.
# A helper that refuses the re-registration (its port taken meanwhile)
# makes sockoutd close that guest listener, with a log line.  A helper
# removed by a reload while it is down takes its guest listeners along.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/sockoutd-lib.sh"
need python3 curl nc
[ -x "$BIN/sockout-plain" ] || fail "sockout-plain not built (run make)"
[ -x "$BIN/sockout-run" ] || fail "sockout-run not built (run make)"

topo_basic
mkdir -p "$T/run" "$T/www"
GUEST_SOCK=$T/run/guest.sock
restart_plain() {
	rm -f "$T/run/p.data" "$T/run/p.event"
	start_plain "$T/run/p.data" "$T/run/p.event"
}
restart_plain
cat >"$T/sockoutd.conf" <<CONF
guest-socket    $GUEST_SOCK
control-socket  $T/run/control.sock
helper plain    data $T/run/p.data event $T/run/p.event
accept port 9100-9102 helper plain
CONF
start_sockoutd "$T/sockoutd.conf"
CTL="$BIN/sockoutctl -s $T/run/control.sock"
up() { $CTL helpers | grep -q '^plain *up '; }
down() { $CTL helpers | grep -q '^plain *down '; }
wait_for 10 up || fail "helper not up"

mkdata "$T/www/data.bin" 2
(cd "$T/www" && exec ip netns exec "$NS_G" "$BIN/sockout-run" -s "$GUEST_SOCK" -- \
	python3 -m http.server 9100) >"$T/ghttp.log" 2>&1 &
HTTP_PID=$!
_pids="$HTTP_PID $_pids"
wait_tcp "$NS_H" 9100

# fetch WHAT - the file from the guest server, from outside; sha256
fetch() {
	rm -f "$T/got.bin"
	ip netns exec "$NS_S" curl -sS --max-time 20 -o "$T/got.bin" \
		http://198.51.100.1:9100/data.bin 2>"$T/curl.log" ||
		fail "$1: fetch from the guest server: $(cat "$T/curl.log")"
	[ "$(sha "$T/got.bin")" = "$(sha "$T/www/data.bin")" ] || fail "$1: sha256 differs"
	kill -0 "$HTTP_PID" || fail "$1: the guest server died"
}
fetch "at start"

for sig in KILL TERM; do
	log "kill -$sig the helper, start it again"
	kill -$sig "$PLAIN_PID"
	wait_for 10 down || fail "helper not shown down after SIG$sig"
	restart_plain
	wait_for 15 up || fail "no redial after SIG$sig: $($CTL helpers)"
	wait_tcp "$NS_H" 9100
	fetch "after SIG$sig"
done
[ "$(grep -c 'helper plain: listener on port 9100 registered again' "$T/sockoutd.log")" = 2 ] ||
	fail "the re-registrations were not logged"

log "a listener asked for while the helper is down is granted"
G="ip netns exec $NS_G python3 $TOP/tests/integration/gpclient.py $GUEST_SOCK"
kill -9 "$PLAIN_PID"
wait_for 10 down || fail "helper not shown down"
$G listen 0.0.0.0 9101 --echo --ready "$T/l.ready" >"$T/l.out" 2>&1 &
LP=$!
_pids="$LP $_pids"
wait_for 10 test -e "$T/l.ready" || fail "listen while the helper is down: $(cat "$T/l.out")"
restart_plain
wait_for 15 up || fail "no redial"
wait_tcp "$NS_H" 9101
echo "registered late" | ip netns exec "$NS_S" timeout 20 nc -N 198.51.100.1 9101 >"$T/nc.out" || fail "nc"
[ "$(cat "$T/nc.out")" = "registered late" ] || fail "echo: $(cat "$T/nc.out")"
wait $LP || fail "listener: $(cat "$T/l.out")"
fetch "after a late listener"

log "a refused re-registration closes the guest's listener"
$G listen 0.0.0.0 9102 --ready "$T/l2.ready" >"$T/l2.out" 2>&1 &
LP2=$!
_pids="$LP2 $_pids"
wait_for 10 test -e "$T/l2.ready" || fail "listen 9102: $(cat "$T/l2.out")"
wait_tcp "$NS_H" 9102
kill -9 "$PLAIN_PID"
wait_for 10 down || fail "helper not shown down"
# someone else takes the port while the helper is away
bgns "$NS_H" python3 -c 'import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 9102)); s.listen(1); time.sleep(120)'
wait_tcp "$NS_H" 9102
restart_plain
wait_for 15 up || fail "no redial"
wait_for 10 grep -q "helper plain refused listening on port 9102 again" "$T/sockoutd.log" ||
	fail "the refusal was not logged"
wait_for 10 sh -c "! kill -0 $LP2" || fail "the guest's listener was not closed"
grep -qx "listener closed" "$T/l2.out" || fail "listener: $(cat "$T/l2.out")"
fetch "at the end"

log "a helper removed while it is down takes its listeners along"
kill -9 "$PLAIN_PID"
wait_for 10 down || fail "helper not shown down"
cat >"$T/sockoutd.conf" <<CONF
guest-socket    $GUEST_SOCK
control-socket  $T/run/control.sock
CONF
$CTL reload >"$T/reload.out" 2>&1 || fail "reload: $(cat "$T/reload.out")"
no_listeners() { [ "$($CTL connections --json | grep -o '"route"' | wc -l)" = 0 ]; }
wait_for 10 no_listeners || fail "listeners left: $($CTL connections)"
kill -0 "$SOCKOUTD_PID" || fail "sockoutd died"
sockoutd_stop_clean
pass
