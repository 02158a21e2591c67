#!/bin/bash
# timeout: 240
# 53-plain-splice: with HANDOFF, sockout-plain gives the runtime its TCP
# socket (ops->overlay_fd) and the runtime splices between it and the
# guest's socket (splice(2) through a pipe per direction).  Big transfers
# both ways keep their sha256 with either side half-closing first, a
# server's reset reaches the guest as a reset, the FINISHED byte counts
# are exact, and the helper's STATUS says splice carried the bytes
# ("spliced") and that every pipe was closed again ("pipes":0).
. "$(dirname "$0")/../lib.sh"
need python3
[ -x "$BIN/sockout-plain" ] || fail "sockout-plain not built (run make)"
GP="python3 $TOP/tests/integration/gpclient.py"

topo_basic
mkdir -p "$T/run"
GUEST_SOCK=$T/run/guest.sock
cat >"$T/plain.conf" <<CONF
data-socket  $T/run/plain.data
event-socket $T/run/plain.event
CONF
bgns "$NS_H" "$BIN/sockout-plain" -f -v -c "$T/plain.conf" >"$T/plain.log" 2>&1
PLAIN_PID=$(echo $_pids | cut -d' ' -f1)
wait_sock "$T/run/plain.event"
cat >"$T/sockoutd.conf" <<CONF
guest-socket    $GUEST_SOCK
control-socket  $T/run/control.sock
helper plain    data $T/run/plain.data event $T/run/plain.event
connect port 7000 helper plain to 198.51.100.2:7000
connect port 7001 helper plain to 198.51.100.2:7001
connect port 7002 helper plain to 198.51.100.2:7002
CONF
start_sockoutd "$T/sockoutd.conf"
CTL="$BIN/sockoutctl -s $T/run/control.sock"
wait_for 10 sh -c "$CTL helpers | grep -q '^plain *up '" || fail "helper not up: $($CTL helpers)"

# 7001: send FILE, half-close, then read the guest's bytes to EOF and
# write their sha256 to OUT.  7002: send 1 MiB, then reset.
cat >"$T/server.py" <<'PY'
import hashlib, socket, struct, sys, threading
src, out = sys.argv[1], sys.argv[2]
def listener(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("198.51.100.2", port))
    s.listen(8)
    return s
def first(s):
    c, _ = s.accept()
    with open(src, "rb") as f:
        c.sendall(f.read())
    c.shutdown(socket.SHUT_WR)
    h = hashlib.sha256()
    while True:
        d = c.recv(1 << 16)
        if not d:
            break
        h.update(d)
    c.close()
    with open(out + ".tmp", "w") as f:
        f.write(h.hexdigest() + "\n")
    import os
    os.rename(out + ".tmp", out)
def reset(s):
    while True:
        c, _ = s.accept()
        c.sendall(b"r" * (1 << 20))
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
a, b = listener(7001), listener(7002)
threading.Thread(target=reset, args=(b,), daemon=True).start()
first(a)
threading.Event().wait()
PY
# the guest for 7001 and 7002: read to EOF (sha256 to stdout), then send
# FILE and half-close, then wait for the server's close
cat >"$T/guest.py" <<'PY'
import hashlib, socket, sys
sys.path.insert(0, sys.argv[1])
import gpclient as g
r, fds = g.ask(sys.argv[2], g.CONNECT, "198.51.100.2", int(sys.argv[3]))
assert r and r[1] == 0, r
c = socket.socket(fileno=fds[0])
h, n = hashlib.sha256(), 0
try:
    while True:
        d = c.recv(1 << 16)
        if not d:
            break
        h.update(d)
        n += len(d)
except ConnectionResetError:
    print("reset after %d bytes" % n)
    sys.exit(0)
print(h.hexdigest())
with open(sys.argv[4], "rb") as f:
    c.sendall(f.read())
c.shutdown(socket.SHUT_WR)
assert c.recv(1) == b"", "data after the server's EOF"
c.close()
PY

