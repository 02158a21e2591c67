#!/bin/bash
# timeout: 150
# 11-sockoutd-direct: the guest protocol at the byte level (a python guest
# speaking protocol/guestproto.h, no shim): direct connect hands over the
# host socket (sha256 end to end), destination rewrites, deny and no-rule
# give ECONNREFUSED, host errors and connect-timeout come back as errnos,
# direct accept maps guest port 80 to host port 8080, listen deny is EACCES,
# guest-internal loopback pairs, and garbage, truncated or stalled requests
# affect only their own connection.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/sockoutd-lib.sh"
need python3 iptables ss
GP="python3 $TOP/tests/integration/gpclient.py"

topo_basic
GUEST_SOCK=$T/run/guest.sock
cat >"$T/sockoutd.conf" <<CONF
guest-socket    $GUEST_SOCK
control-socket  $T/run/control.sock
connect-timeout 2s
connect port 81                          deny
connect ::1 port 7600                    direct
connect 198.51.100.9 port 7001           direct 198.51.100.2:7000
connect 198.51.100.2 port 7002           direct 7000
connect 198.51.100.0/24                  direct
accept  port 80                          direct 8080
accept  port 9000-9001                   direct
accept  port 81                          deny
accept  port 9300                        direct [::1]:9301
CONF
start_sockoutd "$T/sockoutd.conf"
bgns "$NS_S" python3 "$TOP/tests/integration/echo-server.py" 198.51.100.2 7000
wait_tcp "$NS_S" 7000
mkdata "$T/data.bin" 8
G="ip netns exec $NS_G $GP $GUEST_SOCK"
fds() { ls /proc/$SOCKOUTD_PID/fd | wc -l; }
base_fds=$(fds)

log "direct connect, fd handed over, 8 MiB echoed"
$G connect 198.51.100.2 7000 --send "$T/data.bin" --recv "$T/got.bin" >"$T/c1.out" || fail "connect: $(cat "$T/c1.out")"
[ "$(sha "$T/got.bin")" = "$(sha "$T/data.bin")" ] || fail "sha256 differs"
grep -q "^status 0 local 198.51.100.1:[0-9]* peer 198.51.100.2:7000 fds 1$" "$T/c1.out" || fail "reply: $(cat "$T/c1.out")"

log "direct ADDR:PORT and PORT rewrites; the guest still sees what it asked for"
$G connect 198.51.100.9 7001 --send "$T/data.bin" --recv "$T/got2.bin" >"$T/c2.out" || fail "rewrite: $(cat "$T/c2.out")"
cmp -s "$T/got2.bin" "$T/data.bin" || fail "rewrite: data differs"
grep -q "peer 198.51.100.9:7001 " "$T/c2.out" || fail "rewrite reply: $(cat "$T/c2.out")"
$G connect 198.51.100.2 7002 --send "$T/data.bin" --recv "$T/got3.bin" >"$T/c3.out" || fail "port rewrite: $(cat "$T/c3.out")"
cmp -s "$T/got3.bin" "$T/data.bin" || fail "port rewrite: data differs"

log "deny and no rule: ECONNREFUSED (111)"
$G connect 198.51.100.2 81 --expect-status 111 >/dev/null || fail "deny"
$G connect 203.0.113.1 80 --expect-status 111 >/dev/null || fail "no rule"
$G connect 2001:db8::1 80 --expect-status 111 >/dev/null || fail "no rule (IPv6)"

log "host errors come back: refused (111), timeout (110)"
$G connect 198.51.100.2 7005 --expect-status 111 >/dev/null || fail "closed port"
ip netns exec "$NS_S" iptables -A INPUT -p tcp --dport 7009 -j DROP || fail iptables
$G connect 198.51.100.2 7009 --expect-status 110 >"$T/to.out" || fail "timeout: $(cat "$T/to.out")"

log "direct accept: guest port 80 served on host port 8080"
$G listen 0.0.0.0 80 --echo --accept 2 --ready "$T/l80.ready" >"$T/l80.out" 2>&1 &
LP=$!
wait_for 10 test -e "$T/l80.ready" || fail "listen 80: $(cat "$T/l80.out")"
wait_tcp "$NS_H" 8080
for i in 1 2; do
	echo "hello $i" | ip netns exec "$NS_S" timeout 20 nc -N 198.51.100.1 8080 >"$T/nc$i.out" || fail "nc $i"
	[ "$(cat "$T/nc$i.out")" = "hello $i" ] || fail "echo $i: $(cat "$T/nc$i.out")"
done
wait $LP || fail "listener: $(cat "$T/l80.out")"
grep -q "^accept op 3 status 0 local 0.0.0.0:80 peer 198.51.100.2:[0-9]*$" "$T/l80.out" || fail "accept reply: $(cat "$T/l80.out")"
log "the guest closed its listener: the host port closes"
wait_for 5 sh -c "! ip netns exec $NS_H ss -Hltn 'sport = :8080' | grep -q ." || fail "host port 8080 still listening"

log "listen deny and no rule: EACCES (13); port in use: EADDRINUSE (98)"
$G listen 0.0.0.0 81 --expect-status 13 >/dev/null || fail "listen deny"
$G listen 0.0.0.0 82 --expect-status 13 >/dev/null || fail "listen no rule"
$G listen 0.0.0.0 9001 --accept 1 --ready "$T/l9001.ready" >/dev/null 2>&1 &
LP=$!
wait_for 10 test -e "$T/l9001.ready" || fail "listen 9001"
$G listen 0.0.0.0 9001 --expect-status 98 >/dev/null || fail "second listen on 9001"
kill $LP; wait $LP 2>/dev/null

