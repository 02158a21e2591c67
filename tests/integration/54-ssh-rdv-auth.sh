#!/bin/bash
# timeout: 180
# 54-ssh-rdv-auth: the rendezvous forward on the SSH gateway is reachable by
# anyone who can open a TCP connection to it there.  Only a helper that
# knows the rendezvous key (shared by the helpers of this gateway) may reach
# a guest listener through it: a forged connect header (the old unsigned
# version 1, or version 2 with a made-up MAC) and a genuine header captured
# on the gateway and replayed are refused (closed, logged, counted), and the
# guest's server never sees them.  The genuine connection still works.
#
#   guest A - host A 198.51.100.2 --+
#                                   gateway 198.51.100.1 (sshd; attacker here)
#   guest B - host B 198.51.100.6 --+   127.0.0.1:40080  B's rendezvous
#                                       127.0.0.2:40080  a relay that records
#                                                        what A sends to B
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-ssh.sh"
need curl python3
[ -x "$BIN/sockoutd" ] && [ -x "$BIN/sockout-run" ] || fail "sockoutd/sockout-run not built (run make)"

GW="${P}gw" HA="${P}ha" HB="${P}hb" GA="${P}ga" GB="${P}gb"
for n in $GW $HA $HB $GA $GB; do ns_new "$n"; done
ns_link "$GW" 198.51.100.1/30 "$HA" 198.51.100.2/30
ns_link "$GW" 198.51.100.5/30 "$HB" 198.51.100.6/30
ip -n "$HB" route add default via 198.51.100.5

ssh_keys
ssh_sshd gw "$GW" 198.51.100.1 2222
ssh_rdv_key

log "a rendezvous without a key is a config error at its line; so is a key others can read"
ssh_helper_conf "$T/nokey.conf" 198.51.100.1 2222 nokey "rendezvous 127.0.0.1:40080"
rc=0; "$BIN/sockout-ssh" -n -c "$T/nokey.conf" >"$T/nokey.out" 2>&1 || rc=$?
[ $rc = 1 ] && grep -q "nokey.conf:[0-9]*: rendezvous: needs rendezvous-key" "$T/nokey.out" ||
	fail "no key accepted (exit $rc): $(cat "$T/nokey.out")"
cp "$RDV_KEY" "$T/ssh/open.key" && chmod 0644 "$T/ssh/open.key"
ssh_helper_conf "$T/openkey.conf" 198.51.100.1 2222 openkey "rendezvous 127.0.0.1:40080" "rendezvous-key $T/ssh/open.key"
rc=0; "$BIN/sockout-ssh" -n -c "$T/openkey.conf" >"$T/openkey.out" 2>&1 || rc=$?
[ $rc = 1 ] && grep -q "openkey.conf:[0-9]*: rendezvous-key: .*mode 0644" "$T/openkey.out" ||
	fail "a world-readable key was accepted (exit $rc): $(cat "$T/openkey.out")"

ssh_helper_conf "$T/siteA.conf" 198.51.100.1 2222 siteA "rendezvous-key $RDV_KEY"
ssh_helper_conf "$T/siteB.conf" 198.51.100.1 2222 siteB "rendezvous 127.0.0.1:40080" "rendezvous-key $RDV_KEY"
ssh_helper "$HA" "$T/siteA.conf" siteA
ssh_helper "$HB" "$T/siteB.conf" siteB
ssh_wait_up siteA
ssh_wait_up siteB
wait_tcp "$GW" 40080 20

# The relay: what a user on the gateway can do with a genuine connection.
cat >"$T/relay.py" <<'PY'
import socket, sys, threading
cap = open(sys.argv[1], "wb")
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.2", 40080)); ls.listen(4)
def pipe(a, b, rec):
    try:
        while True:
            d = a.recv(65536)
            if not d: break
            if rec: cap.write(d); cap.flush()
            b.sendall(d)
    except OSError: pass
    for s in (a, b):
        try: s.shutdown(socket.SHUT_RDWR)
        except OSError: pass
first = True
while True:
    c, _ = ls.accept()
    u = socket.create_connection(("127.0.0.1", 40080))
    threading.Thread(target=pipe, args=(c, u, first), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c, False), daemon=True).start()
    first = False
PY
# The attacker: connect to B's rendezvous on the gateway, send a header and
# an HTTP request behind it, print whatever comes back.
cat >"$T/attack.py" <<'PY'
import os, socket, sys, time
mode = sys.argv[1]
s = socket.create_connection(("127.0.0.1", 40080), timeout=5)
def read_for(secs, need=None):
    got = b""; end = time.time() + secs
    while time.time() < end and (need is None or len(got) < need):
        s.settimeout(max(0.05, end - time.time()))
        try: d = s.recv(65536)
        except socket.timeout: break
        except OSError: break
        if not d: break
        got += d
    return got
if mode == "v1":
    hdr = b"SOrq\x01\x00\x1f\x90" + b"GET /forged-v1 HTTP/1.0\r\n\r\n"
