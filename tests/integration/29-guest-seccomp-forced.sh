#!/bin/bash
# timeout: 240
# 29-guest-seccomp-forced: dynamically linked programs with
# `sockout-run --seccomp` give what they give under the shim (curl's
# addresses, python3 http.server through an `accept` rule, nc both ways,
# the loopback checks of 25-guest-loopback: blocking and non-blocking
# connects, poll/epoll/select, fork, threads, the guest's own loopback
# staying inside; the names and socket types python3 sees, an epoll
# registration made before connect), and nothing gets around the table: a raw
# syscall(SYS_connect) is routed by it (denied port refused), io_uring_setup
# fails with EPERM, UDP to an outside address with ENETUNREACH, TCP fast
# open with EOPNOTSUPP; a guest server idles while sockoutd restarts and
# serves again after; once the supervisor is killed, trapped calls fail
# (ENOSYS) instead of going out.
. "$(dirname "$0")/../lib.sh"
need curl python3 nc socat

topo_basic
GUEST_SOCK=$T/guest.sock
cat >"$T/sockoutd.conf" <<CONF
guest-socket   $GUEST_SOCK
control-socket $T/control.sock
connect port 81  deny
connect any      direct
accept port 8080 direct 18080
accept port 8091 direct 18091
accept port 9000-9020 direct
accept port 7400 direct 17400
accept any       deny
CONF
start_sockoutd "$T/sockoutd.conf"
PY=$TOP/tests/integration/guestprog.py
sguest() { ip netns exec "$NS_G" "$BIN/sockout-run" --seccomp -s "$GUEST_SOCK" -- "$@"; }

mkdir "$T/www"
mkdata "$T/www/data.bin" 16
WANT=$(sha "$T/www/data.bin")
bgns "$NS_S" python3 -m http.server -d "$T/www" -b 198.51.100.2 8000 >"$T/http.log" 2>&1
wait_tcp "$NS_S" 8000

log "curl, 16 MiB through direct: the same as under the shim"
for m in shim seccomp; do
	ip netns exec "$NS_G" "$BIN/sockout-run" --$m -s "$GUEST_SOCK" -- \
		curl -sS --max-time 60 -o "$T/$m.bin" -w '%{local_ip} %{remote_ip} %{remote_port}\n' \
		http://198.51.100.2:8000/data.bin >"$T/$m.out" 2>"$T/$m.log" || fail "curl ($m): $(cat "$T/$m.log")"
	[ "$(sha "$T/$m.bin")" = "$WANT" ] || fail "curl ($m): sha256 differs"
done
cmp -s "$T/shim.out" "$T/seccomp.out" || fail "curl's addresses differ: $(cat "$T/shim.out") / $(cat "$T/seccomp.out")"
grep -q "^198.51.100.1 198.51.100.2 8000$" "$T/seccomp.out" || fail "curl saw $(cat "$T/seccomp.out")"
rc=0
sguest curl -sS -v --max-time 20 -o /dev/null http://198.51.100.2:81/ >"$T/deny.log" 2>&1 || rc=$?
[ $rc = 7 ] && grep -q "Connection refused" "$T/deny.log" || fail "curl to the denied port: rc $rc"

log "python3 http.server in the guest, served on the host's port 18080"
(cd "$T/www" && exec ip netns exec "$NS_G" "$BIN/sockout-run" --seccomp -s "$GUEST_SOCK" -- \
	python3 -m http.server 8080) >"$T/guest-http.log" 2>&1 &
_pids="$! $_pids"
wait_tcp "$NS_H" 18080
for i in 1 2; do
	ip netns exec "$NS_S" curl -sS --max-time 60 -o "$T/srv$i.bin" http://198.51.100.1:18080/data.bin ||
		fail "curl to the guest server"
	[ "$(sha "$T/srv$i.bin")" = "$WANT" ] || fail "guest server: sha256 differs"
done
grep -q '198.51.100.2 .*"GET /data.bin' "$T/guest-http.log" || fail "the guest server did not see the client's address"
grep -q "Serving HTTP on :: port 8080" "$T/guest-http.log" || fail "http.server's own address: $(head -1 "$T/guest-http.log")"

log "nc in the guest: client (half-close) and nc -l server"
mkdata "$T/up.bin" 2
bgns "$NS_S" sh -c "exec nc -l 198.51.100.2 7001 >$T/up.got"
wait_tcp "$NS_S" 7001
timeout 30 ip netns exec "$NS_G" "$BIN/sockout-run" --seccomp -s "$GUEST_SOCK" -- \
	nc -N 198.51.100.2 7001 <"$T/up.bin" || fail "nc client"