log "guest-internal loopback: only the same netns finds the listener"
$G listen 127.0.0.1 9000 --echo --ready "$T/l9000.ready" >"$T/l9000.out" 2>&1 &
LP=$!
wait_for 10 test -e "$T/l9000.ready" || fail "listen 9000"
log "a guest bound to its loopback is served on the host's loopback only"
ip netns exec "$NS_H" ss -Hltn 'sport = :9000' | grep -q "127.0.0.1:9000" ||
	fail "host listener: $(ip netns exec "$NS_H" ss -Hltn 'sport = :9000')"
# the namespace is the kernel's word (SO_NETNS_COOKIE), not the request's
ip netns exec "$NS_S" $GP "$GUEST_SOCK" connect 127.0.0.1 9000 --loopback --expect-status 2 >/dev/null || fail "other netns got the listener"
$G connect 127.0.0.1 9000 --loopback --send "$T/data.bin" --recv "$T/got4.bin" >"$T/lo.out" || fail "loopback: $(cat "$T/lo.out")"
cmp -s "$T/got4.bin" "$T/data.bin" || fail "loopback data differs"
grep -q "peer 127.0.0.1:9000 " "$T/lo.out" || fail "loopback reply: $(cat "$T/lo.out")"
wait $LP || fail "loopback listener: $(cat "$T/l9000.out")"

log "IPv6: direct connect to [::1]:7600 and a listener on [::1]:9301"
bgns "$NS_H" python3 "$TOP/tests/integration/echo-server.py" ::1 7600
wait_tcp "$NS_H" 7600
$G connect ::1 7600 --send "$T/data.bin" --recv "$T/got6.bin" >"$T/c6.out" || fail "v6 connect: $(cat "$T/c6.out")"
cmp -s "$T/got6.bin" "$T/data.bin" || fail "v6 data differs"
grep -q "local \[::1\]:[0-9]* peer \[::1\]:7600 " "$T/c6.out" || fail "v6 reply: $(cat "$T/c6.out")"
$G listen :: 9300 --echo --ready "$T/l6.ready" >"$T/l6.out" 2>&1 &
LP=$!
wait_for 10 test -e "$T/l6.ready" || fail "v6 listen: $(cat "$T/l6.out")"
wait_tcp "$NS_H" 9301
echo six | ip netns exec "$NS_H" timeout 20 nc -N ::1 9301 >"$T/nc6.out" || fail "nc -6"
[ "$(cat "$T/nc6.out")" = six ] || fail "v6 echo: $(cat "$T/nc6.out")"
wait $LP || fail "v6 listener: $(cat "$T/l6.out")"
grep -q "^accept op 3 status 0 local \[::\]:9300 peer \[::1\]:[0-9]*$" "$T/l6.out" || fail "v6 accept: $(cat "$T/l6.out")"

log "an IPv6 guest listener on an IPv4 host listener sees IPv4-mapped peers"
$G listen :: 9000 --echo --ready "$T/l64.ready" >"$T/l64.out" 2>&1 &
LP=$!
wait_for 10 test -e "$T/l64.ready" || fail "listen :: 9000: $(cat "$T/l64.out")"
wait_tcp "$NS_H" 9000
echo mapped | ip netns exec "$NS_S" timeout 20 nc -N 198.51.100.1 9000 >"$T/nc64.out" || fail "nc to 9000"
[ "$(cat "$T/nc64.out")" = mapped ] || fail "echo: $(cat "$T/nc64.out")"
wait $LP || fail "listener: $(cat "$T/l64.out")"
# (python prints ::ffff:198.51.100.2 as ::ffff:c633:6402)
grep -q "^accept op 3 status 0 local \[::\]:9000 peer \[::ffff:c633:6402\]:[0-9]*$" "$T/l64.out" || fail "mapped peer: $(cat "$T/l64.out")"

log "garbage, truncated, stalled and vanished guests hurt nobody else"
python3 - "$GUEST_SOCK" <<'PY' || fail "bad guests"
import socket, sys, time
path = sys.argv[1]
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(path); return s
# bad magic: closed without a reply
s = conn(); s.sendall(b"\xff" * 64); s.settimeout(5)
assert s.recv(100) == b"", "garbage got a reply"
# right magic, bad op
s = conn(); s.sendall(bytes.fromhex("534f47310001") + b"\x09" + bytes(57)); s.settimeout(5)
assert s.recv(100) == b"", "bad op got a reply"
# truncated then gone, and gone at once
s = conn(); s.sendall(b"SOG1"); s.close()
s = conn(); s.close()
# many stalled half-requests stay open while others are served
stalled = [conn() for _ in range(50)]
for x in stalled: x.sendall(b"SOG1\x00")
PY
$G connect 198.51.100.2 7000 --send "$T/data.bin" --recv "$T/got5.bin" >/dev/null || fail "connect after bad guests"
cmp -s "$T/got5.bin" "$T/data.bin" || fail "data differs after bad guests"
kill -0 $SOCKOUTD_PID || fail "sockoutd died"

log "descriptors back to the baseline ($base_fds)"
wait_for 20 sh -c "[ \$(ls /proc/$SOCKOUTD_PID/fd | wc -l) -le $base_fds ]" || fail "fd count $(fds) > $base_fds"
sockoutd_stop_clean
pass
