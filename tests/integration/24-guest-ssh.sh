#!/bin/bash
# timeout: 120
# 24-guest-ssh: the OpenSSH client in the guest logs in to an sshd (own
# host key, own user key, own config) on the server machine and pipes a
# file through `sha256sum` on the far side.  Then the other way round: an
# sshd in the guest (it forks and re-executes itself for each connection,
# handing the accepted socket across exec) serves a client on the server
# machine through `accept port 2222 direct 12222`.
. "$(dirname "$0")/../lib.sh"
need ssh ssh-keygen sha256sum
[ -x /usr/sbin/sshd ] || { [ "${CI:-}" = true ] && fail "OpenSSH server not installed"; skip "OpenSSH server not installed"; }

topo_basic
GUEST_SOCK=$T/guest.sock
cat >"$T/sockoutd.conf" <<CONF
guest-socket   $GUEST_SOCK
control-socket $T/control.sock
connect 198.51.100.2 port 2222 direct
connect any deny
accept port 2222 direct 12222
accept any deny
CONF
start_sockoutd "$T/sockoutd.conf"

ssh-keygen -q -t ed25519 -N '' -f "$T/hostkey" || fail "host key"
ssh-keygen -q -t ed25519 -N '' -f "$T/userkey" || fail "user key"
cp "$T/userkey.pub" "$T/authorized_keys"
echo "[198.51.100.2]:2222 $(cut -d' ' -f1,2 "$T/hostkey.pub")" >"$T/known_hosts"
cat >"$T/sshd_config" <<CONF
Port 2222
ListenAddress 198.51.100.2
HostKey $T/hostkey
AuthorizedKeysFile $T/authorized_keys
PidFile none
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
CONF
mkdir -p /run/sshd
/usr/sbin/sshd -t -f "$T/sshd_config" || fail "sshd config"
bgns "$NS_S" /usr/sbin/sshd -D -e -f "$T/sshd_config" >"$T/sshd.log" 2>&1
wait_tcp "$NS_S" 2222

mkdata "$T/data" 16
ssh_guest() {
	guest ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes \
		-o UserKnownHostsFile="$T/known_hosts" -o StrictHostKeyChecking=yes \
		-o ConnectTimeout=20 -i "$T/userkey" -p 2222 "$@"
}

log "ssh from the guest, 16 MiB through sha256sum on the server"
got=$(ssh_guest root@198.51.100.2 sha256sum <"$T/data" 2>"$T/ssh.log" | cut -d' ' -f1)
[ "$got" = "$(sha "$T/data")" ] || fail "remote sha256 '$got': $(cat "$T/ssh.log")"

log "the server saw the host's address as the client"
# shellcheck disable=SC2016 # expanded by the remote shell
ssh_guest root@198.51.100.2 'echo $SSH_CONNECTION' >"$T/conn.txt" 2>>"$T/ssh.log" ||
	fail "second ssh: $(cat "$T/ssh.log")"
read -r caddr _ saddr sport <"$T/conn.txt"
[ "$caddr $saddr $sport" = "198.51.100.1 198.51.100.2 2222" ] ||
	fail "SSH_CONNECTION is '$(cat "$T/conn.txt")'"

log "sshd in the guest, ssh from the server machine to host port 12222"
sed -e 's/^ListenAddress .*/ListenAddress 0.0.0.0/' "$T/sshd_config" >"$T/sshd_guest_config"
bg guest /usr/sbin/sshd -D -e -f "$T/sshd_guest_config" >"$T/sshd-guest.log" 2>&1
wait_tcp "$NS_H" 12222
echo "[198.51.100.1]:12222 $(cut -d' ' -f1,2 "$T/hostkey.pub")" >>"$T/known_hosts"
# shellcheck disable=SC2016 # expanded by the remote shell
got=$(ip netns exec "$NS_S" ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes \
	-o UserKnownHostsFile="$T/known_hosts" -o StrictHostKeyChecking=yes \
	-o ConnectTimeout=20 -i "$T/userkey" -p 12222 root@198.51.100.1 \
	'echo $SSH_CONNECTION; sha256sum' <"$T/data" 2>"$T/ssh2.log") ||
	fail "ssh to the guest sshd: $(cat "$T/ssh2.log"; tail -5 "$T/sshd-guest.log")"
log "guest sshd says: $(echo "$got" | head -1)"
[ "$(echo "$got" | tail -1 | cut -d' ' -f1)" = "$(sha "$T/data")" ] ||
	fail "sha256 through the guest sshd differs"
read -r caddr _ _ _ <<<"$(echo "$got" | head -1)"
[ "$caddr" = 198.51.100.2 ] || fail "the guest sshd saw client $caddr"
pass
