#!/bin/bash
# timeout: 180
# 56-guest-channel: one kept guest connection (a channel, GP_F_KEEP) per
# guest process instead of a new connection to sockoutd per request.
#  (a) 200 connects from one process go over one channel (sockoutctl
#      status: guest_connections vs channel_requests), data intact; the
#      same under the seccomp supervisor;
#  (b) a child forked by a process holding a channel is judged as itself:
#      sockoutd logs the child's pid for its connect;
#  (c) a root process connects to a port only uid 0 may reach, drops to
#      nobody, connects again: refused (a reused channel would say uid 0);
#  (d) 8 threads connect at once, all with intact data;
#  (e) sockoutd closes an idle channel after channel-idle; the process's
#      next connect still succeeds (sent again on a new connection);
#  (g) a program that dup2()s its own file onto the channel's number, or
#      closes it: the shim leaves the program's file alone and reconnects;
#  (f) a hostile raw client as nobody: `limit channels' caps its kept
#      connections, a second request while one waits closes the channel,
#      and sockoutd goes on serving another uid.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/sockoutd-lib.sh"
need python3

topo_basic
GUEST_SOCK=$T/guest.sock
cat >"$T/sockoutd.conf" <<CONF
guest-socket   $GUEST_SOCK
control-socket $T/control.sock
channel-idle   1500ms
limit channels 4
connect port 7001 from uid 0 direct
connect port 7001 deny
connect any      direct
CONF
start_sockoutd "$T/sockoutd.conf"
CTL="$BIN/sockoutctl -s $T/control.sock"
bgns "$NS_S" python3 "$TOP/tests/integration/echo-server.py" 198.51.100.2 7000
bgns "$NS_S" python3 "$TOP/tests/integration/echo-server.py" 198.51.100.2 7001
wait_tcp "$NS_S" 7000
wait_tcp "$NS_S" 7001

# count NAME - a counter of sockoutctl status
count() {
	$CTL status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"][sys.argv[1]])' "$1"
}

cat >"$T/g.py" <<'PY'
import hashlib, os, socket, sys, threading, time
SRV = "198.51.100.2"

def echo(port, data):
    s = socket.create_connection((SRV, port), timeout=20)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += d
    s.close()
    return got

def check(port, n):
    data = os.urandom(n)
    got = echo(port, data)
    if hashlib.sha256(got).digest() != hashlib.sha256(data).digest():
        sys.exit("data differs (%d of %d bytes)" % (len(got), n))

def refused(port):
    try:
        socket.create_connection((SRV, port), timeout=20).close()
    except ConnectionRefusedError:
        return True
    return False

what = sys.argv[1]
if what == "many":          # (a)
    for i in range(200):
        check(7000, 1)
    for i in range(4):
        check(7000, 256 * 1024)
elif what == "fork":        # (b)
    check(7000, 1)
    pid = os.fork()
    if pid == 0:
        print("child", os.getpid(), flush=True)
        check(7000, 1)
        os._exit(0)
    _, st = os.waitpid(pid, 0)
    check(7000, 1)
    print("parent", os.getpid(), flush=True)
    sys.exit(os.waitstatus_to_exitcode(st))
elif what == "drop":        # (c)
    check(7001, 1)
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    if not refused(7001):
        sys.exit("uid 65534 reached port 7001")
    check(7000, 1)
elif what == "threads":     # (d)
    bad = []
    def run():
        try:
            for i in range(25):
                check(7000, 4096)
        except BaseException as e:
            bad.append(repr(e))
    ts = [threading.Thread(target=run) for _ in range(8)]
    for t in ts: t.start()
    for t in ts: t.join()
    if bad:
        sys.exit("threads failed: %s" % bad[:3])
elif what == "fds":         # (g)
    def fds():
        return set(int(f) for f in os.listdir("/proc/self/fd"))
    def sock(f):
        try:
            return os.readlink("/proc/self/fd/%d" % f).startswith("socket:")
        except OSError:
            return False
    before = fds()
    check(7000, 1)
    ch = [f for f in fds() - before if sock(f)]
    if len(ch) != 1:
        sys.exit("expected one new socket (the channel), got %s" % ch)
    ch = ch[0]
    # the program puts a pipe of its own at the channel's number
    r, w = os.pipe()
    os.dup2(w, ch)
    check(7000, 1)
    check(7000, 1)
    os.set_blocking(r, False)
    try:
        got = os.read(r, 4096)
    except BlockingIOError:
        got = b""
    if got:
        sys.exit("%d bytes of ours went into the program's pipe" % len(got))
    os.write(ch, b"mine")
    if os.read(r, 4096) != b"mine":
        sys.exit("the program's descriptor was disturbed")
    # the program closes whatever is at the new channel's number
    for f in fds() - before:
        if f not in (r, w, ch) and sock(f):
            os.close(f)
    check(7000, 1)
elif what == "idle":        # (e)
    check(7000, 1)
    time.sleep(float(sys.argv[2]))
    check(7000, 1)
    check(7000, 1)
print("ok", what)
PY

log "(a) 200 connects from one process over one channel"
c0=$(count guest_connections); r0=$(count channel_requests)
guest python3 "$T/g.py" many >"$T/a.out" 2>&1 || fail "(a): $(cat "$T/a.out")"
c1=$(count guest_connections); r1=$(count channel_requests)
log "guest connections +$((c1 - c0)), requests on a channel +$((r1 - r0))"
[ $((c1 - c0)) -le 3 ] || fail "(a) $((c1 - c0)) guest connections for 204 connects"
[ $((r1 - r0)) -ge 200 ] || fail "(a) only $((r1 - r0)) requests went over a channel"

