#!/bin/bash
# timeout: 120
# 78-resolve-slow: one slow name never stalls another.  The test nameserver
# forwards *.slow.example to a server that never answers; while a guest
# waits on such a name, another guest resolves a name and fetches a page
# by it at once, and the slow one ends in a temporary failure (EAI_AGAIN),
# not a hang.  Then latency: getaddrinfo() of fresh names in the guest
# through `resolve any direct' against the host resolver asking the same
# nameserver from sockoutd's namespace (same run; printed, not judged).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/sockoutd-lib.sh"
need curl python3 dnsmasq

topo_basic
GUEST_SOCK=$T/guest.sock
mkdir -p "/etc/netns/$NS_H" "/etc/netns/$NS_G"
at_exit "rm -rf /etc/netns/$NS_H /etc/netns/$NS_G"
echo "nameserver 198.51.100.2" >"/etc/netns/$NS_H/resolv.conf"
echo "nameserver 192.0.2.53" >"/etc/netns/$NS_G/resolv.conf"

# a "nameserver" that reads queries and never answers
bgns "$NS_S" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 5353))
while True:
    s.recv(4096)
'
bgns "$NS_S" dnsmasq --no-daemon --no-resolv --no-hosts --user=root --group=root \
	--listen-address=198.51.100.2 --bind-interfaces --port=53 --local=/test.example/ \
	--server=/slow.example/127.0.0.1#5353 --host-record=www.test.example,198.51.100.2 \
	--address=/bench.example/198.51.100.2 --log-queries --log-facility="$T/dnsmasq.log" --pid-file=
wait_for 10 sh -c "ip netns exec $NS_S ss -Hlun 'sport = :53' | grep -q ." || fail "dnsmasq did not start"

cat >"$T/sockoutd.conf" <<CONF
guest-socket   $GUEST_SOCK
control-socket $T/control.sock
resolve any direct
connect any direct
CONF
start_sockoutd "$T/sockoutd.conf"
mkdir "$T/www"
echo "fast" >"$T/www/ok.txt"
bgns "$NS_S" python3 -m http.server -d "$T/www" -b 198.51.100.2 8000 >"$T/http.log" 2>&1
wait_tcp "$NS_S" 8000

log "guest A asks for a name whose nameserver never answers"
cat >"$T/slow.py" <<'PY'
import socket, time
t = time.monotonic()
try:
    socket.getaddrinfo("a.slow.example", 80)
except socket.gaierror as e:
    print(e.errno, round(time.monotonic() - t, 2))
else:
    print("resolved")
PY
guest python3 "$T/slow.py" >"$T/slow.out" 2>&1 &
slow=$!
wait_for 5 grep -q 'query\[A\] a.slow.example' "$T/dnsmasq.log" || fail "the slow query never reached the nameserver"

log "guest B meanwhile: a name and a page by it"
t0=$(date +%s%N)
out=$(guest curl -sS --max-time 20 http://www.test.example:8000/ok.txt) || fail "curl by name while a name is slow"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
log "guest B done in $ms ms"
[ "$out" = fast ] || fail "curl got '$out'"
kill -0 $slow 2>/dev/null || fail "the slow lookup ended early: $(cat "$T/slow.out")"
[ $ms -lt 1500 ] || fail "guest B took $ms ms behind a slow name"

log "guest A ends in a temporary failure"
wait $slow
read -r code secs <"$T/slow.out"
log "slow name: errno $code after $secs s"
[ "$code" = "$(python3 -c 'import socket; print(socket.EAI_AGAIN)')" ] || fail "slow name: $(cat "$T/slow.out")"

log "latency: fresh names, guest through sockoutd vs the host resolver"
lat=$(dirname "$0")/resolve-lat.py
host=$(ip netns exec "$NS_H" python3 "$lat" gai host "h%d.bench.example" 200) || fail "host resolver bench"
fresh=$(guest python3 "$lat" gai guest "g%d.bench.example" 200) || fail "guest bench"
cached=$(guest python3 "$lat" gai cached www.test.example 200) || fail "cached bench"
log "LATENCY host resolver (sockoutd's namespace, same nameserver): $host"
log "LATENCY guest, resolve any direct, fresh names: $fresh"
log "LATENCY guest, resolve any direct, cached name: $cached"
log "load: $(cat /proc/loadavg)"
sockoutd_stop_clean
pass
