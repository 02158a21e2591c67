#!/bin/bash
# timeout: 120
# 75-resolve-direct: names for a guest with nothing but lo.  A test
# nameserver (dnsmasq) is reachable only from sockoutd's namespace (its
# /etc/netns resolv.conf); the guest's own resolv.conf names an address
# nobody answers.  Through `resolve any direct' curl fetches by name (the
# README's first example), a CNAME shows as the canonical name, answers are
# cached (the nameserver is asked once), `deny' and unknown names give
# NXDOMAIN, a static `address' rule answers without the nameserver, and
# without sockout-run the guest resolves nothing; with `limit pending 1' a
# name still resolves (its request is counted once); sockoutd -n checks
# resolve lines; a reload swaps them and drops cached answers.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/sockoutd-lib.sh"
need curl python3 dnsmasq openssl

topo_basic
GUEST_SOCK=$T/guest.sock
# sockoutd's namespace resolves through the test nameserver; the guest's
# names a documentation address that nothing answers (and no route goes to)
mkdir -p "/etc/netns/$NS_H" "/etc/netns/$NS_G"
at_exit "rm -rf /etc/netns/$NS_H /etc/netns/$NS_G"
echo "nameserver 198.51.100.2" >"/etc/netns/$NS_H/resolv.conf"
echo "nameserver 192.0.2.53" >"/etc/netns/$NS_G/resolv.conf"

bgns "$NS_S" dnsmasq --no-daemon --no-resolv --no-hosts --user=root --group=root \
	--listen-address=198.51.100.2 --bind-interfaces --port=53 --local=/example/ \
	--host-record=www.test.example,198.51.100.2 --cname=alias.test.example,www.test.example \
	--host-record=example.org,198.51.100.2 \
	--local-ttl=300 --log-queries --log-facility="$T/dnsmasq.log" --pid-file=
wait_for 10 sh -c "ip netns exec $NS_S ss -Hlun 'sport = :53' | grep -q ." || fail "dnsmasq did not start"

cat >"$T/sockoutd.conf" <<CONF
guest-socket   $GUEST_SOCK
control-socket $T/control.sock
# one request in flight per uid: a RESOLVE must not count twice
limit pending 1
resolve *.ads.example deny
resolve printer.lan   address 198.51.100.2
resolve any           direct
connect any           direct
CONF
start_sockoutd "$T/sockoutd.conf"

mkdir "$T/www"
echo "hello by name" >"$T/www/ok.txt"
bgns "$NS_S" python3 -m http.server -d "$T/www" -b 198.51.100.2 8000 >"$T/http.log" 2>&1
wait_tcp "$NS_S" 8000

log "the README's first example, verbatim: sockout-run -- curl https://example.org/"
# example.org is the test nameserver's, served by a local HTTPS server
# whose self-signed certificate curl is told to trust (CURL_CA_BUNDLE)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
	-subj /CN=example.org -addext subjectAltName=DNS:example.org \
	-keyout "$T/key.pem" -out "$T/cert.pem" >/dev/null 2>&1 || fail "openssl"
