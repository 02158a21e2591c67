#!/bin/bash
# timeout: 120
# 76-resolve-ssh: a name known only on the SSH gateway's side (its own
# /etc/hosts) is resolved there.  `resolve *.corp.example helper office'
# gives the guest a placeholder address; curl's connect to it goes to
# sockout-ssh with the name, which opens direct-tcpip to name:port, and
# sshd resolves the name.  getnameinfo() turns the placeholder back into
# the name; an unknown placeholder is unreachable; names outside the rule
# are NXDOMAIN; sockoutd's namespace never resolves the name itself.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/sockoutd-lib.sh"
. "$(dirname "$0")/../lib-ssh.sh"
need curl python3

topo_basic
GUEST_SOCK=$T/guest.sock
# the gateway knows intra.corp.example; nobody else has a nameserver
mkdir -p "/etc/netns/$NS_S" "/etc/netns/$NS_H" "/etc/netns/$NS_G"
at_exit "rm -rf /etc/netns/$NS_S /etc/netns/$NS_H /etc/netns/$NS_G"
printf '127.0.0.1 localhost\n127.0.0.1 intra.corp.example\n' >"/etc/netns/$NS_S/hosts"
for ns in "$NS_S" "$NS_H" "$NS_G"; do echo "nameserver 192.0.2.53" >"/etc/netns/$ns/resolv.conf"; done

ssh_keys
ssh_sshd gw "$NS_S" 198.51.100.2 2222
ssh_helper_conf "$T/office.conf" 198.51.100.2 2222 office
ssh_helper "$NS_H" "$T/office.conf" office
ssh_wait_up office

# a web server on the gateway's loopback: reachable only through sshd
mkdir "$T/www"
echo "hello from the corp side" >"$T/www/ok.txt"
bgns "$NS_S" python3 -m http.server -d "$T/www" -b 127.0.0.1 8080 >"$T/http.log" 2>&1
wait_tcp "$NS_S" 8080

cat >"$T/sockoutd.conf" <<CONF
guest-socket   $GUEST_SOCK
control-socket $T/control.sock
helper office data $T/office.data event $T/office.event
resolve *.corp.example helper office
resolve any            deny
# by address, for the latency comparison: the same server through the
# same helper, no name involved
connect 203.0.113.80 port 8080 helper office to 127.0.0.1:8080
connect any            deny
CONF
start_sockoutd "$T/sockoutd.conf"
wait_for 10 sh -c "'$BIN/sockoutctl' -s '$T/control.sock' helpers | grep -q 'office.*up'" ||
	fail "helper office not up"

log "curl by a name only the gateway knows"
ip=$(guest curl -sS --max-time 20 -o "$T/got.txt" -w '%{remote_ip}' \
	http://intra.corp.example:8080/ok.txt 2>"$T/curl.log") || fail "curl failed: $(cat "$T/curl.log")"
log "curl connected to $ip: $(cat "$T/got.txt")"
[ "$(cat "$T/got.txt")" = "hello from the corp side" ] || fail "curl got '$(cat "$T/got.txt")'"
case "$ip" in 100.64.*) ;; *) fail "curl connected to $ip, not a placeholder" ;; esac
grep -q 'target intra.corp.example port 8080' "$T/sshd-gw.log" ||
	fail "sshd was not asked for intra.corp.example:8080"

log "placeholders: stable per name, getnameinfo gives the name back"
guest python3 - >"$T/py.log" 2>&1 <<'PY' || fail "placeholder checks: $(cat "$T/py.log")"
import socket
a = socket.getaddrinfo("intra.corp.example", 8080, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
b = socket.getaddrinfo("INTRA.corp.example.", 8080, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
c = socket.getaddrinfo("other.corp.example", 8080, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
assert a == b and a != c and a.startswith("100.64."), (a, b, c)
six = socket.getaddrinfo("intra.corp.example", 8080, socket.AF_INET6, socket.SOCK_STREAM)[0][4][0]
assert six.startswith("fd73:6f63:6b6f:7574:"), six
host, port = socket.getnameinfo((a, 8080), socket.NI_NUMERICSERV)
assert host == "intra.corp.example" and port == "8080", (host, port)
assert socket.getnameinfo((six, 8080, 0, 0), 0)[0] == "intra.corp.example"
assert socket.gethostbyaddr  # (not routed: gethostbyaddr is libc's)
# an address that is not a placeholder: the number, never a PTR query
assert socket.getnameinfo(("198.51.100.7", 80), 0)[0] == "198.51.100.7"
# the placeholder over IPv6 reaches the same server
s = socket.create_connection((six, 8080), timeout=10)
s.sendall(b"GET /ok.txt HTTP/1.0\r\n\r\n")
data = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    data += d
assert b"hello from the corp side" in data, data
# a placeholder never handed out: unreachable, not routed anywhere
try:
    socket.create_connection(("100.64.200.200", 8080), timeout=10)
except OSError as e:
    assert e.errno == 113, e  # EHOSTUNREACH
else:
    raise SystemExit("unknown placeholder connected")
# outside the rule: NXDOMAIN
try:
    socket.getaddrinfo("intra.other.example", 80)
except socket.gaierror as e:
    assert e.errno == socket.EAI_NONAME, e
else:
    raise SystemExit("name outside the rules resolved")
print("ok")
PY

log "latency through sockout-ssh: by name (placeholder) vs by address"
lat=$(dirname "$0")/resolve-lat.py
gw=$(ip netns exec "$NS_S" python3 "$lat" gai gateway-hosts intra.corp.example 200) || fail "gateway bench"
ph=$(guest python3 "$lat" gai placeholder intra.corp.example 200) || fail "placeholder bench"
byname=$(guest python3 "$lat" get by-name intra.corp.example 8080 50) || fail "by-name bench"
byaddr=$(guest python3 "$lat" get by-address 203.0.113.80 8080 50) || fail "by-address bench"
log "LATENCY getaddrinfo on the gateway itself (its /etc/hosts): $gw"
log "LATENCY guest getaddrinfo, resolve helper office (placeholder): $ph"
log "LATENCY guest name+connect+GET through sockout-ssh: $byname"
log "LATENCY guest address connect+GET through sockout-ssh: $byaddr"
log "load: $(cat /proc/loadavg)"

log "sockoutd's side never knew the name"
ip netns exec "$NS_H" getent hosts intra.corp.example && fail "sockoutd's namespace resolves the name"
"$BIN/sockoutctl" -s "$T/control.sock" status >"$T/status.out" || fail "status"
grep -Eq '^ *[0-9]+ +[1-9][0-9]* +resolve \*\.corp\.example +helper office' "$T/status.out" ||
	fail "no hits on the helper rule: $(cat "$T/status.out")"
sockoutd_stop_clean
pass
