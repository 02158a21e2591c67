#!/bin/bash
# timeout: 180
# 68-control-flood: the control socket bounds what each client costs.
#  1. A client sends 60,000 `status' requests without reading a reply (used
#     to grow sockoutd by ~40-80 MB of queued replies): sockoutd's VmRSS
#     stays within 16 MiB of its start, another client is answered at once,
#     and when the flooder reads it gets all 60,000 replies (requests left
#     unread in the kernel are answered as the replies drain, none lost).
#  2. A request line longer than the limit gets an error reply, then the
#     end of the connection.
#  3. Requests followed by the client's EOF are all answered, the last one
#     even without its newline.
#  4. At most 64 clients at once: the surplus is closed at once, and once
#     they leave sockoutctl works again.
#  5. Out of descriptors (prlimit --nofile) with clients pending on the
#     control socket: accept fails with EMFILE, and sockoutd must not spin
#     (CPU ticks over 3 s from /proc/PID/stat, like 51-plain-busy); the
#     pending client is answered once descriptors are back.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/sockoutd-lib.sh"
need python3 prlimit timeout

# Under ASan, freed blocks wait in its quarantine (256 MiB by default) and
# count in VmRSS: measure the program's memory, not the sanitizer's.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0"

topo_basic
mkdir -p "$T/run"
GUEST_SOCK=$T/run/guest.sock
CSOCK=$T/run/control.sock
cat >"$T/sockoutd.conf" <<CONF
guest-socket    $GUEST_SOCK
control-socket  $CSOCK
connect port 81             deny
connect 198.51.100.0/24     direct
connect 203.0.113.0/24      direct
accept  port 9100           direct
accept  any                 deny
CONF
start_sockoutd "$T/sockoutd.conf"
CTL="$BIN/sockoutctl -s $CSOCK"
wait_sock "$CSOCK"
$CTL status >/dev/null || fail "status at start"
rss() { awk '/^VmRSS/{print int($2 / 1024)}' "/proc/$SOCKOUTD_PID/status"; }
RSS0=$(rss)
log "sockoutd VmRSS at start: $RSS0 MiB; a status reply is $($CTL status --json | wc -c) bytes"

log "1. 60,000 status requests, replies not read"
cat >"$T/flood.py" <<'PY'
import os, select, socket, sys, threading, time
path, state = sys.argv[1], sys.argv[2]
N = 60000
payload = b'{"cmd":"status"}\n' * N
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
s.setblocking(False)
sent, last, t0 = 0, time.time(), time.time()
# send until all is sent, or nothing moved for 1.5 s (sockoutd stopped
# reading), or 20 s passed
while sent < len(payload) and time.time() - last < 1.5 and time.time() - t0 < 20:
    _, w, _ = select.select([], [s], [], 0.2)
    if w:
        try:
            sent += s.send(payload[sent:sent + 65536])
            last = time.time()
        except BlockingIOError:
            pass
with open(state + ".tmp", "w") as f:
    f.write("%d\n" % sent)
os.rename(state + ".tmp", state + ".flooded")
while not os.path.exists(state + ".go"):
    time.sleep(0.05)
# now read every reply while sending the rest
s.setblocking(True)
s.settimeout(60)
t = threading.Thread(target=lambda: s.sendall(payload[sent:]))
t.start()
got = 0
while got < N:
    d = s.recv(1 << 20)
    if not d:
        break
    got += d.count(b"\n")
t.join()
print("sent %d requests, got %d replies" % (N, got))
PY
python3 "$T/flood.py" "$CSOCK" "$T/flood" >"$T/flood.out" 2>&1 &
FP=$!
_pids="$FP $_pids"
max=$RSS0
n=0
# sample sockoutd's memory while the flood is sent and 2 s after it
while [ ! -e "$T/flood.flooded" ] && [ $n -lt 300 ]; do
	r=$(rss); [ "$r" -gt "$max" ] && max=$r
	sleep 0.1; n=$((n + 1))
