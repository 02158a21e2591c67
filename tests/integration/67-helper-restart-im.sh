#!/bin/bash
# timeout: 180
# 67-helper-restart-im: a guest server behind sockout-im outlives restarts
# of the helpers.  Two NATed sites and Prosody as in 41; an unmodified
# `python3 -m http.server' in guest B behind `accept port 8080 helper home';
# curl in guest A fetches a file (sha256) over the IM overlay.  Then site
# B's sockout-im is killed (-9, then SIGTERM) and started again with the
# same config: each time sockoutd B registers its kept listener again, the
# new helper logs in, the peers set up a new secure session, and guest A
# gets the file again from the same server process.  Last, site A's helper
# is restarted and the fetch works once more.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-im.sh"
need curl python3

im_setup
im_conf a alice@example.org/sockout bob@example.org "$KEY_B"
im_conf b bob@example.org/sockout alice@example.org "$KEY_A"
im_start a
im_start b
sockoutd_start a "connect port 8080 helper home to bob@example.org" "connect any deny" "accept any deny"
sockoutd_start b "accept port 8080 helper home" "connect any deny" "accept any deny"
im_wait_session a
im_wait_session b

# state SITE up|down - sockoutd SITE shows its helper `home' so.
state() { "$BIN/sockoutctl" -s "$T/$1/control.sock" helpers | grep -q "^home *$2 "; }
# count SITE TEXT - how many lines of SITE's helper log hold TEXT.
count() { grep -c "$2" "$T/im-$1.log"; }
# more SITE TEXT N - more than N such lines.
more() { [ "$(count "$1" "$2")" -gt "$3" ]; }
wait_for 10 state a up || fail "helper A not up in sockoutd"
wait_for 10 state b up || fail "helper B not up in sockoutd"

mkdir "$T/www"
mkdata "$T/www/data.bin" 4
cd "$T/www" || fail cd
# Started without the guest_b function, so that $! is the server itself
# (ip netns exec and sockout-run exec it).
ip netns exec "$NS_GB" "$BIN/sockout-run" -s "$T/b/guest.sock" -- \
	python3 -m http.server 8080 >"$T/guest-http.log" 2>&1 &
HTTP_PID=$!
_pids="$HTTP_PID $_pids"
wait_for 20 grep -q "accepting port 8080" "$T/im-b.log" || fail "B's helper never got the listener"

fetch() {
	rm -f "$T/got.bin"
	guest_a curl -sS --max-time 60 -o "$T/got.bin" http://203.0.113.99:8080/data.bin 2>"$T/curl.log" ||
		fail "$1: curl in guest A: $(cat "$T/curl.log")"
	[ "$(sha "$T/got.bin")" = "$(sha "$T/www/data.bin")" ] || fail "$1: sha256 differs"
	kill -0 "$HTTP_PID" && grep -q http.server "/proc/$HTTP_PID/cmdline" ||
		fail "$1: the guest server (pid $HTTP_PID) is gone"
}
fetch "at start"

# restart SITE SIG - kill SITE's helper with SIG, start it again with the
# same config, wait until sockoutd redialed it and both ends have a new
# secure session (and, on B, the helper was given the listener again).
restart() {
	local s=$1 sig=$2 pid acc sa sb
	eval "pid=\$IM_PID_$s"
	acc=$(count b "accepting port 8080")
	sa=$(count a "secure session up")
	sb=$(count b "secure session up")
	log "kill -$sig site $s's sockout-im, start it again"
	kill -"$sig" "$pid"
	wait_for 10 sh -c "! kill -0 $pid" || fail "helper $s did not die on SIG$sig"
	wait_for 10 state "$s" down || fail "sockoutd $s does not show its helper down after SIG$sig"
	im_start "$s"
	wait_for 20 state "$s" up || fail "sockoutd $s did not redial its helper after SIG$sig"
	if [ "$s" = b ]; then
		wait_for 20 more b "accepting port 8080" "$acc" ||
			fail "the restarted helper B never got the kept listener (after SIG$sig)"
	fi
	wait_for 30 more a "secure session up" "$sa" || fail "no new secure session on A after SIG$sig to $s"
	wait_for 30 more b "secure session up" "$sb" || fail "no new secure session on B after SIG$sig to $s"
}
restart b KILL
fetch "after kill -9 of B's helper"
restart b TERM
fetch "after SIGTERM to B's helper"
restart a TERM
fetch "after SIGTERM to A's helper"
im_finish
! grep -l 'Sanitizer\|runtime error' "$T"/sockoutd-*.log || fail "sanitizer report in a sockoutd log"
pass