mkdata "$T/a.bin" 32
mkdata "$T/b.bin" 16
mkdata "$T/c.bin" 16
bgns "$NS_S" python3 "$TOP/tests/integration/echo-server.py" 198.51.100.2 7000
bgns "$NS_S" python3 "$T/server.py" "$T/b.bin" "$T/c.sha"
wait_tcp "$NS_S" 7000
wait_tcp "$NS_S" 7002
fds0=$(ls "/proc/$PLAIN_PID/fd" | wc -l)

log "32 MiB echoed through the helper, the guest half-closing first"
ip netns exec "$NS_G" $GP "$GUEST_SOCK" connect 198.51.100.2 7000 --send "$T/a.bin" --recv "$T/a.got" >"$T/a.out" ||
	fail "connect: $(cat "$T/a.out")"
[ "$(sha "$T/a.got")" = "$(sha "$T/a.bin")" ] || fail "echo: sha256 differs"

log "16 MiB each way, the server half-closing first"
ip netns exec "$NS_G" python3 "$T/guest.py" "$TOP/tests/integration" "$GUEST_SOCK" 7001 "$T/c.bin" >"$T/b.out" 2>&1 ||
	fail "guest: $(cat "$T/b.out")"
[ "$(cat "$T/b.out")" = "$(sha "$T/b.bin")" ] || fail "server to guest: sha256 differs: $(cat "$T/b.out")"
wait_for 20 test -e "$T/c.sha" || fail "the server never saw the guest's EOF"
[ "$(cat "$T/c.sha")" = "$(sha "$T/c.bin")" ] || fail "guest to server: sha256 differs"

log "the counts FINISHED reports are exact"
wait_for 10 sh -c "$CTL status --json | grep -q '\"relayed_open\": *0[,}]'" || fail "connections still open: $($CTL status --json)"
st=$($CTL status --json)
up=$(echo "$st" | grep -o '"bytes_up": *[0-9]*' | grep -o '[0-9]*$')
down=$(echo "$st" | grep -o '"bytes_down": *[0-9]*' | grep -o '[0-9]*$')
[ "$up" = $(( 48 << 20 )) ] && [ "$down" = $(( 48 << 20 )) ] ||
	fail "bytes up $up, down $down: want $(( 48 << 20 )) each"

log "splice carried them, and the pipes are gone"
hj=$($CTL helpers --json)
echo "$hj" | grep -o '"pipes":[0-9]*,"spliced":[0-9]*,"copied":[0-9]*' || fail "no splice figures: $hj"
spliced=$(echo "$hj" | grep -o '"spliced":[0-9]*' | grep -o '[0-9]*$')
[ "$spliced" -ge $(( 2 * 48 << 20 )) ] || fail "only $spliced bytes spliced of $(( 2 * 48 << 20 ))"
echo "$hj" | grep -q '"pipes":0,' || fail "pipes left open: $hj"
grep -Eq "connection 0x[0-9a-f]+: [0-9]+ bytes spliced, 0 copied" "$T/plain.log" ||
	fail "no per-connection splice line in the helper's log"

log "a server's reset reaches the guest as a reset"
ip netns exec "$NS_G" python3 "$T/guest.py" "$TOP/tests/integration" "$GUEST_SOCK" 7002 "$T/c.bin" >"$T/r.out" 2>&1 ||
	fail "guest: $(cat "$T/r.out")"
grep -q "^reset after" "$T/r.out" || fail "no reset: $(cat "$T/r.out")"

wait_for 10 sh -c "$CTL status --json | grep -q '\"relayed_open\": *0[,}]'" || fail "connection left open"
wait_for 10 sh -c "$CTL helpers --json | grep -q '\"pipes\":0,'" || fail "pipes left open after the reset"
fds1=$(ls "/proc/$PLAIN_PID/fd" | wc -l)
[ "$fds1" -le "$fds0" ] || fail "sockout-plain holds $fds1 descriptors, $fds0 before"
kill -0 "$PLAIN_PID" || fail "sockout-plain died"
grep -E "Sanitizer|runtime error" "$T/plain.log" && fail "sanitizer report in sockout-plain's log"
pass
