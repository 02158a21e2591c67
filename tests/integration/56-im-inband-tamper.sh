#!/bin/bash
# timeout: 240
# 56-im-inband-tamper: a man in the middle on bob's XMPP link -- what a
# malicious server can do -- drops, swaps and duplicates the in-band data
# messages alice's helper sends to bob's.  It cannot read or forge them
# (they are sealed), but the old replay window let a few through out of
# order and nothing noticed a missing one: bob's guest got a corrupted
# stream and a clean EOF.  Now every transfer must arrive exact (sha256)
# or be reset on both guests, never silently wrong; the tampered ones must
# be reset.
#
# The middle: bob's helper logs in with `tls no' through a small TCP proxy
# in the server's namespace (the test Prosody allows plaintext c2s for
# this); the proxy passes everything on and splits the server-to-bob
# direction into stanzas, acting on alice's large <message/>s -- the data
# chunks (a chunk is ~22 KB of base64, the control messages a few hundred
# bytes).  Alice's helper talks to Prosody directly, over TLS.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-im.sh"
need python3

MITM_PORT=5223
IM_C2S_PLAIN=1
im_setup

cat >"$T/mitm.py" <<'PY'
# mitm.py LISTEN_HOST LISTEN_PORT UP_HOST UP_PORT MODEFILE
# MODEFILE holds the action for alice's data chunks to bob: "pass",
# "drop K", "dup K", "swap K" (the K-th and K+1-th), "droplast": from the
# first data chunk on, the message right before one that comes after a
# pause of a second or more -- the sender pauses before it half-closes, so
# that is the last data chunk before the "shut" (sizes cannot tell: a
# short chunk is as small as a shut).  Counting restarts whenever the mode
# changes.
import socket, sys, threading, time
LHOST, LPORT, UHOST, UPORT, MODEF = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
BIG = 1500

def log(*a):
    print(*a, flush=True)

class Tamper:
    def __init__(self):
        self.mode, self.n, self.held, self.held_t, self.done = None, 0, None, 0, False

    def _reload(self):
        try:
            m = open(MODEF).read().strip()
        except OSError:
            m = "pass"
        if m == self.mode:
            return []
        out = [self.held] if self.held else []
        self.mode, self.n, self.held, self.done = m, 0, None, False
        log("mode", m)
        return out

    def stanza(self, st):
        out = self._reload()
        if not (st.startswith(b"<message") and b"urn:sockout:im" in st):
            return out + [st]
        big = len(st) > BIG
        kind, _, arg = self.mode.partition(" ")
        if kind == "droplast":
            if self.done or (not self.held and not big):
                return out + [st]  # before the data (connect), after the drop
            now = time.monotonic()
            if self.held and now - self.held_t >= 1.0:
                log("dropped the last data chunk", len(self.held))
                self.held, self.done = None, True
                return out + [st]
            if self.held:
                out.append(self.held)
            self.held, self.held_t = st, now
            return out
        if not big or kind == "pass":
            return out + [st]
        self.n += 1
        k = int(arg)
        if kind == "drop" and self.n == k:
            log("dropped data chunk", k)
            return out
        if kind == "dup" and self.n == k:
            log("duplicated data chunk", k)
            return out + [st, st]
        if kind == "swap" and self.n == k:
            self.held = st
            return out
        if kind == "swap" and self.n == k + 1:
            log("swapped data chunks", k, k + 1)
            h, self.held = self.held, None
            return out + [st, h]
        return out + [st]

class Splitter:
    """Cuts an XMPP stream into what lies between stanzas and the
    stanzas (children of <stream:stream>, which restarts after SASL)."""
    def __init__(self):
        self.buf, self.pos, self.emitted, self.depth, self.start = b"", 0, 0, 0, None

    def feed(self, d):
        self.buf += d
        b, out = self.buf, []
        while True:
            lt = b.find(b"<", self.pos)
            if lt < 0:
                if self.start is None:
                    self.pos = len(b)
                break
            gt = b.find(b">", lt)
            if gt < 0:
                break
            tag, self.pos = b[lt:gt + 1], gt + 1
            if tag.startswith(b"<?") or tag.startswith(b"<stream:stream"):
                self.depth = 1
            elif tag.startswith(b"</stream:stream"):
                self.depth = 0
            elif tag.startswith(b"</"):
                self.depth -= 1
                if self.depth == 1 and self.start is not None:
                    out.append(("raw", b[self.emitted:self.start]))
                    out.append(("stanza", b[self.start:self.pos]))
                    self.emitted, self.start = self.pos, None
            elif tag.endswith(b"/>"):
                if self.depth == 1:
                    out.append(("raw", b[self.emitted:lt]))
                    out.append(("stanza", tag))
                    self.emitted = self.pos
            else:
                if self.depth == 1:
                    self.start = lt
                self.depth += 1
        if self.start is None and self.pos > self.emitted:
            out.append(("raw", b[self.emitted:self.pos]))
            self.emitted = self.pos
        cut = self.emitted
        self.buf = b[cut:]
        self.pos -= cut
        self.emitted = 0
        if self.start is not None:
            self.start -= cut
        return out

def shut_both(*socks):
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

def up(c, u):
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            u.sendall(d)
    except OSError:
        pass
    shut_both(u, c)

def down(u, c):
    sp, t = Splitter(), Tamper()
    try:
        while True:
            d = u.recv(65536)
            if not d:
                break
            for kind, piece in sp.feed(d):
                for x in (t.stanza(piece) if kind == "stanza" else [piece]):
                    c.sendall(x)
    except OSError:
        pass
    shut_both(u, c)

ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((LHOST, LPORT))
ls.listen(4)
log("listening")
while True:
    c, a = ls.accept()
    u = socket.create_connection((UHOST, UPORT))
    log("client", a)
    threading.Thread(target=up, args=(c, u), daemon=True).start()
    threading.Thread(target=down, args=(u, c), daemon=True).start()
