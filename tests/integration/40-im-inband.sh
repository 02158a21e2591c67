#!/bin/bash
# timeout: 180
# 40-im-inband: two sites behind their own NATs, each with sockoutd and
# sockout-im (alice@, bob@) logged in to a real Prosody.  Bytestreams are
# off (`inband yes'): curl in guest A fetches a file from python3
# http.server in guest B through end-to-end encrypted in-band messages.
# Prosody shapes c2s to 512 KB/s with mod_limits.
# Also: a port nobody accepts is refused, an unknown peer fails at once,
# half-close and reset reach the other guest, sockoutctl shows the peers.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-im.sh"
need curl python3 socat

# The server shapes c2s traffic (mod_limits, 512 KB/s): the in-band window
# must keep the helpers within it without being disconnected.
im_setup 'modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "presence", "posix", "limits" }
limits = { c2s = { rate = "512kb/s"; burst = "2s" } }'
im_conf a alice@example.org/sockout bob@example.org "$KEY_B" "inband yes"
im_conf b bob@example.org/sockout alice@example.org "$KEY_A" "inband yes"
"$BIN/sockout-im" -n -c "$T/a/im.conf" >/dev/null || fail "config A rejected"
im_start a
im_start b
sockoutd_start a "connect port 8080 helper home to bob@example.org" \
	"connect port 8081 helper home to bob@example.org" \
	"connect port 8082 helper home to carol@example.org" "connect port 7000 helper home to bob@example.org" \
	"connect port 7001 helper home to bob@example.org" "connect any deny" "accept any deny"
sockoutd_start b "accept port 8080 helper home" "accept port 7000 helper home" \
	"accept port 7001 helper home" "connect any deny" "accept any deny"
im_wait_session a
im_wait_session b

mkdir "$T/www"
mkdata "$T/www/data.bin" 3
cd "$T/www" || fail cd
bg guest_b python3 -m http.server 8080 >"$T/guest-http.log" 2>&1
wait_for 20 grep -q "accepting port 8080" "$T/im-b.log" || fail "B's helper never got the listener"

log "curl in guest A -> bob@example.org port 8080, in-band"
guest_a curl -sS --max-time 90 -o "$T/got.bin" http://203.0.113.99:8080/data.bin 2>"$T/curl.log" ||
	fail "curl failed: $(cat "$T/curl.log")"
[ "$(sha "$T/got.bin")" = "$(sha "$T/www/data.bin")" ] || fail "sha256 differs"
grep -q "in-band" "$T/im-b.log" || fail "B did not carry it in-band"
[ "$(grep -c 'logged in as' "$T/im-a.log")" = 1 ] && [ "$(grep -c 'logged in as' "$T/im-b.log")" = 1 ] ||
	fail "a helper was disconnected by the server's limits"

log "a port no guest of bob accepts: Connection refused"
rc=0
guest_a curl -sS -v --max-time 20 -o /dev/null http://203.0.113.99:8081/ >"$T/refused.log" 2>&1 || rc=$?
[ $rc = 7 ] || fail "curl exit $rc, expected 7: $(cat "$T/refused.log")"
grep -q "Connection refused" "$T/refused.log" || fail "no refusal: $(cat "$T/refused.log")"
grep -q "connect to port 8081 refused" "$T/im-b.log" || fail "B did not refuse"

log "a peer not in the config fails at once"
rc=0
s=$(date +%s)
guest_a curl -sS --max-time 20 -o /dev/null http://203.0.113.99:8082/ >"$T/unknown.log" 2>&1 || rc=$?
[ $rc = 7 ] || fail "curl exit $rc, expected 7"
grep -q "carol@example.org: not a configured peer" "$T/im-a.log" || fail "no clear log line for the unknown peer"
log "half-close and reset, in-band"
im_check_halfclose_reset 7000 7001

log "sockoutctl helpers shows the peers and the XMPP state"
ip netns exec "$NS_HA" "$BIN/sockoutctl" -s "$T/a/control.sock" helpers --json >"$T/ctl.json" 2>&1 ||
	fail "sockoutctl failed: $(cat "$T/ctl.json")"
grep -q '"peers":\[{"jid":"bob@example.org","online":true,"session":true}\]' "$T/ctl.json" ||
	fail "no peer status: $(cat "$T/ctl.json")"
grep -q '"xmpp":{"online":true' "$T/ctl.json" || fail "no xmpp status: $(cat "$T/ctl.json")"
ip netns exec "$NS_HA" "$BIN/sockoutctl" -s "$T/a/control.sock" helpers >"$T/ctl.txt" 2>&1
cat "$T/ctl.txt"
im_finish
pass
