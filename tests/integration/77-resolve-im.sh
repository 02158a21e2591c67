#!/bin/bash
# timeout: 180
# 77-resolve-im: a name known only at the IM peer.  Site A routes
# `resolve *.home helper home to bob@example.org': guest A gets a
# placeholder for db.home, and its connect goes to bob's helper with the
# name.  Bob's config answers for db.home (`answers db.home'), so the
# connection reaches bob's guest on that port; a name bob does not answer
# for is refused at bob's end.  Neither sockoutd resolves anything.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-im.sh"
need curl python3

im_setup
im_conf a alice@example.org/sockout bob@example.org "$KEY_B" "inband yes"
im_conf b bob@example.org/sockout alice@example.org "$KEY_A" "inband yes" "answers db.home"
"$BIN/sockout-im" -n -c "$T/b/im.conf" >/dev/null || fail "config B (answers) rejected"
im_start a
im_start b
sockoutd_start a "resolve *.home helper home to bob@example.org" "resolve any deny" \
	"connect 203.0.113.99 port 8080 helper home to bob@example.org" \
	"connect any deny" "accept any deny"
sockoutd_start b "accept port 8080 helper home" "connect any deny" "accept any deny"
im_wait_session a
im_wait_session b

mkdir "$T/www"
echo "db at bob's" >"$T/www/ok.txt"
cd "$T/www" || fail cd
bg guest_b python3 -m http.server 8080 >"$T/guest-http.log" 2>&1
wait_for 20 grep -q "accepting port 8080" "$T/im-b.log" || fail "B's helper never got the listener"

log "curl in guest A by a name bob answers for"
ip=$(guest_a curl -sS --max-time 60 -o "$T/got.txt" -w '%{remote_ip}' http://db.home:8080/ok.txt 2>"$T/curl.log") ||
	fail "curl by name failed: $(cat "$T/curl.log")"
log "curl connected to $ip: $(cat "$T/got.txt")"
[ "$(cat "$T/got.txt")" = "db at bob's" ] || fail "got '$(cat "$T/got.txt")'"
case "$ip" in 100.64.*) ;; *) fail "curl connected to $ip, not a placeholder" ;; esac
grep -q "to db.home port 8080 accepted" "$T/im-b.log" || fail "bob's helper did not see the name"

log "a name bob does not answer for: refused at bob's end"
rc=0
guest_a curl -sS -v --max-time 30 -o /dev/null http://files.home:8080/ok.txt >"$T/refused.log" 2>&1 || rc=$?
[ $rc = 7 ] || fail "curl exit $rc, expected 7: $(cat "$T/refused.log")"
grep -q "connect to files.home port 8080 refused: not a name this helper answers for" "$T/im-b.log" ||
	fail "bob did not refuse the name"
log "latency through sockout-im: by name (placeholder) vs by address"
lat=$TOP/tests/integration/resolve-lat.py
ph=$(guest_a python3 "$lat" gai placeholder db.home 200) || fail "placeholder bench"
byname=$(guest_a python3 "$lat" get by-name db.home 8080 20) || fail "by-name bench"
byaddr=$(guest_a python3 "$lat" get by-address 203.0.113.99 8080 20) || fail "by-address bench"
log "LATENCY guest getaddrinfo, resolve helper home (placeholder): $ph"
log "LATENCY guest name+connect+GET through sockout-im (in-band): $byname"
log "LATENCY guest address connect+GET through sockout-im (in-band): $byaddr"
log "load: $(cat /proc/loadavg)"

log "names outside the rules: NXDOMAIN at A"
rc=0
guest_a curl -sS --max-time 20 -o /dev/null http://db.example:8080/ >/dev/null 2>&1 || rc=$?
[ $rc = 6 ] || fail "curl exit $rc for a denied name, expected 6"
im_finish
pass