elif mode == "v2":
    read_for(2, 24)  # the challenge, if any
    hdr = (b"SOrq\x02\x00\x1f\x90\x9c\x90\x00\x00" + os.urandom(16) + os.urandom(32)
           + b"GET /forged-v2 HTTP/1.0\r\n\r\n")
else:
    read_for(2, 24)
    hdr = open(mode, "rb").read()
try: s.sendall(hdr)
except OSError: pass
got = read_for(5)
sys.stdout.write("%d bytes back: %r\n" % (len(got), got[:200]))
sys.exit(1 if b"HTTP/" in got else 0)
PY
bgns "$GW" python3 "$T/relay.py" "$T/captured.bin"
wait_for 10 sh -c "ip netns exec $GW ss -Hltn 'src 127.0.0.2 and sport = :40080' | grep -q ." || fail "relay did not start"

mkdir -p "$T/a" "$T/b" "$T/www"
cat >"$T/a/sockoutd.conf" <<CONF
guest-socket   $T/a/guest.sock
control-socket $T/a/control.sock
helper office  data $T/siteA.data event $T/siteA.event
connect port 8080 helper office to peer:127.0.0.1:40080
connect port 8060 helper office to peer:127.0.0.2:40080/8080
connect any    deny
accept  any    deny
CONF
cat >"$T/b/sockoutd.conf" <<CONF
guest-socket   $T/b/guest.sock
control-socket $T/b/control.sock
helper office  data $T/siteB.data event $T/siteB.event
accept port 8080 helper office to peer
connect any    deny
accept  any    deny
CONF
bgns "$HA" "$BIN/sockoutd" -f -v -c "$T/a/sockoutd.conf" >"$T/sockoutd-a.log" 2>&1
bgns "$HB" "$BIN/sockoutd" -f -v -c "$T/b/sockoutd.conf" >"$T/sockoutd-b.log" 2>&1
wait_sock "$T/a/guest.sock"
wait_sock "$T/b/guest.sock"

echo hello >"$T/www/hello.txt"
log "guest B serves http on port 8080, for peers only"
NS_G=$GB GUEST_SOCK=$T/b/guest.sock bg guest python3 -m http.server -d "$T/www" -b 0.0.0.0 8080 >"$T/http-b.log" 2>&1
wait_for 20 grep -q "Serving HTTP" "$T/http-b.log" || fail "guest B's http.server did not start"

log "guest A reaches it with the key"
ok=0
for i in $(seq 1 20); do
	NS_G=$GA GUEST_SOCK=$T/a/guest.sock guest curl -sS --max-time 20 -o "$T/got.txt" \
		http://203.0.113.200:8080/hello.txt 2>"$T/curl.log" && { ok=1; break; }
	sleep 0.5 # B's sockoutd may still be dialing its helper
done
[ $ok = 1 ] || fail "curl A -> B: $(cat "$T/curl.log")"
cmp -s "$T/got.txt" "$T/www/hello.txt" || fail "wrong content"

log "a genuine connection through the recording relay (its header is captured)"
code=$(NS_G=$GA GUEST_SOCK=$T/a/guest.sock guest curl -sS --max-time 20 -o /dev/null -w '%{http_code}' \
	http://203.0.113.200:8060/genuine-once) || fail "curl through the relay failed"
[ "$code" = 404 ] || fail "through the relay: HTTP $code"
wait_for 5 test -s "$T/captured.bin" || fail "nothing captured"
[ "$(grep -c 'GET /genuine-once' "$T/http-b.log")" = 1 ] || fail "the genuine request did not arrive once"

log "attacks from the gateway: forged v1 header, forged v2 header, replayed genuine header"
for m in v1 v2 "$T/captured.bin"; do
	ip netns exec "$GW" python3 "$T/attack.py" "$m" >"$T/attack.out" 2>&1 ||
		fail "attack $(basename "$m") reached guest B's server: $(cat "$T/attack.out")"
	log "  $(basename "$m"): $(cat "$T/attack.out")"
done
sleep 0.5
grep -q "forged" "$T/http-b.log" && fail "a forged request reached guest B: $(grep forged "$T/http-b.log")"
[ "$(grep -c 'GET /genuine-once' "$T/http-b.log")" = 1 ] || fail "the replayed request reached guest B"
st=$(probe "$HB" siteB status)
echo "$st" | grep -q '"peer_unauth":3' || fail "B does not count 3 refused headers: $st"
[ "$(grep -c 'rendezvous .*refused a connection' "$T/helper-siteB.log")" = 3 ] || fail "B did not log 3 refusals"
grep -q "not authentic" "$T/helper-siteB.log" || fail "no 'not authentic' in B's log"

log "and the genuine path still works after the attacks"
NS_G=$GA GUEST_SOCK=$T/a/guest.sock guest curl -sS --max-time 20 -o "$T/got2.txt" \
	http://203.0.113.200:8080/hello.txt || fail "curl A -> B after the attacks"
cmp -s "$T/got2.txt" "$T/www/hello.txt" || fail "wrong content after the attacks"

pass