wait_for 10 sh -c "[ \$(stat -c %s $T/up.got) = $((2 << 20)) ]" || fail "nc upload incomplete"
[ "$(sha "$T/up.got")" = "$(sha "$T/up.bin")" ] || fail "nc upload: sha256 differs"
bg sh -c "exec ip netns exec $NS_G $BIN/sockout-run --seccomp -s $GUEST_SOCK -- nc -l 8091 >$T/down.got"
wait_tcp "$NS_H" 18091
timeout 30 ip netns exec "$NS_S" nc -N 198.51.100.1 18091 <"$T/up.bin" || fail "nc to the guest"
wait_for 10 sh -c "[ \$(stat -c %s $T/down.got) = $((2 << 20)) ]" || fail "nc -l got $(stat -c %s "$T/down.got") bytes"

log "the loopback checks of 25-guest-loopback under seccomp"
sguest python3 "$PY" loopback 9000 9001 >"$T/loop.json" 2>"$T/loop.log" ||
	fail "loopback checks: $(tail -5 "$T/loop.log")"
grep -q '"done": true' "$T/loop.json" || fail "loopback checks did not finish"

log "names an unmodified python3 sees"
bgns "$NS_S" socat TCP-LISTEN:7500,reuseaddr,fork EXEC:cat
wait_tcp "$NS_S" 7500
sguest python3 "$PY" names-client 198.51.100.2 7500 >"$T/client.json" 2>"$T/client.log" ||
	fail "names-client: $(cat "$T/client.log")"
cat "$T/client.json"
python3 - "$T/client.json" <<'CHK' || fail "client names wrong"
import json, sys
l = [json.loads(x) for x in open(sys.argv[1])]
a, b = l[0], l[1]
assert a["peer"] == ["198.51.100.2", 7500], a
assert a["sock"][0] == "198.51.100.1" and a["sock"][1] > 0, a
assert a["type"] == 1 and a["nodelay"] == 1, a
assert b["echo"] == "ping\n", b
CHK
bg sguest python3 "$PY" names-server 7400 >"$T/server.json" 2>"$T/server.log"
wait_tcp "$NS_H" 17400
ip netns exec "$NS_S" python3 "$PY" names-peer 198.51.100.1 17400 >"$T/peer.json" ||
	fail "names-peer"
wait_for 10 grep -q accept "$T/server.json" || fail "guest server: $(cat "$T/server.log")"
cat "$T/server.json" "$T/peer.json"
python3 - "$T/server.json" "$T/peer.json" <<'CHK' || fail "server names wrong"
import errno, json, sys
l = [json.loads(x) for x in open(sys.argv[1])]
mine = json.loads(open(sys.argv[2]).read())["mine"]
assert l[0]["listen"] == ["0.0.0.0", 7400], l[0]
assert l[0]["type"] == 1 and l[0]["domain"] == 2 and l[0]["acceptconn"] == 1, l[0]
assert l[1]["listener_peer"] == errno.ENOTCONN, l[1]
acc = l[2]
assert acc["accept"] == mine and acc["peer"] == mine, (acc, mine)
assert acc["sock"] == ["198.51.100.1", 7400], acc
assert acc["nodelay"] == 1, acc
CHK
sguest python3 "$PY" epoll-first 198.51.100.2 7500 >"$T/epoll.json" 2>"$T/epoll.log" ||
	fail "epoll-first: $(cat "$T/epoll.log")"

log "no way around the table"
cat >"$T/around.py" <<'PY'
import ctypes, errno, os, socket, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
def raw_connect(s, host, port):
    sa = struct.pack("!HH4s8x", socket.AF_INET, port, socket.inet_aton(host))
    sa = struct.pack("=H", socket.AF_INET) + sa[2:]
    r = libc.syscall(42, s.fileno(), ctypes.c_char_p(sa), len(sa))  # SYS_connect
    return 0 if r == 0 else ctypes.get_errno()
