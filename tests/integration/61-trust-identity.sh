#!/bin/bash
# timeout: 90
# 61-trust-identity: a guest's identity is the kernel's word, not its own.
# A victim guest namespace and an attacker guest namespace share sockoutd.
# The attacker names the victim's network namespace (its inode, as guest
# protocol 1 carried it; protocol 2 has no such field) and a false pid:
#  (a) a loopback CONNECT into the victim's loopback listener: ENOENT;
#  (b) a LISTEN "as the victim" on a port the victim then dials on its own
#      loopback: the victim's connect is not delivered to the attacker
#      (ENOENT: the shim would connect natively inside the victim).
# The victim's own loopback still works, and `sockoutctl connections'
# shows the kernel's pid of each listener, not the claimed one.
# Run against a daemon speaking guest protocol 1: GP_VERSION=1.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/sockoutd-lib.sh"
need python3
GP="python3 $TOP/tests/integration/gpclient.py"

topo_basic
NS_A="${P}a"
ns_new "$NS_A"
GUEST_SOCK=$T/run/guest.sock
cat >"$T/sockoutd.conf" <<CONF
guest-socket    $GUEST_SOCK
control-socket  $T/run/control.sock
accept port 9000-9001 direct
CONF
start_sockoutd "$T/sockoutd.conf"
CTL="$BIN/sockoutctl -s $T/run/control.sock"
VINO=$(ip netns exec "$NS_G" stat -L -c %i /proc/self/ns/net)
AINO=$(ip netns exec "$NS_A" stat -L -c %i /proc/self/ns/net)
[ -n "$VINO" ] && [ "$VINO" != "$AINO" ] || fail "namespace inodes: $VINO $AINO"
# what a v1 shim sends: its real inode; the attacker sends the victim's
V="ip netns exec $NS_G $GP $GUEST_SOCK"
A="ip netns exec $NS_A $GP $GUEST_SOCK"
echo "between us" >"$T/ping.txt"

log "the victim listens on its loopback port 9000"
$V listen 127.0.0.1 9000 --netns "$VINO" --accept 2 --echo --ready "$T/v.ready" >"$T/v.out" 2>&1 &
VP=$!
wait_for 10 test -e "$T/v.ready" || fail "victim listen: $(cat "$T/v.out")"

log "(a) the attacker, claiming the victim's namespace, connects to it"
$A connect 127.0.0.1 9000 --loopback --netns "$VINO" --pid $VP --expect-status 2 >"$T/a.out" 2>&1 ||
	fail "the attacker reached the victim's loopback listener: $(cat "$T/a.out")"

log "(b) the attacker listens on port 9001 claiming the victim's namespace and pid"
$A listen 0.0.0.0 9001 --netns "$VINO" --pid $VP --accept 1 --ready "$T/a.ready" >"$T/al.out" 2>&1 &
AP=$!
wait_for 10 test -e "$T/a.ready" || fail "attacker listen: $(cat "$T/al.out")"
$V connect 127.0.0.1 9001 --loopback --netns "$VINO" --expect-status 2 >"$T/b.out" 2>&1 ||
	fail "the victim's loopback connect went to the attacker: $(cat "$T/b.out")"
grep -q "^accept" "$T/al.out" && fail "the attacker's listener got a connection"

log "sockoutctl shows the kernel's pids"
$CTL connections --json >"$T/conns.json" || fail "sockoutctl connections"
python3 - "$T/conns.json" "$VP" "$AP" <<'PY' || fail "listener pids: $(cat "$T/conns.json")"
import json, sys
ls = json.load(open(sys.argv[1]))["listeners"]
got = {int(l["bound"].rsplit(":", 1)[1]): l["pid"] for l in ls}
print(got)
sys.exit(0 if got == {9000: int(sys.argv[2]), 9001: int(sys.argv[3])} else 1)
PY

log "the victim's own loopback still works, twice"
for i in 1 2; do
	$V connect 127.0.0.1 9000 --loopback --netns "$VINO" --send "$T/ping.txt" --recv "$T/got$i.txt" >"$T/v$i.out" 2>&1 ||
		fail "victim loopback $i: $(cat "$T/v$i.out")"
	cmp -s "$T/got$i.txt" "$T/ping.txt" || fail "victim loopback $i: data differs"
done
wait $VP || fail "victim listener: $(cat "$T/v.out")"
kill $AP 2>/dev/null
sockoutd_stop_clean
pass
