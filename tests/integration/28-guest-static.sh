#!/bin/bash
# timeout: 300
# 28-guest-static: programs the LD_PRELOAD shim cannot carry, under
# sockout-run's seccomp supervisor (chosen automatically for them):
# busybox-static wget and nc (client, and `nc -l` served through an
# `accept` rule), a Go net/http client built here (static, CGO_ENABLED=0)
# fetching through `direct` and through sockout-plain, and a Go net/http
# server reached through an `accept` rule; sha256 end to end; a denied
# port is refused; `sockoutctl connections` says "seccomp".
. "$(dirname "$0")/../lib.sh"
need busybox go curl python3 nc

BB=$(command -v busybox)
file -L "$BB" 2>/dev/null | grep -q "statically linked" || skip "busybox is not static (install busybox-static)"

topo_basic
GUEST_SOCK=$T/guest.sock
mkdir -p "$T/run"
start_plain "$T/run/plain.data" "$T/run/plain.event"
cat >"$T/sockoutd.conf" <<CONF
guest-socket   $GUEST_SOCK
control-socket $T/control.sock
helper plain   data $T/run/plain.data event $T/run/plain.event
connect port 81   deny
connect port 8001 helper plain to 198.51.100.2:8000
connect any       direct
accept port 8090  direct 18090
accept port 8091  direct 18091
accept any        deny
CONF
start_sockoutd "$T/sockoutd.conf"
CTL="$BIN/sockoutctl -s $T/control.sock"
wait_for 10 sh -c "$CTL helpers | grep -q '^plain *up '" || fail "helper never came up"

mkdir "$T/www"
mkdata "$T/www/data.bin" 8
bgns "$NS_S" python3 -m http.server -d "$T/www" -b 198.51.100.2 8000 >"$T/http.log" 2>&1
wait_tcp "$NS_S" 8000
WANT=$(sha "$T/www/data.bin")

log "busybox wget (static: seccomp chosen without a flag), 8 MiB through direct"
guest busybox wget -q -O "$T/bb.bin" http://198.51.100.2:8000/data.bin 2>"$T/bb.log" ||
	fail "busybox wget: $(cat "$T/bb.log")"
[ "$(sha "$T/bb.bin")" = "$WANT" ] || fail "busybox wget: sha256 differs"

log "busybox wget to a denied port is refused"
rc=0
guest busybox wget -q -O /dev/null http://198.51.100.2:81/ >"$T/bbdeny.log" 2>&1 || rc=$?
[ $rc != 0 ] || fail "wget to the denied port succeeded"
grep -qi "refused" "$T/bbdeny.log" || fail "wget did not see ECONNREFUSED: $(cat "$T/bbdeny.log")"

log "busybox nc client sends 4 MiB to nc on the server machine"
mkdata "$T/up.bin" 4
bgns "$NS_S" sh -c "exec nc -l 198.51.100.2 7001 >$T/up.got"
wait_tcp "$NS_S" 7001
timeout 30 ip netns exec "$NS_G" "$BIN/sockout-run" -s "$GUEST_SOCK" -- \
	busybox nc 198.51.100.2 7001 <"$T/up.bin" || fail "busybox nc client"
wait_for 10 sh -c "[ \$(stat -c %s $T/up.got) = $((4 << 20)) ]" || fail "the server got $(stat -c %s "$T/up.got") bytes"
[ "$(sha "$T/up.got")" = "$(sha "$T/up.bin")" ] || fail "nc upload: sha256 differs"

log "busybox nc -l in the guest, reached on the host's port 18091"
bg sh -c "exec ip netns exec $NS_G $BIN/sockout-run -s $GUEST_SOCK -- busybox nc -l -p 8091 >$T/down.got"
wait_tcp "$NS_H" 18091
timeout 30 ip netns exec "$NS_S" nc -N 198.51.100.1 18091 <"$T/up.bin" || fail "nc to the guest's server"
wait_for 10 sh -c "[ \$(stat -c %s $T/down.got) = $((4 << 20)) ]" || fail "the guest server got $(stat -c %s "$T/down.got") bytes"
[ "$(sha "$T/down.got")" = "$(sha "$T/up.bin")" ] || fail "nc -l: sha256 differs"

log "building a Go net/http client and server"
mkdir -p "$T/gosrc"
cat >"$T/gosrc/main.go" <<'GO'
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
)

