#!/bin/bash
# timeout: 300
# 79-dns-static: programs no getaddrinfo hook reaches resolve names through
# the guest's DNS stub: busybox-static nslookup and wget under
# `sockout-run --seccomp', and a Go client (CGO_ENABLED=0: Go's own
# resolver reads resolv.conf and sends DNS itself) that fetches a file by
# name through `direct'.  Names come from a test nameserver reachable only
# from sockoutd's namespace; a `deny' rule gives NXDOMAIN to both.  With a
# nameserver off loopback (put on lo by the stub) the seccomp supervisor
# lets datagrams reach that address and port, and no other.
. "$(dirname "$0")/../lib.sh"
need busybox go dnsmasq python3

BB=$(command -v busybox)
file -L "$BB" 2>/dev/null | grep -q "statically linked" || skip "busybox is not static (install busybox-static)"

topo_basic
GUEST_SOCK=$T/guest.sock
mkdir -p "/etc/netns/$NS_H" "/etc/netns/$NS_G"
at_exit "rm -rf /etc/netns/$NS_H /etc/netns/$NS_G"
echo "nameserver 198.51.100.2" >"/etc/netns/$NS_H/resolv.conf"
# the guest's /etc/hosts must not answer for the test names
printf 'nameserver 127.0.0.53\noptions timeout:5 attempts:1\n' >"/etc/netns/$NS_G/resolv.conf"
printf '127.0.0.1 localhost\n' >"/etc/netns/$NS_G/hosts"

bgns "$NS_S" dnsmasq --no-daemon --no-resolv --no-hosts --user=root --group=root \
	--listen-address=198.51.100.2 --bind-interfaces --port=53 --local=/example/ \
	--host-record=www.test.example,198.51.100.2 --cname=alias.test.example,www.test.example \
	--local-ttl=300 --log-queries --log-facility="$T/dnsmasq.log" --pid-file=
wait_for 10 sh -c "ip netns exec $NS_S ss -Hlun 'sport = :53' | grep -q ." || fail "dnsmasq did not start"

cat >"$T/sockoutd.conf" <<CONF
guest-socket   $GUEST_SOCK
control-socket $T/control.sock
resolve *.ads.example deny
resolve any           direct
connect any           direct
CONF
start_sockoutd "$T/sockoutd.conf"

mkdir "$T/www"
mkdata "$T/www/data.bin" 1
WANT=$(sha "$T/www/data.bin")
bgns "$NS_S" python3 -m http.server -d "$T/www" -b 198.51.100.2 8000 >"$T/http.log" 2>&1
wait_tcp "$NS_S" 8000

gseccomp() { ip netns exec "$NS_G" "$BIN/sockout-run" -s "$GUEST_SOCK" --seccomp -- "$@"; }

log "busybox nslookup under --seccomp: a CNAME, and NXDOMAIN for deny"
gseccomp busybox nslookup -type=a alias.test.example >"$T/ns.out" 2>&1 ||
	fail "nslookup: $(cat "$T/ns.out")"
cat "$T/ns.out"
grep -q 'canonical name = www.test.example' "$T/ns.out" || fail "nslookup: no CNAME"
grep -q 'Address: 198.51.100.2' "$T/ns.out" || fail "nslookup: no address"
rc=0; gseccomp busybox nslookup -type=a x.ads.example >"$T/nsx.out" 2>&1 || rc=$?
[ $rc != 0 ] && grep -q NXDOMAIN "$T/nsx.out" || fail "nslookup deny: exit $rc: $(cat "$T/nsx.out")"

log "busybox wget by name under --seccomp, through direct"
gseccomp busybox wget -q -O "$T/bb.bin" http://www.test.example:8000/data.bin 2>"$T/bb.log" ||
	fail "busybox wget: $(cat "$T/bb.log")"
[ "$(sha "$T/bb.bin")" = "$WANT" ] || fail "busybox wget: sha256 differs"

log "building a Go client (pure Go resolver)"
mkdir -p "$T/gosrc"
cat >"$T/gosrc/main.go" <<'GO'
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
)

func main() {
	// the resolver Go uses when it is not linked with libc: its own DNS
	r := &net.Resolver{PreferGo: true}
	switch os.Args[1] {
	case "lookup": // lookup NAME: prints the canonical name and addresses
		cname, err := r.LookupCNAME(context.Background(), os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		addrs, err := r.LookupHost(context.Background(), os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(cname, addrs)
	case "get": // get URL FILE
		resp, err := http.Get(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		f, _ := os.Create(os.Args[3])
		if _, err := io.Copy(f, resp.Body); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		f.Close()
	}
}
GO
go_build

log "Go resolves a CNAME and fetches by name through direct"
ip netns exec "$NS_G" "$BIN/sockout-run" -s "$GUEST_SOCK" -- "$T/gotest" lookup alias.test.example \
	>"$T/go.out" 2>&1 || fail "Go lookup: $(cat "$T/go.out")"
[ "$(cat "$T/go.out")" = "www.test.example. [198.51.100.2]" ] || fail "Go lookup: $(cat "$T/go.out")"
ip netns exec "$NS_G" "$BIN/sockout-run" -s "$GUEST_SOCK" -- "$T/gotest" get \
	http://alias.test.example:8000/data.bin "$T/go.bin" >"$T/goget.out" 2>&1 ||
	fail "Go get: $(cat "$T/goget.out")"
[ "$(sha "$T/go.bin")" = "$WANT" ] || fail "Go get: sha256 differs"
rc=0; ip netns exec "$NS_G" "$BIN/sockout-run" -s "$GUEST_SOCK" -- "$T/gotest" lookup x.ads.example \
	>"$T/gonx.out" 2>&1 || rc=$?
[ $rc = 1 ] && grep -q 'no such host' "$T/gonx.out" || fail "Go deny: exit $rc: $(cat "$T/gonx.out")"

log "a nameserver off loopback (on lo while the stub runs): reached under --seccomp, nothing else is"
printf 'nameserver 192.0.2.53\noptions timeout:5 attempts:1\n' >"/etc/netns/$NS_G/resolv.conf"
gseccomp busybox nslookup -type=a www.test.example >"$T/ns2.out" 2>&1 ||
	fail "nslookup via 192.0.2.53: $(cat "$T/ns2.out")"
grep -q 'Address: 198.51.100.2' "$T/ns2.out" || fail "nslookup via 192.0.2.53: $(cat "$T/ns2.out")"
rc=0; gseccomp busybox nslookup -type=a www.test.example 192.0.2.54 >"$T/ns3.out" 2>&1 || rc=$?
[ $rc != 0 ] && grep -q 'Network is unreachable' "$T/ns3.out" ||
	fail "a datagram to 192.0.2.54: exit $rc: $(cat "$T/ns3.out")"
ip netns exec "$NS_G" "$BIN/sockout-run" -s "$GUEST_SOCK" -- "$T/gotest" lookup alias.test.example \
	>"$T/go2.out" 2>&1 || fail "Go lookup via 192.0.2.53: $(cat "$T/go2.out")"
[ "$(cat "$T/go2.out")" = "www.test.example. [198.51.100.2]" ] || fail "Go lookup: $(cat "$T/go2.out")"
grep -q 'ads.example' "$T/dnsmasq.log" && fail "a denied name reached the nameserver"
pass
