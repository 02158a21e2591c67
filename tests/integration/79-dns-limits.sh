#!/bin/bash
# timeout: 60
# 79-dns-limits: GP_DNS requests as a hostile guest sends them, straight to
# the guest socket (no stub): a good query is answered with its ID; bytes
# that are no DNS get FORMERR with the ID echoed; another opcode NOTIMP; a
# response (QR set), an empty frame and an oversized frame get no reply at
# all; a guest holding 32 unfinished requests gets EAGAIN for more while
# another uid is served, and is served again once it lets go.
. "$(dirname "$0")/../lib.sh"
need python3 setpriv

topo_basic
GUEST_SOCK=$T/guest.sock
cat >"$T/sockoutd.conf" <<CONF
guest-socket   $GUEST_SOCK
control-socket $T/control.sock
resolve ok.test address 192.0.2.1
resolve any     deny
connect any     deny
CONF
start_sockoutd "$T/sockoutd.conf"

cat >"$T/dnsguest.py" <<'PY'
import socket, struct, sys, time

SOCK, what = sys.argv[1], sys.argv[2]
MAGIC, VERSION, DNS = 0x534f4731, 2, 8

def header(flags=0):
    return struct.pack(">IHBB", MAGIC, VERSION, DNS, flags) + bytes(56)

def query(name, qid, qtype=1, flags=0x0100):
    q = struct.pack(">HHHHHH", qid, flags, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", qtype, 1)

def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(SOCK)
    return s

def recv_all(s):
    out = b""
    while True:
        try:
            b = s.recv(65536)
        except ConnectionResetError:  # closed with our bytes unread
            return out
        if not b:
            return out
        out += b

def ask(msg, length=None):
    """-> (gp status, dns reply or None); None, None when closed unanswered"""
    s = conn()
    n = len(msg) if length is None else length
    s.sendall(header() + struct.pack(">H", n) + msg)
    r = recv_all(s)
    s.close()
    if not r:
        return None, None
    assert len(r) >= 56, r
    magic, ver, op, _z, status = struct.unpack(">IHBBH", r[:10])
    assert magic == MAGIC and op == DNS, r[:10]
    if status:
        assert len(r) == 56, "a refusal carries a message"
        return status, None
    (l,) = struct.unpack(">H", r[56:58])
    assert l == len(r) - 58, "frame length %d, got %d" % (l, len(r) - 58)
    return 0, r[58:]

def rcode(m):
    return m[3] & 15

def check(cond, why):
    if not cond:
        print("FAIL:", why)
        sys.exit(1)

if what == "wire":
    st, m = ask(query("ok.test", 0x4242))
    check(st == 0 and m[:2] == b"\x42\x42" and m[2] & 0x80 and rcode(m) == 0,
          "ok.test: %r %r" % (st, m))
    check(m[-4:] == bytes([192, 0, 2, 1]), "ok.test: answer %r" % m[-4:])
    st, m = ask(query("nosuch.test", 7))
    check(st == 0 and rcode(m) == 3, "nosuch.test: not NXDOMAIN: %r" % m)
    st, m = ask(b"\x12\x34\x01\x00" + b"\xff" * 30)
    check(st == 0 and m[:2] == b"\x12\x34" and rcode(m) == 1, "garbage: not FORMERR: %r" % m)
    st, m = ask(query("ok.test", 9, flags=0x1000))  # opcode 2, STATUS
    check(st == 0 and rcode(m) == 4, "opcode 2: not NOTIMP: %r" % m)
    st, m = ask(query("ok.test", 9, flags=0x8100))  # a response
    check(st is None, "a response was answered: %r" % m)
    st, m = ask(b"", 0)
    check(st is None, "an empty frame was answered")
    st, m = ask(b"\0" * 4097)
    check(st is None, "a 4097-byte frame was answered")
    print("wire OK")
elif what == "hold":
    # 40 requests whose query never comes: 32 are held, 8 refused at once
    held = []
    for i in range(40):
        s = conn()
        s.sendall(header())
        held.append(s)
    time.sleep(1)
    refused = 0
    for s in held:
        s.setblocking(False)
        try:
            r = s.recv(100)
        except BlockingIOError:
            continue
        check(len(r) == 56 and struct.unpack(">H", r[8:10])[0] == 11,
              "not an EAGAIN reply: %r" % r)
        refused += 1
    check(refused == 8, "%d of 40 refused, expected 8" % refused)
    st, m = ask(query("ok.test", 1))
    check(st == 11 and m is None, "a 41st request was not refused: %r" % st)
    print("holding", flush=True)
    sys.stdin.read()  # until told to let go
    for s in held:
        s.close()
    time.sleep(0.5)
    st, m = ask(query("ok.test", 2))
    check(st == 0 and rcode(m) == 0, "not served again after letting go: %r" % st)
    print("served again")
elif what == "one":
    st, m = ask(query("ok.test", 3))
    check(st == 0 and rcode(m) == 0, "not served: %r" % st)
    print("served")
PY

log "query, garbage, other opcodes, responses, bad frames"
ip netns exec "$NS_G" python3 "$T/dnsguest.py" "$GUEST_SOCK" wire >"$T/wire.log" 2>&1 ||
	fail "$(cat "$T/wire.log")"

log "one guest at its pending cap; another uid is served"
mkfifo "$T/go"
ip netns exec "$NS_G" python3 "$T/dnsguest.py" "$GUEST_SOCK" hold <"$T/go" >"$T/hold.log" 2>&1 &
HOLD=$!
exec 9>"$T/go"
wait_for 10 grep -q holding "$T/hold.log" || fail "hold: $(cat "$T/hold.log")"
ip netns exec "$NS_G" setpriv --reuid=65534 --regid=65534 --clear-groups \
	/usr/bin/python3 "$T/dnsguest.py" "$GUEST_SOCK" one >"$T/one.log" 2>&1 ||
	fail "another uid: $(cat "$T/one.log")"
exec 9>&-
wait $HOLD || fail "hold: $(cat "$T/hold.log")"
grep -q "served again" "$T/hold.log" || fail "hold: $(cat "$T/hold.log")"
grep -q 'dns: guest pid .*queries pending: refusing' "$T/sockoutd.log" ||
	fail "the refusal was not logged"
pass
