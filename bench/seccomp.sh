#!/bin/bash
# bench/seccomp.sh - the seccomp mechanism (`sockout-run --seccomp`, for
# static and Go programs; docs/guest.md), as same-run ratios:
#   * iperf3 through `direct`: under --seccomp and under the shim, each
#     divided by iperf3 from the host's namespace (target: seccomp >= 0.95;
#     the data path is the kernel's TCP socket in all three);
#   * a Go client (CGO_ENABLED=0: static, no libc, so the shim cannot carry
#     it) downloading from `sockbench source` through `direct` under
#     --seccomp, divided by the same binary on the host (>= 0.95);
#   * connect + first byte (`sockbench latency`, median of N connections)
#     under --seccomp, divided by the shim (<= 1.5) and by the host (info);
#   * the CPU time the Go download costs per GiB (the whole process tree:
#     under --seccomp the supervisor too), seccomp divided by host (info):
#     the machine's load moves throughput by 2x between rounds, CPU time
#     per byte far less, so this says whether a throughput gap is the
#     mechanism's or the machine's.
# The machine is shared: ROUNDS rounds alternate the modes, and each
# figure is the median of the rounds' ratios (each round's mode against
# the same round's baseline), as bench/run's core figures are, so that a
# burst of other work lands on one round, not on one side.
# Run by bench/run (`make bench`), or alone after `make`:
#   bench/seccomp.sh [N]    (N connections, default 1000; BENCH_SECS=5 per
#                            iperf3 run; BENCH_SECCOMP_ROUNDS=3; BENCH_GO_MB,
#                            MiB per Go download, 3000 x BENCH_SECS)
# The topology is bench/run's (bench_core_up): servers on 198.51.100.1 in
# the host namespace, direct rules for 5201 (iperf3), 7001 (echo) and 7003
# (source).
set -u
export SOCKOUT_TOP=${SOCKOUT_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
. "$SOCKOUT_TOP/tests/lib.sh"
. "$SOCKOUT_TOP/bench/lib.sh"
need iperf3 python3
SECS=${BENCH_SECS:-5}
N=${1:-1000}
ROUNDS=${BENCH_SECCOMP_ROUNDS:-3}
# About SECS seconds at the ~25 Gbit/s Go reads from `sockbench source'
# here, so that the Go figure is no shorter a sample than iperf3's.
GO_MB=${BENCH_GO_MB:-$((SECS * 3000))}

bench_core_up
bgns "$NS_H" iperf3 -s -B 198.51.100.1 -p 5201 >"$T/iperf3-server.log" 2>&1
bgns "$NS_H" "$BIN/sockbench" source 198.51.100.1 7003 >"$T/source.log" 2>&1
wait_tcp "$NS_H" 5201
wait_tcp "$NS_H" 7003

# The Go client: built here, offline, with the distribution's toolchain.
gobin=""
if command -v go >/dev/null; then
	mkdir -p "$T/gosrc"
	cat >"$T/gosrc/main.go" <<'GO'
// godown ADDR MB: read MB MiB from a TCP server, print Gbit/s.
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

func main() {
	mb, err := strconv.Atoi(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	want := int64(mb) << 20
	t := time.Now()
	c, err := net.Dial("tcp", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buf := make([]byte, 128<<10)
	var got int64
	for got < want {
		n, err := c.Read(buf)
		got += int64(n)
		if err != nil {
			fmt.Fprintln(os.Stderr, "after", got, "bytes:", err)
			os.Exit(1)
		}
	}
	d := time.Since(t).Seconds()
	c.Close()
	fmt.Printf("%.2f\n", float64(got)*8/d/1e9)
}
GO
	printf 'module godown\n\ngo 1.19\n' >"$T/gosrc/go.mod"
	(cd "$T/gosrc" && GOCACHE=$T/gocache GOPATH=$T/gopath GOTOOLCHAIN=local GOFLAGS='' \
		GOPROXY=off CGO_ENABLED=0 timeout 300 go build -o "$T/godown" .) >"$T/gobuild.log" 2>&1 &&
		gobin=$T/godown
	[ -n "$gobin" ] || echo "go build failed: $(tail -5 "$T/gobuild.log")"
else
	[ "${CI:-}" = true ] && fail "go not installed (scripts/install-deps should have)"
	echo "go not installed: no Go figure"
fi

# cpu.py CMD...: run CMD, print its last output line, then the CPU
# seconds (user + system) its whole process tree used, in a second line
cat >"$T/cpu.py" <<'PY'
import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, text=True)
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print((r.stdout.strip().splitlines() or [""])[-1])
print("%.3f" % (u.ru_utime + u.ru_stime))
sys.exit(r.returncode)
PY
run() { # run WHERE CMD...: host, shim or seccomp
	local w=$1; shift
	case $w in
	host) ip netns exec "$NS_H" "$@" ;;
	*) ip netns exec "$NS_G" "$BIN/sockout-run" --"$w" -s "$GUEST_SOCK" -- "$@" ;;
	esac
}
# The rounds' values of one kind, in round order (a failed run gives
# its error text, which medratio counts as a failure).
vals() { # KIND MODE
	local r
	for r in $(seq "$ROUNDS"); do
		case $1 in
		ip) gbps "$T/ip-$2-$r.json" ;;
		us) awk '{print $2}' "$T/lat-$2-$r" ;;
		go) tail -2 "$T/go-$2-$r" 2>/dev/null | head -1 ;;
		# CPU seconds per GiB
		cpu) tail -1 "$T/go-$2-$r" 2>/dev/null | awk -v mb="$GO_MB" '{ printf "%.4f", $1 * 1024 / mb }' ;;
		esac | head -1 | grep . || echo none
	done | paste -sd' '
}
# medratio "A1 A2 ..." "B1 B2 ..." - the median of the rounds' ratios
# Ai / Bi, as bench/run's core figures; 0 (not met, whatever the target)
# when any round's run failed (not a positive number)
medratio() {
	python3 - "$1" "$2" <<'PY'
import statistics, sys
a, b = sys.argv[1].split(), sys.argv[2].split()
try:
    a, b = [float(x) for x in a], [float(x) for x in b]
    ok = len(a) == len(b) and a and min(a + b) > 0
except ValueError:
    ok = False
print("%.2f" % statistics.median(x / y for x, y in zip(a, b)) if ok else "0")
PY
}

