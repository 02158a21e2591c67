# bench/lib.sh - sourced by bench/run, bench/ssh.sh, bench/im.sh after
# tests/lib.sh: the arithmetic and the record of each figure.
#
#   gbps JSONFILE               receiver throughput in Gbit/s from iperf3 -J
#   ratio A B                   A / B to two decimals (0 when B is 0)
#   figure NAME VALUE OP TARGET
#                               record one figure (OP is >= or <=, TARGET a
#                               number, or "-" for information only) and
#                               print "met", "NOT met" or "info"
#
# Figures go to $BENCH_FIGURES (tab-separated: name, value, op, target),
# which bench/run sets and turns into its table (bench/report.py); a
# script run alone only prints.

gbps() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.2f" % (d["end"]["sum_received"]["bits_per_second"]/1e9))' "$1" 2>/dev/null || echo 0; }
# median V... - the median of the values to two decimals (0 when one is
# not a number: a failed run is not outvoted)
median() { python3 -c 'import statistics,sys
try: print("%.2f" % statistics.median(float(x) for x in sys.argv[1:]))
except (ValueError, statistics.StatisticsError): print(0)' "$@"; }
ratio() { python3 -c "import sys; b=float(sys.argv[2]); print('%.2f' % (float(sys.argv[1])/b if b else 0))" "$1" "$2" 2>/dev/null || echo 0; }

figure() {
	local name=$1 value=${2:-0} op=$3 target=$4
	[ -n "${BENCH_FIGURES:-}" ] && printf '%s\t%s\t%s\t%s\n' "$name" "$value" "$op" "$target" >>"$BENCH_FIGURES"
	python3 - "$value" "$op" "$target" <<'PY'
import sys
v, op, t = sys.argv[1:]
if t == "-":
    print("info")
else:
    try:
        v, t = float(v), float(t)
        print("met" if (v >= t if op == ">=" else v <= t) else "NOT met")
    except ValueError:
        print("NOT met")
PY
}

# bench_core_up - the core bench topology, shared by bench/run and
# bench/connect-profile.sh:
#   $NS_H  "host": sockoutd, sockout-plain, the servers on 198.51.100.1 (lo)
#   $NS_G  guest: only lo; `guest CMD' runs CMD through sockoutd
# with the sockbench echo server on 198.51.100.1:7001.  Guest ports:
#   5201 7001 6379  direct          5202 7002 6380  plain helper to
#   7003            direct                          5201 7001 6379
#                                   5203  sockout-plain `handback no' (keep)
#                                         to 5201, for an info row
# (7003: `sockbench source' for bench/seccomp.sh's Go client, started there)
# sockoutd runs as in production, without -v: a debug line per connection
# would be part of what is measured; and as its shipped unit runs it (user
# sockout, CAP_NET_BIND_SERVICE, CAP_NET_ADMIN permitted only), sockout-plain
# as its own (user sockout-plain), as test 70 does it: root would skip the
# capset() calls around pin.c's filter and get SO_SNDBUFFORCE on the
# helper sockets, neither of which production has.  Where users cannot
# read the build tree they run as root, and the first line says so.  Sets
# SOCKOUTD_PID, PLAIN_PID, ECHO_PID, GUEST_SOCK.
. "$SOCKOUT_TOP/tests/integration/unit-lib.sh"
# bench_as_unit UNIT - AS_UNIT: the command that runs a daemon as UNIT does
# (unit-lib.sh), or nothing (root) where that cannot be
bench_as_unit() {
	AS_UNIT=()
	if [ -z "${BENCH_AS_ROOT:-}" ] && command -v systemd-sysusers >/dev/null &&
		command -v setpriv >/dev/null &&
		systemd-sysusers "$TOP/conf/sysusers.d/sockout.conf" >/dev/null 2>&1 &&
		setpriv --reuid=sockout --regid=sockout --init-groups test -x "$BIN/sockoutd"; then
		as_unit "$1"
	else
		install -d "$T/run/$(unit_key RuntimeDirectory "$1")"
	fi
}
bench_core_up() {
	NS_H="${P}h" NS_G="${P}g"
	ns_new "$NS_H"; ns_new "$NS_G"
	ip -n "$NS_H" addr add 198.51.100.1/32 dev lo
	mkdir -p "$T/run"
	local HD=$T/run/sockout-plain RD=$T/run/sockout
	# 198.51.100.1 is an address of sockoutd's own namespace, a host-local
	# destination: only rules that name it (a /32) reach it, `any' does not.
	cat >"$T/sockoutd.conf" <<EOC
guest-socket   $RD/guest.sock
control-socket $RD/control.sock
helper plain data $HD/plain.data event $HD/plain.event
helper keep  data $HD/keep.data event $HD/keep.event
connect 198.51.100.1 port 5202 helper plain to 198.51.100.1:5201
connect 198.51.100.1 port 5203 helper keep to 198.51.100.1:5201
connect 198.51.100.1 port 7002 helper plain to 198.51.100.1:7001
connect 198.51.100.1 port 6380 helper plain to 198.51.100.1:6379
connect 198.51.100.1 port 5201 direct
connect 198.51.100.1 port 7001 direct
connect 198.51.100.1 port 6379 direct
connect 198.51.100.1 port 7003 direct
connect any  deny
# the hold test keeps BENCH_HOLD (10,000) connections of one uid open at once
limit pending     100000
limit connections 100000
limit guests      100000
accept  any  deny
EOC
	# the plain figures are sockout-plain as it ships: hand-back on; and
	# one that keeps its connections (handoff and splice), for the info
	# row beside them
	bench_as_unit sockout-plain@.service
	printf 'data-socket %s\nevent-socket %s\nhandback yes\n' "$HD/plain.data" "$HD/plain.event" >"$T/plain.conf"
	bgns "$NS_H" "${AS_UNIT[@]}" "$BIN/sockout-plain" -f -c "$T/plain.conf" >"$T/plain.log" 2>&1
	PLAIN_PID=$(echo $_pids | cut -d' ' -f1)
	printf 'data-socket %s\nevent-socket %s\nhandback no\n' "$HD/keep.data" "$HD/keep.event" >"$T/keep.conf"
	bgns "$NS_H" "${AS_UNIT[@]}" "$BIN/sockout-plain" -f -c "$T/keep.conf" >"$T/keep.log" 2>&1
	wait_sock "$HD/plain.event"
	wait_sock "$HD/keep.event"
	GUEST_SOCK=$RD/guest.sock
	BENCH_CTL_SOCK=$RD/control.sock
	bench_as_unit sockoutd.service
	BENCH_AS=${AS_UNIT[0]:+the users of their units (sockout, sockout-plain)}
	BENCH_AS=${BENCH_AS:-root (users cannot read the build tree, or BENCH_AS_ROOT)}
	bgns "$NS_H" "${AS_UNIT[@]}" "$BIN/sockoutd" -f -c "$T/sockoutd.conf" >"$T/sockoutd.log" 2>&1
	SOCKOUTD_PID=$(echo $_pids | cut -d' ' -f1)
	wait_sock "$GUEST_SOCK"
	wait_for 10 grep -q "helper plain up" "$T/sockoutd.log" || fail "sockoutd did not reach the plain helper"
	wait_for 10 grep -q "helper keep up" "$T/sockoutd.log" || fail "sockoutd did not reach the keep helper"
	bgns "$NS_H" "$BIN/sockbench" echo 198.51.100.1 7001 >"$T/echo.log" 2>&1
	ECHO_PID=$(echo $_pids | cut -d' ' -f1)
	wait_tcp "$NS_H" 7001
}
