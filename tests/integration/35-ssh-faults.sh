#!/bin/bash
# timeout: 240
# 35-ssh-faults: the SSH link breaks under a guest's transfer and sockoutd
# never needs a restart.
#   * sshd killed mid-transfer: the guest's connection is reset (curl fails),
#     connects fail fast while the server is down, and after sshd is back
#     the helper logs in again by itself and new transfers work.
#   * the veth goes down for a moment during a transfer: TCP rides it out,
#     sha256 still right.
#   * delay and loss on the link (tc netem; where the kernel has no netem,
#     iptables random drops): a 20 MiB transfer is still right.
#   * the link stays down past the TCP keepalive: reset, then the helper
#     logs in again and transfers work.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-ssh.sh"
need curl python3 tc
[ -x "$BIN/sockoutd" ] && [ -x "$BIN/sockout-run" ] || fail "sockoutd/sockout-run not built (run make)"

topo_basic
ssh_keys
ssh_sshd gw "$NS_S" 198.51.100.2 2222
ssh_helper_conf "$T/office.conf" 198.51.100.2 2222 office "keepalive 2s"
ssh_helper "$NS_H" "$T/office.conf" office
ssh_wait_up office

GUEST_SOCK=$T/guest.sock
cat >"$T/sockoutd.conf" <<CONF
guest-socket   $GUEST_SOCK
control-socket $T/control.sock
helper office  data $T/office.data event $T/office.event
connect port 8000 helper office to 127.0.0.1:8000
connect any    deny
accept  any    deny
CONF
start_sockoutd "$T/sockoutd.conf"
mkdir "$T/www"
mkdata "$T/www/data.bin" 20
bgns "$NS_S" python3 -m http.server -d "$T/www" -b 127.0.0.1 8000 >"$T/http.log" 2>&1
wait_tcp "$NS_S" 8000
want=$(sha "$T/www/data.bin")

fetch() { # fetch OUT [curl options...]
	local out=$1; shift
	guest curl -sS --max-time 90 "$@" -o "$out" http://198.51.100.2:8000/data.bin
}
ok=0
for i in $(seq 1 20); do fetch "$T/warm.bin" 2>"$T/curl.log" && { ok=1; break; }; sleep 0.5; done
[ $ok = 1 ] || fail "first transfer: $(cat "$T/curl.log")"
[ "$(sha "$T/warm.bin")" = "$want" ] || fail "first transfer sha256"

# descendants PID - PID and every process below it (sshd forks per session)
descendants() {
	local p
	echo "$1"
	for p in $(ps -o pid= --ppid "$1"); do descendants "$p"; done
}

log "kill sshd (and its session processes) during a slow transfer"
rc=0
fetch "$T/cut.bin" --limit-rate 1M 2>"$T/cut.log" &
CURL=$!
wait_for 20 sh -c "[ -s '$T/cut.bin' ]" || fail "slow transfer did not start"
kill -9 $(descendants "$SSHD_PID")
wait "$CURL" || rc=$?
[ $rc != 0 ] || fail "the transfer survived a dead sshd?"
log "curl ended with $rc: $(cat "$T/cut.log")"
wait_for 15 grep -q "lost" "$T/helper-office.log" || fail "helper did not notice"

log "while sshd is down, connects fail fast"
rc=0
guest curl -sS --max-time 20 -o /dev/null http://198.51.100.2:8000/data.bin 2>"$T/down.log" || rc=$?
[ $rc = 7 ] || fail "curl exit $rc while down, expected 7: $(cat "$T/down.log")"

log "sshd comes back: the helper logs in again by itself"
bgns "$NS_S" "$SSHD" -D -f "$T/ssh/gw.conf" -E "$T/sshd-gw2.log"
SSHD_PID=$(echo $_pids | cut -d' ' -f1)
wait_tcp "$NS_S" 2222
ssh_wait_up office 2 20
fetch "$T/after.bin" 2>"$T/after.log" || fail "transfer after sshd restart: $(cat "$T/after.log")"
[ "$(sha "$T/after.bin")" = "$want" ] || fail "sha256 after restart"
kill -0 "$SOCKOUTD_PID" || fail "sockoutd died"

log "the link goes down for 1.5 s during a transfer"
fetch "$T/blip.bin" --limit-rate 4M 2>"$T/blip.log" &
CURL=$!
wait_for 20 sh -c "[ -s '$T/blip.bin' ]" || fail "transfer did not start"
ip -n "$NS_H" link set "$LINK_A" down
sleep 1.5
ip -n "$NS_H" link set "$LINK_A" up
wait "$CURL" || fail "transfer across a link blip: $(cat "$T/blip.log")"
[ "$(sha "$T/blip.bin")" = "$want" ] || fail "sha256 across the blip"

log "delay and loss on the link (tc netem, or iptables random drops)"
if ip netns exec "$NS_H" tc qdisc add dev "$LINK_A" root netem delay 20ms loss 1% 2>/dev/null; then
	lossy="tc netem delay 20ms loss 1%"
elif ip netns exec "$NS_H" iptables -A INPUT -i "$LINK_A" -m statistic --mode random --probability 0.01 -j DROP 2>/dev/null &&
     ip netns exec "$NS_H" iptables -A OUTPUT -o "$LINK_A" -m statistic --mode random --probability 0.01 -j DROP 2>/dev/null; then
	lossy="iptables 1% random loss each way (this kernel has no netem: no delay)"
else
	lossy=""
	log "neither netem nor the iptables statistic match here: lossy-link part not run"
fi
if [ -n "$lossy" ]; then
	log "lossy link: $lossy"
	fetch "$T/netem.bin" 2>"$T/netem.log" || fail "transfer over a lossy link: $(cat "$T/netem.log")"
	[ "$(sha "$T/netem.bin")" = "$want" ] || fail "sha256 over a lossy link"
	ip netns exec "$NS_H" tc qdisc del dev "$LINK_A" root 2>/dev/null
	ip netns exec "$NS_H" iptables -F INPUT 2>/dev/null
	ip netns exec "$NS_H" iptables -F OUTPUT 2>/dev/null
fi

log "the link stays down longer than the keepalive allows: reset, then back"
fetch "$T/long.bin" --limit-rate 1M 2>"$T/long.log" &
CURL=$!
wait_for 20 sh -c "[ -s '$T/long.bin' ]" || fail "transfer did not start"
ip -n "$NS_H" link set "$LINK_A" down
rc=0
wait "$CURL" || rc=$?
[ $rc != 0 ] || fail "transfer finished over a dead link?"
wait_for 30 grep -q "lost.*reconnecting" "$T/helper-office.log" || fail "dead link not detected"
ip -n "$NS_H" link set "$LINK_A" up
n=$(grep -c "logged in" "$T/helper-office.log")
ssh_wait_up office $((n + 1)) 30
fetch "$T/final.bin" 2>"$T/final.log" || fail "transfer after the outage: $(cat "$T/final.log")"
[ "$(sha "$T/final.bin")" = "$want" ] || fail "sha256 after the outage"
kill -0 "$SOCKOUTD_PID" || fail "sockoutd died"
pass
