#!/bin/bash
# timeout: 180
# 31-ssh-guest-forward: unmodified programs in the guest reach servers that
# listen only on the SSH server's loopback, through sockoutd's
# `helper office` rules and sockout-ssh (direct-tcpip channels to a real
# OpenSSH sshd): curl fetches 20 MiB from python3 http.server (sha256), ssh
# logs in through the forward and streams a file back, iperf3 runs briefly.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-ssh.sh"
need curl python3 ssh iperf3
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
connect port 8000 helper office to 127.0.0.1:8000
connect port 5201 helper office to 127.0.0.1:5201
connect port 2222 helper office
connect port 8001 helper office to 127.0.0.1:9
connect any    deny
accept  any    deny
CONF
start_sockoutd "$T/sockoutd.conf"

mkdir "$T/www"
mkdata "$T/www/data.bin" 20
bgns "$NS_S" python3 -m http.server -d "$T/www" -b 127.0.0.1 8000 >"$T/http.log" 2>&1
bgns "$NS_S" iperf3 -s -B 127.0.0.1 -p 5201 >"$T/iperf3-server.log" 2>&1
wait_tcp "$NS_S" 8000
wait_tcp "$NS_S" 5201

log "curl in the guest: 20 MiB from a server on the SSH server's loopback"
ok=0
for i in 1 2 3 4 5 6 7 8 9 10; do
	guest curl -sS --max-time 60 -o "$T/got.bin" http://198.51.100.2:8000/data.bin 2>"$T/curl.log" && { ok=1; break; }
	sleep 0.5 # sockoutd may still be dialing the helper
done
[ $ok = 1 ] || fail "curl failed: $(cat "$T/curl.log")"
[ "$(sha "$T/got.bin")" = "$(sha "$T/www/data.bin")" ] || fail "sha256 differs"
grep -q "direct-tcpip" "$T/sshd-gw.log" || fail "sshd saw no direct-tcpip channel"

log "ssh in the guest, through the forward, to the same sshd"
ssh_known_hosts 198.51.100.2 2222 >"$T/ssh/known_hosts-guest"
got=$(guest ssh -p 2222 -i "$T/ssh/id_ed25519" -o BatchMode=yes \
	-o UserKnownHostsFile="$T/ssh/known_hosts-guest" -o StrictHostKeyChecking=yes \
	root@198.51.100.2 "cat '$T/www/data.bin'" | sha256sum | cut -d' ' -f1) || fail "ssh through the forward"
[ "$got" = "$(sha "$T/www/data.bin")" ] || fail "ssh stream sha256 differs"

log "iperf3 in the guest, 3 s"
guest iperf3 -c 198.51.100.2 -p 5201 -t 3 -J >"$T/iperf3.json" 2>"$T/iperf3.err" || fail "iperf3: $(cat "$T/iperf3.err")"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); b=d["end"]["sum_received"]["bytes"]; print("iperf3 moved %d bytes" % b); sys.exit(0 if b > 0 else 1)' "$T/iperf3.json" || fail "iperf3 moved nothing"

log "a closed port behind the gateway: curl sees Connection refused"
rc=0
guest curl -sS -v --max-time 20 -o /dev/null http://198.51.100.2:8001/ >"$T/refused.log" 2>&1 || rc=$?
[ $rc = 7 ] || fail "curl exit $rc, expected 7 (couldn't connect)"
grep -q "Connection refused" "$T/refused.log" || fail "no 'Connection refused' from curl"
pass
