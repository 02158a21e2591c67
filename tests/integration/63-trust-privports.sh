#!/bin/bash
# timeout: 90
# 63-trust-privports: sockoutd's right to bind ports below 1024 is not
# lent to any guest by a broad rule.  With `accept any direct' a guest
# (a raw client, uid 64111) gets no host listener on port 80 (EACCES, the
# log says why, nothing listens on the host) but still one on port 8080;
# after a reload with `accept port 80 direct' it gets port 80 and a
# client on the network reaches it.
# Run against a daemon speaking guest protocol 1: GP_VERSION=1.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/sockoutd-lib.sh"
need python3 setpriv ss nc
GP="$TOP/tests/integration/gpclient.py"
U=64111

topo_basic
chmod 755 "$T"
mkdir -p -m 755 "$T/run"
mkdir -m 1777 "$T/w"
GUEST_SOCK=$T/run/guest.sock
head_conf() { printf 'guest-socket %s\ncontrol-socket %s\n' "$GUEST_SOCK" "$T/run/control.sock"; }
{ head_conf; echo "accept any direct"; } >"$T/sockoutd.conf"
start_sockoutd "$T/sockoutd.conf"
CTL="$BIN/sockoutctl -s $T/run/control.sock"
G() { ip netns exec "$NS_G" setpriv --reuid=$U --regid=$U --clear-groups /usr/bin/python3 "$GP" "$GUEST_SOCK" "$@"; }
host_listens() { ip netns exec "$NS_H" ss -Hltn "sport = :$1" | grep -q .; }

log "accept any direct: no host port 80 for the guest"
G listen 0.0.0.0 80 --expect-status 13 >"$T/l80.out" 2>&1 || fail "listen 80: $(cat "$T/l80.out")"
host_listens 80 && fail "something listens on host port 80"
grep -q "port below 1024, accept direct rules not naming the port were skipped" "$T/sockoutd.log" ||
	fail "the log does not say why"
log "... nor on [::]:443"
G listen :: 443 --expect-status 13 >"$T/l443.out" 2>&1 || fail "listen 443: $(cat "$T/l443.out")"
log "... but port 8080 as before"
G listen 0.0.0.0 8080 --accept 1 --echo --ready "$T/w/l8080" >"$T/l8080.out" 2>&1 &
wait_for 10 test -e "$T/w/l8080" || fail "listen 8080: $(cat "$T/l8080.out")"
echo hi | ip netns exec "$NS_S" timeout 10 nc -N 198.51.100.1 8080 >"$T/n8080.out" || fail "nc 8080"
grep -q hi "$T/n8080.out" || fail "8080: no echo"

log "accept port 80 direct names the port: the guest gets it"
{ head_conf; echo "accept port 80 direct"; echo "accept any direct"; } >"$T/sockoutd.conf"
$CTL reload >"$T/reload.out" 2>&1 || fail "reload: $(cat "$T/reload.out")"
G listen 0.0.0.0 80 --accept 1 --echo --ready "$T/w/l80" >"$T/l80b.out" 2>&1 &
wait_for 10 test -e "$T/w/l80" || fail "listen 80 with the rule: $(cat "$T/l80b.out")"
echo hello | ip netns exec "$NS_S" timeout 10 nc -N 198.51.100.1 80 >"$T/n80.out" || fail "nc 80"
grep -q hello "$T/n80.out" || fail "80: no echo"
sockoutd_stop_clean
pass
