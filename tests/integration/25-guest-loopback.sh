#!/bin/bash
# timeout: 120
# 25-guest-loopback: the guest's loopback stays the guest's.  A python3
# program in the guest listens on 0.0.0.0:9000 and [::]:9010 through
# sockoutd (accept ... direct) and natively on 127.0.0.1:9001, and reaches
# all of them at 127.0.0.1 / ::1 with blocking and non-blocking connects,
# poll, epoll, select, fork (client and prefork server) and threads.
. "$(dirname "$0")/../lib.sh"
need python3

topo_basic
GUEST_SOCK=$T/guest.sock
cat >"$T/sockoutd.conf" <<CONF
guest-socket   $GUEST_SOCK
control-socket $T/control.sock
accept port 9000-9020 direct
accept any deny
connect any deny
CONF
start_sockoutd "$T/sockoutd.conf"

log "python3 loopback checks in the guest"
guest python3 "$TOP/tests/integration/guestprog.py" loopback 9000 9001 >"$T/loop.json" 2>"$T/loop.log"
rc=$?
cat "$T/loop.json"
[ $rc = 0 ] || fail "loopback checks: $(tail -5 "$T/loop.log")"
grep -q '"done": true' "$T/loop.json" || fail "loopback checks did not finish"
pass
