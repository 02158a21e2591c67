#!/bin/bash
# timeout: 120
# 14-sockoutctl: status, connections and helpers as aligned tables and as
# JSON, with hit counts, a live relayed connection, a listener and the
# helper's own STATUS; usage and connection errors; the control socket
# refuses other users (file mode, and SO_PEERCRED when the mode is opened).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/sockoutd-lib.sh"
need python3 setpriv
[ -x "$BIN/sockout-plain" ] || fail "sockout-plain not built (run make)"

topo_basic
mkdir -p "$T/run"
GUEST_SOCK=$T/run/guest.sock
start_plain "$T/run/p.data" "$T/run/p.event"
cat >"$T/sockoutd.conf" <<CONF
guest-socket    $GUEST_SOCK
control-socket  $T/run/control.sock
helper plain    data $T/run/p.data event $T/run/p.event
connect port 7000            helper plain to 198.51.100.2:7000
connect 198.51.100.0/24      direct
accept  port 9100            direct
accept  any                  deny
CONF
start_sockoutd "$T/sockoutd.conf"
CTL="$BIN/sockoutctl -s $T/run/control.sock"
wait_for 10 sh -c "$CTL helpers | grep -q '^plain *up '" || fail "helper not up"
bgns "$NS_S" python3 "$TOP/tests/integration/echo-server.py" 198.51.100.2 7000
wait_tcp "$NS_S" 7000
G="ip netns exec $NS_G python3 $TOP/tests/integration/gpclient.py $GUEST_SOCK"

# traffic: one direct connect, one refused, a held relayed connection, a listener
echo ping >"$T/ping"
cat >"$T/hold.py" <<'PY'
import socket, sys, time
sys.path.insert(0, sys.argv[1])
import gpclient as g
r, fds = g.ask(sys.argv[2], g.CONNECT, "198.51.100.2", 7000)
assert r and r[1] == 0, r
c = socket.socket(fileno=fds[0])
c.sendall(b"ping\n")
d = c.recv(100)
open(sys.argv[3], "wb").write(d)
time.sleep(60)
PY
ip netns exec "$NS_G" python3 "$T/hold.py" "$TOP/tests/integration" "$GUEST_SOCK" "$T/pong" &
HP=$!
$G connect 198.51.100.2 7001 --expect-status 111 >/dev/null || fail "direct refused"
$G listen 0.0.0.0 9100 --accept 1 --ready "$T/l.ready" >/dev/null 2>&1 &
LP=$!
wait_for 10 test -e "$T/l.ready" || fail "listener"
wait_for 10 test -s "$T/pong" || fail "relayed ping"

# Aligned: in every row, each cell starts where its header starts (left
# aligned columns) or ends where its header ends (right aligned ones).
cat >"$T/aligned.py" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
hdr = sys.argv[2]
i = next(n for n, l in enumerate(lines) if l.startswith(hdr.split()[0]) and all(h in l for h in hdr.split()))
head = lines[i]
cols = [(m.start(), m.end()) for m in re.finditer(r"\S+(?: \S+)*", head)]
rows = []
for l in lines[i + 1:]:
    if not l.strip() or l.startswith("(") or l.startswith("direct ") or l.isupper():
        break
    rows.append(l)
assert rows, "no rows under " + head
for r in rows:
    cells = [(m.start(), m.end()) for m in re.finditer(r"\S+(?: \S+)*", r)]
    for (hs, he) in cols:
        if not any(cs == hs or ce == he for cs, ce in cells):
            sys.exit("misaligned under %r at column %d:\n%s\n%s" % (head, hs, head, r))
print("%d rows aligned" % len(rows))
PY

