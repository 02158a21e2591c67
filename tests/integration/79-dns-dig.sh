#!/bin/bash
# timeout: 120
# 79-dns-dig: programs that speak DNS themselves, dig and host, ask the
# nameserver of the guest's resolv.conf (127.0.0.53, on the guest's lo):
# sockout-run's stub forwards each query to sockoutd, which answers by the
# `resolve' rules — A, AAAA, a CNAME chain and NODATA from the test
# nameserver (dnsmasq, reachable only from sockoutd's namespace) through
# `direct', NXDOMAIN for `deny', a static `address' rule, a placeholder for
# a helper-routed name and its PTR, REFUSED for other types, dig +tcp, TC
# for a UDP answer over 512 bytes.  The stub lives while a sockout-run of
# the namespace does, and only then.  A nameserver off loopback is put on
# the guest's lo while the stub runs (root may); an unprivileged guest is
# told why it gets no stub.
. "$(dirname "$0")/../lib.sh"
need dig host dnsmasq python3

topo_basic
GUEST_SOCK=$T/guest.sock
mkdir -p "/etc/netns/$NS_H" "/etc/netns/$NS_G"
at_exit "rm -rf /etc/netns/$NS_H /etc/netns/$NS_G"
echo "nameserver 198.51.100.2" >"/etc/netns/$NS_H/resolv.conf"
echo "nameserver 127.0.0.53" >"/etc/netns/$NS_G/resolv.conf"

# a long name, a CNAME to another long one (no common suffix to
# compress) and its address: the answer passes 512 bytes (539)
L1=$(printf 'l%.0s' $(seq 60)) M1=$(printf 'm%.0s' $(seq 60))
QLONG="$L1.$L1.$L1.$L1.e" LONG="$M1.$M1.$M1.$M1.ex"
bgns "$NS_S" dnsmasq --no-daemon --no-resolv --no-hosts --user=root --group=root \
	--listen-address=198.51.100.2 --bind-interfaces --port=53 --local=/example/ \
	--host-record=www.test.example,198.51.100.2,2001:db8::2 \
	--host-record=v4only.test.example,198.51.100.3 \
	--cname=alias.test.example,mid.test.example --cname=mid.test.example,www.test.example \
	--host-record="$LONG,198.51.100.4" --cname="$QLONG,$LONG" \
	--local-ttl=300 --log-queries --log-facility="$T/dnsmasq.log" --pid-file=
wait_for 10 sh -c "ip netns exec $NS_S ss -Hlun 'sport = :53' | grep -q ." || fail "dnsmasq did not start"

cat >"$T/sockoutd.conf" <<CONF
guest-socket   $GUEST_SOCK
control-socket $T/control.sock
helper office data $T/office.data event $T/office.event
resolve *.ads.example  deny
resolve printer.lan    address 192.0.2.7 2001:db8::7
resolve *.corp.example helper office
resolve any            direct
connect any            direct
CONF
start_sockoutd "$T/sockoutd.conf"

# gdig ARGS... - dig in the guest through sockout-run; never retries
gdig() { guest dig +time=5 +tries=1 "$@"; }
# status FILE - the RCODE of a dig answer
status() { sed -n 's/.*status: \([A-Z]*\),.*/\1/p' "$1"; }

log "A and AAAA through direct"
[ "$(gdig +short www.test.example A)" = 198.51.100.2 ] || fail "A: $(gdig www.test.example A)"
[ "$(gdig +short www.test.example AAAA)" = 2001:db8::2 ] || fail "AAAA: $(gdig www.test.example AAAA)"

log "a CNAME chain: the alias, then the canonical name's address"
gdig alias.test.example A >"$T/alias.out" || fail "dig alias: $(cat "$T/alias.out")"
cat "$T/alias.out"
[ "$(status "$T/alias.out")" = NOERROR ] || fail "alias: status $(status "$T/alias.out")"
grep -Eq '^alias\.test\.example\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+CNAME[[:space:]]+www\.test\.example\.$' \
	"$T/alias.out" || fail "no CNAME alias -> www"