func main() {
	switch os.Args[1] {
	case "get": // get URL FILE: prints local and remote address
		var conn net.Conn
		tr := &http.Transport{DialContext: nil}
		tr.Dial = func(n, a string) (net.Conn, error) {
			c, err := net.Dial(n, a)
			conn = c
			return c, err
		}
		resp, err := (&http.Client{Transport: tr}).Get(os.Args[2])
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
		fmt.Println(conn.LocalAddr(), conn.RemoteAddr())
	case "serve": // serve ADDR DIR: prints the listener's address
		l, err := net.Listen("tcp", os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("listening", l.Addr())
		http.Serve(l, http.FileServer(http.Dir(os.Args[3])))
	}
}
GO
go_build

log "Go client, 8 MiB through direct"
guest "$T/gotest" get http://198.51.100.2:8000/data.bin "$T/go1.bin" >"$T/go1.out" 2>&1 ||
	fail "Go client: $(cat "$T/go1.out")"
[ "$(sha "$T/go1.bin")" = "$WANT" ] || fail "Go client: sha256 differs"
log "Go saw $(cat "$T/go1.out")"
grep -q "^198.51.100.1:[0-9]* 198.51.100.2:8000$" "$T/go1.out" || fail "Go's addresses: $(cat "$T/go1.out")"

log "Go client, 8 MiB through sockout-plain"
guest "$T/gotest" get http://198.51.100.2:8001/data.bin "$T/go2.bin" >"$T/go2.out" 2>&1 ||
	fail "Go client through the helper: $(cat "$T/go2.out")"
[ "$(sha "$T/go2.bin")" = "$WANT" ] || fail "Go client through the helper: sha256 differs"

log "Go client to a denied port is refused"
rc=0
guest "$T/gotest" get http://198.51.100.2:81/ "$T/go3.bin" >"$T/go3.out" 2>&1 || rc=$?
[ $rc = 1 ] && grep -q "connection refused" "$T/go3.out" || fail "Go to port 81: rc $rc, $(cat "$T/go3.out")"

log "Go net/http server in the guest, reached on the host's port 18090"
bg sh -c "exec ip netns exec $NS_G $BIN/sockout-run -s $GUEST_SOCK -- $T/gotest serve :8090 $T/www >$T/goserve.log 2>&1"
wait_tcp "$NS_H" 18090
for i in 1 2 3; do
	ip netns exec "$NS_S" curl -sS --max-time 30 -o "$T/gos$i.bin" \
		http://198.51.100.1:18090/data.bin 2>"$T/gos.log" || fail "curl to the Go server: $(cat "$T/gos.log")"
	[ "$(sha "$T/gos$i.bin")" = "$WANT" ] || fail "Go server: sha256 differs"
done
grep -q "^listening \[::\]:8090$" "$T/goserve.log" || fail "Go's listener address: $(cat "$T/goserve.log")"

log "sockoutctl connections names the mechanism and the program's pid"
bg sh -c "sleep 30 | exec ip netns exec $NS_G $BIN/sockout-run -s $GUEST_SOCK -- busybox nc 198.51.100.2 8001 >/dev/null 2>&1"
# (the Go server's listener is listed as seccomp too: wait for nc's line)
wait_for 10 sh -c "$CTL connections | grep seccomp | grep -q 198.51.100.2:8001" ||
	fail "no seccomp connection listed: $($CTL connections)"
$CTL connections
# the supervisor passes a pidfd of the trapped program with its request:
# the pid listed is busybox's (sockout-run's child), not sockout-run's
run_pid=$(pgrep -f "^$BIN/sockout-run -s $GUEST_SOCK -- busybox nc 198.51.100.2 8001" | head -1)
nc_pid=$(pgrep -P "$run_pid" | head -1)
[ -n "$run_pid" ] && [ -n "$nc_pid" ] || fail "no sockout-run / busybox pids ($run_pid / $nc_pid)"
$CTL connections | grep seccomp | grep -qw "$nc_pid" ||
	fail "the listing does not show busybox's pid $nc_pid (sockout-run is $run_pid)"
$CTL connections | grep seccomp | grep -qw "$run_pid" && fail "the listing shows sockout-run's pid"
log "the Go server's listener is listed with its own pid"
go_run=$(pgrep -f "^$BIN/sockout-run -s $GUEST_SOCK -- $T/gotest serve" | head -1)
go_pid=$(pgrep -P "$go_run" | head -1)
[ -n "$go_pid" ] && $CTL connections | grep "^\[::\]:8090 " | grep -w "$go_pid" | grep -q seccomp ||
	fail "the Go server's listener is not listed with its pid $go_pid (sockout-run $go_run)"
pass
