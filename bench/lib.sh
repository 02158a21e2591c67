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
