#!/bin/bash
# bench/vm.sh - a VM guest (tests/vm, QEMU; TCG on machines where nested KVM
# hangs) through sockoutd's stream mode vs the same VM's own user-mode
# network (QEMU's slirp), in the same run, against the same servers:
#
#   slirp   the VM connects to 10.0.2.2:PORT; QEMU's slirp connects to
#           127.0.0.1:PORT in the bench namespace
#   direct  the VM runs the client under sockout-run -s tcp:10.0.2.100:1024
#           (a guestfwd to sockoutd's guest-stream endpoint); sockoutd's
#           `direct' rule connects to 198.51.100.1:PORT (same namespace,
#           same server) and copies the bytes
#
# Figures: download throughput (curl, BENCH_VM_MIB MiB, default 32, best of
# 3) and connect + first byte round trip (python3, BENCH_VM_CONNS
# connections, default 200; mean), each as direct / slirp.  First, without
# a VM, what stream mode itself costs against descriptor passing (same
# host namespace, sockoutd's loopback TCP endpoint, no forwarder): iperf3
# (BENCH_SECS, 5) and sockbench's connect + first byte (1000).  Information
# only (the issue sets no target).  Run by bench/run, or alone.
set -u
export SOCKOUT_TOP=${SOCKOUT_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
. "$SOCKOUT_TOP/tests/lib.sh"
. "$SOCKOUT_TOP/bench/lib.sh"
. "$SOCKOUT_TOP/tests/vm/vm.sh"
need qemu-system-x86_64 debootstrap mke2fs python3 socat
MIB=${BENCH_VM_MIB:-32}
CONNS=${BENCH_VM_CONNS:-200}
if ldd "$BIN/sockout-run" | grep -q libasan; then
	skip "bench/vm.sh measures a plain build (the VM image has no libasan)"
fi
vm_image || fail "the VM image could not be built (tests/vm/image)"

NS_H="${P}h"
ns_new "$NS_H"
ip -n "$NS_H" addr add 198.51.100.1/32 dev lo
cat >"$T/sockoutd.conf" <<EOC
guest-socket   $T/guest.sock
control-socket $T/control.sock
guest-stream   $T/vm1.sock name vm1 uid 4242
guest-stream   tcp:127.0.0.1:7001 name host1 uid 4243
connect 198.51.100.1 port 7101-7102 from uid 4242 direct
connect 198.51.100.1 port 5201 direct
connect 198.51.100.1 port 7103 direct
connect any deny
accept  any deny
EOC
bgns "$NS_H" "$BIN/sockoutd" -f -c "$T/sockoutd.conf" >"$T/sockoutd.log" 2>&1
wait_sock "$T/vm1.sock"

need iperf3
bgns "$NS_H" iperf3 -s -B 198.51.100.1 -p 5201 >"$T/iperf3.log" 2>&1
bgns "$NS_H" "$BIN/sockbench" echo 198.51.100.1 7103 >"$T/sockbench.log" 2>&1
wait_tcp "$NS_H" 5201
wait_tcp "$NS_H" 7103
SECS=${BENCH_SECS:-5}
fdg() { ip netns exec "$NS_H" "$BIN/sockout-run" -s "$T/guest.sock" -- "$@"; }
stg() { ip netns exec "$NS_H" "$BIN/sockout-run" -s tcp:127.0.0.1:7001 -- "$@"; }
ipf() { local w=$1; shift; $w iperf3 -c 198.51.100.1 -p 5201 -t "$SECS" -J "$@" >"$T/ipf.json" 2>"$T/ipf.err"; gbps "$T/ipf.json"; }
med() { "$@" "$BIN/sockbench" latency 198.51.100.1 7103 1000 | awk '{print $2}'; }
echo "== stream mode without a VM ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)): loopback TCP endpoint vs descriptor passing, direct =="
fd_t=$(ipf fdg); st_t=$(ipf stg); fd_tr=$(ipf fdg -R); st_tr=$(ipf stg -R)
fd_l=$(med fdg); st_l=$(med stg)
r1=$(ratio "$st_t" "$fd_t"); r2=$(ratio "$st_tr" "$fd_tr"); r3=$(ratio "$st_l" "$fd_l")
echo "iperf3, descriptor / stream       ${fd_t} / ${st_t} Gbit/s   ratio ${r1}  $(figure "stream / fd mode, iperf3" "$r1" ">=" -)"
echo "iperf3 -R, descriptor / stream    ${fd_tr} / ${st_tr} Gbit/s   ratio ${r2}  $(figure "stream / fd mode, iperf3 -R" "$r2" ">=" -)"
echo "connect+byte, descriptor / stream ${fd_l} / ${st_l} us (median)   ratio ${r3}  $(figure "stream / fd mode, connect+byte" "$r3" "<=" -)"

mkdir -p "$T/www" "$T/vm/share/bin"
mkdata "$T/www/data.bin" "$MIB"
cp "$BIN/sockout-run" "$BIN/libsockout-guest.so" "$T/vm/share/bin/"
bgns "$NS_H" python3 -m http.server -d "$T/www" -b 0.0.0.0 7101 >"$T/http.log" 2>&1
bgns "$NS_H" python3 "$SOCKOUT_TOP/tests/integration/echo-server.py" 0.0.0.0 7102 >"$T/echo.log" 2>&1
wait_tcp "$NS_H" 7101
wait_tcp "$NS_H" 7102
cat >"$T/vm/share/lat.py" <<'PY'
import socket, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t = []
for _ in range(n):
    t0 = time.monotonic()
    c = socket.create_connection((host, port))
    c.sendall(b"x")
    if c.recv(1) != b"x":
        sys.exit("no echo")
    t.append(time.monotonic() - t0)
    c.close()
print("%.3f" % (1000 * sum(t) / len(t)))
PY

VM_NETNS=$NS_H \
VM_NETDEV="user,id=n0,net=10.0.2.0/24,guestfwd=tcp:10.0.2.100:1024-cmd:socat -t 600 - UNIX-CONNECT:$T/vm1.sock" \
	vm_boot "$T/vm" || fail "the VM did not boot"
vm_net_up || fail "eth0 in the VM"
vm_run 'cp /mnt/host/bin/* /usr/local/bin/' || fail "copying sockout-run into the VM"
SR="sockout-run -s tcp:10.0.2.100:1024 --"

# thr PREFIX HOST - best of 3 downloads, MB/s (curl's own figure)
thr() {
	local best=0 v
	for _ in 1 2 3; do
		v=$(vm_run -t 300 "$1 curl -sS --max-time 280 -o /dev/null -w '%{speed_download}' http://$2:7101/data.bin") ||
			fail "download via ${1:-slirp}: $v"
		best=$(python3 -c "import sys; print('%.1f' % max(float(sys.argv[1]), float(sys.argv[2]) / 1e6))" "$best" "$v")
	done
	echo "$best"
}
lat() { vm_run -t 300 "$1 python3 /mnt/host/lat.py $2 7102 $CONNS" || fail "latency via ${1:-slirp}"; }

load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== VM guest ($VM_ACCEL; $(nproc) cores, load $load): stream mode through sockoutd vs the VM's own slirp =="
slirp_t=$(thr "" 10.0.2.2)
direct_t=$(thr "$SR" 198.51.100.1)
slirp_l=$(lat "" 10.0.2.2)
direct_l=$(lat "$SR" 198.51.100.1)
rt=$(ratio "$direct_t" "$slirp_t")
rl=$(ratio "$direct_l" "$slirp_l")
echo "VM download, slirp                ${slirp_t} MB/s   ($MIB MiB, best of 3)"
echo "VM download, direct (stream)      ${direct_t} MB/s   ratio ${rt}  $(figure "VM direct / VM slirp, download" "$rt" ">=" -)"
echo "VM connect+1st byte, slirp        ${slirp_l} ms      (mean of $CONNS)"
echo "VM connect+1st byte, direct       ${direct_l} ms      ratio ${rl}  $(figure "VM direct / VM slirp, connect ms" "$rl" "<=" -)"
figure "VM download MB/s (slirp / direct)" "$slirp_t/$direct_t" "" - >/dev/null
vm_stop
