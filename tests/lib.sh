# tests/lib.sh - sourced by every integration script.
#
# Gives each script a private temp dir ($T), a unique prefix for its network
# namespaces ($P), the binaries of the build under test ($BIN), and cleanup
# of everything it started (processes, namespaces) on exit, pass or fail.
#
# Address plan (documentation ranges only, never anything else):
#   198.51.100.0/24   "the internet": servers, SSH gateway, XMPP server
#   203.0.113.0/25    site A behind NAT A      203.0.113.128/25  site B
# A guest is a namespace with nothing but lo: every byte that leaves it
# went through sockout.
set -u
TOP=${SOCKOUT_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BIN=${SOCKOUT_BUILD:-$TOP/build}
T=$(mktemp -d /tmp/sockout-test.XXXXXX)
chmod 0755 "$T"
# Namespace names must be unique per run and short (IFNAMSIZ for veths).
P="so$(( $$ % 100000 ))"
_pids=""
_netns=""
_cleanups=""

log() { printf '%s: %s\n' "$(date +%T.%3N)" "$*"; }
fail() { log "FAIL: $*"; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
pass() { log "PASS"; exit 0; }

# bg CMD... - start CMD in the background; it is killed at exit.
bg() { "$@" & _pids="$! $_pids"; }
# bgns NS CMD... - the same inside network namespace NS.
bgns() { local ns=$1; shift; ip netns exec "$ns" "$@" & _pids="$! $_pids"; }
at_exit() { _cleanups="$* ; $_cleanups"; }

_cleanup() {
	local rc=$?
	set +e
	eval "$_cleanups" 2>/dev/null
	for p in $_pids; do kill "$p" 2>/dev/null; done
	sleep 0.2
	for p in $_pids; do kill -9 "$p" 2>/dev/null; done
	for ns in $_netns; do
		# Processes started inside a namespace by others die with it.
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	wait 2>/dev/null
	if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
		for f in "$T"/*.log; do
			[ -f "$f" ] || continue
			echo "----- $f (last 40 lines)"
			tail -n 40 "$f"
		done
	fi
	rm -rf "$T"
	exit $rc
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

# need CMD... - skip when a tool is missing; under CI (CI=true), where
# scripts/install-deps has run, a missing tool is a missing install step: fail.
need() {
	for c in "$@"; do
		command -v "$c" >/dev/null && continue
		[ "${CI:-}" = true ] && fail "$c not installed (scripts/install-deps should have)"
		skip "$c not installed"
	done
}
[ "$(id -u)" = 0 ] || skip "integration tests need root (network namespaces)"

# ns_new NAME - a namespace with lo up; prints nothing, records for cleanup.
ns_new() {
	ip netns add "$1" || fail "ip netns add $1"
	_netns="$_netns $1"
	ip -n "$1" link set lo up
}

# ns_link NS1 ADDR1/LEN NS2 ADDR2/LEN - a veth pair between two namespaces.
_nlink=0
ns_link() {
	_nlink=$((_nlink + 1))
	local a="${P}a$_nlink" b="${P}b$_nlink"
	ip link add "$a" netns "$1" type veth peer name "$b" netns "$3" || fail "veth"
	ip -n "$1" addr add "$2" dev "$a"
	ip -n "$3" addr add "$4" dev "$b"
	ip -n "$1" link set "$a" up
	ip -n "$3" link set "$b" up
	LINK_A=$a LINK_B=$b
}

# wait_for TIMEOUT_S CMD... - poll CMD every 50 ms until it succeeds.
wait_for() {
	local t=$1; shift
	local n=$((t * 20))
	while [ $n -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
		n=$((n - 1))
	done
	return 1
}
wait_sock() { wait_for "${2:-10}" test -S "$1" || fail "socket $1 never appeared"; }
# wait_tcp NS PORT - until something listens on PORT in NS.
wait_tcp() { wait_for "${3:-10}" sh -c "ip netns exec $1 ss -Hltn 'sport = :$2' | grep -q ." || fail "nothing listens on port $2 in $1"; }

sha() { sha256sum "$1" | cut -d' ' -f1; }
# mkdata FILE MIB - random test data.
mkdata() { head -c "$(( $2 * 1024 * 1024 ))" /dev/urandom >"$1"; }

# Standard topology used by the core tests:
#   $NS_H  host (sockoutd, helpers)  198.51.100.1  <-veth->  $NS_S  server 198.51.100.2
#   $NS_G  guest: only lo
topo_basic() {
	NS_H="${P}h" NS_S="${P}s" NS_G="${P}g"
	ns_new "$NS_H"; ns_new "$NS_S"; ns_new "$NS_G"
	ns_link "$NS_H" 198.51.100.1/24 "$NS_S" 198.51.100.2/24
}

# start_sockoutd CONF - run sockoutd in $NS_H, wait for its guest socket.
# Sets SOCKOUTD_PID; its log is $T/sockoutd.log.
start_sockoutd() {
	bgns "$NS_H" "$BIN/sockoutd" -f -v -c "$1" >"$T/sockoutd.log" 2>&1
	SOCKOUTD_PID=$(echo $_pids | cut -d' ' -f1)
	local gs; gs=$(awk '$1=="guest-socket"{print $2}' "$1")
	wait_sock "${gs:-/run/sockout/guest.sock}"
}

# guest CMD... - run CMD as an unmodified program in the guest namespace.
guest() { ip netns exec "$NS_G" "$BIN/sockout-run" -s "$GUEST_SOCK" -- "$@"; }

# notify_listen SOCK LOG - receive sd_notify datagrams on SOCK, one line per
# datagram in LOG (newlines inside a datagram become spaces); returns once
# the socket is bound.  Start the daemon with NOTIFY_SOCKET=SOCK.
notify_listen() {
	cat >"$T/notify-listen.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[2] + ".ready", "w").close()
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        f.write(s.recv(4096).decode().replace("\n", " ") + "\n")
PY
	bg python3 "$T/notify-listen.py" "$1" "$2"
	wait_for 5 test -e "$2.ready" || fail "notify listener did not start"
}

# start_plain DATA EVENT - run sockout-plain (the reference helper) in $NS_H
# on those two socket paths; config $T/plain.conf, log $T/plain.log.
# Returns once the event socket exists; sets PLAIN_PID.  $PLAIN_HANDOFF
# (yes/no) becomes its `handoff' line (69-relay-both-paths.sh).
# $PLAIN_HANDBACK (yes/no, default no here) its `handback' line: the tests
# that start it this way look at the relay itself (sockoutctl connections,
# byte counts, resets when the helper dies, queues), which a handed-back
# connection leaves; 54-plain-handback.sh tests hand-back.
start_plain() {
	printf 'data-socket %s\nevent-socket %s\n' "$1" "$2" >"$T/plain.conf"
	[ -z "${PLAIN_HANDOFF:-}" ] || echo "handoff $PLAIN_HANDOFF" >>"$T/plain.conf"
	echo "handback ${PLAIN_HANDBACK:-no}" >>"$T/plain.conf"
	bgns "$NS_H" "$BIN/sockout-plain" -f -c "$T/plain.conf" >"$T/plain.log" 2>&1
	PLAIN_PID=$(echo $_pids | cut -d' ' -f1)
	wait_sock "$2"
}

# go_build - build the Go program in $T/gosrc (main.go) into $T/gotest:
# static (CGO_ENABLED=0), offline (GOPROXY=off), caches under $T; fails the
# test with the compiler's output.
go_build() {
	(cd "$T/gosrc" && printf 'module gotest\n\ngo 1.19\n' >go.mod &&
		GOCACHE=$T/gocache GOPATH=$T/gopath GOTOOLCHAIN=local GOFLAGS= \
		GOPROXY=off CGO_ENABLED=0 timeout 240 go build -o "$T/gotest" .) \
		>"$T/gobuild.log" 2>&1 || fail "go build: $(cat "$T/gobuild.log")"
}