s = socket.socket()
e = raw_connect(s, "198.51.100.2", 81)
print("raw-denied", errno.errorcode.get(e, e))
s = socket.socket()
e = raw_connect(s, "198.51.100.2", 8000)
print("raw-allowed", errno.errorcode.get(e, e), s.getpeername()[1])
s.sendall(b"HEAD /data.bin HTTP/1.0\r\n\r\n")
print("raw-http", s.recv(12).decode())
params = ctypes.create_string_buffer(120)
r = libc.syscall(425, 8, params)  # io_uring_setup
print("io_uring", errno.errorcode.get(ctypes.get_errno(), "none") if r < 0 else "allowed")
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for what, f in (("udp-sendto", lambda: u.sendto(b"x", ("198.51.100.2", 53))),
                ("udp-sendmsg", lambda: u.sendmsg([b"x"], [], 0, ("198.51.100.2", 53))),
                ("udp-connect", lambda: u.connect(("198.51.100.2", 53)))):
    try:
        f(); print(what, "sent")
    except OSError as ex:
        print(what, errno.errorcode.get(ex.errno, ex.errno))
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(("127.0.0.1", 0))
u2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u2.sendto(b"inside", r.getsockname())
print("udp-loopback", r.recv(10).decode())
t = socket.socket()
try:
    t.sendto(b"GET / HTTP/1.0\r\n\r\n", socket.MSG_FASTOPEN, ("198.51.100.2", 8000)); print("tfo sent")
except OSError as ex:
    print("tfo", errno.errorcode.get(ex.errno, ex.errno))
PY
sguest python3 "$T/around.py" >"$T/around.out" 2>&1 || fail "around.py: $(cat "$T/around.out")"
cat "$T/around.out"
for want in "raw-denied ECONNREFUSED" "raw-allowed 0 8000" "raw-http HTTP/1.0 200" "io_uring EPERM" \
	"udp-sendto ENETUNREACH" "udp-sendmsg ENETUNREACH" "udp-connect ENETUNREACH" \
	"udp-loopback inside" "tfo ENOTSUP"; do  # ENOTSUP is EOPNOTSUPP on Linux
	grep -qx "$want" "$T/around.out" || fail "expected '$want'"
done

log "sockoutd restarted under the guest http.server: it idles, then serves again"
fetch() {
	ip netns exec "$NS_S" curl -sS --max-time 10 -o "$T/again.bin" \
		http://198.51.100.1:18080/data.bin 2>"$T/again.log" &&
		[ "$(sha "$T/again.bin")" = "$WANT" ]
}
ticks() { # CPU ticks of every process in the guest (server and supervisor)
	local n=0 p
	for p in $(ip netns pids "$NS_G"); do
		n=$((n + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo $n
}
kill "$SOCKOUTD_PID"
wait_for 10 sh -c "! kill -0 $SOCKOUTD_PID" || fail "sockoutd did not stop"
fetch && fail "fetched with sockoutd stopped"
before=$(ticks)
sleep 2
after=$(ticks)
log "the guest used $((after - before)) ticks while sockoutd was away"
[ $((after - before)) -lt 50 ] || fail "the guest spins without sockoutd"
rm -f "$GUEST_SOCK"
start_sockoutd "$T/sockoutd.conf"
wait_for 20 fetch || fail "no fetch after the restart: $(cat "$T/again.log"; tail -3 "$T/guest-http.log")"
grep -q "sockoutd dropped the listener on port 8080; it is made again when sockoutd is back" "$T/guest-http.log" ||
	fail "the supervisor did not say what happened"
grep -q "listener on port 8080: made again" "$T/guest-http.log" || fail "no 'made again'"

log "the supervisor killed: trapped calls fail, nothing goes out"
cat >"$T/orphan.py" <<'PY'
import errno, os, signal, socket, time
s = socket.socket(); s.connect(("198.51.100.2", 8000)); s.close()
print("before", "connected", flush=True)
os.kill(os.getppid(), signal.SIGKILL)
for _ in range(100):
    if os.getppid() == 1 or not os.path.exists("/proc/%d" % os.getppid()):
        break
    time.sleep(0.05)
time.sleep(0.2)
s = socket.socket()
try:
    s.connect(("198.51.100.2", 8000)); print("after connected")
except OSError as ex:
    print("after", errno.errorcode.get(ex.errno, ex.errno))
PY
sguest python3 "$T/orphan.py" >"$T/orphan.out" 2>&1
# the program outlives its supervisor: wait for its last line
wait_for 10 grep -q "^after" "$T/orphan.out"
cat "$T/orphan.out"
grep -qx "before connected" "$T/orphan.out" || fail "no connection before the kill"
grep -qx "after ENOSYS" "$T/orphan.out" || fail "after the supervisor died: $(cat "$T/orphan.out")"
pass
