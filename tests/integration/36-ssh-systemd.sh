#!/bin/bash
# timeout: 60
# 36-ssh-systemd: the shipped sockout-ssh@.service passes `systemd-analyze
# verify'; sockout-ssh says READY=1 once its sockets listen, even with the
# SSH server unreachable (it keeps retrying, and fails connects fast
# meanwhile); SIGHUP says RELOADING=1 then READY=1; SIGTERM says
# STOPPING=1, exits 0 and removes its sockets.
. "$(dirname "$0")/../lib.sh"
need python3 ssh-keygen

if command -v systemd-analyze >/dev/null; then
	log "systemd-analyze verify"
	mkdir -p "$T/unit"
	sed -e "s|@sbindir@/sockout-ssh|$BIN/sockout-ssh|g" -e "s|@sysconfdir@|/etc|g" \
		"$TOP/conf/systemd/sockout-ssh@.service.in" >"$T/unit/sockout-ssh@test.service"
	grep -q '^Type=notify' "$T/unit/sockout-ssh@test.service" || fail "not Type=notify"
	SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$T/unit/sockout-ssh@test.service" \
		>"$T/verify.log" 2>&1
	rc=$?
	cat "$T/verify.log"
	grep -i "sockout-ssh@" "$T/verify.log" && fail "verify complained about the unit"
	[ $rc = 0 ] || fail "systemd-analyze verify exit $rc"
fi

mkdir -m 0700 "$T/k"
ssh-keygen -q -t ed25519 -N '' -f "$T/k/id" || fail "ssh-keygen"
echo "[127.0.0.1]:1 $(cut -d' ' -f1,2 "$T/k/id.pub")" >"$T/k/known_hosts"
cat >"$T/good.conf" <<CONF
data-socket   $T/k/ssh.data
event-socket  $T/k/ssh.event
server        127.0.0.1:1
user          nobody
identity      $T/k/id
known-hosts   $T/k/known_hosts
reconnect-min 100ms
reconnect-max 500ms
CONF
"$BIN/sockout-ssh" -n -c "$T/good.conf" | grep -qx "configuration OK" || fail "-n rejected a good config"

log "sd_notify"
notify_listen "$T/notify.sock" "$T/notify.log"
NOTIFY_SOCKET=$T/notify.sock "$BIN/sockout-ssh" -f -c "$T/good.conf" >"$T/ssh.log" 2>&1 &
pid=$!
wait_for 10 grep -q "READY=1" "$T/notify.log" || fail "no READY=1"
test -S "$T/k/ssh.data" && test -S "$T/k/ssh.event" || fail "READY before the sockets exist"
wait_for 10 grep -q "retrying in" "$T/ssh.log" || fail "no login retry: $(cat "$T/ssh.log")"

log "connects fail fast while the server is unreachable"
if [ -x "$BIN/tests/tools/sockout-probe" ]; then
	rc=0
	timeout 10 "$BIN/tests/tools/sockout-probe" -d "$T/k/ssh.data" -e "$T/k/ssh.event" \
		-t 127.0.0.1:22 connect 127.0.0.1:22 </dev/null >"$T/probe.log" 2>&1 || rc=$?
	[ $rc = 2 ] || fail "connect while down: rc $rc $(cat "$T/probe.log")"
fi

log "SIGHUP"
kill -HUP $pid
wait_for 10 grep -q "RELOADING=1" "$T/notify.log" || fail "no RELOADING=1"
wait_for 10 grep -q "reloaded" "$T/ssh.log" || fail "no reload"
[ "$(grep -c "READY=1" "$T/notify.log")" -ge 2 ] || fail "no READY=1 after the reload"

kill -TERM $pid
wait $pid || fail "sockout-ssh exit $? on SIGTERM: $(tail -5 "$T/ssh.log")"
wait_for 5 grep -q "STOPPING=1" "$T/notify.log" || fail "no STOPPING=1"
test -e "$T/k/ssh.data" && fail "data socket left behind"
grep -q 'Sanitizer\|runtime error' "$T/ssh.log" && fail "sanitizer report"
pass
