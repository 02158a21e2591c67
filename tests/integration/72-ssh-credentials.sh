#!/bin/bash
# timeout: 120
# 72-ssh-credentials: sockout-ssh as sockout-ssh@office.service runs it.
# Its key and known_hosts sit in a root-only $T/etc/sockout/ssh/office/
# that user sockout-ssh cannot read; the unit's LoadCredential= is done by
# hand (copies as /run/credentials/sockout-ssh@office.service/ssh_FILE,
# 0400, owned by the service user, as systemd does), and the config is the
# shipped conf/sockout-ssh.conf with only the server, the SSH user and
# /run moved to $T/run.  sockoutd runs as its unit runs it too; a guest
# curl reaches a server on the SSH gateway's loopback (sha256), so the
# helper logged in with the credential key and checked the host key.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-ssh.sh"
. "$(dirname "$0")/sockoutd-lib.sh"
. "$(dirname "$0")/unit-lib.sh"
need curl python3
for p in sockoutd sockout-ssh sockout-run sockoutctl; do
	[ -x "$BIN/$p" ] || fail "$p not built (run make)"
done
users_create

topo_basic
ssh_keys
ssh_sshd gw "$NS_S" 198.51.100.2 2222

log "secrets in a root-only directory, handed over as credentials"
S=$T/etc/sockout/ssh/office
install -d -m 0700 "$S"
install -m 0600 "$T/ssh/id_ed25519" "$S/id_ed25519"
install -m 0644 "$T/ssh/id_ed25519.pub" "$S/id_ed25519.pub"
ssh_known_hosts 198.51.100.2 2222 >"$S/known_hosts"
setpriv --reuid=sockout-ssh --regid=sockout --init-groups cat "$S/id_ed25519" >/dev/null 2>&1 &&
	fail "user sockout-ssh reads the secrets directory"
as_unit sockout-ssh@.service office
C=$T/run/credentials/sockout-ssh@office.service
[ "$(stat -c '%a %U' "$C/ssh_id_ed25519")" = "400 sockout-ssh" ] || fail "credential $(stat -c '%a %U' "$C/ssh_id_ed25519")"
sed -e "s|^server .*|server 198.51.100.2:2222|" -e "s|^user .*|user root|" \
	-e "s|/run/|$T/run/|g" "$TOP/conf/sockout-ssh.conf" >"$T/office.conf"
grep -q "^identity *$C/ssh_id_ed25519$" "$T/office.conf" || fail "the example config does not name the credential"
grep -q "^known-hosts *$C/ssh_known_hosts$" "$T/office.conf" || fail "the example config's known-hosts"
HD=$T/run/sockout-ssh
"${AS_UNIT[@]}" "$BIN/sockout-ssh" -n -c "$T/office.conf" | grep -q "configuration OK" ||
	fail "config check as sockout-ssh: $("${AS_UNIT[@]}" "$BIN/sockout-ssh" -n -c "$T/office.conf" 2>&1)"
bgns "$NS_H" "${AS_UNIT[@]}" "$BIN/sockout-ssh" -f -v -c "$T/office.conf" >"$T/helper-office.log" 2>&1
wait_sock "$HD/office.event"
ssh_wait_up office

GUEST_SOCK=$T/run/sockout/guest.sock
cat >"$T/sockoutd.conf" <<CONF
guest-socket    $GUEST_SOCK
control-socket  $T/run/sockout/control.sock
helper office   data $HD/office.data event $HD/office.event
connect port 9000   helper office to 127.0.0.1:9000
connect any         deny
CONF
as_unit sockoutd.service
bgns "$NS_H" "${AS_UNIT[@]}" "$BIN/sockoutd" -f -v -c "$T/sockoutd.conf" >"$T/sockoutd.log" 2>&1
SOCKOUTD_PID=$(echo $_pids | cut -d' ' -f1)
wait_sock "$GUEST_SOCK"
CTL="$BIN/sockoutctl -s $T/run/sockout/control.sock"
wait_for 10 sh -c "$CTL helpers | grep -q '^office *up '" || fail "helper not up: $($CTL helpers)"

log "a guest curl to the gateway's loopback through the helper"
mkdir "$T/www"
mkdata "$T/www/data.bin" 4
bgns "$NS_S" python3 -m http.server -d "$T/www" -b 127.0.0.1 9000 >"$T/http.log" 2>&1
wait_tcp "$NS_S" 9000
guest curl -sS --max-time 30 -o "$T/got.bin" http://198.51.100.2:9000/data.bin 2>"$T/curl.log" ||
	fail "curl: $(cat "$T/curl.log")"
[ "$(sha "$T/got.bin")" = "$(sha "$T/www/data.bin")" ] || fail "sha256 differs"
sockoutd_stop_clean
grep -E "Sanitizer|runtime error" "$T/helper-office.log" && fail "sanitizer report in the helper's log"
pass