log "(a) the same under the seccomp supervisor"
c0=$(count guest_connections); r0=$(count channel_requests)
ip netns exec "$NS_G" "$BIN/sockout-run" --seccomp -s "$GUEST_SOCK" -- python3 "$T/g.py" many >"$T/as.out" 2>&1 ||
	fail "(a) seccomp: $(cat "$T/as.out")"
c1=$(count guest_connections); r1=$(count channel_requests)
log "seccomp: guest connections +$((c1 - c0)), requests on a channel +$((r1 - r0))"
[ $((c1 - c0)) -le 3 ] || fail "(a) seccomp: $((c1 - c0)) guest connections for 204 connects"
[ $((r1 - r0)) -ge 200 ] || fail "(a) seccomp: only $((r1 - r0)) requests went over a channel"

log "(b) a forked child speaks as itself"
guest python3 "$T/g.py" fork >"$T/b.out" 2>&1 || fail "(b): $(cat "$T/b.out")"
child=$(awk '$1=="child"{print $2}' "$T/b.out")
parent=$(awk '$1=="parent"{print $2}' "$T/b.out")
[ -n "$child" ] && [ -n "$parent" ] || fail "(b): $(cat "$T/b.out")"
wait_for 5 grep -q "guest pid $child: direct 198.51.100.2:7000 handed off" "$T/sockoutd.log" ||
	fail "(b) no connect of the child (pid $child) in the log: $(grep 'handed off' "$T/sockoutd.log" | tail -3)"
[ "$(grep -c "guest pid $parent: direct 198.51.100.2:7000 handed off" "$T/sockoutd.log")" = 2 ] ||
	fail "(b) the parent (pid $parent) did not connect exactly twice"

log "(c) a process that drops to nobody is judged as nobody"
guest python3 "$T/g.py" drop >"$T/c.out" 2>&1 || fail "(c): $(cat "$T/c.out")"

log "(d) 8 threads at once"
guest python3 "$T/g.py" threads >"$T/d.out" 2>&1 || fail "(d): $(cat "$T/d.out")"

log "(g) the program dup2()s a pipe onto the channel's number, then closes the next one"
guest python3 "$T/g.py" fds >"$T/g.out" 2>&1 || fail "(g): $(cat "$T/g.out")"

log "(e) an idle channel is closed; the next connect still succeeds"
i0=$(count channels_idle_closed)
guest python3 "$T/g.py" idle 3 >"$T/e.out" 2>&1 || fail "(e): $(cat "$T/e.out")"
i1=$(count channels_idle_closed)
[ "$i1" -gt "$i0" ] || fail "(e) no channel was closed idle"
wait_for 5 sh -c "[ \$($CTL status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"counts\"][\"channels\"])') = 0 ]" ||
	fail "(e) channels still open after their processes ended"

log "(f) a hostile raw client as nobody"
cat >"$T/f.py" <<'PY'
import os, socket, struct, sys, time
sys.path.insert(0, os.path.dirname(sys.argv[2]))
import gpclient as gp
os.setgroups([]); os.setgid(65534); os.setuid(65534)
KEEP = 0x40
sock = sys.argv[1]
def one(s):
    gp.send_req(s, gp.req(gp.CONNECT, "198.51.100.2", 7000, KEEP))
    msg, fds, _f, _a = socket.recv_fds(s, 56, 1)
    for f in fds:
        os.close(f)
    if len(msg) != 56:
        return None
    return msg[7], gp.dec_reply(msg)[1]
held, kept = [], 0
for i in range(10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    r = one(s)
    assert r and r[1] == 0, r
    if r[0] == KEEP:
        kept += 1
    held.append(s)
print("kept", kept)
assert kept == 4, "kept %d channels, limit 4" % kept
# requests one after the other on a kept channel, forever (here: 100)
s = held[0]
for i in range(100):
    r = one(s)
    assert r == (KEEP, 0), r
# two requests at once: the channel is closed
p = gp.req(gp.CONNECT, "198.51.100.2", 7000, KEEP)
s.sendall(p + p)
got = b""
while True:
    try:
        d = s.recv(4096)
    except ConnectionResetError:
        break
    if not d:
        break
    got += d
print("after two at once:", len(got), "bytes, then closed")
print("done")
time.sleep(float(sys.argv[3]))
PY
rf0=$(count refused_channels)
ip netns exec "$NS_G" python3 "$T/f.py" "$GUEST_SOCK" "$TOP/tests/integration/gpclient.py" 1 >"$T/f.out" 2>&1 &
FP=$!
wait_for 10 grep -q "^done" "$T/f.out" || fail "(f): $(cat "$T/f.out")"
log "while it holds its channels, root is served"
guest python3 "$T/g.py" many >"$T/f2.out" 2>&1 || fail "(f) root: $(cat "$T/f2.out")"
wait $FP || fail "(f): $(cat "$T/f.out")"
rf1=$(count refused_channels)
[ $((rf1 - rf0)) -ge 6 ] || fail "(f) refused_channels +$((rf1 - rf0)), expected >= 6"
kill -0 "$SOCKOUTD_PID" || fail "sockoutd died"
sockoutd_stop_clean
pass
