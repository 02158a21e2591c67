#!/bin/bash
# timeout: 360
# 43-im-faults: what guests see when the overlay breaks, and that it heals.
#  1. peer helper killed (kill -9) in the middle of a bytestream transfer:
#     curl in guest A fails (no hang); B's helper restarted, a new
#     transfer works;
#  2. peer offline: connect fails at once (the helper knows from presence);
#  3. Prosody restarted mid-transfer: curl fails, both helpers log in again
#     by themselves, and a new transfer is byte-exact;
#  4. site B's uplink down for 3 s mid-transfer: the transfer either
#     finishes byte-exact or fails (never wrong bytes), and a new one works.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-im.sh"
need curl python3

im_setup
im_conf a alice@example.org/sockout bob@example.org "$KEY_B" "connect-timeout 3s"
im_conf b bob@example.org/sockout alice@example.org "$KEY_A"
im_start a
im_start b
sockoutd_start a "connect port 8080 helper home to bob@example.org" "connect any deny" "accept any deny"
sockoutd_start b "accept port 8080 helper home" "connect any deny" "accept any deny"
im_wait_session a
im_wait_session b

mkdir "$T/www"
mkdata "$T/www/data.bin" 48
cd "$T/www" || fail cd
# http_b FROM - make sure B's helper (log lines from FROM on) has the guest
# server's listener: a sockoutd that replays listeners to a restarted
# helper gives it by itself; otherwise the guest server is started again.
http_b() {
	wait_for 5 sh -c "tail -n +$1 $T/im-b.log | grep -q 'accepting port 8080'" && return 0
	[ -n "${HTTP_PID:-}" ] && kill "$HTTP_PID" 2>/dev/null && sleep 0.3
	bg guest_b python3 -m http.server 8080 >>"$T/guest-http.log" 2>&1
	HTTP_PID=$(echo $_pids | cut -d' ' -f1)
	wait_for 20 sh -c "tail -n +$1 $T/im-b.log | grep -q 'accepting port 8080'" ||
		fail "B's helper never got the listener"
}
bline() { echo $(( $(wc -l <"$T/im-b.log") + 1 )); }
http_b 1
wait_for 20 grep -q "bytestream proxy" "$T/im-a.log" || fail "A found no proxy"

# slow_fetch OUT - a rate-limited download (about 12 s) in the background;
# 48 MiB is more than all the queues on the way can hold.
slow_fetch() {
	guest_a curl -sS --max-time 60 --limit-rate 4M -o "$1" http://203.0.113.99:8080/data.bin \
		>"$1.log" 2>&1 &
	FETCH=$!
}

log "1. kill -9 bob's helper mid-transfer"
slow_fetch "$T/got1.bin"
wait_for 20 sh -c "[ \$(stat -c %s $T/got1.bin 2>/dev/null || echo 0) -gt 1000000 ]" ||
	fail "transfer 1 did not start"
kill -9 "$IM_PID_b"
rc=0
wait $FETCH || rc=$?
[ $rc != 0 ] || fail "curl succeeded although the peer helper died"
cmp -s "$T/got1.bin" "$T/www/data.bin" && fail "curl got everything?"
log "curl failed cleanly (exit $rc)"
# The old helper left its sockets behind: start it again (sockoutd redials).
from=$(bline)
im_start b
wait_for 30 sh -c "grep -c 'secure session up' $T/im-a.log | grep -q 2" || fail "no new session after the restart"
wait_for 20 sh -c "[ \$(grep -c 'helper home up' $T/sockoutd-b.log) -ge 2 ]" || fail "sockoutd B did not redial"
http_b $from
guest_a curl -sS --max-time 60 -o "$T/got2.bin" http://203.0.113.99:8080/data.bin 2>"$T/curl2.log" ||
	fail "curl after the helper restart failed: $(cat "$T/curl2.log")"
cmp -s "$T/got2.bin" "$T/www/data.bin" || fail "transfer after the helper restart differs"

log "2. bob offline: connect fails at once"
kill -TERM "$IM_PID_b"
wait_for 10 grep -q "bob@example.org: offline" "$T/im-a.log" || fail "A did not see bob go offline"
rc=0
guest_a curl -sS --max-time 20 -o /dev/null http://203.0.113.99:8080/data.bin >"$T/off.log" 2>&1 || rc=$?
[ $rc = 7 ] || fail "curl exit $rc, expected 7 (could not connect)"
grep -q "bob@example.org port 8080: peer is offline" "$T/im-a.log" || fail "no offline log line"
from=$(bline)
im_start b
wait_for 30 sh -c "grep -c 'secure session up' $T/im-a.log | grep -q 3" || fail "no session after bob came back"
wait_for 20 sh -c "[ \$(grep -c 'helper home up' $T/sockoutd-b.log) -ge 3 ]" || fail "sockoutd B did not redial"
http_b $from

log "3. Prosody restarted mid-transfer"
slow_fetch "$T/got3.bin"
wait_for 20 sh -c "[ \$(stat -c %s $T/got3.bin 2>/dev/null || echo 0) -gt 1000000 ]" ||
	fail "transfer 3 did not start"
prosody_stop
rc=0
wait $FETCH || rc=$?
[ $rc != 0 ] || fail "curl succeeded across a server restart?"
log "curl failed cleanly (exit $rc)"
prosody_start
wait_for 60 sh -c "grep -c 'logged in as' $T/im-a.log | grep -q 2" || fail "A did not log in again"
wait_for 60 sh -c "grep -c 'secure session up' $T/im-a.log | grep -q 4" || fail "no session after the server restart"
wait_for 20 grep -q "bytestream proxy" "$T/im-b.log" || fail "B found no proxy"
ok=0
for i in 1 2 3 4 5; do
	if guest_a curl -sS --max-time 60 -o "$T/got4.bin" http://203.0.113.99:8080/data.bin 2>"$T/curl4.log" &&
		cmp -s "$T/got4.bin" "$T/www/data.bin"; then ok=1; break; fi
	sleep 1
done
[ $ok = 1 ] || fail "no good transfer after the server restart: $(cat "$T/curl4.log")"

log "4. site B's uplink down for 3 s mid-transfer"
slow_fetch "$T/got5.bin"
wait_for 20 sh -c "[ \$(stat -c %s $T/got5.bin 2>/dev/null || echo 0) -gt 1000000 ]" ||
	fail "transfer 5 did not start"
ip -n "$NS_RB" link set "${P}wB" down || fail "link down"
sleep 3
ip -n "$NS_RB" link set "${P}wB" up || fail "link up"
rc=0
wait $FETCH || rc=$?
if [ $rc = 0 ]; then
	cmp -s "$T/got5.bin" "$T/www/data.bin" || fail "curl succeeded across the blip with wrong bytes"
	log "the transfer rode out the blip, byte-exact"
else
	log "curl failed cleanly across the blip (exit $rc)"
fi
# Prosody may have dropped bob's stream during the outage while bob's
# helper still believes in it: its keepalive finds out (about a minute at
# most, see docs/im.md), it logs in again, and connects work again.
ok=0 t0=$(date +%s)
for i in $(seq 1 60); do
	if guest_a curl -sS --max-time 60 -o "$T/got6.bin" http://203.0.113.99:8080/data.bin 2>"$T/curl6.log" &&
		cmp -s "$T/got6.bin" "$T/www/data.bin"; then ok=1; break; fi
	sleep 2
done
[ $ok = 1 ] || fail "no good transfer after the link blip: $(cat "$T/curl6.log")"
log "a new transfer works $(( $(date +%s) - t0 )) s after the link came back"
im_finish
pass
