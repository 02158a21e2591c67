#!/bin/bash
# timeout: 120
# 81-stream-host: the guest protocol's stream mode (PROTOCOL.md part 2,
# "Stream mode"), without a VM.  The guest namespace has only lo; its
# sockout-run is told `-s tcp:127.0.0.1:7002', a socat there that hands each
# connection to sockoutd's `guest-stream' Unix endpoint, one stream per
# connection, exactly as QEMU's guestfwd does for the VM test (82).  No
# descriptor crosses: every byte goes through the stream.
#  * unmodified curl fetches 8 MiB through `direct' (sha256);
#  * socat uploads 8 MiB (sha256 at the server), and a half-close crosses
#    the bridge: the server answers after the client's EOF;
#  * a server in the guest (python3 http.server) is reached from the
#    server namespace through an `accept ... direct' rule (LISTEN, ACCEPT
#    notices, CLAIM on a new stream), 8 MiB, twice;
#  * names over a stream: getaddrinfo and gethostbyname answered by a
#    `resolve' rule (RESOLVE), curl by that name (8 MiB, sha256), and a
#    denied name fails to resolve;
#  * a denied destination gives curl "couldn't connect";
#  * a connect to the guest's own loopback stays native and never asks
#    sockoutd (its request count does not move);
#  * a guest's identity is its endpoint's: a `from uid' rule for the uid
#    of the endpoint matches, one for another uid does not;
#  * `connections 2' on the TCP endpoint: two held connections fill it,
#    the third is refused (EAGAIN), and after they close it works again;
#  * a request without the stream flag on a stream endpoint is dropped;
#  * the protocol spoken raw on the Unix endpoint: LISTEN gets ACCEPT
#    notices with a token; a CLAIM of a wrong token gets ENOENT, the right
#    one the connection (bytes both ways), the same token again ENOENT;
#  * a reset by the server reaches a guest on the TCP endpoint as
#    ECONNRESET (a Unix endpoint has no reset to pass on: EOF there);
#  * 200 open connections, idle after 64 KiB each way, cost sockoutd
#    less than 8 MB (an idle bridge holds no buffer);
#  * a reload that changes a guest-stream line says it applies on restart;
#  * `sockoutd -n' rejects malformed guest-stream lines (a relative path,
#    TCP off loopback, no name or uid, an unknown option, a duplicate).
. "$(dirname "$0")/../lib.sh"
need curl python3 socat
[ -x "$BIN/sockoutd" ] && [ -x "$BIN/sockout-run" ] || fail "sockoutd/sockout-run not built (run make)"

log "sockoutd -n: guest-stream lines it must refuse"
n=0
while read -r bad; do
	n=$((n + 1))
	printf 'guest-socket %s/g.sock\ncontrol-socket %s/c.sock\n%b\n' "$T" "$T" "$bad" >"$T/bad$n.conf"
	"$BIN/sockoutd" -n -c "$T/bad$n.conf" >"$T/bad$n.out" 2>&1 &&
		fail "sockoutd -n accepted: $bad"
	cat "$T/bad$n.out"
	grep -q "guest-stream" "$T/bad$n.out" || fail "no guest-stream error for: $bad ($(cat "$T/bad$n.out"))"
done <<BAD
guest-stream vm1.sock name vm1 uid 1
guest-stream tcp:198.51.100.1:7000 name vm1 uid 1
guest-stream /run/x.sock uid 1
guest-stream /run/x.sock name vm1
guest-stream /run/x.sock name vm1 uid 1 cid 3
guest-stream /run/x.sock name vm/1 uid 1
guest-stream /run/x.sock name vm1 uid 1 connections 0
guest-stream /run/x.sock name vm1 uid 1\nguest-stream /run/y.sock name vm1 uid 2
BAD
printf 'guest-socket %s/g.sock\ncontrol-socket %s/c.sock\nguest-stream /run/x.sock name vm1 uid 1 gid 2 connections 9 mode 0660\nguest-stream tcp:[::1]:7000 name vm2 uid 3\n' "$T" "$T" >"$T/good.conf"
"$BIN/sockoutd" -n -c "$T/good.conf" >"$T/good.out" 2>&1 || fail "sockoutd -n refused good guest-stream lines: $(cat "$T/good.out")"

