#!/bin/bash
# timeout: 150
# 22-guest-nc-socat: socat and nc in the guest, as clients and as servers;
# half-close (the sender shuts down its side, the other side still answers);
# what getsockname/getpeername show an unmodified python3 in the guest.
. "$(dirname "$0")/../lib.sh"
need socat nc python3

topo_basic
GUEST_SOCK=$T/guest.sock
PY=$TOP/tests/integration/guestprog.py
cat >"$T/sockoutd.conf" <<CONF
guest-socket   $GUEST_SOCK
control-socket $T/control.sock
connect any      direct
accept port 7100 direct 17100
accept port 7200 direct 17200
accept port 7300 direct 17300
accept port 7400 direct 17400
accept any       deny
CONF
start_sockoutd "$T/sockoutd.conf"
mkdata "$T/data" 8
want=$(sha "$T/data")

log "guest socat -u -> server: one-way copy, EOF by half-close"
bgns "$NS_S" socat -u TCP-LISTEN:7000,reuseaddr OPEN:"$T/s1",creat,trunc
wait_tcp "$NS_S" 7000
guest socat -u OPEN:"$T/data" TCP:198.51.100.2:7000 || fail "guest socat client"
wait_for 20 test "$(sha "$T/s1")" = "$want" || fail "server got a different file"

log "guest socat <-> server sha256sum: half-close, then the answer comes back"
bgns "$NS_S" socat TCP-LISTEN:7001,reuseaddr SYSTEM:sha256sum
wait_tcp "$NS_S" 7001
got=$(guest socat -t 30 - TCP:198.51.100.2:7001 <"$T/data" | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "half-close through connect: got '$got'"

log "guest nc -N client -> server sha256sum"
bgns "$NS_S" socat TCP-LISTEN:7002,reuseaddr SYSTEM:sha256sum
wait_tcp "$NS_S" 7002
got=$(guest nc -N 198.51.100.2 7002 <"$T/data" | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "nc client: got '$got'"

log "server socat -> guest socat -u listener (accept direct 17100)"
bg guest socat -u TCP-LISTEN:7100 OPEN:"$T/g1",creat,trunc
wait_tcp "$NS_H" 17100
ip netns exec "$NS_S" socat -u OPEN:"$T/data" TCP:198.51.100.1:17100 || fail "socat to guest"
wait_for 20 test "$(sha "$T/g1")" = "$want" || fail "guest listener got a different file"

log "server nc -N -> guest nc -l listener"
bg guest sh -c "nc -l 7200 >'$T/g2'"
wait_tcp "$NS_H" 17200
ip netns exec "$NS_S" nc -N 198.51.100.1 17200 <"$T/data" || fail "nc to guest"
wait_for 20 test "$(sha "$T/g2")" = "$want" || fail "guest nc got a different file"

log "server socat -> guest socat SYSTEM:sha256sum: half-close through accept"
bg guest socat TCP-LISTEN:7300 SYSTEM:sha256sum
wait_tcp "$NS_H" 17300
got=$(ip netns exec "$NS_S" socat -t 30 - TCP:198.51.100.1:17300 <"$T/data" | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "half-close through accept: got '$got'"

log "python3 in the guest: names of a client socket"
bgns "$NS_S" socat TCP-LISTEN:7500,reuseaddr,fork EXEC:cat
wait_tcp "$NS_S" 7500
guest python3 "$PY" names-client 198.51.100.2 7500 >"$T/client.json" 2>"$T/client.log" ||
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

log "python3 in the guest: epoll registration made before connect survives"
guest python3 "$PY" epoll-first 198.51.100.2 7500 >"$T/epoll.json" 2>"$T/epoll.log" ||
	fail "epoll-first: $(cat "$T/epoll.log")"

log "python3 in the guest: names of a listener and an accepted socket"
bg guest python3 "$PY" names-server 7400 >"$T/server.json" 2>"$T/server.log"
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
pass
