#!/bin/bash
# timeout: 180
# 16-sockoutd-helper: the helper route end to end with the reference helper
# sockout-plain: bytes through the paper's protocol (sha256), an unmodified
# curl in the guest, a helper listener, sockoutctl's view, then kill -9 of
# the helper mid-transfer: the guest sees a reset, new connects are refused
# at once, sockoutd keeps running and redials when the helper is back.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/sockoutd-lib.sh"
need python3 ss nc
[ -x "$BIN/sockout-plain" ] || fail "sockout-plain not built (run make)"
GP="python3 $TOP/tests/integration/gpclient.py"

topo_basic
mkdir -p "$T/run"
GUEST_SOCK=$T/run/guest.sock
cat >"$T/plain.conf" <<CONF
data-socket  $T/run/plain.data
event-socket $T/run/plain.event
${PLAIN_HANDOFF:+handoff $PLAIN_HANDOFF}
# the relay's own view (connections, byte counts, a reset when the helper
# dies) is what this test looks at: 54-plain-handback.sh tests hand-back
handback ${PLAIN_HANDBACK:-no}
CONF
start_plain() {
	bgns "$NS_H" "$BIN/sockout-plain" -f -v -c "$T/plain.conf" >>"$T/plain.log" 2>&1
	PLAIN_PID=$(echo $_pids | cut -d' ' -f1)
	wait_sock "$T/run/plain.event"
}
start_plain
cat >"$T/sockoutd.conf" <<CONF
guest-socket    $GUEST_SOCK
control-socket  $T/run/control.sock
connect-timeout 30s
helper plain    data $T/run/plain.data event $T/run/plain.event
connect port 7000   helper plain to 198.51.100.2:7000
connect port 8000   helper plain to 198.51.100.2:8000
accept  port 9100   helper plain
accept  port 9101   helper plain
connect any         deny
CONF
start_sockoutd "$T/sockoutd.conf"
CTL="$BIN/sockoutctl -s $T/run/control.sock"
wait_for 10 sh -c "$CTL helpers | grep -q '^plain *up '" || fail "helper never came up: $($CTL helpers)"

bgns "$NS_S" python3 "$TOP/tests/integration/echo-server.py" 198.51.100.2 7000
mkdir "$T/www"
mkdata "$T/www/data.bin" 16
bgns "$NS_S" python3 -m http.server -d "$T/www" -b 198.51.100.2 8000 >"$T/http.log" 2>&1
wait_tcp "$NS_S" 7000
wait_tcp "$NS_S" 8000
G="ip netns exec $NS_G $GP $GUEST_SOCK"

log "16 MiB echoed through the helper"
$G connect 198.51.100.2 7000 --send "$T/www/data.bin" --recv "$T/got.bin" >"$T/c1.out" || fail "connect: $(cat "$T/c1.out")"
[ "$(sha "$T/got.bin")" = "$(sha "$T/www/data.bin")" ] || fail "sha256 differs"
grep -Eq "^status 0 local (198.51.100.1:[0-9]+|0.0.0.0:0) peer 198.51.100.2:7000 fds 1$" "$T/c1.out" || fail "reply: $(cat "$T/c1.out")"

if [ -x "$BIN/sockout-run" ] && command -v curl >/dev/null; then
	log "an unmodified curl in the guest through the helper"
	guest curl -sS --max-time 60 -o "$T/curl.bin" http://198.51.100.2:8000/data.bin 2>"$T/curl.log" ||
		fail "curl: $(cat "$T/curl.log")"
	[ "$(sha "$T/curl.bin")" = "$(sha "$T/www/data.bin")" ] || fail "curl sha256 differs"
fi

log "a guest listener served by the helper"
$G listen 0.0.0.0 9100 --echo --ready "$T/l.ready" >"$T/l.out" 2>&1 &
LP=$!
wait_for 10 test -e "$T/l.ready" || fail "listen: $(cat "$T/l.out")"
wait_tcp "$NS_H" 9100
echo "via the helper" | ip netns exec "$NS_S" timeout 20 nc -N 198.51.100.1 9100 >"$T/nc.out" || fail "nc"
[ "$(cat "$T/nc.out")" = "via the helper" ] || fail "echo: $(cat "$T/nc.out")"
wait $LP || fail "listener: $(cat "$T/l.out")"
grep -q "^accept op 3 status 0 local 0.0.0.0:9100 peer 198.51.100.2:" "$T/l.out" || fail "accept: $(cat "$T/l.out")"

