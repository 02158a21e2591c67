#!/bin/bash
# timeout: 60
# 10-sockoutd-config: `sockoutd -n` says "configuration OK" for good files
# (the shipped example included) and prints EVERY error of a bad file as
# file:line: message: `value', exiting 1.
. "$(dirname "$0")/../lib.sh"

log "the shipped example is valid"
out=$("$BIN/sockoutd" -n -c "$TOP/conf/sockoutd.conf" 2>&1) || fail "example: $out"
[ "$out" = "configuration OK" ] || fail "example said: $out"

log "a good file"
cat >"$T/good.conf" <<'CONF'
guest-socket    /run/sockout/guest.sock
control-socket  /run/sockout/control.sock
guest-socket-mode 0660
listen-address  0.0.0.0
connect-timeout 30s
helper office   data /run/sockout/helpers/office.data  event /run/sockout/helpers/office.event
helper home     data /run/sockout/helpers/home.data    event /run/sockout/helpers/home.event
connect port 22                       helper office to 127.0.0.1:22
connect 203.0.113.0/24 port 80-89     helper home to bob@example.org
connect 2001:db8::/32 any port        deny     # IPv6 CIDR too
accept  port 8080                     helper home
accept  port 80                       direct 8080
connect 198.51.100.7 port 443         direct 198.51.100.8:8443
connect any                           direct
accept  any                           deny
CONF
out=$("$BIN/sockoutd" -n -c "$T/good.conf" 2>&1) || fail "good: $out"
[ "$out" = "configuration OK" ] || fail "good said: $out"

log "a bad file: every error, exactly"
cat >"$T/bad.conf" <<'CONF'
helper office data /run/o.data event /run/o.event
helper office data /run/x.data event /run/x.event
connect 203.0.113.0/33 deny
connect port 90-80 deny
connect port 22 helper nosuch
connect port 22
frobnicate yes
accept port 80 direct 70000
helper home data /run/h.data
connect-timeout soon
CONF
rc=0
"$BIN/sockoutd" -n -c "$T/bad.conf" >"$T/bad.out" 2>&1 || rc=$?
[ $rc = 1 ] || fail "exit $rc, expected 1"
F=$T/bad.conf
cat >"$T/bad.want" <<WANT
$F:2: duplicate helper (first declared on line 1): \`office'
$F:3: bad address or CIDR: \`203.0.113.0/33'
$F:4: port range reversed: \`90-80'
$F:6: missing action (deny, direct, helper NAME): \`22'
$F:7: unknown keyword: \`frobnicate'
$F:8: bad direct destination (PORT or ADDR:PORT): \`70000'
$F:9: helper needs both data and event sockets: \`home'
$F:10: bad duration (e.g. 30s, 500ms; up to 1h): \`soon'
$F:5: unknown helper: \`nosuch'
WANT
diff -u "$T/bad.want" "$T/bad.out" || fail "error output differs"

log "a missing file"
rc=0
out=$("$BIN/sockoutd" -n -c "$T/nonexistent.conf" 2>&1) || rc=$?
[ $rc = 1 ] || fail "missing file: exit $rc"
[ "$out" = "$T/nonexistent.conf: cannot open: No such file or directory" ] || fail "missing file said: $out"

log "a broken file at start-up: sockoutd does not start"
rc=0
timeout 10 "$BIN/sockoutd" -f -c "$T/bad.conf" >"$T/start.out" 2>&1 || rc=$?
[ $rc = 1 ] || fail "start with a bad file: exit $rc"
grep -q "unknown keyword" "$T/start.out" || fail "start did not say why"
pass
