#!/bin/bash
# timeout: 90
# 66-relay-busy: sockoutd does not spin on a relayed connection whose guest
# end is shut both ways while it waits on the helper.  Through sockout-plain:
# the server sends a greeting and EOF (sockoutd passes the EOF on: its end
# of the guest's pair is shut for writing), the helper is stopped (SIGSTOP),
# and the guest sends its last bytes and shuts its socket both ways.
# sockoutd's WRITE of those bytes is unanswered while its end of the pair
# reports EPOLLHUP; over 3 s it must use under 30 CPU ticks (utime+stime in
# /proc/PID/stat; a busy loop burns ~300).  Then the helper goes on and the
# server gets the last bytes and EOF.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/sockoutd-lib.sh"
need python3
[ -x "$BIN/sockout-plain" ] || fail "sockout-plain not built (run make)"

topo_basic
mkdir -p "$T/run"
GUEST_SOCK=$T/run/guest.sock
start_plain "$T/run/p.data" "$T/run/p.event"
cat >"$T/sockoutd.conf" <<CONF
guest-socket    $GUEST_SOCK
control-socket  $T/run/control.sock
helper plain    data $T/run/p.data event $T/run/p.event
connect port 7000 helper plain to 198.51.100.2:7000
CONF
start_sockoutd "$T/sockoutd.conf"
CTL="$BIN/sockoutctl -s $T/run/control.sock"
wait_for 10 sh -c "$CTL helpers | grep -q '^plain *up '" || fail "helper not up"

cat >"$T/server.py" <<'PY'
import os, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.51.100.2", 7000))
s.listen(1)
c, _ = s.accept()
c.sendall(b"hello\n")
c.shutdown(socket.SHUT_WR)
got = b""
while True:
    d = c.recv(65536)
    if not d:
        break
    got += d
# whole or not at all: the test waits for the file to appear, then reads it
open(sys.argv[1] + ".tmp", "wb").write(got)
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
PY
bgns "$NS_S" python3 "$T/server.py" "$T/server.got"
wait_tcp "$NS_S" 7000

cat >"$T/guest.py" <<'PY'
import os, socket, sys, time
sys.path.insert(0, sys.argv[1])
import gpclient as g
d = sys.argv[3]
r, fds = g.ask(sys.argv[2], g.CONNECT, "198.51.100.2", 7000)
assert r and r[1] == 0, r
c = socket.socket(fileno=fds[0])
got = b""
while True:
    b = c.recv(100)
    if not b:
        break
    got += b
assert got == b"hello\n", got
open(d + "/eof", "w").close()
while not os.path.exists(d + "/go"):
    time.sleep(0.05)
c.sendall(b"last words\n")
c.shutdown(socket.SHUT_RDWR)
open(d + "/shut", "w").close()
# keep the socket open (shut, not closed) until told
while not os.path.exists(d + "/end"):
    time.sleep(0.05)
print("ok")
PY
ip netns exec "$NS_G" python3 "$T/guest.py" "$TOP/tests/integration" "$GUEST_SOCK" "$T" >"$T/guest.out" 2>&1 &
GP=$!
_pids="$GP $_pids"
wait_for 20 test -e "$T/eof" || fail "the guest never got the greeting and EOF: $(cat "$T/guest.out")"

log "helper stopped; the guest sends its last bytes and shuts both ways"
kill -STOP "$PLAIN_PID"
at_exit "kill -CONT $PLAIN_PID"
touch "$T/go"
wait_for 10 test -e "$T/shut" || fail "the guest did not shut: $(cat "$T/guest.out")"
sleep 0.5
cpu() { awk '{print $14 + $15}' "/proc/$SOCKOUTD_PID/stat"; }
c0=$(cpu); sleep 3; c1=$(cpu)
log "sockoutd used $((c1 - c0)) CPU ticks in 3 s"
kill -CONT "$PLAIN_PID"
[ $((c1 - c0)) -lt 30 ] || fail "sockoutd spins ($((c1 - c0)) ticks in 3 s)"

log "the helper goes on: the server gets the last bytes and EOF"
wait_for 10 test -e "$T/server.got" || fail "the server never got EOF"
[ "$(cat "$T/server.got")" = "last words" ] || fail "server got: $(cat "$T/server.got")"
touch "$T/end"
wait $GP || fail "guest: $(cat "$T/guest.out")"
no_relayed() { $CTL status --json | grep -Eq '"relayed_open": *0[,} ]'; }
wait_for 5 no_relayed || fail "the connection was not closed: $($CTL connections)"
sockoutd_stop_clean
pass
