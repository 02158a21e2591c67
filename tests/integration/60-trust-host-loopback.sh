#!/bin/bash
# timeout: 90
# 60-trust-host-loopback: `connect any direct' does not reach the host
# itself.  A raw guest-protocol client (no shim, so no GP_F_LOOPBACK
# courtesy) in a guest namespace asks sockoutd for a host-only service on
# the host's loopback and its own address in every spelling: 127.0.0.1,
# 127.1.2.3, 0.0.0.0, ::ffff:127.0.0.1, ::ffff:0.0.0.0, ::1, :: and the
# host's veth address 198.51.100.1 (also v4-mapped).  All are refused, the
# log says why, and nothing reaches the service; a rule that names
# 127.0.0.1 port P still works, and `any' still reaches a remote server.
# Run against a daemon speaking guest protocol 1: GP_VERSION=1.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/sockoutd-lib.sh"
need python3 ss
GP="python3 $TOP/tests/integration/gpclient.py"

topo_basic
GUEST_SOCK=$T/run/guest.sock
cat >"$T/sockoutd.conf" <<CONF
guest-socket    $GUEST_SOCK
control-socket  $T/run/control.sock
connect 127.0.0.1 port 7701 direct
connect any                 direct
CONF
start_sockoutd "$T/sockoutd.conf"
# the host-only service: dual-stack wildcard, so every spelling reaches it
# if sockoutd lets one through; a second one only the explicit rule names
bgns "$NS_H" python3 "$TOP/tests/integration/echo-server.py" :: 7700
bgns "$NS_H" python3 "$TOP/tests/integration/echo-server.py" 127.0.0.1 7701
bgns "$NS_S" python3 "$TOP/tests/integration/echo-server.py" 198.51.100.2 7000
wait_tcp "$NS_H" 7700
wait_tcp "$NS_H" 7701
wait_tcp "$NS_S" 7000
echo "secret" >"$T/ping.txt"
G="ip netns exec $NS_G $GP $GUEST_SOCK"

log "the host's own service sees no connection from any spelling"
for a in 127.0.0.1 127.1.2.3 0.0.0.0 ::ffff:127.0.0.1 ::ffff:0.0.0.0 ::1 :: 198.51.100.1 ::ffff:198.51.100.1; do
	$G connect "$a" 7700 --expect-status 111 --send "$T/ping.txt" --recv "$T/got.txt" >"$T/c.out" 2>&1 ||
		fail "connect $a:7700 was not refused: $(cat "$T/c.out")"
done
grep -q "host-local, rules not naming it were skipped" "$T/sockoutd.log" ||
	fail "the log does not say why"

log "an explicit rule for 127.0.0.1 port 7701 still works"
$G connect 127.0.0.1 7701 --send "$T/ping.txt" --recv "$T/got.txt" >"$T/c.out" 2>&1 ||
	fail "explicit rule: $(cat "$T/c.out")"
cmp -s "$T/got.txt" "$T/ping.txt" || fail "explicit rule: data differs"
log "... but not the same port on another loopback spelling"
$G connect 127.0.0.2 7701 --expect-status 111 >"$T/c.out" 2>&1 || fail "127.0.0.2:7701: $(cat "$T/c.out")"

log "connect any direct still reaches a remote server"
$G connect 198.51.100.2 7000 --send "$T/ping.txt" --recv "$T/got.txt" >"$T/c.out" 2>&1 ||
	fail "remote: $(cat "$T/c.out")"
cmp -s "$T/got.txt" "$T/ping.txt" || fail "remote: data differs"
sockoutd_stop_clean
pass
