#!/bin/bash
# timeout: 120
# 32-ssh-reverse: a server in the guest is reachable on the SSH server's
# host (like ssh -R): the guest's listen() becomes a tcpip-forward on the
# gateway.  Default bind address is the gateway's loopback; a TARGET picks
# another address and port (GatewayPorts clientspecified).  20 MiB, sha256.
# When the guest closes its listener the gateway port goes away.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-ssh.sh"
need curl python3
[ -x "$BIN/sockoutd" ] && [ -x "$BIN/sockout-run" ] || fail "sockoutd/sockout-run not built (run make)"

topo_basic
ssh_keys
ssh_sshd gw "$NS_S" 198.51.100.2 2222
ssh_helper_conf "$T/office.conf" 198.51.100.2 2222 office
ssh_helper "$NS_H" "$T/office.conf" office
ssh_wait_up office

GUEST_SOCK=$T/guest.sock
cat >"$T/sockoutd.conf" <<CONF
guest-socket   $GUEST_SOCK
control-socket $T/control.sock
helper office  data $T/office.data event $T/office.event
accept port 8080 helper office
accept port 8081 helper office to 198.51.100.2:18081
accept port 8082 helper office
connect any    deny
accept  any    deny
CONF
start_sockoutd "$T/sockoutd.conf"

mkdir "$T/www"
mkdata "$T/www/data.bin" 20
log "python3 http.server in the guest on port 8080"
# Started directly (ip netns exec and sockout-run both exec) so that $! is
# python itself and the test can stop it by pid.
ip netns exec "$NS_G" "$BIN/sockout-run" -s "$GUEST_SOCK" -- \
	python3 -m http.server -d "$T/www" -b 0.0.0.0 8080 >"$T/http-guest.log" 2>&1 &
HTTP_PID=$!
_pids="$HTTP_PID $_pids"
wait_tcp "$NS_S" 8080 20
ip netns exec "$NS_S" ss -Hltn 'sport = :8080' | grep -q '127.0.0.1:8080' || fail "gateway port 8080 is not on loopback"

log "curl on the SSH server's host fetches 20 MiB from the guest"
ip netns exec "$NS_S" curl -sS --max-time 60 -o "$T/got.bin" http://127.0.0.1:8080/data.bin || fail "curl to the guest"
[ "$(sha "$T/got.bin")" = "$(sha "$T/www/data.bin")" ] || fail "sha256 differs"
log "several requests one after another"
for i in 1 2 3 4 5; do
	ip netns exec "$NS_S" curl -sS --max-time 20 -o /dev/null http://127.0.0.1:8080/ || fail "request $i"
done

log "a TARGET address: the gateway listens on 198.51.100.2:18081"
bg guest python3 -m http.server -d "$T/www" -b 0.0.0.0 8081 >"$T/http-guest2.log" 2>&1
wait_tcp "$NS_S" 18081 20
ip netns exec "$NS_H" curl -sS --max-time 60 -o "$T/got2.bin" http://198.51.100.2:18081/data.bin || fail "curl via 198.51.100.2:18081"
[ "$(sha "$T/got2.bin")" = "$(sha "$T/www/data.bin")" ] || fail "sha256 differs (18081)"

log "the gateway's port is taken: the guest's listener fails, not hangs"
bgns "$NS_S" socat TCP-LISTEN:8082,bind=127.0.0.1,reuseaddr,fork SYSTEM:true
wait_tcp "$NS_S" 8082
rc=0
guest timeout 30 python3 -c '
import socket
s = socket.socket(); s.bind(("0.0.0.0", 8082)); s.listen(5)
try:
    s.accept()
except OSError as e:
    print("accept failed:", e); raise SystemExit(3)
print("accept returned?"); raise SystemExit(0)
' >"$T/taken.out" 2>&1 || rc=$?
cat "$T/taken.out"
[ $rc != 0 ] && [ $rc != 124 ] || fail "guest listener on a taken gateway port: rc $rc"
grep -q "gateway refused to listen on 127.0.0.1:8082" "$T/helper-office.log" || fail "refusal not logged"

log "sshd restarts: the helper logs in again and asks for the forward again"
descendants() { local p; echo "$1"; for p in $(ps -o pid= --ppid "$1"); do descendants "$p"; done; }
kill -9 $(descendants "$SSHD_PID")
wait_for 15 grep -q "lost" "$T/helper-office.log" || fail "helper did not notice the dead sshd"
bgns "$NS_S" "$SSHD" -D -f "$T/ssh/gw.conf" -E "$T/sshd-gw2.log"
SSHD_PID=$(echo $_pids | cut -d' ' -f1)
ssh_wait_up office 2 20
wait_tcp "$NS_S" 8080 20
ip netns exec "$NS_S" curl -sS --max-time 60 -o "$T/got3.bin" http://127.0.0.1:8080/data.bin || fail "curl after sshd restart"
[ "$(sha "$T/got3.bin")" = "$(sha "$T/www/data.bin")" ] || fail "sha256 differs after restart"

log "the guest stops listening: the gateway port goes away"
kill "$HTTP_PID"
wait "$HTTP_PID" 2>/dev/null
wait_for 20 sh -c "! ip netns exec $NS_S ss -Hltn 'sport = :8080' | grep -q ." || fail "gateway still listens on 8080"
pass
