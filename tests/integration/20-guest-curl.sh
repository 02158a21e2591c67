#!/bin/bash
# timeout: 120
# 20-guest-curl: an unmodified curl in the guest (a namespace with only lo)
# fetches 20 MiB from python3 -m http.server on the server through
# `connect any direct`; a denied port gives curl "Connection refused".
. "$(dirname "$0")/../lib.sh"
need curl python3

topo_basic
GUEST_SOCK=$T/guest.sock
cat >"$T/sockoutd.conf" <<CONF
guest-socket   $GUEST_SOCK
control-socket $T/control.sock
connect port 81  deny
connect any      direct
CONF
start_sockoutd "$T/sockoutd.conf"

mkdir "$T/www"
mkdata "$T/www/data.bin" 20
bgns "$NS_S" python3 -m http.server -d "$T/www" -b 198.51.100.2 8000 >"$T/http.log" 2>&1
wait_tcp "$NS_S" 8000

log "curl in the guest, 20 MiB through direct"
guest curl -sS --max-time 60 -o "$T/got.bin" \
	-w '%{local_ip} %{local_port} %{remote_ip} %{remote_port}\n' \
	http://198.51.100.2:8000/data.bin >"$T/curl.out" 2>"$T/curl.log" ||
	fail "curl failed: $(cat "$T/curl.log")"
[ "$(sha "$T/got.bin")" = "$(sha "$T/www/data.bin")" ] || fail "sha256 differs"
read -r lip lport rip rport <"$T/curl.out"
log "curl saw $lip:$lport -> $rip:$rport"
[ "$rip:$rport" = "198.51.100.2:8000" ] || fail "curl's peer is $rip:$rport"
[ "$lip" = 198.51.100.1 ] || fail "curl's local address is $lip"

log "the same without sockout-run cannot leave the guest"
ip netns exec "$NS_G" curl -sS --max-time 5 -o /dev/null \
	http://198.51.100.2:8000/data.bin 2>/dev/null && fail "guest reached the server natively"

log "a denied port: Connection refused"
rc=0
guest curl -sS -v --max-time 20 -o /dev/null http://198.51.100.2:81/ >"$T/deny.log" 2>&1 || rc=$?
[ $rc = 7 ] || fail "curl exit $rc, expected 7 (couldn't connect)"
grep -q "Connection refused" "$T/deny.log" || fail "no 'Connection refused' in curl's output"
log "sockoutd unreachable: ENETUNREACH and one line from the shim"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/stale.sock"
rc=0
ip netns exec "$NS_G" "$BIN/sockout-run" -s "$T/stale.sock" -- curl -sS -v --max-time 20 \
	-o /dev/null http://198.51.100.2:8000/data.bin http://198.51.100.2:8000/data.bin \
	>"$T/stale.log" 2>&1 || rc=$?
grep -E "^sockout|unreachable" "$T/stale.log"
[ $rc = 7 ] || fail "curl exit $rc with sockoutd unreachable, expected 7"
[ "$(grep -c '^sockout: .*stale.sock: cannot reach sockoutd' "$T/stale.log")" = 1 ] ||
	fail "expected exactly one line from the shim"
grep -q "Network is unreachable" "$T/stale.log" || fail "curl did not see ENETUNREACH"
pass