topo_basic
GUEST_SOCK=$T/guest.sock
cat >"$T/sockoutd.conf" <<CONF
guest-socket   $GUEST_SOCK
control-socket $T/control.sock
guest-stream   $T/vm1.sock name vm1 uid 4242
guest-stream   tcp:127.0.0.1:7001 name h1 uid 4343 connections 2
connect 198.51.100.2 port 8000 from uid 4343 direct
connect 198.51.100.2 port 8000 from uid 4242 direct
connect 198.51.100.2 port 9000-9001 from uid 4242 direct
connect 198.51.100.2 port 9002 from uid 1 direct
connect 198.51.100.2 port 9003 from uid 4343 direct
connect 198.51.100.2 port 9003 from uid 4242 direct
accept  port 8080-8081 from uid 4242 direct
connect 198.51.100.2 port 9004 from uid 4343 direct
connect any    deny
accept  any    deny
resolve web.example address 198.51.100.2
resolve any    deny
CONF
start_sockoutd "$T/sockoutd.conf"
wait_sock "$T/vm1.sock"

# The guest's way to sockoutd: one stream per connection, like guestfwd.
bgns "$NS_G" socat TCP-LISTEN:7002,bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:"$T/vm1.sock"
wait_tcp "$NS_G" 7002
sg() { ip netns exec "$NS_G" "$BIN/sockout-run" -s tcp:127.0.0.1:7002 -- "$@"; }

mkdir "$T/www"
mkdata "$T/www/data.bin" 8
bgns "$NS_S" python3 -m http.server -d "$T/www" -b 198.51.100.2 8000 >"$T/http.log" 2>&1
bgns "$NS_S" python3 "$TOP/tests/integration/echo-server.py" 198.51.100.2 9000 --sink "$T/up.bin" >"$T/sink.log" 2>&1
# 9001: reads to EOF, then answers with the sha256 of what it read
cat >"$T/halfclose.py" <<'PY'
import hashlib, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.51.100.2", 9001))
s.listen(8)
while True:
    c, _ = s.accept()
    h = hashlib.sha256()
    while True:
        d = c.recv(1 << 16)
        if not d:
            break
        h.update(d)
    c.sendall((h.hexdigest() + "\n").encode())
    c.close()
PY
bgns "$NS_S" python3 "$T/halfclose.py" >"$T/halfclose.log" 2>&1
bgns "$NS_S" python3 "$TOP/tests/integration/echo-server.py" 198.51.100.2 9003 >"$T/hold.log" 2>&1
wait_tcp "$NS_S" 8000
wait_tcp "$NS_S" 9000
wait_tcp "$NS_S" 9001
wait_tcp "$NS_S" 9003

log "curl in the guest through direct, over a stream: 8 MiB"
sg curl -sS --max-time 60 -o "$T/got.bin" http://198.51.100.2:8000/data.bin 2>"$T/curl.log" ||
	fail "curl failed: $(cat "$T/curl.log")"
[ "$(sha "$T/got.bin")" = "$(sha "$T/www/data.bin")" ] || fail "sha256 of the download differs"

log "names over a stream: RESOLVE answered by the resolve rules"
sg getent ahostsv4 web.example >"$T/getent.out" 2>&1 || fail "getent ahostsv4 web.example failed: $(cat "$T/getent.out")"
grep -q '^198\.51\.100\.2 ' "$T/getent.out" || fail "getaddrinfo over a stream: $(cat "$T/getent.out")"
sg getent hosts web.example | grep -q '^198\.51\.100\.2 ' || fail "gethostbyname over a stream did not answer"
sg getent hosts denied.example >/dev/null 2>&1 && fail "a name the rules deny resolved over a stream"
sg curl -sS --max-time 60 -o "$T/got-name.bin" http://web.example:8000/data.bin 2>"$T/curl-name.log" ||
	fail "curl by name failed: $(cat "$T/curl-name.log")"
[ "$(sha "$T/got-name.bin")" = "$(sha "$T/www/data.bin")" ] || fail "sha256 of the download by name differs"

