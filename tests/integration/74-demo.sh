#!/bin/bash
# timeout: 120
# san: no
# 74-demo: `scripts/demo' (what `make demo' runs after building) succeeds
# within 60 s and prints what its captions claim: a guest with only lo that
# cannot connect; the direct route; host A failing to reach the intranet
# server and guest A reaching it through the SSH gateway; guest A reaching
# guest B's two servers, behind two NATs, through the SSH gateway and over
# XMPP (a secure session, a bytestream); a denied connect (by rule and by
# no rule) and a denied listen, and sockoutd's log saying so; sockoutctl
# status and helpers of both sites with both helpers up; "demo OK".
. "$(dirname "$0")/../lib.sh"
[ -x "$TOP/scripts/demo" ] || fail "scripts/demo missing"
s=$(date +%s)
rc=0
SOCKOUT_BUILD=$BIN timeout 90 "$TOP/scripts/demo" >"$T/demo.out" 2>"$T/demo.err" </dev/null || rc=$?
took=$(( $(date +%s) - s ))
cp "$T/demo.out" "$T/demo-stdout.log"
[ $rc = 77 ] && skip "the demo skipped: $(grep SKIP "$T/demo.out")"
[ $rc = 0 ] || fail "scripts/demo exited $rc after ${took}s"
log "scripts/demo took ${took}s"
[ $took -le 60 ] || fail "the demo took ${took}s, more than a minute"

out=$T/demo.out
# expect TEXT... - each TEXT is a whole line, or part of one, of the output
expect() { local x; for x in "$@"; do grep -qF -- "$x" "$out" || fail "the demo did not print: $x"; done; }
# between FROM TO - the output from the line containing FROM to the next step
between() { awk -v f="$1" 'index($0, f) {on=1; next} on && /^== / {exit} on' "$out"; }

sect=$(between "1. The guests have no network")
echo "$sect" | grep -q '^lo ' || fail "no guest interface list"
[ "$(echo "$sect" | grep -c 'UNKNOWN\|UP\|DOWN')" = 1 ] || fail "the guest has more than lo: $sect"
echo "$sect" | grep -q "curl: (7)" || fail "the guest's own curl did not fail: $sect"

expect "hello from the public web server 198.51.100.20"
sect=$(between "3. A server that only the SSH gateway can see")
echo "$sect" | grep -q "curl: (7) Failed to connect to 192.0.2.80" || fail "host A reached the intranet: $sect"
echo "$sect" | grep -q "hello from the intranet server 192.0.2.80" || fail "guest A did not: $sect"
expect "hello from guest B, behind NAT B (through the SSH gateway)" \
	"secure session up" "hello from guest B, behind NAT B (over XMPP, end-to-end encrypted)" \
	"to port 8081 accepted (bytestream)"

sect=$(between "6. What a denied port looks like")
echo "$sect" | grep -q "Failed to connect to 198.51.100.20 port 25" || fail "port 25 not refused: $sect"
echo "$sect" | grep -q "Failed to connect to 198.51.100.20 port 8443" || fail "port 8443 not refused: $sect"
echo "$sect" | grep -q "PermissionError: \[Errno 13\]" || fail "the listen was not denied: $sect"
echo "$sect" | grep -q "connect 198.51.100.20:25: denied by line" || fail "no log of the rule's denial"
echo "$sect" | grep -q "connect 198.51.100.20:8443: no rule, denied" || fail "no log of the no-rule denial"
echo "$sect" | grep -q "listen 0.0.0.0:9000: denied" || fail "no log of the denied listen"

for s in A B; do
	sect=$(between "Site $s: sockoutctl status")
	echo "$sect" | grep -q "^sockoutd " || fail "site $s: no status"
	echo "$sect" | grep -q "helpers office up, home up" || fail "site $s: helpers not up: $sect"
	sect=$(between "Site $s: sockoutctl helpers")
	echo "$sect" | grep -q "^office  *up " || fail "site $s: office not up: $sect"
	echo "$sect" | grep -q "^home  *up " || fail "site $s: home not up: $sect"
	echo "$sect" | grep -q '^home status: .*"session":true' || fail "site $s: no IM session in helpers: $sect"
done
# A: the direct, the intranet, both guest-to-guest rules and the deny rule
# each counted once; B: both accept rules.
between "Site A: sockoutctl status" | grep -q "denied 2 (no rule 1)" || fail "site A's denials not counted"
between "Site B: sockoutctl status" | grep -q "listeners 2, accepted 2" || fail "site B did not accept twice"
expect "demo OK"
[ -s "$T/demo.err" ] && fail "the demo wrote to stderr: $(head -5 "$T/demo.err")"
pass
