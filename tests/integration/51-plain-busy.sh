#!/bin/bash
# timeout: 120
# 51-plain-busy: sockout-plain does not spin.  Each case leaves it with
# nothing to do and checks its CPU time over 3 s from /proc/PID/stat (a busy
# loop burns ~300 ticks there, an idle helper ~0):
#  1. the remote end sent everything and EOF, the guest shut its write side
#     and does not read: the host socket is shut both ways (EPOLLHUP for
#     ever) while the connection waits for the guest, who then reads every
#     byte and EOF;
#  2. out of descriptors (prlimit --nofile) with a connection pending on a
#     helper listener (a guest LISTEN): accept fails with EMFILE;
#  3. the same with dispatchers' connections pending on the data and event
#     sockets (the helper runtime's accept).
# After each case the helper still serves.
. "$(dirname "$0")/../lib.sh"
need python3 prlimit
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
connect port 7300 helper plain to 198.51.100.2:7300
accept  port 9300 helper plain
CONF
start_sockoutd "$T/sockoutd.conf"
CTL="$BIN/sockoutctl -s $T/run/control.sock"
wait_for 10 sh -c "$CTL helpers | grep -q '^plain *up '" || fail "helper not up"
G="ip netns exec $NS_G python3 $TOP/tests/integration/gpclient.py $GUEST_SOCK"

bgns "$NS_S" python3 "$TOP/tests/integration/echo-server.py" 198.51.100.2 7000
wait_tcp "$NS_S" 7000
: >"$T/empty"
echo "still serving" >"$T/hello"
serves() {
	$G connect 198.51.100.2 7000 --send "$T/hello" --recv "$T/back" >"$T/serves.out" 2>&1 &&
		cmp -s "$T/hello" "$T/back" || fail "$1: the helper no longer serves: $(cat "$T/serves.out")"
}
serves "at start"

cpu() { awk '{print $14 + $15}' "/proc/$PLAIN_PID/stat"; }
# idle_cpu WHAT - fail if sockout-plain used 30 ticks or more in 3 s
idle_cpu() {
	local c0 c1
	c0=$(cpu); sleep 3; c1=$(cpu)
	log "$1: sockout-plain used $((c1 - c0)) CPU ticks in 3 s"
	[ $((c1 - c0)) -lt 30 ] || fail "$1: sockout-plain spins ($((c1 - c0)) ticks in 3 s)"
}

log "1. remote EOF, then the guest's SHUTDOWN, and the guest does not read"
cat >"$T/eof-server.py" <<'PY'
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.51.100.2", 7300))
s.listen(1)
c, _ = s.accept()
# More than sockoutd and the guest's socket hold for a guest that does
# not read (so sockoutd stops READing and keeps the connection), less than
# that plus the helper's queue and socket buffer (so our FIN reaches the
# helper's kernel).
c.sendall(b"x" * (6 << 20))
c.shutdown(socket.SHUT_WR)
while c.recv(65536):
    pass
open(sys.argv[1], "w").close()  # the helper's FIN arrived: shut both ways
time.sleep(60)
PY
bgns "$NS_S" python3 "$T/eof-server.py" "$T/eof.done"
wait_tcp "$NS_S" 7300
# the guest: shut its write side, read nothing until told, then read all
cat >"$T/lazy-reader.py" <<'PY'
import os, socket, sys, time
sys.path.insert(0, sys.argv[1])
import gpclient as g
r, fds = g.ask(sys.argv[2], g.CONNECT, "198.51.100.2", 7300)
assert r and r[1] == 0, r
c = socket.socket(fileno=fds[0])
c.shutdown(socket.SHUT_WR)
while not os.path.exists(sys.argv[3]):
    time.sleep(0.05)
n = 0
while True:
    d = c.recv(1 << 16)
    if not d:
        break
    n += len(d)
print("got %d" % n)
PY
ip netns exec "$NS_G" python3 "$T/lazy-reader.py" "$TOP/tests/integration" "$GUEST_SOCK" "$T/eof.go" >"$T/eof.out" 2>&1 &
RP=$!
_pids="$RP $_pids"
wait_for 20 test -e "$T/eof.done" || fail "the guest's SHUTDOWN never reached the server: $(cat "$T/eof.out")"
sleep 0.5
idle_cpu "both ways shut, guest not reading"
touch "$T/eof.go"
wait $RP || fail "lazy reader: $(cat "$T/eof.out")"
[ "$(cat "$T/eof.out")" = "got $((6 << 20))" ] || fail "the guest did not get every byte and EOF: $(cat "$T/eof.out")"
serves "after case 1"

# nofile_tight - let sockout-plain open no more descriptors: the soft limit
# becomes its lowest free descriptor number; nofile_loose undoes it.
nofile_tight() {
	local n=0
	while [ -e "/proc/$PLAIN_PID/fd/$n" ]; do n=$((n + 1)); done
	prlimit --pid "$PLAIN_PID" --nofile="$n:" || fail "prlimit"
}
nofile_loose() { prlimit --pid "$PLAIN_PID" --nofile=4096: || fail "prlimit"; }

log "2. EMFILE on a helper listener"
$G listen 0.0.0.0 9300 --ready "$T/l.ready" >"$T/l.out" 2>&1 &
_pids="$! $_pids"
wait_for 10 test -e "$T/l.ready" || fail "listen: $(cat "$T/l.out")"
wait_tcp "$NS_H" 9300
nofile_tight
cat >"$T/hold-tcp.py" <<'PY'
import socket, sys, time
c = socket.create_connection(("198.51.100.1", 9300), timeout=10)
open(sys.argv[1], "w").close()
time.sleep(30)
PY
bgns "$NS_S" python3 "$T/hold-tcp.py" "$T/tcp.ready"
wait_for 10 test -e "$T/tcp.ready" || fail "could not connect to the helper listener"
sleep 0.3
idle_cpu "EMFILE on a helper listener"
grep -q "pausing accepts" "$T/plain.log" || log "(no 'pausing accepts' in the helper's log)"
nofile_loose
# the pending connection is accepted once descriptors are back
wait_for 10 grep -q "^accept op 3 status 0" "$T/l.out" || fail "the pending connection never reached the guest: $(cat "$T/l.out")"
serves "after case 2"

log "3. EMFILE on the data and event sockets"
nofile_tight
cat >"$T/hold-unix.py" <<'PY'
import socket, sys, time
ss = []
for p in sys.argv[1:3]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(p)
    ss.append(s)
open(sys.argv[3], "w").close()
time.sleep(30)
PY
bg python3 "$T/hold-unix.py" "$T/run/p.data" "$T/run/p.event" "$T/unix.ready"
wait_for 10 test -e "$T/unix.ready" || fail "could not connect to the helper's sockets"
sleep 0.3
idle_cpu "EMFILE on the data and event sockets"
nofile_loose
sleep 0.5
serves "after case 3"
kill -0 "$PLAIN_PID" || fail "sockout-plain died"
grep -E "Sanitizer|runtime error" "$T/plain.log" && fail "sanitizer report in sockout-plain's log"
pass
