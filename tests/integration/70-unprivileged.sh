#!/bin/bash
# timeout: 120
# 70-unprivileged: the daemons work as the shipped units run them, without
# systemd as PID 1.  The users come from conf/sysusers.d; User=, Group=,
# the capabilities and RuntimeDirectory= with its mode are read from the
# units in conf/systemd and done by hand (install -d, setpriv), with /run
# moved to $T/run.  Then unmodified guests go through `direct' and through
# sockout-plain (sha256 end to end), a guest server answers on host port
# 80 (CAP_NET_BIND_SERVICE at work), the capability sets are checked in
# /proc (sockoutd: CAP_NET_BIND_SERVICE effective, CAP_NET_ADMIN at most
# permitted, where the kernel wants it to pin sockets; the helper: none;
# a guest's direct socket is pinned all the same: 60-trust-reconnect), and the
# helper socket's trust rule is checked from both sides: group sockout as
# primary group is let in, as a mere supplementary group it is refused by
# the SO_PEERCRED check, and other users cannot reach the socket at all.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/sockoutd-lib.sh"
. "$(dirname "$0")/unit-lib.sh"
need curl python3 ss
[ -x /usr/bin/python3 ] || skip "no /usr/bin/python3 (other users cannot run root's python3)"
for p in sockoutd sockout-plain sockout-run sockoutctl; do
	[ -x "$BIN/$p" ] || fail "$p not built (run make)"
done

log "users from conf/sysusers.d"
users_create
for u in sockout sockout-plain sockout-ssh sockout-im; do
	[ "$(id -gn "$u")" = sockout ] || fail "user $u: primary group $(id -gn "$u" 2>&1)"
	[ "$(id -u "$u")" != 0 ] || fail "user $u is root"
done

topo_basic
[ "$(ip netns exec "$NS_H" sysctl -n net.ipv4.ip_unprivileged_port_start)" -ge 1024 ] ||
	skip "port 80 needs no capability here"
GUEST_SOCK=$T/run/sockout/guest.sock
HD=$T/run/sockout-plain
printf 'data-socket %s\nevent-socket %s\n' "$HD/plain.data" "$HD/plain.event" >"$T/plain.conf"
# ip netns exec and setpriv both exec: $! is the daemon itself.
as_unit sockout-plain@.service
bgns "$NS_H" "${AS_UNIT[@]}" "$BIN/sockout-plain" -f -v -c "$T/plain.conf" >"$T/plain.log" 2>&1
PLAIN_PID=$(echo $_pids | cut -d' ' -f1)
wait_sock "$HD/plain.event"
[ "$(stat -c '%a %U %G' "$HD/plain.data")" = "660 sockout-plain sockout" ] || fail "data socket: $(stat -c '%a %U %G' "$HD/plain.data")"

cat >"$T/sockoutd.conf" <<CONF
guest-socket    $GUEST_SOCK
control-socket  $T/run/sockout/control.sock
connect-timeout 20s
helper plain    data $HD/plain.data event $HD/plain.event
connect port 7000   helper plain to 198.51.100.2:8000
connect port 8000   direct
accept  port 80     direct
accept  port 9100   helper plain
connect any         deny
CONF
as_unit sockoutd.service
bgns "$NS_H" "${AS_UNIT[@]}" "$BIN/sockoutd" -f -v -c "$T/sockoutd.conf" >"$T/sockoutd.log" 2>&1
SOCKOUTD_PID=$(echo $_pids | cut -d' ' -f1)
wait_sock "$GUEST_SOCK"
CTL="$BIN/sockoutctl -s $T/run/sockout/control.sock"
wait_for 10 sh -c "$CTL helpers | grep -q '^plain *up '" ||
	fail "the helper never let sockoutd in: $($CTL helpers) / $(grep -i refus "$T/plain.log")"

log "who runs, with which capabilities"
st() { awk -v k="$2:" '$1==k{print $2}' "/proc/$1/status"; }
[ "$(cat /proc/$SOCKOUTD_PID/comm)" = sockoutd ] || fail "pid $SOCKOUTD_PID is $(cat /proc/$SOCKOUTD_PID/comm)"
[ "$(cat /proc/$PLAIN_PID/comm)" = sockout-plain ] || fail "pid $PLAIN_PID is $(cat /proc/$PLAIN_PID/comm)"
[ "$(st $SOCKOUTD_PID Uid)" = "$(id -u sockout)" ] || fail "sockoutd uid $(st $SOCKOUTD_PID Uid)"
[ "$(st $PLAIN_PID Uid)" = "$(id -u sockout-plain)" ] || fail "helper uid $(st $PLAIN_PID Uid)"
# bit 10 is CAP_NET_BIND_SERVICE, bit 12 CAP_NET_ADMIN: never effective;
# permitted only where the kernel wants it for pinning (pin.c), and then
# sockoutd says so; not ambient (nothing inherits it)
[ "$(st $SOCKOUTD_PID CapEff)" = 0000000000000400 ] || fail "sockoutd CapEff $(st $SOCKOUTD_PID CapEff)"
[ "$(st $SOCKOUTD_PID CapAmb)" = 0000000000000400 ] || fail "sockoutd CapAmb $(st $SOCKOUTD_PID CapAmb)"
if grep -q "lets only CAP_NET_ADMIN attach a filter" "$T/sockoutd.log"; then
	[ "$(st $SOCKOUTD_PID CapPrm)" = 0000000000001400 ] || fail "sockoutd CapPrm $(st $SOCKOUTD_PID CapPrm)"
