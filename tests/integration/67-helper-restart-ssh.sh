#!/bin/bash
# timeout: 150
# 67-helper-restart-ssh: a guest server behind sockout-ssh (a reverse
# forward on the gateway) outlives restarts of the helper.  An unmodified
# `python3 -m http.server' in the guest behind `accept port 8080 helper
# office'; sockout-ssh is killed (-9, then SIGTERM) and started again: each
# time sockoutd registers the kept listener again, the new session asks the
# gateway for the forward, and curl on the gateway's host gets the file
# (sha256) from the same server process.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-ssh.sh"
. "$(dirname "$0")/sockoutd-lib.sh"
need curl python3
[ -x "$BIN/sockoutd" ] && [ -x "$BIN/sockout-run" ] || fail "sockoutd/sockout-run not built (run make)"

topo_basic
ssh_keys
ssh_sshd gw "$NS_S" 198.51.100.2 2222
ssh_helper_conf "$T/office.conf" 198.51.100.2 2222 office
ssh_helper "$NS_H" "$T/office.conf" office
ssh_wait_up office

GUEST_SOCK=$T/guest.sock
cat >"$T/sockoutd.conf" <<CONF
guest-socket   $GUEST_SOCK
control-socket $T/control.sock
helper office  data $T/office.data event $T/office.event
accept port 8080 helper office
connect any    deny
accept  any    deny
CONF
start_sockoutd "$T/sockoutd.conf"
CTL="$BIN/sockoutctl -s $T/control.sock"
up() { $CTL helpers | grep -q '^office *up '; }
down() { $CTL helpers | grep -q '^office *down '; }
wait_for 10 up || fail "helper not up in sockoutd"

mkdir "$T/www"
mkdata "$T/www/data.bin" 4
ip netns exec "$NS_G" "$BIN/sockout-run" -s "$GUEST_SOCK" -- \
	python3 -m http.server -d "$T/www" -b 0.0.0.0 8080 >"$T/http-guest.log" 2>&1 &
HTTP_PID=$!
_pids="$HTTP_PID $_pids"
wait_tcp "$NS_S" 8080 20

fetch() {
	rm -f "$T/got.bin"
	ip netns exec "$NS_S" curl -sS --max-time 30 -o "$T/got.bin" \
		http://127.0.0.1:8080/data.bin 2>"$T/curl.log" || fail "$1: curl to the guest: $(cat "$T/curl.log")"
	[ "$(sha "$T/got.bin")" = "$(sha "$T/www/data.bin")" ] || fail "$1: sha256 differs"
	kill -0 "$HTTP_PID" || fail "$1: the guest server died"
}
fetch "at start"

for sig in KILL TERM; do
	log "kill -$sig sockout-ssh, start it again"
	kill -$sig "$HELPER_PID"
	wait_for 10 down || fail "helper not shown down after SIG$sig"
	wait_for 20 sh -c "! ip netns exec $NS_S ss -Hltn 'sport = :8080' | grep -q ." ||
		fail "the gateway kept the old session's forward"
	ssh_helper "$NS_H" "$T/office.conf" office
	ssh_wait_up office 1 20
	wait_for 15 up || fail "no redial after SIG$sig: $($CTL helpers)"
	wait_tcp "$NS_S" 8080 20
	fetch "after SIG$sig"
done
sockoutd_stop_clean
pass