PY

# Guest B: sha256 of each connection's bytes, answered after EOF; or RESET.
cat >"$T/sink.py" <<'PY'
import hashlib, socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 9000)); s.listen(4)
while True:
    c, _ = s.accept(); h = hashlib.sha256(); n = 0
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            h.update(d); n += len(d)
        c.sendall(h.hexdigest().encode() + b"\n")
        print("EOF", n, h.hexdigest(), flush=True)
    except OSError as e:
        print("RESET", n, e, flush=True)
    c.close()
PY
# Guest A: send a file, wait PAUSE seconds, half-close, print the answer
# or RESET.
cat >"$T/send.py" <<'PY'
import socket, sys, time
data = open(sys.argv[1], "rb").read()
s = socket.create_connection(("203.0.113.99", 9000)); s.settimeout(90)
try:
    s.sendall(data); time.sleep(float(sys.argv[2])); s.shutdown(socket.SHUT_WR); r = b""
    while True:
        d = s.recv(100)
        if not d:
            break
        r += d
    print("REPLY", r.decode().strip() or "(none)")
except (ConnectionResetError, BrokenPipeError):
    print("RESET")
except socket.timeout:
    print("TIMEOUT")
PY

echo pass >"$T/mode"
bgns "$NS_PUB" python3 "$T/mitm.py" $IM_SERVER $MITM_PORT $IM_SERVER 5222 "$T/mode" >"$T/mitm.log" 2>&1
wait_tcp "$NS_PUB" $MITM_PORT
im_conf a alice@example.org/sockout bob@example.org "$KEY_B" "inband yes"
im_conf b bob@example.org/sockout alice@example.org "$KEY_A" "inband yes" \
	"server $IM_SERVER:$MITM_PORT" "tls no"
im_start a
im_start b
sockoutd_start a "connect port 9000 helper home to bob@example.org" "connect any deny" "accept any deny"
sockoutd_start b "accept port 9000 helper home" "connect any deny" "accept any deny"
im_wait_session a
im_wait_session b
grep -q "client" "$T/mitm.log" || fail "bob's helper does not go through the middle"
bg guest_b python3 "$T/sink.py" >"$T/sink.log" 2>&1
wait_for 20 grep -q "accepting port 9000" "$T/im-b.log" || fail "no listener for 9000"
mkdata "$T/up.bin" 1
want=$(sha "$T/up.bin")

# transfer MODE EXPECT [PAUSE]: one connection with the middle doing MODE;
# EXPECT "exact" (the stream must arrive whole) or "reset" (both guests
# must be reset).  Whatever happens, a stream that ends cleanly must be
# exact.  Guest A pauses PAUSE seconds before it half-closes.
transfer() {
	local mode=$1 expect=$2 pause=${3:-0} n0 got srv
	# Chunks of a connection just reset may still be on their way: let
	# them pass before the middle counts again.
	sleep 1.5
	echo "$mode" >"$T/mode"
	n0=$(wc -l <"$T/sink.log")
	got=$(guest_a timeout 120 python3 "$T/send.py" "$T/up.bin" "$pause" 2>>"$T/send.err")
	wait_for 20 sh -c "[ \$(wc -l <$T/sink.log) -gt $n0 ]" || fail "$mode: guest B saw no end (client: $got)"
	srv=$(tail -n +$((n0 + 1)) "$T/sink.log" | head -1)
	log "$mode: guest A: $got; guest B: $srv"
	case "$srv" in
	"EOF "*) [ "$srv" = "EOF 1048576 $want" ] || fail "$mode: guest B got a wrong stream and a clean EOF: $srv" ;;
	"RESET "*) ;;
	*) fail "$mode: guest B: $srv" ;;
	esac
	case "$got" in
	"REPLY $want") [ "$srv" = "EOF 1048576 $want" ] || fail "$mode: A got B's answer but B saw $srv" ;;
	REPLY*) fail "$mode: guest A got a wrong answer: $got" ;;
	RESET) ;;
	*) fail "$mode: guest A: $got" ;;
	esac
	if [ "$expect" = exact ]; then
		[ "$got" = "REPLY $want" ] || fail "$mode: not delivered exactly: A $got, B $srv"
	else
		[ "$got" = RESET ] && [ "${srv%% *}" = RESET ] ||
			fail "$mode: tampered but not reset on both guests: A $got, B $srv"
	fi
}

log "untouched: exact"
transfer pass exact
log "a data chunk duplicated (the replay window drops the copy): exact"
transfer "dup 3" exact
grep -q "duplicated data chunk 3" "$T/mitm.log" || fail "the middle did not duplicate"
log "two data chunks swapped: reset"
transfer "swap 3" reset
grep -q "swapped data chunks 3 4" "$T/mitm.log" || fail "the middle did not swap"
grep -q "alice@example.org: connection [0-9]*: data at offset [0-9]*, expected" "$T/im-b.log" ||
	fail "B did not say why it reset"
log "a data chunk dropped: reset"
transfer "drop 5" reset
grep -q "dropped data chunk 5" "$T/mitm.log" || fail "the middle did not drop"
log "the last data chunk dropped (the end names the length): reset"
transfer droplast reset 3
grep -q "dropped the last data chunk" "$T/mitm.log" || fail "the middle did not drop the last chunk"
grep -q "alice@example.org: connection [0-9]*: shut at offset [0-9]*, expected" "$T/im-b.log" ||
	fail "B did not notice the missing end"
log "untouched again: the session still carries exact streams"
transfer pass exact
im_finish
pass