else
	[ "$(st $SOCKOUTD_PID CapPrm)" = 0000000000000400 ] || fail "sockoutd CapPrm $(st $SOCKOUTD_PID CapPrm)"
fi
[ "$(st $PLAIN_PID CapEff)" = 0000000000000000 ] || fail "helper CapEff $(st $PLAIN_PID CapEff)"
[ "$(st $PLAIN_PID CapPrm)" = 0000000000000000 ] || fail "helper CapPrm $(st $PLAIN_PID CapPrm)"
[ "$(stat -c '%a %U' "$GUEST_SOCK")" = "666 sockout" ] || fail "guest socket $(stat -c '%a %U' "$GUEST_SOCK")"
[ "$(stat -c '%a %U' "$T/run/sockout/control.sock")" = "600 sockout" ] || fail "control socket"

mkdir "$T/www"
mkdata "$T/www/data.bin" 8
bgns "$NS_S" python3 -m http.server -d "$T/www" -b 198.51.100.2 8000 >"$T/http.log" 2>&1
wait_tcp "$NS_S" 8000

log "a guest curl through direct"
guest curl -sS --max-time 30 -o "$T/d.bin" http://198.51.100.2:8000/data.bin 2>"$T/curl1.log" ||
	fail "curl direct: $(cat "$T/curl1.log")"
[ "$(sha "$T/d.bin")" = "$(sha "$T/www/data.bin")" ] || fail "direct: sha256 differs"

log "a guest curl through helper plain"
guest curl -sS --max-time 30 -o "$T/h.bin" http://198.51.100.2:7000/data.bin 2>"$T/curl2.log" ||
	fail "curl via the helper: $(cat "$T/curl2.log")"
[ "$(sha "$T/h.bin")" = "$(sha "$T/www/data.bin")" ] || fail "helper: sha256 differs"

log "a guest server on host port 80 (accept port 80 direct) and one behind the helper"
mkdir "$T/gwww"
mkdata "$T/gwww/g.bin" 4
(cd "$T/gwww" && exec ip netns exec "$NS_G" "$BIN/sockout-run" -s "$GUEST_SOCK" -- \
	python3 -m http.server 80) >"$T/g80.log" 2>&1 &
_pids="$! $_pids"
(cd "$T/gwww" && exec ip netns exec "$NS_G" "$BIN/sockout-run" -s "$GUEST_SOCK" -- \
	python3 -m http.server 9100) >"$T/g9100.log" 2>&1 &
_pids="$! $_pids"
wait_tcp "$NS_H" 80
wait_tcp "$NS_H" 9100
ip netns exec "$NS_H" ss -Hltnp 'sport = :80' | grep -q "pid=$SOCKOUTD_PID," ||
	fail "port 80 is not sockoutd's: $(ip netns exec "$NS_H" ss -Hltnp 'sport = :80')"
ip netns exec "$NS_S" curl -sS --max-time 30 -o "$T/g80.bin" http://198.51.100.1/g.bin 2>"$T/curl3.log" ||
	fail "curl to guest port 80: $(cat "$T/curl3.log")"
[ "$(sha "$T/g80.bin")" = "$(sha "$T/gwww/g.bin")" ] || fail "port 80: sha256 differs"
ip netns exec "$NS_S" curl -sS --max-time 30 -o "$T/g9100.bin" http://198.51.100.1:9100/g.bin 2>"$T/curl4.log" ||
	fail "curl to the guest behind the helper: $(cat "$T/curl4.log")"
[ "$(sha "$T/g9100.bin")" = "$(sha "$T/gwww/g.bin")" ] || fail "port 9100: sha256 differs"

log "helper sockets: group sockout only as primary group, nobody else"
cat >"$T/peer.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("connect: %s" % e.strerror); sys.exit(0)
s.settimeout(5)
try:
    print("closed" if s.recv(1) == b"" else "open")
except socket.timeout:
    print("open")
except ConnectionResetError:
    print("closed")
PY
NOBODY="setpriv --reuid=nobody --regid=nogroup"
r=$($NOBODY --clear-groups /usr/bin/python3 "$T/peer.py" "$HD/plain.data")
[ "$r" = "connect: Permission denied" ] || fail "user nobody reached the helper socket: $r"
r=$($NOBODY --groups=sockout /usr/bin/python3 "$T/peer.py" "$HD/plain.data")
[ "$r" = closed ] || fail "a supplementary member of sockout was not refused: $r"
grep -q "data socket: refusing a peer with uid $(id -u nobody)" "$T/plain.log" || fail "refusal not logged"
r=$(setpriv --reuid=nobody --regid=sockout --clear-groups /usr/bin/python3 "$T/peer.py" "$HD/plain.data")
[ "$r" = open ] || fail "primary group sockout was refused: $r"
r=$($NOBODY --clear-groups "$BIN/sockoutctl" -s "$T/run/sockout/control.sock" status 2>&1) &&
	fail "user nobody used the control socket: $r"
$CTL status >/dev/null || fail "root cannot use the control socket"

kill -0 $PLAIN_PID || fail "the helper died"
sockoutd_stop_clean
grep -E "Sanitizer|runtime error" "$T/plain.log" && fail "sanitizer report in the helper's log"
pass