for round in $(seq "$ROUNDS"); do
	for w in host shim seccomp; do
		run $w iperf3 -c 198.51.100.1 -p 5201 -t "$SECS" -J >"$T/ip-$w-$round.json" 2>"$T/ip-$w-$round.err"
		run $w "$BIN/sockbench" latency 198.51.100.1 7001 "$N" >"$T/lat-$w-$round" 2>&1
	done
	[ -n "$gobin" ] || continue
	for w in host seccomp; do
		case $w in
		host) set -- ip netns exec "$NS_H" ;;
		*) set -- ip netns exec "$NS_G" "$BIN/sockout-run" --$w -s "$GUEST_SOCK" -- ;;
		esac
		python3 "$T/cpu.py" "$@" "$gobin" 198.51.100.1:7003 "$GO_MB" >"$T/go-$w-$round" 2>&1
	done
done
for f in "$T"/ip-*.err "$T"/go-*; do
	[ -s "$f" ] && grep -qvi '^[0-9.]*$' "$f" && echo "$(basename "$f"): $(head -3 "$f")"
done

for k in ip us; do
	for w in host shim seccomp; do printf -v "v_${k}_$w" '%s' "$(vals $k $w)"; done
done
for k in go cpu; do
	for w in host seccomp; do printf -v "v_${k}_$w" '%s' "$(vals $k $w)"; done
done
r_ip=$(medratio "$v_ip_seccomp" "$v_ip_host"); r_ips=$(medratio "$v_ip_shim" "$v_ip_host")
r_cs=$(medratio "$v_us_seccomp" "$v_us_shim"); r_ch=$(medratio "$v_us_seccomp" "$v_us_host")
ip_host=$(median $v_ip_host) us_host=$(median $v_us_host) go_host=$(median $v_go_host)
# each figure's line gives the rounds' values too, to tell a steady gap
# from the machine's noise
echo "(each figure the median of $ROUNDS alternating rounds' ratios; iperf3 ${SECS}s, Go ${GO_MB} MiB, $N connections)"
[ -n "$gobin" ] || go_host=no-go
figure "seccomp bench: host Gbit/s (iperf3 / Go), connect+byte us" "$ip_host/$go_host/$us_host" "" - >/dev/null
echo "iperf3 direct, Gbit/s by round: host $v_ip_host  shim $v_ip_shim  seccomp $v_ip_seccomp"
echo "  seccomp / host ${r_ip}  target >= 0.95: $(figure "seccomp: iperf3 direct / host" "$r_ip" ">=" 0.95)"
echo "  shim / host    ${r_ips}  $(figure "seccomp bench: iperf3 shim / host" "$r_ips" ">=" -)"
if [ -n "$gobin" ]; then
	r_go=$(medratio "$v_go_seccomp" "$v_go_host")
else
	r_go=no-go
fi
echo "Go download direct, Gbit/s by round: host $v_go_host  seccomp $v_go_seccomp"
echo "  seccomp / host ${r_go}  target >= 0.95: $(figure "seccomp: Go download direct / host" "$r_go" ">=" 0.95)"
if [ -n "$gobin" ]; then
	r_cpu=$(medratio "$v_cpu_seccomp" "$v_cpu_host")
	echo "Go download CPU s per GiB (process tree) by round: host $v_cpu_host  seccomp $v_cpu_seccomp"
	echo "  seccomp / host ${r_cpu}  $(figure "seccomp bench: Go CPU per GiB seccomp / host" "$r_cpu" "<=" -)"
fi
echo "connect + first byte, median us by round: host $v_us_host  shim $v_us_shim  seccomp $v_us_seccomp"
echo "  seccomp / shim ${r_cs}  target <= 1.5: $(figure "seccomp: connect+byte / shim" "$r_cs" "<=" 1.5)"
echo "  seccomp / host ${r_ch}  $(figure "seccomp: connect+byte / host" "$r_ch" "<=" -)"
exit 0