grep -Eq '^www\.test\.example\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+A[[:space:]]+198\.51\.100\.2$' \
	"$T/alias.out" || fail "no A record for the canonical name"
grep -q 'flags: qr rd ra;' "$T/alias.out" || fail "flags: $(grep flags: "$T/alias.out")"
grep -Eq '^;alias\.test\.example\.[[:space:]]+IN[[:space:]]+A$' "$T/alias.out" || fail "question not echoed"

log "NODATA: the name has no IPv6 address"
gdig v4only.test.example AAAA >"$T/nodata.out" || fail "dig nodata"
[ "$(status "$T/nodata.out")" = NOERROR ] || fail "nodata: status $(status "$T/nodata.out")"
grep -q 'ANSWER: 0,' "$T/nodata.out" || fail "nodata: answers given"

log "deny: NXDOMAIN, and the nameserver never hears of it"
gdig x.ads.example A >"$T/deny.out" || fail "dig deny"
[ "$(status "$T/deny.out")" = NXDOMAIN ] || fail "deny: status $(status "$T/deny.out")"
grep -q 'ads.example' "$T/dnsmasq.log" && fail "a denied name reached the nameserver"

log "a static address rule, both families, and host(1)"
[ "$(gdig +short printer.lan A)" = 192.0.2.7 ] || fail "static A: $(gdig printer.lan A)"
[ "$(gdig +short printer.lan AAAA)" = 2001:db8::7 ] || fail "static AAAA"
# host(1) asks A, AAAA and MX: the MX is REFUSED, so its exit status is 1
guest host printer.lan >"$T/host.out" 2>&1
grep -q 'printer.lan has address 192.0.2.7' "$T/host.out" || fail "host: $(cat "$T/host.out")"
grep -q 'printer.lan has IPv6 address 2001:db8::7' "$T/host.out" || fail "host: $(cat "$T/host.out")"
grep -q 'printer.lan.*REFUSED' "$T/host.out" || fail "host: MX not refused: $(cat "$T/host.out")"
guest host -t A alias.test.example >"$T/host2.out" 2>&1 || fail "host alias: $(cat "$T/host2.out")"
grep -q 'alias.test.example is an alias for www.test.example' "$T/host2.out" ||
	fail "host alias: $(cat "$T/host2.out")"
rc=0; guest host nosuch.ads.example >"$T/host3.out" 2>&1 || rc=$?
[ $rc = 1 ] && grep -q 'NXDOMAIN' "$T/host3.out" || fail "host deny: exit $rc: $(cat "$T/host3.out")"

log "a helper-routed name: a placeholder, and its PTR gives the name back"
ph=$(gdig +short intra.corp.example A)
case "$ph" in 100.64.*) ;; *) fail "intra.corp.example: '$ph', not a placeholder" ;; esac
[ "$(gdig +short -x "$ph")" = intra.corp.example. ] || fail "PTR $ph: $(gdig -x "$ph")"
gdig -x 198.51.100.2 >"$T/ptr.out"
[ "$(status "$T/ptr.out")" = REFUSED ] || fail "PTR of a real address: status $(status "$T/ptr.out")"

log "other types: REFUSED"
gdig www.test.example MX >"$T/mx.out"
[ "$(status "$T/mx.out")" = REFUSED ] || fail "MX: status $(status "$T/mx.out")"

log "dig +tcp"
gdig +tcp alias.test.example AAAA >"$T/tcp.out" || fail "dig +tcp: $(cat "$T/tcp.out")"
grep -q 'ANSWER: 2,' "$T/tcp.out" && grep -q '2001:db8::2' "$T/tcp.out" ||
	fail "dig +tcp: $(cat "$T/tcp.out")"
grep -q '(TCP)' "$T/tcp.out" || fail "dig did not use TCP"

log "a TCP frame longer than a query may be: that client is closed, the stub serves on"
guest python3 -c '
import socket
s = socket.create_connection(("127.0.0.53", 53), timeout=10)
try:
    s.sendall(b"\xff\xff" + b"\0" * 65535)
    r = s.recv(100)