log "upload 8 MiB from the guest"
mkdata "$T/up-src.bin" 8
sg socat -u "OPEN:$T/up-src.bin" TCP:198.51.100.2:9000 2>"$T/socat-up.log" || fail "upload: $(cat "$T/socat-up.log")"
wait_for 20 test -f "$T/up.bin" || fail "the sink never finished"
[ "$(sha "$T/up.bin")" = "$(sha "$T/up-src.bin")" ] || fail "sha256 of the upload differs"

log "half-close: the server answers after the guest's EOF"
got=$(sg python3 -c '
import socket, sys
c = socket.create_connection(("198.51.100.2", 9001))
with open(sys.argv[1], "rb") as f:
    c.sendall(f.read())
c.shutdown(socket.SHUT_WR)
d = b""
while True:
    b = c.recv(4096)
    if not b:
        break
    d += b
print(d.decode().strip())' "$T/up-src.bin") || fail "half-close client failed"
[ "$got" = "$(sha "$T/up-src.bin")" ] || fail "half-close: server said '$got'"

log "a server in the guest, reached from outside through accept ... direct"
ip netns exec "$NS_G" "$BIN/sockout-run" -s tcp:127.0.0.1:7002 -- \
	python3 -m http.server -d "$T/www" 8080 >"$T/guest-http.log" 2>&1 &
gpid=$!
at_exit "kill $gpid"
wait_tcp "$NS_H" 8080
for i in 1 2; do
	ip netns exec "$NS_S" curl -sS --max-time 60 -o "$T/in$i.bin" http://198.51.100.1:8080/data.bin 2>"$T/curl-in.log" ||
		fail "curl to the guest's server failed: $(cat "$T/curl-in.log")"
	[ "$(sha "$T/in$i.bin")" = "$(sha "$T/www/data.bin")" ] || fail "sha256 of the guest server's file differs ($i)"
done

log "denied: curl cannot connect"
rc=0
sg curl -sS --max-time 20 -o /dev/null http://198.51.100.2:9002/ 2>"$T/denied.log" || rc=$?
[ $rc = 7 ] || fail "curl exit $rc for a destination only uid 1 may reach, expected 7"

log "the guest's loopback stays the guest's, without asking sockoutd"
CTL="$BIN/sockoutctl -s $T/control.sock"
reqs() { $CTL status --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["counts"]["requests"])'; }
bgns "$NS_G" python3 "$TOP/tests/integration/echo-server.py" 127.0.0.1 7003 >"$T/lo-echo.log" 2>&1
wait_tcp "$NS_G" 7003
n0=$(reqs) || fail "sockoutctl status: $($CTL status --json 2>&1 | head -3)"
got=$(sg python3 -c '
import socket
c = socket.create_connection(("127.0.0.1", 7003)); c.sendall(b"lo"); print(c.recv(10).decode())') ||
	fail "a loopback connect in the guest failed"
[ "$got" = lo ] || fail "loopback echo said '$got'"
[ "$(reqs)" = "$n0" ] || fail "a loopback connect in stream mode went to sockoutd ($n0 -> $(reqs) requests)"

log "the TCP endpoint (guest h1, uid 4343): its own rules"
# In the host namespace, where 127.0.0.1:7001 is; 198.51.100.2 is routed
# there too, so it is the rule (uid 4343 only at 8000 and 9003) that
# tells the stream went through sockoutd: 9000 is uid 4242's alone.
sh1() { ip netns exec "$NS_H" "$BIN/sockout-run" -s tcp:127.0.0.1:7001 -- "$@"; }
sh1 curl -sS --max-time 30 -o "$T/got-h1.bin" http://198.51.100.2:8000/data.bin 2>"$T/curl-h1.log" ||
	fail "curl via the TCP endpoint: $(cat "$T/curl-h1.log")"
[ "$(sha "$T/got-h1.bin")" = "$(sha "$T/www/data.bin")" ] || fail "sha256 via the TCP endpoint differs"
rc=0
sh1 socat -u "OPEN:$T/up-src.bin" TCP:198.51.100.2:9000 2>"$T/socat-h1.log" || rc=$?
[ $rc != 0 ] || fail "guest h1 (uid 4343) reached a port only uid 4242 may"

log "connections 2: two held streams fill the TCP endpoint, a third is refused"
hold='import socket,time; c=socket.create_connection(("198.51.100.2",9003)); print("up",flush=True); time.sleep(30)'
ip netns exec "$NS_H" "$BIN/sockout-run" -s tcp:127.0.0.1:7001 -- python3 -c "$hold" >"$T/hold1.out" 2>&1 &
h1=$!
ip netns exec "$NS_H" "$BIN/sockout-run" -s tcp:127.0.0.1:7001 -- python3 -c "$hold" >"$T/hold2.out" 2>&1 &
h2=$!
at_exit "kill $h1 $h2"
wait_for 10 grep -q up "$T/hold1.out" || fail "first held connection: $(cat "$T/hold1.out")"
wait_for 10 grep -q up "$T/hold2.out" || fail "second held connection: $(cat "$T/hold2.out")"
rc=0
sh1 curl -sS --max-time 20 -o /dev/null http://198.51.100.2:8000/data.bin 2>"$T/full.log" || rc=$?
[ $rc != 0 ] || fail "a third stream got through an endpoint with connections 2"
grep -q "streams held" "$T/sockoutd.log" || fail "sockoutd did not log the endpoint's limit"
kill $h1 $h2 2>/dev/null
wait $h1 $h2 2>/dev/null
wait_for 10 sh1 curl -sS --max-time 20 -o /dev/null http://198.51.100.2:8000/data.bin ||
	fail "the endpoint stayed full after its connections closed"

log "a request without the stream flag on a stream endpoint is dropped"
python3 - "$T/vm1.sock" <<'PY' || fail "a descriptor-mode request on a stream endpoint was answered"
import socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
addr = bytes([4, 0]) + struct.pack(">H", 8000) + bytes([198, 51, 100, 2]) + bytes(12)
req = struct.pack(">IHBB", 0x534f4731, 2, 1, 0) + addr + bytes(36)
s.sendall(req)
s.settimeout(5)
sys.exit(0 if s.recv(64) == b"" else 1)
PY

log "raw protocol on the endpoint: LISTEN, ACCEPT notice, CLAIM"
cat >"$T/raw.py" <<'PY'
import errno, socket, struct, sys, time
path = sys.argv[1]
MAGIC, STREAM = 0x534f4731, 0x20
def addr(fam, port, a=b""):
    return bytes([fam, 0]) + struct.pack(">H", port) + a.ljust(16, b"\0")
def req(op, flags, a=addr(0, 0), backlog=0, token=0):
    return struct.pack(">IHBB", MAGIC, 2, op, flags) + a + struct.pack(">II", backlog, token) + bytes(28)
def reply(s):
    b = b""
    while len(b) < 56:
        d = s.recv(56 - len(b))
        if not d:
            sys.exit("EOF instead of a reply")
        b += d
    magic, ver, op, flags, status = struct.unpack(">IHBBH", b[:10])
    (token,) = struct.unpack(">I", b[52:56])
    assert magic == MAGIC and ver == 2, b
    return op, flags, status, token
def stream():
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    return s
l = stream()
l.sendall(req(2, STREAM, addr(4, 8081), 5))
op, flags, status, _ = reply(l)
assert (op, status) == (2, 0), (op, status)
print("listening", flush=True)
op, flags, status, token = reply(l)      # a client connects from outside
assert (op, flags, status) == (3, STREAM, 0) and token, (op, flags, status, token)
c = stream()
c.sendall(req(12, STREAM, token=token ^ 0x5a5a5a5a or 1))
op, _, status, _ = reply(c)
assert (op, status) == (12, errno.ENOENT), ("wrong token", op, status)
c = stream()
c.sendall(req(12, STREAM, token=token))
op, _, status, _ = reply(c)
assert (op, status) == (12, 0), ("claim", op, status)
c.sendall(b"hello from the guest\n")
c.shutdown(socket.SHUT_WR)
got = b""
while True:
    d = c.recv(4096)
    if not d:
        break
    got += d
assert got == b"hello from outside\n", got
c = stream()
c.sendall(req(12, STREAM, token=token))
op, _, status, _ = reply(c)
assert (op, status) == (12, errno.ENOENT), ("claimed twice", op, status)
print("ok")
PY
python3 "$T/raw.py" "$T/vm1.sock" >"$T/raw.out" 2>&1 &
rawpid=$!
wait_for 10 grep -q listening "$T/raw.out" || fail "raw LISTEN: $(cat "$T/raw.out")"
got=$(printf 'hello from outside\n' | ip netns exec "$NS_S" socat -t 10 - TCP:198.51.100.1:8081) ||
	fail "connecting to the raw listener from outside"
[ "$got" = "hello from the guest" ] || fail "the outside client got '$got'"
wait $rawpid || fail "raw protocol: $(cat "$T/raw.out")"
grep -q '^ok$' "$T/raw.out" || fail "raw protocol: $(cat "$T/raw.out")"

log "a reset by the server reaches the guest (TCP endpoint) as ECONNRESET"
bgns "$NS_S" python3 -c '
import socket, struct
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.51.100.2", 9004)); s.listen(4)
while True:
    c, _ = s.accept(); c.recv(100)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); c.close()' >"$T/rst.log" 2>&1
wait_tcp "$NS_S" 9004
got=$(sh1 python3 -c '
import socket, time
c = socket.create_connection(("198.51.100.2", 9004))
c.sendall(b"x")
try:
    while c.recv(100):
        pass
    print("eof")
except ConnectionResetError:
    print("reset")') || fail "reset client failed"
[ "$got" = reset ] || fail "the guest saw '$got' for a server's reset, not ECONNRESET"

log "200 idle connections: what sockoutd holds for them"
rss() { awk '/VmRSS/{print $2}' "/proc/$SOCKOUTD_PID/status"; }
cat >"$T/idle.py" <<'PY'
import socket, struct, sys, time
path, n = sys.argv[1], int(sys.argv[2])
a = bytes([4, 0]) + struct.pack(">H", 9003) + bytes([198, 51, 100, 2]) + bytes(12)
req = struct.pack(">IHBB", 0x534f4731, 2, 1, 0x20) + a + bytes(36)
held = []
for i in range(n):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(req)
    r = b""
    while len(r) < 56:
        d = s.recv(56 - len(r))
        if not d:
            sys.exit("EOF instead of a reply")
        r += d
    if struct.unpack(">H", r[8:10])[0] != 0:
        sys.exit("connect %d refused" % i)
    blob = bytes([i % 256]) * 65536    # 64 KiB each way through the bridge
    s.sendall(blob)
    got = 0
    while got < len(blob):
        d = s.recv(65536)
        if not d:
            sys.exit("EOF from the echo")
        got += len(d)
    held.append(s)
print("held", flush=True)
time.sleep(60)
PY
r0=$(rss)
python3 "$T/idle.py" "$T/vm1.sock" 200 >"$T/idle.out" 2>&1 &
idle=$!
at_exit "kill $idle"
wait_for 60 grep -q held "$T/idle.out" || fail "holding 200 connections: $(cat "$T/idle.out")"
r1=$(rss)
kill $idle; wait $idle 2>/dev/null
log "sockoutd RSS ${r0} kB, with 200 idle stream connections ${r1} kB"
[ $((r1 - r0)) -lt 8192 ] || fail "200 idle stream connections cost sockoutd $((r1 - r0)) kB"

log "a reload keeps the running endpoints, and says so when they changed"
kill -HUP "$SOCKOUTD_PID"
wait_for 10 grep -q "configuration reloaded" "$T/sockoutd.log" || fail "no reload"
grep -q "guest-stream endpoints change only on restart" "$T/sockoutd.log" && fail "warned about an unchanged guest-stream"
sed -i 's/name vm1 uid 4242/name vm1 uid 4244/' "$T/sockoutd.conf"
kill -HUP "$SOCKOUTD_PID"
wait_for 10 grep -q "guest-stream endpoints change only on restart" "$T/sockoutd.log" ||
	fail "no warning for a changed guest-stream line"
sg curl -sS --max-time 60 -o "$T/got2.bin" http://198.51.100.2:8000/data.bin 2>"$T/curl2.log" ||
	fail "curl after the reload: $(cat "$T/curl2.log")"
pass
