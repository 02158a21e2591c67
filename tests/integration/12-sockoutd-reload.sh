#!/bin/bash
# timeout: 120
# 12-sockoutd-reload: SIGHUP and `sockoutctl reload' swap the dispatch table
# atomically; a broken file keeps the old table working and the reply (and
# the log) carries the full error text; helpers added on reload are dialed,
# helpers removed are dropped.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/sockoutd-lib.sh"
need python3

topo_basic
mkdir -p "$T/run"
GUEST_SOCK=$T/run/guest.sock
CONF=$T/sockoutd.conf
head_conf() {
	cat <<CONF
guest-socket    $GUEST_SOCK
control-socket  $T/run/control.sock
CONF
}
{ head_conf; echo "connect port 7000 direct"; echo "connect any deny"; } >"$CONF"
start_sockoutd "$CONF"
CTL="$BIN/sockoutctl -s $T/run/control.sock"
bgns "$NS_S" python3 "$TOP/tests/integration/echo-server.py" 198.51.100.2 7000
wait_tcp "$NS_S" 7000
G="ip netns exec $NS_G python3 $TOP/tests/integration/gpclient.py $GUEST_SOCK"
echo hi >"$T/hi.txt"
ok() { $G connect 198.51.100.2 7000 --send "$T/hi.txt" --recv "$T/r.txt" >/dev/null && cmp -s "$T/r.txt" "$T/hi.txt"; }
refused() { $G connect 198.51.100.2 7000 --expect-status 111 >/dev/null; }

ok || fail "first table: 7000 should pass"

log "SIGHUP with a good file: the new table denies 7000"
{ head_conf; echo "connect port 7000 deny"; echo "connect any direct"; } >"$CONF"
kill -HUP $SOCKOUTD_PID
wait_for 5 grep -q "configuration reloaded" "$T/sockoutd.log" || fail "no reload logged"
refused || fail "7000 not denied after SIGHUP"

log "SIGHUP with a broken file: the old table keeps working, the log says why"
{ head_conf; echo "connect port 7000 direct"; echo "connect port 90-80 deny"; echo "connect 10.0.0.0/40 deny"; } >"$CONF"
kill -HUP $SOCKOUTD_PID
wait_for 5 grep -q "reload failed (2 errors)" "$T/sockoutd.log" || fail "no failure logged"
grep -q "reload: $CONF:4: port range reversed: \`90-80'" "$T/sockoutd.log" || fail "error 1 not logged"
grep -q "reload: $CONF:5: bad address or CIDR: \`10.0.0.0/40'" "$T/sockoutd.log" || fail "error 2 not logged"
refused || fail "old table lost after a failed SIGHUP"

log "sockoutctl reload with the same broken file: exit 1 and every error"
rc=0
$CTL reload >"$T/ctl.out" 2>&1 || rc=$?
[ $rc = 1 ] || fail "sockoutctl reload exit $rc"
cat "$T/ctl.out"
grep -q "^$CONF:4: port range reversed: \`90-80'$" "$T/ctl.out" || fail "error 1 not shown"
grep -q "^$CONF:5: bad address or CIDR: \`10.0.0.0/40'$" "$T/ctl.out" || fail "error 2 not shown"
$CTL reload --json | grep -q '"ok":false' || fail "json reply not ok:false"
refused || fail "old table lost after a failed sockoutctl reload"

log "sockoutctl reload with a good file, adding a helper"
if [ -x "$BIN/sockout-plain" ]; then
	start_plain "$T/run/p.data" "$T/run/p.event"
	{ head_conf; echo "helper plain data $T/run/p.data event $T/run/p.event"
	  echo "connect port 7000 helper plain to 198.51.100.2:7000"; echo "connect any deny"; } >"$CONF"
	$CTL reload >"$T/ctl2.out" 2>&1 || fail "good reload: $(cat "$T/ctl2.out")"
	grep -qx "configuration reloaded" "$T/ctl2.out" || fail "reload said: $(cat "$T/ctl2.out")"
	wait_for 10 sh -c "$CTL helpers | grep -q '^plain *up '" || fail "added helper not dialed"
	ok || fail "7000 through the added helper"
	$CTL status | grep -q "connect port 7000 helper plain to 198.51.100.2:7000" || fail "status lacks the new rule"
	log "and removing it again"
	{ head_conf; echo "connect port 7000 direct"; } >"$CONF"
	$CTL reload >/dev/null || fail "reload removing the helper"
	$CTL helpers | grep -q "no helpers configured" || fail "helper still listed"
	wait_for 5 grep -q "dispatcher sockoutd disconnected" "$T/plain.log" || fail "helper not dropped"
else
	{ head_conf; echo "connect port 7000 direct"; } >"$CONF"
	$CTL reload >/dev/null || fail "good reload"
fi
ok || fail "7000 should pass after the last reload"
kill -0 $SOCKOUTD_PID || fail "sockoutd died"
sockoutd_stop_clean
pass