done
[ -e "$T/flood.flooded" ] || fail "the flooding client never finished sending: $(cat "$T/flood.out")"
for _ in $(seq 20); do r=$(rss); [ "$r" -gt "$max" ] && max=$r; sleep 0.1; done
log "the client got $(cat "$T/flood.flooded") of $((60000 * 17)) request bytes in; sockoutd VmRSS peaked at $max MiB (start $RSS0)"
[ "$max" -le $((RSS0 + 16)) ] || fail "sockoutd grew from $RSS0 to $max MiB on unread replies"
t0=$(date +%s%N)
timeout 5 $CTL status >"$T/st.txt" 2>&1 || fail "another client was not answered during the flood: $(cat "$T/st.txt")"
log "another client answered in $(( ($(date +%s%N) - t0) / 1000000 )) ms during the flood"
touch "$T/flood.go"
wait $FP || fail "flooding client: $(cat "$T/flood.out")"
grep -qx "sent 60000 requests, got 60000 replies" "$T/flood.out" || fail "replies lost: $(cat "$T/flood.out")"
log "$(cat "$T/flood.out")"

log "2. an overlong request line"
cat >"$T/long.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.settimeout(5)
s.sendall(b'{"cmd":"' + b"x" * 5000)
d = b""
while True:
    try:
        c = s.recv(65536)
    except ConnectionResetError:
        break  # closed with our unread bytes: after the reply it sent
    if not c:
        break
    d += c
print(d.decode().strip())
PY
timeout 10 python3 "$T/long.py" "$CSOCK" >"$T/long.out" 2>&1 || fail "overlong line: $(cat "$T/long.out")"
grep -qx '{"ok":false,"error":"request line too long"}' "$T/long.out" || fail "overlong line: no error reply before EOF: $(cat "$T/long.out")"

log "3. requests, then EOF"
cat >"$T/eof.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.settimeout(5)
s.sendall(b'{"cmd":"status"}\n{"cmd":"nope"}\n{"cmd":"connections"}')
s.shutdown(socket.SHUT_WR)
d = b""
while True:
    c = s.recv(65536)
    if not c:
        break
    d += c
print(len(d.splitlines()), " ".join(str(b'"ok":true' in l) for l in d.splitlines()))
PY
timeout 10 python3 "$T/eof.py" "$CSOCK" >"$T/eof.out" 2>&1 || fail "EOF: $(cat "$T/eof.out")"
grep -qx "3 True False True" "$T/eof.out" || fail "requests before EOF not all answered: $(cat "$T/eof.out")"

log "4. 80 clients at once"
cat >"$T/many.py" <<'PY'
import socket, sys, time, select
ss = []
for _ in range(80):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    ss.append(s)
time.sleep(1)
# closed by sockoutd: readable with EOF
r, _, _ = select.select(ss, [], [], 0)
closed = sum(1 for s in r if s.recv(1) == b"")
# the ones kept are served
kept = [s for s in ss if s not in r]
for s in kept:
    s.sendall(b'{"cmd":"status"}\n')
ok = 0
for s in kept:
    s.settimeout(5)
    if b'"ok":true' in s.recv(65536):
        ok += 1
print("closed %d served %d" % (closed, ok))
PY
timeout 30 python3 "$T/many.py" "$CSOCK" >"$T/many.out" 2>&1 || fail "many clients: $(cat "$T/many.out")"
log "$(cat "$T/many.out")"
grep -qx "closed 16 served 64" "$T/many.out" || fail "client cap: $(cat "$T/many.out")"
grep -q "control socket: 64 clients already" "$T/sockoutd.log" || fail "client cap not logged"
timeout 5 $CTL status >/dev/null || fail "no answer after the many clients left"

log "5. EMFILE on the control socket"
cpu() { awk '{print $14 + $15}' "/proc/$SOCKOUTD_PID/stat"; }
n=0
while [ -e "/proc/$SOCKOUTD_PID/fd/$n" ]; do n=$((n + 1)); done
prlimit --pid "$SOCKOUTD_PID" --nofile="$n:" || fail "prlimit"
timeout 20 $CTL status >"$T/pending.txt" 2>&1 &
SP=$!
_pids="$SP $_pids"
sleep 0.5
c0=$(cpu); sleep 3; c1=$(cpu)
log "sockoutd used $((c1 - c0)) CPU ticks in 3 s with a control client pending and no descriptors"
[ $((c1 - c0)) -lt 30 ] || fail "sockoutd spins on EMFILE ($((c1 - c0)) ticks in 3 s)"
prlimit --pid "$SOCKOUTD_PID" --nofile=4096: || fail "prlimit"
wait $SP || fail "the pending client was not answered once descriptors were back: $(cat "$T/pending.txt")"
grep -q "control socket: .*pausing accepts" "$T/sockoutd.log" || fail "EMFILE pause not logged"
timeout 5 $CTL status >/dev/null || fail "no answer after EMFILE"

sockoutd_stop_clean
pass