mkdir "$T/tls"
echo "example.org through sockout" >"$T/tls/index.html"
bgns "$NS_S" python3 -c '
import http.server, ssl, sys, functools
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[3])
s = http.server.HTTPServer(("198.51.100.2", 443), h)
s.socket = ctx.wrap_socket(s.socket, server_side=True)
s.serve_forever()
' "$T/cert.pem" "$T/key.pem" "$T/tls" >"$T/https.log" 2>&1
wait_tcp "$NS_S" 443
out=$(ip netns exec "$NS_G" env CURL_CA_BUNDLE="$T/cert.pem" SOCKOUT_SOCKET="$GUEST_SOCK" \
	"$BIN/sockout-run" -- curl https://example.org/ 2>"$T/readme.log") ||
	fail "sockout-run -- curl https://example.org/: $(cat "$T/readme.log")"
[ "$out" = "example.org through sockout" ] || fail "README example got '$out'"

log "curl by name through resolve any direct"
out=$(guest curl -sS --max-time 20 http://www.test.example:8000/ok.txt 2>"$T/curl.log") ||
	fail "curl by name failed: $(cat "$T/curl.log")"
[ "$out" = "hello by name" ] || fail "curl got '$out'"

log "again, and through an alias: the answer comes from sockoutd's cache"
q0=$(grep -c 'query\[A\] www.test.example' "$T/dnsmasq.log")
guest curl -sS --max-time 20 -o /dev/null http://www.test.example:8000/ok.txt || fail "second curl"
q1=$(grep -c 'query\[A\] www.test.example' "$T/dnsmasq.log")
[ "$q0" -ge 1 ] && [ "$q1" = "$q0" ] || fail "nameserver asked $q0 then $q1 times for www.test.example"
guest python3 -c '
import socket, sys
name, aliases, addrs = socket.gethostbyname_ex("alias.test.example")
print(name, aliases, addrs)
assert name == "www.test.example" and aliases == ["alias.test.example"], (name, aliases)
assert addrs == ["198.51.100.2"], addrs
ai = socket.getaddrinfo("alias.test.example", "http", socket.AF_INET, socket.SOCK_STREAM, 0, socket.AI_CANONNAME)
assert ai[0][3] == "www.test.example" and ai[0][4] == ("198.51.100.2", 80), ai
' >"$T/py.log" 2>&1 || fail "gethostbyname_ex/getaddrinfo: $(cat "$T/py.log")"

log "deny and unknown names: NXDOMAIN (curl: could not resolve host)"
rc=0; guest curl -sS --max-time 20 http://x.ads.example:8000/ 2>"$T/deny.log" || rc=$?
[ $rc = 6 ] || fail "denied name: curl exit $rc, expected 6: $(cat "$T/deny.log")"
rc=0; guest curl -sS --max-time 20 http://nosuch.test.example:8000/ 2>"$T/nx.log" || rc=$?
[ $rc = 6 ] || fail "unknown name: curl exit $rc, expected 6"
guest python3 -c '
import socket
for n, want in (("nosuch.test.example", socket.EAI_NONAME), ("x.ads.example", socket.EAI_NONAME)):
    try:
        socket.getaddrinfo(n, 80)
    except socket.gaierror as e:
        assert e.errno == want, (n, e)
    else:
        raise SystemExit(n + " resolved")
' >"$T/pynx.log" 2>&1 || fail "NXDOMAIN codes: $(cat "$T/pynx.log")"
grep -q 'ads.example' "$T/dnsmasq.log" && fail "a denied name reached the nameserver"

log "a static address rule, no nameserver asked"
out=$(guest curl -sS --max-time 20 http://printer.lan:8000/ok.txt) || fail "static address"
[ "$out" = "hello by name" ] || fail "static: got '$out'"
grep -q 'printer.lan' "$T/dnsmasq.log" && fail "a static name reached the nameserver"

log "without sockout-run the guest resolves nothing"
rc=0; ip netns exec "$NS_G" curl -sS --max-time 10 http://www.test.example:8000/ok.txt \
	>/dev/null 2>&1 || rc=$?
[ $rc = 6 ] || fail "guest resolved or connected natively (curl exit $rc)"
# every query the nameserver saw came from sockoutd's namespace
grep 'query\[' "$T/dnsmasq.log" | grep -v 'from 198.51.100.1$' && fail "a query came from elsewhere"

log "sockoutd -n: resolve rules are checked with file:line errors"
cat >"$T/bad.conf" <<CONF
resolve foo..example direct
resolve *.x.example address 198.51.100.2 not-an-address
resolve any helper nosuch
placeholder-range 127.0.0.0/8
CONF
rc=0; "$BIN/sockoutd" -n -c "$T/bad.conf" >"$T/bad.out" 2>&1 || rc=$?
cat "$T/bad.out"
[ $rc != 0 ] || fail "sockoutd -n accepted a broken file"
for l in 1 2 3 4; do grep -q "^$T/bad.conf:$l: " "$T/bad.out" || fail "no error for line $l"; done

log "sockoutctl status counts resolve rules"
"$BIN/sockoutctl" -s "$T/control.sock" status >"$T/status.out" || fail "status"
cat "$T/status.out"
grep -Eq '^ *[0-9]+ +[1-9][0-9]* +resolve any +direct' "$T/status.out" || fail "no hits on resolve any direct"
grep -Eq '^ *[0-9]+ +[1-9][0-9]* +resolve \*\.ads\.example +deny' "$T/status.out" || fail "no hits on the deny rule"
grep -q '^names: ' "$T/status.out" || fail "no names line"

log "reload swaps the resolve rules: www.test.example denied now"
sed -i 's/^resolve \*\.ads\.example deny/resolve www.test.example deny/' "$T/sockoutd.conf"
"$BIN/sockoutctl" -s "$T/control.sock" reload >/dev/null || fail "reload"
rc=0; guest curl -sS --max-time 20 -o /dev/null http://www.test.example:8000/ok.txt 2>/dev/null || rc=$?
[ $rc = 6 ] || fail "after reload: curl exit $rc, expected 6 (the cached answer must not outlive the rule)"
sockoutd_stop_clean
pass
