#!/bin/bash
# bench/im.sh - sockout-im against raw transfers through the same Prosody,
# on the NAT topology of the tests (tests/lib-im.sh), all measured in this
# run.  Run by bench/run (`make bench`), or alone: bench/im.sh
#
#   bulk      guest curl over a bytestream   vs  a raw SOCKS5 stream through
#                                               the same mod_proxy65
#   in-band   guest curl, `inband yes'       vs  raw messages through the same
#                                               server, 16 KiB of payload each
#                                               (as base64), 4 in flight: the
#                                               helper's own chunk and window
#   setup     guest connect() time (curl's time_connect) vs one small XMPP
#             message's round trip through the server
set -u
export SOCKOUT_TOP=${SOCKOUT_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
. "$SOCKOUT_TOP/tests/lib.sh"
. "$SOCKOUT_TOP/tests/lib-im.sh"
. "$SOCKOUT_TOP/bench/lib.sh"
need curl python3
SECS=${BENCH_SECS:-5}
INJ=$BIN/tests/tools/im-inject
[ -x "$INJ" ] || fail "$INJ not built"

im_setup
im_conf a alice@example.org/sockout bob@example.org "$KEY_B"
im_conf b bob@example.org/sockout alice@example.org "$KEY_A"
im_start a
im_start b
sockoutd_start a "connect port 8080 helper home to bob@example.org" "connect any deny" "accept any deny"
sockoutd_start b "accept port 8080 helper home" "connect any deny" "accept any deny"
im_wait_session a
im_wait_session b
wait_for 20 grep -q "bytestream proxy" "$T/im-a.log" || fail "no proxy"
mkdir "$T/www"
head -c $((40 * SECS * 1024 * 1024)) /dev/zero | openssl enc -aes-128-ctr -pass pass:x -nosalt -pbkdf2 \
	>"$T/www/big.bin" 2>/dev/null || mkdata "$T/www/big.bin" $((40 * SECS))
mkdata "$T/www/mid.bin" 16
echo hi >"$T/www/tiny.txt"
cd "$T/www" || fail cd
bg guest_b python3 -m http.server 8080 >"$T/guest-http.log" 2>&1
wait_for 20 grep -q "accepting port 8080" "$T/im-b.log" || fail "no listener"

inj() { ip netns exec "$NS_HA" "$INJ" $IM_SERVER 5222 mallory@example.org/bench pw-mallory \
	"$PDIR/example.org.crt" mallory@example.org/bench "$@" 2>>"$T/inject.log"; }
fetch_mbps() { # URL-PATH: MB/s as curl saw it
	guest_a curl -sS --max-time 120 -o /dev/null -w '%{speed_download}\n' "http://203.0.113.99:8080/$1" |
		python3 -c 'import sys; print("%.1f" % (float(sys.stdin.read())/1e6))'
}
setup_ms() { # mean connect() time over 10 connections, ms
	local i s=""
	for i in 1 2 3 4 5 6 7 8 9 10; do
		s="$s $(guest_a curl -sS --max-time 20 -o /dev/null -w '%{time_connect}' http://203.0.113.99:8080/tiny.txt)"
	done
	python3 -c 'import sys; v=[float(x) for x in sys.argv[1:]]; print("%.1f" % (1000*sum(v)/len(v)))' $s
}

echo "sockout-im vs raw transfers through the same Prosody (prosody $(dpkg-query -W -f='${Version}' prosody 2>/dev/null)), $(nproc) cores"
read -r _ rtt < <(inj msgbench 400 21848 4) || true
# The same messages with no window to speak of: what the server itself can
# carry.  The in-band target is stated against the windowed baseline above
# (same chunk, same window as the helper); this one shows what the window costs.
read -r raw_free _ < <(inj msgbench 400 21848 64) || true
# Bulk alternates in rounds (BENCH_IM_ROUNDS, 3): raw, sockout-im, raw,
# sockout-im, ..., raw; each sockout-im sample is set against the mean of
# the raw samples either side of it, and the figure is the median of those
# ratios.  One sample of each, a few seconds apart on two cores shared with
# everything else, moved the ratio between 0.66 and 1.72 from run to run:
# the proxy's single Lua thread is the bottleneck of both, and its speed
# moves by a third from one 5 s sample to the next.  The raw stream flows
# from target to initiator, as sockout-im's does (the accepting side is the
# target).
ROUNDS=${BENCH_IM_ROUNDS:-3}
raw_once() {
	local v
	v=$(inj s5bench proxy.example.org $IM_SERVER 5000 "$SECS" to-initiator) || v=0
	echo "${v:-0}"
}
# rounds LABEL BASE_NAME BASE_CMD NAME CMD... - ROUNDS rounds of BASE_CMD,
# CMD, BASE_CMD, ..., BASE_CMD (MB/s each); each CMD sample against the
# mean of the BASE_CMD samples either side.  Sets BASE and SAMPLE (the
# medians) and R (the median of the rounds' ratios).
rounds() {
	local label=$1 bname=$2 bcmd=$3 sname=$4 i s next r rs="" bases="" samples="" prev
	shift 4
	prev=$($bcmd) || prev=0
	bases=${prev:-0}
	for i in $(seq "$ROUNDS"); do
		s=$("$@") || s=0
		s=${s:-0}
		next=$($bcmd) || next=0
		next=${next:-0}
		r=$(python3 -c 'import sys; a,b,c=map(float,sys.argv[1:]); print("%.2f" % (b/((a+c)/2) if a+c else 0))' "${prev:-0}" "$s" "$next")
		echo "$label round $i: $bname ${prev:-0} and ${next} MB/s   $sname ${s} MB/s   ratio ${r}"
		rs="$rs $r" bases="$bases $next" samples="$samples $s"
		prev=$next
	done
	BASE=$(median $bases) SAMPLE=$(median $samples) R=$(median $rs)
}
rounds "bulk:   " "raw SOCKS5 via proxy65" raw_once "sockout-im bytestream" fetch_mbps big.bin
raw_s5=$BASE bulk=$SAMPLE r=$R
echo "bulk:    raw SOCKS5 via proxy65 ${raw_s5} MB/s   sockout-im bytestream ${bulk} MB/s (medians)   ratio ${r} (median of the rounds' ratios)  target >= 0.9: $(figure "im: bytestream / raw proxy65" "$r" ">=" 0.9)"
bs_setup=$(setup_ms)
echo "setup:   XMPP message round trip ${rtt:-0} ms   sockout-im connect (bytestream) ${bs_setup} ms   ratio $(ratio "$bs_setup" "${rtt:-0}") round trips"

# in-band: alice's helper again with `inband yes'
kill -TERM "$IM_PID_a"
wait_for 10 sh -c "! kill -0 $IM_PID_a" || fail "helper A did not stop"
echo "inband yes" >>"$T/a/im.conf"
im_start a
wait_for 30 sh -c "grep -c 'secure session up' $T/im-a.log | grep -q 2" || fail "no in-band session"
wait_for 20 sh -c "grep -c 'helper home up' $T/sockoutd-a.log | grep -q 2" || fail "sockoutd A did not redial"
# In rounds as bulk is: raw messages (the same chunk and window as the
# helper's) then sockout-im, alternating, each in-band sample against the
# raw samples either side of it; one raw sample taken minutes before one
# in-band sample moved the ratio by more than the target's margin.
raw_msg_once() { inj msgbench 400 21848 4 | awk '{print $1}'; }
rounds "in-band:" "raw 16 KiB messages" raw_msg_once "sockout-im in-band" fetch_mbps mid.bin
raw_msg=$BASE inb=$SAMPLE r=$R
echo "in-band: raw 16 KiB messages ${raw_msg} MB/s   sockout-im in-band ${inb} MB/s (medians)   ratio ${r} (median of the rounds' ratios)  target >= 0.8: $(figure "im: in-band / raw messages" "$r" ">=" 0.8)"
echo "in-band: raw messages, 64 in flight ${raw_free:-0} MB/s   ratio $(ratio "$inb" "${raw_free:-0}") (information: the cost of the 64 KiB window)"
ib_setup=$(setup_ms)
echo "setup:   XMPP message round trip ${rtt:-0} ms   sockout-im connect (in-band) ${ib_setup} ms   ratio $(ratio "$ib_setup" "${rtt:-0}") round trips"
exit 0
