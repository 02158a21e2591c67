#!/bin/bash
# bench/channel.sh - what a guest channel (GP_F_KEEP, PROTOCOL.md part 2,
# "Channels") saves per exchange with sockoutd, without the noise of a TCP
# connect: getnameinfo() on a non-loopback address in python3 under the
# shim is one REVERSE exchange answered at once (ENOENT, then the number).
# ROUNDS rounds in one sockoutd alternate `channel-idle 0' (a connection
# per request) and the default (a channel), each the median of N calls;
# the medians of the rounds are printed, and python3's own cost of the
# call without sockout.  No TCP port is used, so rounds do not slow down
# as TIME_WAIT fills the port space (which the connect benches do).
#   bench/channel.sh [N]     (N calls per round, default 3000; ROUNDS=6)
set -u
export SOCKOUT_TOP=${SOCKOUT_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
. "$SOCKOUT_TOP/tests/lib.sh"
. "$SOCKOUT_TOP/bench/lib.sh"
need python3
N=${1:-3000}
ROUNDS=${ROUNDS:-6}

bench_core_up
sleep 0.3
CTL="$BIN/sockoutctl -s $BENCH_CTL_SOCK"
cat >"$T/rev.py" <<'PY'
import socket, statistics, sys, time
flags = int(sys.argv[2])
ts = []
for i in range(int(sys.argv[1])):
    t = time.perf_counter_ns()
    socket.getnameinfo(("192.0.2.1", 80), flags)
    ts.append(time.perf_counter_ns() - t)
print("%.1f" % (statistics.median(ts) / 1000))
PY
: >"$T/rounds"
for i in $(seq "$ROUNDS"); do
	for mode in per-request channel; do
		sed -i '/^channel-idle/d' "$T/sockoutd.conf"
		[ $mode = per-request ] && echo "channel-idle 0" >>"$T/sockoutd.conf"
		$CTL reload >/dev/null || fail "reload"
		echo "$mode $(guest python3 "$T/rev.py" "$N" 0)" >>"$T/rounds"
	done
done
med() { sort -n | awk '{a[NR]=$1} END {print (a[int((NR+1)/2)]+a[int((NR+2)/2)])/2}'; }
echo "== getnameinfo() through sockoutd, median of $ROUNDS rounds of $N calls, us ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)) =="
for mode in per-request channel; do
	printf '%-12s %s   (rounds: %s)\n' $mode "$(awk -v m=$mode '$1==m{print $2}' "$T/rounds" | med)" \
		"$(awk -v m=$mode '$1==m{printf "%s ", $2}' "$T/rounds")"
done
printf '%-12s %s\n' python3 "$(ip netns exec "$NS_G" python3 "$T/rev.py" "$N" "$(python3 -c 'import socket; print(socket.NI_NUMERICHOST)')")"
exit 0
