#!/bin/bash
# timeout: 240
# 53-plain-splice: with HANDOFF, sockout-plain gives the runtime its TCP
# socket (ops->overlay_fd) and the runtime splices between it and the
# guest's socket (splice(2) through a pipe per direction).  Big transfers
# both ways keep their sha256 with either side half-closing first, a
# server's reset reaches the guest as a reset, the FINISHED byte counts
# are exact, and the helper's STATUS says splice carried the bytes
# ("spliced") and that every pipe was given back ("pipes":0 in use; the
# idle ones it keeps for the next connections are its only new
# descriptors).  The same again through a second sockout-plain with
# `splice-pipes 0', whose handed connections take the runtime's copy
# (what it does where splice is refused or no pipe is left).
. "$(dirname "$0")/../lib.sh"
need python3
[ -x "$BIN/sockout-plain" ] || fail "sockout-plain not built (run make)"
GP="python3 $TOP/tests/integration/gpclient.py"

topo_basic
mkdir -p "$T/run"
GUEST_SOCK=$T/run/guest.sock
# start_helper NAME [CONFIG LINE]: a sockout-plain with -v; sets PID_NAME
start_helper() {
	printf 'data-socket %s\nevent-socket %s\n%s\n' "$T/run/$1.data" "$T/run/$1.event" "${2:-}" >"$T/$1.conf"
	bgns "$NS_H" "$BIN/sockout-plain" -f -v -c "$T/$1.conf" >"$T/$1.log" 2>&1
	eval "PID_$1=$(echo $_pids | cut -d' ' -f1)"
	wait_sock "$T/run/$1.event"
}
# handback no: the connections stay in the helper, to be spliced
start_helper plain "handback no"
start_helper copy "splice-pipes 0
handback no"
cat >"$T/sockoutd.conf" <<CONF
guest-socket    $GUEST_SOCK
control-socket  $T/run/control.sock
helper plain    data $T/run/plain.data event $T/run/plain.event
helper copy     data $T/run/copy.data event $T/run/copy.event
connect port 7000 helper plain to 198.51.100.2:7000
connect port 7001 helper plain to 198.51.100.2:7001
connect port 7002 helper plain to 198.51.100.2:7002
connect port 7010 helper copy to 198.51.100.2:7000
connect port 7011 helper copy to 198.51.100.2:7001
connect port 7012 helper copy to 198.51.100.2:7002
CONF
start_sockoutd "$T/sockoutd.conf"
CTL="$BIN/sockoutctl -s $T/run/control.sock"
wait_for 10 sh -c "$CTL helpers | grep -c ' up ' | grep -qx 2" || fail "helpers not up: $($CTL helpers)"

# 7001: send FILE, half-close, then read the guest's bytes to EOF and
# write their sha256 to OUT.  7002: send 1 MiB, then reset.
# the guest for 7001 and 7002: read to EOF (sha256 to stdout), then send
# FILE and half-close, then wait for the server's close

mkdata "$T/a.bin" 32
mkdata "$T/b.bin" 16
mkdata "$T/c.bin" 16
bgns "$NS_S" python3 "$TOP/tests/integration/echo-server.py" 198.51.100.2 7000
bgns "$NS_S" python3 "$TOP/tests/integration/halfclose-server.py" "$T/b.bin" "$T/c.sha"
wait_tcp "$NS_S" 7000
wait_tcp "$NS_S" 7002

# jnum JSON KEY: the first number KEY has in JSON
jnum() { echo "$1" | grep -o "\"$2\": *[0-9]*" | head -1 | grep -o '[0-9]*$'; }
# helper_json NAME: that helper's STATUS
helper_json() { $CTL helpers --json | grep -o "\"name\":\"$1\".*" | sed 's/}]}$//; s/},{"name.*//'; }

