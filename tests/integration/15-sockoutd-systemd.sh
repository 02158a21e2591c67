#!/bin/bash
# timeout: 60
# san: no
# 15-sockoutd-systemd: the shipped unit passes `systemd-analyze verify' (with
# its paths pointed at this build), and sockoutd speaks sd_notify: READY=1
# once its sockets listen, RELOADING=1/READY=1 around a reload, STOPPING=1,
# and WATCHDOG=1 when WATCHDOG_USEC is set.
. "$(dirname "$0")/../lib.sh"
need systemd-analyze python3

log "systemd-analyze verify"
mkdir -p "$T/unit"
sed -e "s|@sbindir@/sockoutd|$BIN/sockoutd|g" \
	-e "s|@sysconfdir@/sockout/sockoutd.conf|$TOP/conf/sockoutd.conf|g" \
	"$TOP/conf/systemd/sockoutd.service.in" >"$T/unit/sockoutd.service"
grep -q '^Type=notify' "$T/unit/sockoutd.service" || fail "not Type=notify"
grep -q '^ExecReload=/bin/kill -HUP \$MAINPID' "$T/unit/sockoutd.service" || fail "no ExecReload"
# verify warns about unrelated units on some hosts: judge only ours
SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$T/unit/sockoutd.service" >"$T/verify.log" 2>&1
rc=$?
cat "$T/verify.log"
grep -i "sockoutd.service" "$T/verify.log" && fail "verify complained about the unit"
[ $rc = 0 ] || fail "systemd-analyze verify exit $rc"

log "sd_notify protocol"
notify_listen "$T/notify.sock" "$T/notify.log"
cat >"$T/d.conf" <<CONF
guest-socket   $T/run/guest.sock
control-socket $T/run/control.sock
connect any direct
CONF
NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=200000 "$BIN/sockoutd" -f -c "$T/d.conf" >"$T/sockoutd.log" 2>&1 &
D=$!
_pids="$D $_pids"
wait_for 5 grep -q READY=1 "$T/notify.log" || fail "no READY=1"
[ -S "$T/run/guest.sock" ] || fail "READY=1 before the guest socket exists"
[ "$(stat -c %a "$T/run")" = 755 ] || fail "runtime dir mode $(stat -c %a "$T/run")"
[ "$(stat -c %a "$T/run/guest.sock")" = 666 ] || fail "guest socket mode"
[ "$(stat -c %a "$T/run/control.sock")" = 600 ] || fail "control socket mode"
wait_for 5 grep -q WATCHDOG=1 "$T/notify.log" || fail "no WATCHDOG=1"
kill -HUP $D
wait_for 5 grep -q RELOADING=1 "$T/notify.log" || fail "no RELOADING=1"
[ "$(grep -c READY=1 "$T/notify.log")" -ge 2 ] || wait_for 5 sh -c "[ \$(grep -c READY=1 $T/notify.log) -ge 2 ]" || fail "no READY=1 after reload"
kill -TERM $D
wait $D || fail "sockoutd exit status $? on SIGTERM"
wait_for 5 grep -q STOPPING=1 "$T/notify.log" || fail "no STOPPING=1"
[ -e "$T/run/guest.sock" ] && fail "guest socket left behind"
[ -e "$T/run/control.sock" ] && fail "control socket left behind"
cat "$T/notify.log"
pass
