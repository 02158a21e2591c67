#!/bin/bash
# timeout: 150
# 23-guest-iperf3: iperf3 client in the guest against iperf3 -s on the
# server (normal, -R, -P 8), then iperf3 -s in the guest served through an
# accept rule.  Checks success and bytes moved, never speed.
. "$(dirname "$0")/../lib.sh"
need iperf3 python3

topo_basic
GUEST_SOCK=$T/guest.sock
cat >"$T/sockoutd.conf" <<CONF
guest-socket   $GUEST_SOCK
control-socket $T/control.sock
connect any      direct
accept port 5201 direct 15201
accept any       deny
CONF
start_sockoutd "$T/sockoutd.conf"

# check JSON - iperf3 finished without error and moved bytes both ways
check() {
	python3 - "$1" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
if "error" in j:
    sys.exit("iperf3 error: " + j["error"])
e = j["end"]
sent, recv = e["sum_sent"]["bytes"], e["sum_received"]["bytes"]
n = len(j["start"]["connected"])
print("streams %d sent %d received %d" % (n, sent, recv))
if sent <= 0 or recv <= 0:
    sys.exit("no bytes moved")
PY
}

bgns "$NS_S" iperf3 -s -p 5201 >"$T/iperf3-server.log" 2>&1
wait_tcp "$NS_S" 5201
for args in "" "-R" "-P 8"; do
	log "guest iperf3 -c $args"
	# shellcheck disable=SC2086
	guest iperf3 -c 198.51.100.2 -p 5201 -t 2 --json $args >"$T/c.json" 2>"$T/c.log" ||
		fail "iperf3 -c $args: $(cat "$T/c.log"; tail -5 "$T/c.json")"
	check "$T/c.json" || fail "iperf3 -c $args"
	if [ "$args" = "-P 8" ]; then
		n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["start"]["connected"]))' "$T/c.json")
		[ "$n" = 8 ] || fail "-P 8 ran $n streams"
	fi
done

log "iperf3 -s in the guest, client on the server machine"
bg guest iperf3 -s -p 5201 >"$T/iperf3-guest.log" 2>&1
wait_tcp "$NS_H" 15201
for args in "" "-R" "-P 4"; do
	log "iperf3 -c host:15201 $args"
	# shellcheck disable=SC2086
	ip netns exec "$NS_S" iperf3 -c 198.51.100.1 -p 15201 -t 2 --json $args >"$T/s.json" 2>"$T/s.log" ||
		fail "iperf3 to the guest $args: $(cat "$T/s.log"; tail -5 "$T/s.json")"
	check "$T/s.json" || fail "iperf3 to the guest $args"
done
pass