# scenario HELPER PORT0 MODE: the transfers through HELPER (ports PORT0,
# +1, +2), then what its STATUS says: MODE spliced or copied carried them
scenario() {
	local h=$1 p=$2 mode=$3 pid st up0 down0 up down hj moved idle fds0 fds1
	eval "pid=\$PID_$h"
	fds0=$(ls "/proc/$pid/fd" | wc -l)
	st=$($CTL status --json)
	up0=$(jnum "$st" bytes_up)
	down0=$(jnum "$st" bytes_down)
	rm -f "$T/c.sha"

	log "$h: 32 MiB echoed, the guest half-closing first"
	ip netns exec "$NS_G" $GP "$GUEST_SOCK" connect 198.51.100.2 $p --send "$T/a.bin" --recv "$T/a.got" >"$T/a.out" ||
		fail "connect: $(cat "$T/a.out")"
	[ "$(sha "$T/a.got")" = "$(sha "$T/a.bin")" ] || fail "$h: echo: sha256 differs"

	log "$h: 16 MiB each way, the server half-closing first"
	ip netns exec "$NS_G" python3 "$TOP/tests/integration/halfclose-guest.py" "$TOP/tests/integration" "$GUEST_SOCK" $((p + 1)) "$T/c.bin" >"$T/b.out" 2>&1 ||
		fail "guest: $(cat "$T/b.out")"
	[ "$(cat "$T/b.out")" = "$(sha "$T/b.bin")" ] || fail "$h: server to guest: sha256 differs: $(cat "$T/b.out")"
	wait_for 20 test -e "$T/c.sha" || fail "$h: the server never saw the guest's EOF"
	[ "$(cat "$T/c.sha")" = "$(sha "$T/c.bin")" ] || fail "$h: guest to server: sha256 differs"

	log "$h: the counts FINISHED reports are exact"
	wait_for 10 sh -c "$CTL status --json | grep -q '\"relayed_open\": *0[,}]'" || fail "connections still open: $($CTL status --json)"
	st=$($CTL status --json)
	up=$(( $(jnum "$st" bytes_up) - up0 ))
	down=$(( $(jnum "$st" bytes_down) - down0 ))
	[ "$up" = $(( 48 << 20 )) ] && [ "$down" = $(( 48 << 20 )) ] ||
		fail "$h: bytes up $up, down $down: want $(( 48 << 20 )) each"

	log "$h: $mode carried them, and the pipes were given back"
	hj=$(helper_json $h)
	echo "$hj" | grep -o '"pipes":[0-9]*,"pipes_idle":[0-9]*,"spliced":[0-9]*,"copied":[0-9]*' || fail "no splice figures: $hj"
	moved=$(jnum "$hj" $mode)
	[ "$moved" -ge $(( 2 * 48 << 20 )) ] || fail "$h: only $moved bytes $mode of $(( 2 * 48 << 20 ))"
	echo "$hj" | grep -q '"pipes":0,' || fail "$h: pipes left in use: $hj"
	if [ $mode = spliced ]; then
		grep -Eq "connection 0x[0-9a-f]+: [0-9]+ bytes spliced, 0 copied" "$T/$h.log" ||
			fail "no per-connection splice line in the helper's log"
	else
		echo "$hj" | grep -q '"spliced":0,' || fail "$h: spliced with splice-pipes 0: $hj"
	fi

	log "$h: a server's reset reaches the guest as a reset"
	ip netns exec "$NS_G" python3 "$TOP/tests/integration/halfclose-guest.py" "$TOP/tests/integration" "$GUEST_SOCK" $((p + 2)) "$T/c.bin" >"$T/r.out" 2>&1 ||
		fail "guest: $(cat "$T/r.out")"
	grep -q "^reset after" "$T/r.out" || fail "$h: no reset: $(cat "$T/r.out")"

	wait_for 10 sh -c "$CTL status --json | grep -q '\"relayed_open\": *0[,}]'" || fail "connection left open"
	n=0
	until helper_json $h | grep -q '"pipes":0,'; do
		n=$((n + 1))
		[ $n -lt 50 ] || fail "$h: pipes left in use after the reset: $(helper_json $h)"
		sleep 0.2
	done
	idle=$(jnum "$(helper_json $h)" pipes_idle)
	fds1=$(ls "/proc/$pid/fd" | wc -l)
	[ "$fds1" -le $(( fds0 + 2 * idle )) ] || fail "$h holds $fds1 descriptors, $fds0 before and $idle idle pipes"
	kill -0 "$pid" || fail "$h died"
	! grep -E "Sanitizer|runtime error" "$T/$h.log" || fail "sanitizer report in $h's log"
}

scenario plain 7000 spliced
scenario copy 7010 copied
pass
