#!/bin/bash
# timeout: 180
# 57-im-forged-iq: a third XMPP account (mallory@) sends both helpers forged
# IQ answers naming its own "bytestream proxy" (a listener it runs).  Both
# helpers are configured with `proxy slow.example.org', an external
# component (a small script here) that is slow: it takes the IQs and never
# answers, so the helpers' questions stay open.  It also tells the test the
# ids it saw, standing for an attacker who learnt them.  Mallory answers
# with those real ids and with guessed ones (what the old `so1', `act1'...
# sequence made easy).  The helpers must take an answer only from the JID
# they asked: mallory's is logged and dropped, its listener never sees a
# connection, the ids on the wire are random, and a transfer still works
# (in-band, since no proxy answered).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-im.sh"
need curl python3

INJ=$BIN/tests/tools/im-inject
[ -x "$INJ" ] || fail "$INJ not built"
EVIL_PORT=6666
im_setup 'component_ports = { 5347 }
Component "slow.example.org"
	component_secret = "slow-secret"'

# The slow component: XEP-0114 handshake, then it logs each IQ it gets
# ("id from") and never answers.
cat >"$T/slow.py" <<'PY'
import hashlib, re, socket, sys
s = socket.create_connection((sys.argv[1], 5347))
s.sendall(b"<stream:stream xmlns='jabber:component:accept' "
          b"xmlns:stream='http://etherx.jabber.org/streams' to='slow.example.org'>")
buf = b""
while not re.search(rb"<stream:stream[^>]*>", buf):
    d = s.recv(4096)
    if not d: sys.exit("closed before the stream header")
    buf += d
sid = re.search(rb"""\sid=['"]([^'"]+)['"]""", re.search(rb"<stream:stream[^>]*>", buf).group(0)).group(1)
s.sendall(b"<handshake>" + hashlib.sha1(sid + b"slow-secret").hexdigest().encode() + b"</handshake>")
buf = b""
while b"<handshake/>" not in buf:
    d = s.recv(4096)
    if not d: sys.exit("handshake refused: %r" % buf)
    buf += d
print("ready", flush=True)
buf = b""
while True:
    d = s.recv(65536)
    if not d: break
    buf += d
    while True:
        m = re.search(rb"<iq\s[^>]*>", buf)
        if not m: break
        tag = m.group(0).decode()
        buf = buf[m.end():]
        a = dict(re.findall(r"""\s(\w+)=['"]([^'"]*)['"]""", tag))
        print(a.get("id", "-"), a.get("from", "-"), a.get("type", "-"), flush=True)
PY
# Mallory's "proxy": it only records who dials it.
cat >"$T/evil.py" <<'PY'
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(8)
print("listening", flush=True)
while True:
    c, a = s.accept()
    print("CONNECTION from", a, flush=True)
    c.close()
PY
# Prosody serves components on its own loopback (a private service).
wait_tcp "$NS_PUB" 5347 20
bgns "$NS_PUB" python3 "$T/slow.py" 127.0.0.1 >"$T/slow.log" 2>&1
wait_for 20 grep -q ready "$T/slow.log" || fail "the slow component did not connect: $(cat "$T/slow.log")"
bgns "$NS_PUB" python3 "$T/evil.py" $IM_SERVER $EVIL_PORT >"$T/evil.log" 2>&1
wait_tcp "$NS_PUB" $EVIL_PORT

im_conf a alice@example.org/sockout bob@example.org "$KEY_B" "proxy slow.example.org"
im_conf b bob@example.org/sockout alice@example.org "$KEY_A" "proxy slow.example.org"
im_start a
im_start b
sockoutd_start a "connect port 8080 helper home to bob@example.org" "connect any deny" "accept any deny"
sockoutd_start b "accept port 8080 helper home" "connect any deny" "accept any deny"
im_wait_session a
im_wait_session b
wait_for 20 sh -c "grep -q ' alice@example.org/sockout get' $T/slow.log && grep -q ' bob@example.org/sockout get' $T/slow.log" ||
	fail "the helpers did not ask the configured proxy: $(cat "$T/slow.log")"

log "mallory answers both helpers' questions: real ids and guessed ones"
forge() { # TO ID
	echo "<iq type='result' id='$2' to='$1'><query xmlns='http://jabber.org/protocol/bytestreams'><streamhost jid='evil.example.org' host='$IM_SERVER' port='$EVIL_PORT'/></query></iq>"
}
for who in alice bob; do
	id=$(awk -v f="$who@example.org/sockout" '$2 == f && $3 == "get" { print $1; exit }' "$T/slow.log")
	[ -n "$id" ] || fail "no IQ id from $who"
	forge "$who@example.org/sockout" "$id"
	for n in 1 2 3 4 5 6 7 8; do
		forge "$who@example.org/sockout" "so$n"
		forge "$who@example.org/sockout" "act$n"
	done
done >"$T/forged.xml"
ip netns exec "$NS_HA" "$INJ" $IM_SERVER 5222 mallory@example.org/x pw-mallory "$PDIR/example.org.crt" \
	bob@example.org/sockout raw "$T/forged.xml" >>"$T/inject.log" 2>&1 ||
	fail "inject failed: $(tail -3 "$T/inject.log")"
grep -q "sent 34 raw stanzas" "$T/inject.log" || fail "mallory could not send: $(cat "$T/inject.log")"
for s in a b; do
	wait_for 10 grep -q "xmpp: dropped an IQ result from mallory@example.org/x: we asked slow.example.org" "$T/im-$s.log" ||
		fail "helper $s did not drop the forged answer"
	grep -q "bytestream proxy evil" "$T/im-$s.log" && fail "helper $s took mallory's proxy"
done

log "a transfer works (in-band) and nobody dials mallory's listener"
mkdir "$T/www"
mkdata "$T/www/data.bin" 1
cd "$T/www" || fail cd
bg guest_b python3 -m http.server 8080 >"$T/guest-http.log" 2>&1
wait_for 20 grep -q "accepting port 8080" "$T/im-b.log" || fail "no listener"
guest_a curl -sS --max-time 60 -o "$T/got.bin" http://203.0.113.99:8080/data.bin 2>"$T/curl.log" ||
	fail "curl failed: $(cat "$T/curl.log")"
[ "$(sha "$T/got.bin")" = "$(sha "$T/www/data.bin")" ] || fail "sha256 differs"
grep -q "accepted (in-band)" "$T/im-b.log" || fail "B did not carry it in-band"
grep -q CONNECTION "$T/evil.log" && fail "a helper dialled mallory's proxy: $(cat "$T/evil.log")"

ip netns exec "$NS_HB" "$BIN/sockoutctl" -s "$T/b/control.sock" helpers --json >"$T/ctl.json" 2>&1 ||
	fail "sockoutctl failed: $(cat "$T/ctl.json")"
grep -q '"proxy":null,"iq_dropped":[1-9]' "$T/ctl.json" || fail "status does not count the drop: $(cat "$T/ctl.json")"
log "the ids on the wire are random"
while read -r id from type; do
	[ "$id" = ready ] && continue
	[[ "$id" =~ ^[0-9a-f]{24}$ ]] || fail "a guessable IQ id: $id (from $from)"
done <"$T/slow.log"
im_finish
pass
