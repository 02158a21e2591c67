#!/bin/bash
# bench/connect-profile.sh - where the microseconds of connect + first byte
# go, for the host itself, the direct route and the plain helper.
#
# 1. Untraced: `sockbench phases' times socket(), connect(), the first
#    byte's round trip and close() apart (medians of N connections).  Under
#    the guest shim connect() holds the whole exchange with sockoutd.
# 2. Traced: strace follows the guest program, sockoutd, sockout-plain
#    and the echo server at once (-ff -ttt -T: one file per process, one
#    wall clock), over a few connections; bench/connect-profile.py cuts the
#    median one into phases (request sent to sockoutd, reply with the fd
#    back, connect() returned, first byte back, closed) and prints every
#    system call of every process in order.  ptrace costs each system call
#    some microseconds, so the traced times are inflated: they show the
#    structure (who does what, how many calls, who waits for whom); the
#    untraced medians are the real totals.
#
#   bench/connect-profile.sh [N]     (N untraced connections, default 500)
set -u
export SOCKOUT_TOP=${SOCKOUT_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
. "$SOCKOUT_TOP/tests/lib.sh"
. "$SOCKOUT_TOP/bench/lib.sh"
need strace python3
N=${1:-500}
TRACED=${BENCH_TRACED:-15}

bench_core_up
sleep 0.3

echo "== untraced: median of $N connections, microseconds ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)) =="
printf '%-8s %s\n' route "$(echo socket connect first_byte close total)"
for route in host direct plain; do
	port=7001; [ $route = plain ] && port=7002
	if [ $route = host ]; then
		ip netns exec "$NS_H" "$BIN/sockbench" phases 198.51.100.1 $port "$N" >"$T/ph-$route" 2>&1
	else
		guest "$BIN/sockbench" phases 198.51.100.1 $port "$N" >"$T/ph-$route" 2>&1
	fi
	# "socket S connect C first_byte B close X total T n N"
	printf '%-8s %s\n' $route "$(awk '{print $2, $4, $6, $8, $10}' "$T/ph-$route")"
done

for route in direct plain; do
	port=7001; [ $route = plain ] && port=7002
	pids="$SOCKOUTD_PID $ECHO_PID"
	[ $route = plain ] && pids="$pids $PLAIN_PID"
	d="$T/tr-$route"
	mkdir -p "$d"
	# The daemons' tracer detaches when told to (it would follow them
	# forever); the guest's ends with the guest.  Both write wall-clock
	# times, so their files merge.
	strace -qq -ff -ttt -T -s 0 -o "$d/t" $(printf -- '-p %s ' $pids) 2>"$T/strace-$route.err" &
	st=$!
	for p in $pids; do
		wait_for 10 test -s "$d/t.$p" -o -e "$d/t.$p" || fail "strace did not attach to $p"
	done
	sleep 0.2
	ip netns exec "$NS_G" strace -qq -ff -ttt -T -s 0 -o "$d/t" \
		"$BIN/sockout-run" -s "$GUEST_SOCK" -- "$BIN/sockbench" phases 198.51.100.1 $port "$TRACED" \
		>"$T/trph-$route" 2>>"$T/strace-$route.err"
	sleep 0.2
	kill "$st"; wait "$st" 2>/dev/null
	echo
	echo "== traced: $route route, the median of $TRACED connections (times inflated by ptrace) =="
	python3 "$SOCKOUT_TOP/bench/connect-profile.py" "$T/tr-$route" \
		"sockoutd=$SOCKOUTD_PID" "sockout-plain=$PLAIN_PID" "echo=$ECHO_PID"
done
exit 0
