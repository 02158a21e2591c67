#!/bin/bash
# bench/ssh.sh - sockout-ssh throughput against `ssh -L` to the same sshd
# with the same cipher and MAC (aes128-ctr, hmac-sha2-256), both measured
# in this run with iperf3, and against the ceiling of libssh2 itself:
# bench/ssh-ceiling, one blocking session and one channel with the same
# algorithms and window, pumping into a sink through the same sshd.  Debian
# 12's libssh2 1.10 makes one cipher call per 16-byte block, so that
# ceiling, not OpenSSH, bounds what one sockout-ssh session can do.
# Run by bench/run (`make bench`), or alone:
#   bench/ssh.sh            (BENCH_SECS=5 by default)
# Everything lives in one namespace: sshd on 198.51.100.1:2222, iperf3 on
# its loopback; the SSH client side is either OpenSSH (baseline) or a guest
# through sockoutd and sockout-ssh.
set -u
export SOCKOUT_TOP=${SOCKOUT_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
. "$SOCKOUT_TOP/tests/lib.sh"
. "$SOCKOUT_TOP/tests/lib-ssh.sh"
. "$SOCKOUT_TOP/bench/lib.sh"
need iperf3 python3 ssh
SECS=${BENCH_SECS:-5}
SESSIONS=${BENCH_SSH_SESSIONS:-2}

NS_H="${P}h" NS_G="${P}g"
ns_new "$NS_H"; ns_new "$NS_G"
ip -n "$NS_H" addr add 198.51.100.1/32 dev lo
ssh_keys
ssh_sshd gw "$NS_H" 198.51.100.1 2222
sed -i 's/^LogLevel DEBUG/LogLevel ERROR/' "$T/ssh/gw.conf"
bgns "$NS_H" iperf3 -s -B 127.0.0.1 -p 5201 >"$T/iperf3-server.log" 2>&1
bgns "$NS_H" "$BIN/sockbench" sink 127.0.0.1 5301 >"$T/sink.log" 2>&1
bgns "$NS_H" "$BIN/sockbench" source 127.0.0.1 5302 >"$T/source.log" 2>&1
wait_tcp "$NS_H" 5201
wait_tcp "$NS_H" 5301
wait_tcp "$NS_H" 5302

ALG="aes128-ctr hmac-sha2-256"
ssh_helper_conf "$T/one.conf" 198.51.100.1 2222 one "ciphers aes128-ctr" "macs hmac-sha2-256"
ssh_helper_conf "$T/multi.conf" 198.51.100.1 2222 multi "ciphers aes128-ctr" "macs hmac-sha2-256" "sessions $SESSIONS"
ssh_helper "$NS_H" "$T/one.conf" one
ssh_helper "$NS_H" "$T/multi.conf" multi
ssh_wait_up one
ssh_wait_up multi "$SESSIONS"

GUEST_SOCK=$T/guest.sock
cat >"$T/sockoutd.conf" <<CONF
guest-socket   $GUEST_SOCK
control-socket $T/control.sock
helper one   data $T/one.data   event $T/one.event
helper multi data $T/multi.data event $T/multi.event
connect 198.51.100.1 port 5202 helper one   to 127.0.0.1:5201
connect 198.51.100.1 port 5203 helper multi to 127.0.0.1:5201
connect any deny
accept  any deny
CONF
# (198.51.100.1 is sockoutd's own address: only rules naming it reach it.)
bgns "$NS_H" "$BIN/sockoutd" -f -c "$T/sockoutd.conf" >"$T/sockoutd.log" 2>&1
wait_sock "$GUEST_SOCK"

# OpenSSH's -L, same sshd, same algorithms
ssh_known_hosts 198.51.100.1 2222 >"$T/ssh/known_hosts-ssh"
bgns "$NS_H" ssh -N -p 2222 -i "$T/ssh/id_ed25519" -c aes128-ctr -m hmac-sha2-256 \
	-o BatchMode=yes -o UserKnownHostsFile="$T/ssh/known_hosts-ssh" \
	-o ExitOnForwardFailure=yes -L 127.0.0.1:15201:127.0.0.1:5201 root@198.51.100.1
wait_tcp "$NS_H" 15201

run() { # name port [iperf3 args]; sockout runs are guests, ssh -L runs on the host
	local name=$1 port=$2; shift 2
	if [ "$port" = 15201 ]; then
		ip netns exec "$NS_H" iperf3 -c 127.0.0.1 -p "$port" -t "$SECS" -J "$@" >"$T/$name.json" 2>"$T/$name.err"
	else
		guest iperf3 -c 198.51.100.1 -p "$port" -t "$SECS" -J "$@" >"$T/$name.json" 2>"$T/$name.err"
	fi
	gbps "$T/$name.json"
}

ceiling() { # name [-R]: the libssh2 ceiling through the same sshd, Gbit/s
	local name=$1 port=5301; shift
	[ "${1:-}" = -R ] && port=5302
	ip netns exec "$NS_H" "$BIN/ssh-ceiling" "$@" -t "$SECS" -u root -i "$T/ssh/id_ed25519" \
		-k "$T/ssh/known_hosts-ssh" 198.51.100.1 2222 127.0.0.1 $port >"$T/$name.out" 2>"$T/$name.err"
	awk '/^gbps/{print $2; f=1} END{if(!f) print 0}' "$T/$name.out"
}

echo "sockout-ssh vs ssh -L and vs the libssh2 ceiling, $ALG, ${SECS}s each, $(nproc) cores"
b1=$(run ssh1 15201)
c1=$(ceiling ceil1)
s1=$(run sock1 5202)
r1=$(ratio "$s1" "$b1"); rc=$(ratio "$s1" "$c1")
echo "1 stream:  ssh -L ${b1} Gbit/s   libssh2 ceiling ${c1} Gbit/s   sockout-ssh ${s1} Gbit/s"
echo "           / ssh -L ${r1}  target >= 0.8: $(figure "ssh: sockout-ssh / ssh -L" "$r1" ">=" 0.8)"
echo "           / ceiling ${rc}  target >= 0.95: $(figure "ssh: sockout-ssh / libssh2 ceiling" "$rc" ">=" 0.95)"
echo "           (the ceiling itself is $(ratio "$c1" "$b1") of ssh -L: $(figure "ssh: libssh2 ceiling / ssh -L" "$(ratio "$c1" "$b1")" ">=" -))"
b8=$(run ssh8 15201 -P 8)
s8=$(run sock8 5203 -P 8)
r8=$(ratio "$s8" "$b8")
echo "8 streams: ssh -L ${b8} Gbit/s   sockout-ssh (sessions $SESSIONS) ${s8} Gbit/s   ratio ${r8}  target >= 1.0: $(figure "ssh: sockout-ssh / ssh -L, 8 streams" "$r8" ">=" 1.0)"
s8one=$(run sock8one 5202 -P 8)
echo "8 streams over 1 session: ${s8one} Gbit/s   ratio $(ratio "$s8one" "$b8")   / ceiling $(ratio "$s8one" "$c1")"
sR=$(run sockR 5202 -R)
bR=$(run sshR 15201 -R)
cR=$(ceiling ceilR -R)
rR=$(ratio "$sR" "$cR")
echo "1 stream reverse (-R): ssh -L ${bR} Gbit/s   libssh2 ceiling ${cR} Gbit/s   sockout-ssh ${sR} Gbit/s   / ssh -L $(ratio "$sR" "$bR")   / ceiling ${rR}: $(figure "ssh: sockout-ssh / ceiling, -R" "$rR" ">=" -)"
exit 0
