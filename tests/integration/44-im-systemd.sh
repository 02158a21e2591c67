#!/bin/bash
# timeout: 60
# 44-im-systemd: the shipped sockout-im@.service passes `systemd-analyze
# verify'; sockout-im says READY=1 once its sockets listen (before, and
# independent of, the XMPP login, which it keeps retrying) and STOPPING=1;
# `keygen' never overwrites; `-n' reports config errors with file:line.
. "$(dirname "$0")/../lib.sh"
need python3

if command -v systemd-analyze >/dev/null; then
	log "systemd-analyze verify"
	mkdir -p "$T/unit"
	sed -e "s|@sbindir@/sockout-im|$BIN/sockout-im|g" -e "s|@sysconfdir@|/etc|g" \
		"$TOP/conf/systemd/sockout-im@.service.in" >"$T/unit/sockout-im@test.service"
	grep -q '^Type=notify' "$T/unit/sockout-im@test.service" || fail "not Type=notify"
	SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$T/unit/sockout-im@test.service" \
		>"$T/verify.log" 2>&1
	rc=$?
	cat "$T/verify.log"
	grep -i "sockout-im@" "$T/verify.log" && fail "verify complained about the unit"
	[ $rc = 0 ] || fail "systemd-analyze verify exit $rc"
fi

log "keygen"
mkdir -m 0700 "$T/k"
"$BIN/sockout-im" keygen "$T/k/id" >"$T/pub" 2>"$T/keygen.log" || fail "keygen failed"
[ "$(stat -c %a "$T/k/id")" = 600 ] || fail "identity mode is $(stat -c %a "$T/k/id")"
grep -Eq '^[A-Za-z0-9+/]{43}=$' "$T/pub" || fail "public key not base64: $(cat "$T/pub")"
cp "$T/k/id" "$T/k/id.orig"
"$BIN/sockout-im" keygen "$T/k/id" >/dev/null 2>"$T/keygen2.log" && fail "keygen overwrote an identity"
cmp -s "$T/k/id" "$T/k/id.orig" || fail "identity changed"

log "-n"
printf 'pw\n' >"$T/k/pw"; chmod 600 "$T/k/pw"
cat >"$T/bad.conf" <<CONF
data-socket $T/k/d
jid nobody
peer bob@example.org notakey
CONF
"$BIN/sockout-im" -n -c "$T/bad.conf" >"$T/n.log" 2>&1 && fail "-n accepted a bad config"
grep -q "bad.conf:2: jid" "$T/n.log" && grep -q "bad.conf:3: peer" "$T/n.log" ||
	fail "errors without file:line: $(cat "$T/n.log")"
cat >"$T/good.conf" <<CONF
data-socket   $T/k/im.data
event-socket  $T/k/im.event
jid           alice@example.org/sockout
password-file $T/k/pw
identity      $T/k/id
server        127.0.0.1:1
peer          bob@example.org $(cat "$T/pub")
CONF
"$BIN/sockout-im" -n -c "$T/good.conf" | grep -q "configuration OK" || fail "-n rejected a good config"

log "sd_notify"
notify_listen "$T/notify.sock" "$T/notify.log"
NOTIFY_SOCKET=$T/notify.sock "$BIN/sockout-im" -f -c "$T/good.conf" >"$T/im.log" 2>&1 &
pid=$!
wait_for 10 grep -q "READY=1" "$T/notify.log" || fail "no READY=1"
test -S "$T/k/im.data" && test -S "$T/k/im.event" || fail "READY before the sockets exist"
wait_for 10 grep -q "retrying in" "$T/im.log" || fail "no login retry: $(cat "$T/im.log")"
kill -TERM $pid
wait $pid || fail "sockout-im exit $? on SIGTERM: $(tail -5 "$T/im.log")"
wait_for 5 grep -q "STOPPING=1" "$T/notify.log" || fail "no STOPPING=1"
test -e "$T/k/im.data" && fail "data socket left behind"
grep -q 'Sanitizer\|runtime error' "$T/im.log" && fail "sanitizer report"
pass
