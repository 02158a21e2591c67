#!/bin/bash
# timeout: 150
# 60-trust-reconnect: a TCP socket sockoutd gives a guest cannot be turned
# into another connection.  Each of those sockets lives in sockoutd's
# namespace, and the kernel lets whoever holds one dissolve it with
# connect(AF_UNSPEC) and connect it again.  A raw guest (no shim) takes the
# socket of every kind sockoutd hands out: a direct connect, a direct
# accept, both ends of a guest-internal loopback pair, a helper
# connection's pair end (sockout-plain, `handback no') and a helper's
# handed-back socket (`handback yes'); it tries to detach the socket's
# filter (EPERM: locked), dissolves it and connects it to a service on the
# host's own loopback and to a remote port the table denies.  Each
# reconnect times out, and neither service ever accepts a connection.  The
# allowed connections themselves still carry their bytes.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/sockoutd-lib.sh"
need python3 ss
GP="python3 $TOP/tests/integration/gpclient.py"

topo_basic
mkdir -p "$T/run"
GUEST_SOCK=$T/run/guest.sock
for hb in no yes; do
	printf 'data-socket %s\nevent-socket %s\nhandback %s\n' \
		"$T/run/p$hb.data" "$T/run/p$hb.event" $hb >"$T/p$hb.conf"
	bgns "$NS_H" "$BIN/sockout-plain" -f -c "$T/p$hb.conf" >"$T/p$hb.log" 2>&1
	wait_sock "$T/run/p$hb.event"
done
cat >"$T/sockoutd.conf" <<CONF
guest-socket    $GUEST_SOCK
control-socket  $T/run/control.sock
helper relay    data $T/run/pno.data event $T/run/pno.event
helper back     data $T/run/pyes.data event $T/run/pyes.event
connect 198.51.100.2 port 7000 direct
connect 198.51.100.2 port 7001 helper relay to 198.51.100.2:7000
connect 198.51.100.2 port 7002 helper back to 198.51.100.2:7000
accept  port 9100 direct
accept  port 9200 direct
connect any deny
CONF
start_sockoutd "$T/sockoutd.conf"
CTL="ip netns exec $NS_H $BIN/sockoutctl -s $T/run/control.sock"
wait_for 10 sh -c "$CTL helpers | grep -q '^back *up '" || fail "helper never came up"
wait_for 10 sh -c "$CTL helpers | grep -q '^relay *up '" || fail "helper never came up"

# The forbidden services: each line in its file is a connection it took.
cat >"$T/tally.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(16)
while True:
    c, a = s.accept()
    with open(sys.argv[3], "a") as f:
        print(a, file=f)
    c.close()
PY
: >"$T/host.tally"
: >"$T/remote.tally"
bgns "$NS_H" python3 "$T/tally.py" 127.0.0.1 7700 "$T/host.tally"
bgns "$NS_S" python3 "$T/tally.py" 198.51.100.2 7009 "$T/remote.tally"
bgns "$NS_S" python3 "$TOP/tests/integration/echo-server.py" 198.51.100.2 7000
wait_tcp "$NS_H" 7700
wait_tcp "$NS_S" 7009
wait_tcp "$NS_S" 7000
G="ip netns exec $NS_G $GP $GUEST_SOCK"

# check WHAT OUTFILE - the guest's attempt (in OUTFILE) was stopped
check() {
	grep -q "^detach filter: Operation not permitted" "$2" ||
		fail "$1: the filter could be detached: $(cat "$2")"
	grep -q "^reconnect: timed out" "$2" || fail "$1: reconnect not stopped: $(cat "$2")"
}

log "the allowed connections carry their bytes"
mkdata "$T/data" 2
for port in 7000 7001 7002; do
	$G connect 198.51.100.2 $port --send "$T/data" --recv "$T/got" >"$T/c.out" 2>&1 ||
		fail "port $port: $(cat "$T/c.out")"
	[ "$(sha "$T/got")" = "$(sha "$T/data")" ] || fail "port $port: data differs"
done

log "connected sockets: direct, a helper's pair end, a handed-back one"
for port in 7000 7001 7002; do
	for target in "127.0.0.1 7700" "198.51.100.2 7009"; do
		$G connect 198.51.100.2 $port --reconnect $target >"$T/c.out" 2>&1 ||
			fail "port $port: $(cat "$T/c.out")"
		check "port $port to $target" "$T/c.out"
	done
done
$CTL status | grep -q "handed back [1-9]" || fail "nothing was handed back: $($CTL status)"

log "an accepted socket: direct accept"
$G listen 0.0.0.0 9100 --accept 1 --reconnect 127.0.0.1 7700 \
	--ready "$T/l.ready" >"$T/l.out" 2>&1 &
lpid=$!
wait_for 10 test -e "$T/l.ready" || fail "listen 9100: $(cat "$T/l.out")"
ip netns exec "$NS_S" python3 -c '
import socket, time
s = socket.create_connection(("198.51.100.1", 9100), timeout=5)
time.sleep(5)' &
wait $lpid || fail "listener: $(cat "$T/l.out")"
check "direct accept" "$T/l.out"

log "a guest-internal loopback pair: both ends"
$G listen 127.0.0.1 9200 --accept 1 --reconnect 127.0.0.1 7700 \
	--ready "$T/p.ready" >"$T/p.out" 2>&1 &
lpid=$!
wait_for 10 test -e "$T/p.ready" || fail "listen 9200: $(cat "$T/p.out")"
$G connect 127.0.0.1 9200 --loopback --reconnect 127.0.0.1 7700 >"$T/c.out" 2>&1 ||
	fail "loopback connect: $(cat "$T/c.out")"
wait $lpid || fail "loopback listener: $(cat "$T/p.out")"
check "loopback pair, connecting end" "$T/c.out"
check "loopback pair, accepted end" "$T/p.out"
$CTL status | grep -q "loopback [1-9]" || fail "no loopback pair was made: $($CTL status)"

log "no forbidden service ever took a connection"
[ ! -s "$T/host.tally" ] || fail "the host's loopback service was reached: $(cat "$T/host.tally")"
[ ! -s "$T/remote.tally" ] || fail "the denied remote port was reached: $(cat "$T/remote.tally")"
sockoutd_stop_clean
pass