except ConnectionResetError:
    r = b""
assert r == b"", r
s = socket.create_connection(("127.0.0.53", 53), timeout=10)
' >"$T/big.out" 2>&1 || fail "oversized TCP frame: $(cat "$T/big.out")"
[ "$(gdig +short +tcp printer.lan A)" = 192.0.2.7 ] || fail "the stub is gone after an oversized frame"

log "an answer over 512 bytes: TC over UDP, whole over TCP"
gdig +noedns +ignore "$QLONG" A >"$T/tc.out"
grep -q 'flags: qr tc rd ra;' "$T/tc.out" || fail "no TC: $(grep flags "$T/tc.out")"
gdig +noedns "$QLONG" A >"$T/tc2.out"
grep -q 'Truncated, retrying in TCP mode' "$T/tc2.out" || fail "dig did not retry over TCP"
grep -q '198.51.100.4' "$T/tc2.out" || fail "no answer over TCP: $(cat "$T/tc2.out")"

log "the stub lives while a sockout-run of the namespace does: one stub for two, the second keeps it"
ip netns exec "$NS_G" "$BIN/sockout-run" -s "$GUEST_SOCK" -- sleep 2 &
A=$!
wait_for 5 sh -c "ip netns exec $NS_G ss -Hlun 'sport = :53' | grep -q 127.0.0.53" ||
	fail "no stub while a guest runs"
stub=$(ip netns exec "$NS_G" ss -Hlunp 'sport = :53' | grep -o 'pid=[0-9]*')
ip netns exec "$NS_G" "$BIN/sockout-run" -s "$GUEST_SOCK" -- sleep 5 &
B=$!
sleep 0.5
[ "$(ip netns exec "$NS_G" ss -Hlunp 'sport = :53' | grep -o 'pid=[0-9]*')" = "$stub" ] ||
	fail "a second stub, or none"
wait $A
# the first guest is gone; plain dig, without sockout-run, is still served
[ "$(ip netns exec "$NS_G" dig +time=5 +tries=1 +short printer.lan)" = 192.0.2.7 ] ||
	fail "the stub went with the first of two guests"
wait $B
wait_for 10 sh -c "! ip netns exec $NS_G ss -Hlun 'sport = :53' | grep -q ." ||
	fail "the stub outlived its guests"

log "a nameserver off loopback: put on the guest's lo while the stub runs"
echo "nameserver 192.0.2.53" >"/etc/netns/$NS_G/resolv.conf"
guest sh -c 'ip -br addr show dev lo; dig +time=5 +tries=1 +short printer.lan' >"$T/off.out" 2>&1 ||
	fail "off loopback: $(cat "$T/off.out")"
grep -q ' 192.0.2.53/32 ' "$T/off.out" || fail "192.0.2.53 not on lo: $(cat "$T/off.out")"
grep -qx 192.0.2.7 "$T/off.out" || fail "off loopback: $(cat "$T/off.out")"
wait_for 10 sh -c "! ip -n $NS_G addr show dev lo | grep -q 192.0.2.53" ||
	fail "192.0.2.53 left on lo after the stub"
log "... which an unprivileged guest may not do: said under --seccomp"
ip netns exec "$NS_G" setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$BIN/sockout-run" -s "$GUEST_SOCK" --seccomp -- /bin/true 2>"$T/unpriv.err" ||
	fail "unprivileged sockout-run failed: $(cat "$T/unpriv.err")"
grep -q "warning: no DNS stub for the nameserver 192.0.2.53: .*Operation not permitted" "$T/unpriv.err" ||
	fail "no warning: $(cat "$T/unpriv.err")"
ip -n "$NS_G" addr show dev lo | grep -q 192.0.2.53 && fail "an unprivileged guest put 192.0.2.53 on lo"
grep -q 'no answer for' "$T/sockoutd.log" && fail "a query timed out in sockoutd"
pass
