#!/bin/bash
# timeout: 120
# 21-guest-http-server: python3 -m http.server listens on 8080 in the guest;
# the rule `accept port 8080 direct 18080` serves it on the host's port
# 18080, and curl on the server machine fetches a file from it.
. "$(dirname "$0")/../lib.sh"
need curl python3

topo_basic
GUEST_SOCK=$T/guest.sock
cat >"$T/sockoutd.conf" <<CONF
guest-socket   $GUEST_SOCK
control-socket $T/control.sock
accept port 8080 direct 18080
accept any       deny
CONF
start_sockoutd "$T/sockoutd.conf"

mkdir "$T/www"
mkdata "$T/www/data.bin" 16
cd "$T/www" || fail "cd"
bg guest python3 -m http.server 8080 >"$T/guest-http.log" 2>&1
wait_tcp "$NS_H" 18080

log "curl from the server machine to the host's port 18080"
ip netns exec "$NS_S" curl -sS --max-time 60 -o "$T/got.bin" \
	http://198.51.100.1:18080/data.bin 2>"$T/curl.log" ||
	fail "curl failed: $(cat "$T/curl.log")"
[ "$(sha "$T/got.bin")" = "$(sha "$T/www/data.bin")" ] || fail "sha256 differs"
grep -q '198.51.100.2 .*"GET /data.bin' "$T/guest-http.log" ||
	fail "the guest server did not see the client's address"

log "a second request on the same listener"
ip netns exec "$NS_S" curl -sS --max-time 30 -o "$T/got2.bin" \
	http://198.51.100.1:18080/data.bin || fail "second curl failed"
cmp -s "$T/got2.bin" "$T/www/data.bin" || fail "second download differs"

log "a denied port cannot be listened on"
guest python3 -c '
import socket, sys
s = socket.socket()
s.bind(("0.0.0.0", 9999))
try:
    s.listen(5)
except PermissionError:
    print("EACCES"); sys.exit(0)
print("listen succeeded"); sys.exit(1)' >"$T/deny.log" 2>&1 || fail "listen on a denied port: $(cat "$T/deny.log")"
pass
