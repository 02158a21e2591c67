#!/bin/bash
# timeout: 90
# 64-trust-from: `from' clauses route by who asks, as the kernel says it.
# One destination, 198.51.100.2:7000, and three guests in the same guest
# namespace: user nobody is sent to server "one" (from user nobody), a root
# process in a cgroup of its own to server "two" (from cgroup PATH), a
# process with supplementary group 64200 to "one" (from gid), and anybody
# else is refused.  A guest cannot talk its way into another's route.
# Run against a daemon speaking guest protocol 1: GP_VERSION=1.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/sockoutd-lib.sh"
need python3 setpriv
GP="$TOP/tests/integration/gpclient.py"
CG2=$(awk '$3=="cgroup2" {print $2; exit}' /proc/mounts)
[ -n "$CG2" ] || skip "no cgroup v2 mount"
grep -q '^0::' /proc/self/cgroup || skip "no cgroup v2 line in /proc/self/cgroup"
CGN="sockout-test-$$"
mkdir "$CG2/$CGN" || skip "cannot create a cgroup under $CG2"
at_exit "rmdir $CG2/$CGN 2>/dev/null"
# the path sockoutd will read for a member (relative to our cgroup namespace)
mine=$(sed -n 's/^0:://p' /proc/self/cgroup)
CGP="${mine%/}/$CGN"

topo_basic
chmod 755 "$T"
mkdir -p -m 755 "$T/run"
mkdir -m 1777 "$T/w"
GUEST_SOCK=$T/run/guest.sock
cat >"$T/sockoutd.conf" <<CONF
guest-socket    $GUEST_SOCK
control-socket  $T/run/control.sock
connect port 7000 from user nobody direct 198.51.100.2:7001
connect port 7000 from cgroup $CGP direct 198.51.100.2:7002
connect port 7000 from gid 64200   direct 198.51.100.2:7001
connect port 7000 deny
CONF
start_sockoutd "$T/sockoutd.conf"
echo one >"$T/one.txt"
echo two >"$T/two.txt"
bgns "$NS_S" python3 "$TOP/tests/integration/echo-server.py" 198.51.100.2 7001 --source "$T/one.txt"
bgns "$NS_S" python3 "$TOP/tests/integration/echo-server.py" 198.51.100.2 7002 --source "$T/two.txt"
wait_tcp "$NS_S" 7001
wait_tcp "$NS_S" 7002
C="/usr/bin/python3 $GP $GUEST_SOCK connect 198.51.100.2 7000"

log "user nobody: server one"
ip netns exec "$NS_G" setpriv --reuid=nobody --regid=nogroup --clear-groups $C --recv "$T/w/a.txt" >"$T/a.out" 2>&1 ||
	fail "nobody: $(cat "$T/a.out")"
[ "$(cat "$T/w/a.txt")" = one ] || fail "nobody got: $(cat "$T/w/a.txt")"

log "root in cgroup $CGP: server two"
sh -c "echo \$\$ >$CG2/$CGN/cgroup.procs && exec ip netns exec $NS_G $C --recv $T/w/b.txt" >"$T/b.out" 2>&1 ||
	fail "cgroup: $(cat "$T/b.out")"
[ "$(cat "$T/w/b.txt")" = two ] || fail "the cgroup member got: $(cat "$T/w/b.txt")"

log "supplementary group 64200: server one"
ip netns exec "$NS_G" setpriv --reuid=64121 --regid=64121 --groups=64200 $C --recv "$T/w/c.txt" >"$T/c.out" 2>&1 ||
	fail "group: $(cat "$T/c.out")"
[ "$(cat "$T/w/c.txt")" = one ] || fail "the group member got: $(cat "$T/w/c.txt")"

log "anybody else (root outside the cgroup, uid 64122): refused"
ip netns exec "$NS_G" $C --expect-status 111 >"$T/d.out" 2>&1 || fail "root: $(cat "$T/d.out")"
ip netns exec "$NS_G" setpriv --reuid=64122 --regid=64122 --clear-groups $C --expect-status 111 >"$T/e.out" 2>&1 ||
	fail "uid 64122: $(cat "$T/e.out")"
sockoutd_stop_clean
pass
