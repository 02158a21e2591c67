#!/bin/bash
# timeout: 120
# 65-helper-never-accepts: a helper that does not accept its connections
# must not freeze sockoutd.  Two fake helpers (python) listen with a
# backlog of 0 and never accept, their accept queues filled:
#   stuck: the data socket's queue is full (sockoutd's first connect);
#   half:  the data socket accepts and answers HELLO, the event socket's
#          queue is full (the connect after HELLO).
# sockoutd starts with `half' only; `stuck' comes with a reload.  While
# sockoutd keeps dialing them, a direct guest connect and `sockoutctl
# status` are each answered within 5 s, several times across the redials;
# both failures are logged as such.  Then a real sockout-plain takes the
# stuck helper's place: the redial brings it up and it relays.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/sockoutd-lib.sh"
need python3 timeout
[ -x "$BIN/sockout-plain" ] || fail "sockout-plain not built (run make)"

topo_basic
mkdir -p "$T/run"
GUEST_SOCK=$T/run/guest.sock
cat >"$T/fake-helper.py" <<'PY'
# fake-helper.py full PATH READY | half DATA EVENT READY
import socket, struct, sys, threading, time

def full_listener(path):
    # backlog 0: the kernel queues one connection, then says EAGAIN
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(0)
    fill = []
    for _ in range(1000):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.setblocking(False)
        try:
            c.connect(path)
        except BlockingIOError:
            c.close()
            break
        fill.append(c)
    else:
        sys.exit("the accept queue never filled")
    return s, fill

def read_exact(c, n):
    b = b""
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d:
            return None
        b += d
    return b

def answer_hello(c):
    # header: len, type, flags, 0, 0, id, arg (big endian); reply to
    # HELLO with the session token as id, then only read until EOF
    h = read_exact(c, 16)
    if h is None:
        return
    ln, typ = struct.unpack(">IB", h[:5])
    if read_exact(c, ln) is None:
        return
    c.sendall(struct.pack(">IBBBBII", 0, 32, 0, 0, 0, 7, 0))
    while c.recv(4096):
        pass

if sys.argv[1] == "full":
    keep = full_listener(sys.argv[2])
    open(sys.argv[3], "w").close()
    time.sleep(600)
else:
    d = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    d.bind(sys.argv[2])
    d.listen(16)
    keep = full_listener(sys.argv[3])
    open(sys.argv[4], "w").close()
    while True:
        c, _ = d.accept()
        threading.Thread(target=answer_hello, args=(c,), daemon=True).start()
PY
bgns "$NS_H" python3 "$T/fake-helper.py" full "$T/run/stuck.data" "$T/stuck.ready"
STUCK_PID=$(echo $_pids | cut -d' ' -f1)
bgns "$NS_H" python3 "$T/fake-helper.py" half "$T/run/half.data" "$T/run/half.event" "$T/half.ready"
wait_for 10 test -e "$T/stuck.ready" || fail "fake helper 'stuck' did not start"
wait_for 10 test -e "$T/half.ready" || fail "fake helper 'half' did not start"

conf() {
	cat >"$T/sockoutd.conf" <<CONF
guest-socket    $GUEST_SOCK
control-socket  $T/run/control.sock
connect-timeout 30s
helper half     data $T/run/half.data event $T/run/half.event
$1
connect 198.51.100.2 port 7000 direct
CONF
}
conf ""
bgns "$NS_S" python3 "$TOP/tests/integration/echo-server.py" 198.51.100.2 7000
wait_tcp "$NS_S" 7000
start_sockoutd "$T/sockoutd.conf"
CTL="$BIN/sockoutctl -s $T/run/control.sock"
G="ip netns exec $NS_G python3 $TOP/tests/integration/gpclient.py $GUEST_SOCK"
echo "still served" >"$T/hello"

# served WHAT - a direct guest connect and `sockoutctl status`, 5 s each
served() {
	rm -f "$T/back"
	timeout 5 $G connect 198.51.100.2 7000 --send "$T/hello" --recv "$T/back" >"$T/g.out" 2>&1 ||
		fail "$1: the direct guest connect was not served within 5 s: $(cat "$T/g.out")"
	cmp -s "$T/hello" "$T/back" || fail "$1: echo differs"
	timeout 5 $CTL status >"$T/status.out" 2>&1 ||
		fail "$1: sockoutctl status was not answered within 5 s"
}

# rounds N - N rounds a second apart: 200 ms doubling to 5 s, so they span
# several redials
rounds() {
	for i in $(seq "$1"); do
		served "$2, round $i"
		sleep 1
	done
}
log "a helper whose event socket does not accept"
rounds 4 "event socket full"
grep -q "helper half down: event socket .*not accepting" "$T/sockoutd.log" ||
	fail "the full event socket was not reported"

log "reload: a helper whose data socket does not accept"
conf "helper stuck    data $T/run/stuck.data event $T/run/stuck.event
connect port 7100 helper stuck to 198.51.100.2:7000"
timeout 5 $CTL reload >"$T/reload.out" 2>&1 || fail "reload not answered within 5 s: $(cat "$T/reload.out")"
rounds 4 "data socket full"
log "sockoutd served guests and its control socket throughout"
grep -q "helper stuck unreachable: data socket .*not accepting" "$T/sockoutd.log" ||
	fail "the full data socket was not reported"
$CTL helpers >"$T/helpers.out" || fail "sockoutctl helpers"
cat "$T/helpers.out"
grep -q "^stuck *down " "$T/helpers.out" || fail "stuck not shown down"

log "a real helper takes the stuck one's place: the redial finds it"
kill "$STUCK_PID"
wait_for 5 sh -c "! kill -0 $STUCK_PID" || fail "fake helper did not stop"
rm -f "$T/run/stuck.data"
start_plain "$T/run/stuck.data" "$T/run/stuck.event"
wait_for 15 sh -c "$CTL helpers | grep -q '^stuck *up '" || fail "no redial: $($CTL helpers)"
timeout 20 $G connect 198.51.100.2 7100 --send "$T/hello" --recv "$T/back2" >"$T/g2.out" 2>&1 ||
	fail "relayed connect: $(cat "$T/g2.out")"
cmp -s "$T/hello" "$T/back2" || fail "relayed echo differs"
served "at the end"
sockoutd_stop_clean
pass
