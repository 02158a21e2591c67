#!/bin/bash
# timeout: 180
# 42-im-bad-input: hostile and broken input reaches bob's helper through
# the real server (tests/tools/im-inject, a libstrophe client):
#  - junk from an account that is not a configured peer: dropped before
#    any parsing;
#  - a hello from alice's account signed by a key nobody pinned;
#  - with alice's real identity: a real handshake and a sealed connect
#    (answered), then that message replayed, a tampered copy, and the old
#    hello replayed -- all dropped, and none answered;
#  - afterwards the real helpers find each other again and carry a transfer;
#  - bob's helper restarted with a wrong pinned key for alice: no session,
#    alice's guest gets a connect failure.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-im.sh"
need curl python3

INJ=$BIN/tests/tools/im-inject
[ -x "$INJ" ] || fail "$INJ not built"
im_setup
im_conf a alice@example.org/sockout bob@example.org "$KEY_B" "connect-timeout 3s"
im_conf b bob@example.org/sockout alice@example.org "$KEY_A"
im_start a
im_start b
sockoutd_start a "connect port 8080 helper home to bob@example.org" "connect any deny" "accept any deny"
sockoutd_start b "accept port 8080 helper home" "connect any deny" "accept any deny"
im_wait_session a
im_wait_session b
inject() { ip netns exec "$NS_HA" "$INJ" $IM_SERVER 5222 "$1" "$2" "$PDIR/example.org.crt" \
	bob@example.org/sockout "${@:3}" >>"$T/inject.log" 2>&1; }

log "junk from mallory@ (not a peer)"
inject mallory@example.org/x pw-mallory junk || fail "inject junk failed: $(tail -3 "$T/inject.log")"
wait_for 10 grep -q "dropping message from mallory@example.org/x: not a configured peer" "$T/im-b.log" ||
	fail "B did not drop mallory's message"

log "a hello from alice's account, signed by the wrong key"
inject alice@example.org/evil pw-alice forged-hello || fail "inject forged-hello failed"
wait_for 10 grep -q "alice@example.org: hello with a bad signature" "$T/im-b.log" ||
	fail "B did not refuse the forged hello"

log "alice's real key: sealed connect answered; replay, tamper, old hello dropped"
inject alice@example.org/evil pw-alice session "$T/a/identity" "$KEY_B" ||
	fail "session injection failed: $(tail -5 "$T/inject.log")"
grep -q "got the sealed refuse" "$T/inject.log" || fail "no sealed refuse"
wait_for 10 grep -q "alice@example.org: replayed message dropped" "$T/im-b.log" || fail "replay not dropped"
wait_for 10 grep -q "alice@example.org: message that does not authenticate dropped" "$T/im-b.log" ||
	fail "tampered message not dropped"
wait_for 10 grep -q "alice@example.org: stale or replayed hello dropped" "$T/im-b.log" ||
	fail "old hello not dropped"
[ "$(grep -c 'connect to port 9 refused' "$T/im-b.log")" = 1 ] || fail "the replayed connect was acted on"

log "the real helpers recover and carry a transfer"
mkdir "$T/www"
mkdata "$T/www/data.bin" 4
cd "$T/www" || fail cd
bg guest_b python3 -m http.server 8080 >"$T/guest-http.log" 2>&1
wait_for 20 grep -q "accepting port 8080" "$T/im-b.log" || fail "no listener"
ok=0
for i in $(seq 1 20); do
	if guest_a curl -sS --max-time 30 -o "$T/got.bin" http://203.0.113.99:8080/data.bin 2>"$T/curl.log" &&
		cmp -s "$T/got.bin" "$T/www/data.bin"; then ok=1; break; fi
	sleep 0.5
done
[ $ok = 1 ] || fail "no transfer after the attacks: $(cat "$T/curl.log")"

log "bob pins a wrong key for alice: no session, connect fails"
kill -TERM "$IM_PID_b"
wait_for 10 grep -q "bob@example.org: offline" "$T/im-a.log" || fail "A did not see bob go"
im_conf b bob@example.org/sockout alice@example.org "$KEY_B"
n0=$(grep -c 'secure session up' "$T/im-b.log")
im_start b
wait_for 20 sh -c "[ \$(grep -c 'bad signature' $T/im-b.log) -ge 2 ]" || fail "B accepted alice's hello under a wrong key"
rc=0
guest_a curl -sS --max-time 30 -o /dev/null http://203.0.113.99:8080/data.bin >"$T/wrong.log" 2>&1 || rc=$?
[ $rc != 0 ] || fail "transfer worked with a wrong pinned key"
[ "$(grep -c 'secure session up' "$T/im-b.log")" = "$n0" ] || fail "B made a session with a wrong key"
im_finish
pass