if [ -x "$BIN/sockout-run" ] && command -v curl >/dev/null; then
	log "an unmodified http.server in the guest, served through the helper"
	(cd "$T/www" && exec ip netns exec "$NS_G" "$BIN/sockout-run" -s "$GUEST_SOCK" -- \
		python3 -m http.server 9101) >"$T/ghttp.log" 2>&1 &
	_pids="$! $_pids"
	wait_tcp "$NS_H" 9101
	ip netns exec "$NS_S" curl -sS --max-time 60 -o "$T/ghttp.bin" \
		http://198.51.100.1:9101/data.bin 2>"$T/gcurl.log" || fail "curl to the guest server: $(cat "$T/gcurl.log")"
	[ "$(sha "$T/ghttp.bin")" = "$(sha "$T/www/data.bin")" ] || fail "guest server sha256 differs"
fi

log "a connection in flight shows in sockoutctl connections"
cat >"$T/midway.py" <<'PY'
import socket, sys
sys.path.insert(0, sys.argv[1])
import gpclient as g
r, fds = g.ask(sys.argv[2], g.CONNECT, "198.51.100.2", 7000)
assert r and r[1] == 0, r
c = socket.socket(fileno=fds[0])
blob = b"x" * (1 << 20)
c.sendall(blob)
got = 0
while got < len(blob):
    d = c.recv(1 << 16)
    assert d, "EOF too early"
    got += len(d)
open(sys.argv[3], "w").close()
try:
    d = c.recv(1 << 16)
    print("no reset: got %r" % d[:20])
    sys.exit(1)
except ConnectionResetError:
    print("reset")
PY
ip netns exec "$NS_G" python3 "$T/midway.py" "$TOP/tests/integration" "$GUEST_SOCK" "$T/mid.ready" >"$T/mid.out" 2>&1 &
MP=$!
wait_for 20 test -e "$T/mid.ready" || fail "mid-transfer client: $(cat "$T/mid.out")"
$CTL connections >"$T/conns.txt" || fail "sockoutctl connections"
cat "$T/conns.txt"
grep -q "helper plain .*198.51.100.2:7000 .*1.0 MiB *1.0 MiB *open" "$T/conns.txt" || fail "connection not listed"

log "kill -9 the helper mid-transfer: the guest sees a reset"
kill -9 $PLAIN_PID
wait $MP || fail "guest: $(cat "$T/mid.out")"
grep -qx reset "$T/mid.out" || fail "guest: $(cat "$T/mid.out")"
kill -0 $SOCKOUTD_PID || fail "sockoutd died with its helper"
wait_for 5 sh -c "$CTL helpers | grep -q '^plain *down '" || fail "helper not shown down: $($CTL helpers)"
$CTL helpers

log "while it is down, connects are refused at once"
s=$(date +%s)
$G connect 198.51.100.2 7000 --expect-status 111 >/dev/null || fail "connect while down"
# "at once" as behaviour, not timing: well inside the 30 s connect-timeout
[ $(( $(date +%s) - s )) -lt 15 ] || fail "the refusal waited for a timeout"

log "the helper comes back: sockoutd redials"
rm -f "$T/run/plain.data" "$T/run/plain.event"
start_plain
wait_for 15 sh -c "$CTL helpers | grep -q '^plain *up '" || fail "no redial: $($CTL helpers)"
$G connect 198.51.100.2 7000 --send "$T/www/data.bin" --recv "$T/got2.bin" >"$T/c2.out" || fail "connect after redial: $(cat "$T/c2.out")"
cmp -s "$T/got2.bin" "$T/www/data.bin" || fail "data differs after redial"
[ "$(grep -c 'helper plain down' "$T/sockoutd.log")" = 1 ] || fail "down logged more than once"
# Which data path carried the connections: handed to the helper (the
# default), or the READ/WRITE relay with `handoff no' (69-relay-both-paths).
if [ "${PLAIN_HANDOFF:-yes}" = no ]; then
	! grep -q "handed over" "$T/sockoutd.log" || fail "handoff no, yet a connection was handed over"
else
	grep -q "handed over" "$T/sockoutd.log" || fail "no connection was handed over to the helper"
fi
sockoutd_stop_clean
pass