log "status"
$CTL status >"$T/status.txt" || fail "status exit $?"
cat "$T/status.txt"
grep -q "^sockoutd [0-9.]* (pid $SOCKOUTD_PID), up " "$T/status.txt" || fail "status header"
grep -q "direct 0 (failed 1), relayed 1 " "$T/status.txt" || fail "counters"
grep -qx "helpers plain up" "$T/status.txt" || fail "helper summary"
python3 "$T/aligned.py" "$T/status.txt" "LINE HITS RULE" || fail "status table"
grep -Eq "^ +4 +1  connect port 7000 +helper plain to 198.51.100.2:7000$" "$T/status.txt" || fail "hits of line 4"
grep -Eq "^ +5 +1  connect 198.51.100.0/24 +direct$" "$T/status.txt" || fail "hits of line 5"
grep -q "^(no matching rule: deny)$" "$T/status.txt" || fail "no-rule note"

log "connections"
$CTL connections >"$T/conns.txt" || fail "connections exit $?"
cat "$T/conns.txt"
python3 "$T/aligned.py" "$T/conns.txt" "ID ROUTE PID MECH DESTINATION UP DOWN STATE AGE" || fail "connections table"
grep -Eq "^0x[0-9a-f]+ +helper plain +[0-9]+ +shim +198.51.100.2:7000 +5 B +5 B +open " "$T/conns.txt" || fail "relayed row"
python3 "$T/aligned.py" "$T/conns.txt" "LISTENER ROUTE HOST PID MECH ACCEPTED" || fail "listener table"
grep -Eq "^0.0.0.0:9100 +direct +0.0.0.0:9100 +[0-9]+ +shim +0$" "$T/conns.txt" || fail "listener row"

log "helpers"
$CTL helpers >"$T/helpers.txt" || fail "helpers exit $?"
cat "$T/helpers.txt"
python3 "$T/aligned.py" "$T/helpers.txt" "NAME STATE CONNS TOTAL" || fail "helpers table"
grep -Eq "^plain +up +1 +1 +$T/run/p.data +-$" "$T/helpers.txt" || fail "helper row"
grep -q '^plain status: {"helper":"plain",.*"connections":1' "$T/helpers.txt" || fail "helper STATUS json"

log "--json for each command"
for c in status connections helpers reload; do
	$CTL $c --json >"$T/$c.json" || fail "$c --json exit $?"
	python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); assert o["ok"] is True, o' "$T/$c.json" || fail "$c --json: $(cat "$T/$c.json")"
done
python3 - "$T/connections.json" <<'PY' || fail "connections json content"
import json, sys
o = json.load(open(sys.argv[1]))
c = [x for x in o["connections"] if x["route"] == "helper plain"]
assert len(c) == 1 and c[0]["dst"] == "198.51.100.2:7000" and c[0]["bytes_up"] == 5, o
assert o["listeners"][0]["bound"] == "0.0.0.0:9100", o
PY

log "errors: usage 2, unreachable 1"
rc=0; $CTL frobnicate >/dev/null 2>&1 || rc=$?
[ $rc = 2 ] || fail "unknown command exit $rc"
rc=0; "$BIN/sockoutctl" -s "$T/nonexistent.sock" status 2>"$T/e.txt" || rc=$?
[ $rc = 1 ] || fail "no socket exit $rc"
grep -q "No such file or directory" "$T/e.txt" || fail "no socket message: $(cat "$T/e.txt")"

log "other users are refused"
rc=0; setpriv --reuid=65534 --regid=65534 --clear-groups $CTL status >/dev/null 2>"$T/e2.txt" || rc=$?
[ $rc = 1 ] && grep -q "Permission denied" "$T/e2.txt" || fail "nobody got through a 0600 socket (exit $rc: $(cat "$T/e2.txt"))"
chmod 0666 "$T/run/control.sock"
rc=0; setpriv --reuid=65534 --regid=65534 --clear-groups $CTL status >/dev/null 2>"$T/e3.txt" || rc=$?
[ $rc = 1 ] || fail "nobody got a reply (exit $rc)"
wait_for 5 grep -q "control socket: refusing uid 65534" "$T/sockoutd.log" || fail "SO_PEERCRED check not logged"

kill $HP $LP 2>/dev/null
sockoutd_stop_clean
pass
