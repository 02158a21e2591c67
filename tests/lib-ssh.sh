# tests/lib-ssh.sh - a real OpenSSH sshd for the sockout-ssh tests.
# Source after tests/lib.sh.
#
#   ssh_keys                      host key, user key, authorized_keys in $T/ssh
#   ssh_sshd_conf NAME ADDR PORT  write $T/ssh/NAME.conf (our keys, no PAM)
#   ssh_sshd NAME NS ADDR PORT    ssh_sshd_conf, then start sshd -D in NS
#                                 (log $T/sshd-NAME.log); sets SSHD_PID
#   ssh_known_hosts ADDR PORT     print a known_hosts line for our host key
#   ssh_helper_conf FILE ADDR PORT NAME [extra lines...]
#                                 a sockout-ssh config; sockets $T/NAME.data/.event
#   ssh_rdv_key                   a rendezvous key shared by the test's helpers:
#                                 $T/ssh/rendezvous.key (0600), path in $RDV_KEY
#   ssh_helper NS CONF NAME       start sockout-ssh in NS (log $T/helper-NAME.log)
#   probe NS NAME ARGS...         run sockout-probe against helper NAME in NS
SSHD=/usr/sbin/sshd
[ -x "$SSHD" ] || { [ "${CI:-}" = true ] && fail "OpenSSH sshd not installed"; skip "OpenSSH sshd not installed"; }
need ssh-keygen

ssh_keys() {
	mkdir -p "$T/ssh" /run/sshd
	chmod 0700 "$T/ssh"
	ssh-keygen -q -t ed25519 -N '' -C sockout-test-host -f "$T/ssh/host_ed25519" || fail "ssh-keygen host"
	ssh-keygen -q -t ed25519 -N '' -C sockout-test-user -f "$T/ssh/id_ed25519" || fail "ssh-keygen user"
	cp "$T/ssh/id_ed25519.pub" "$T/ssh/authorized_keys"
}

ssh_sshd_conf() {
	local name=$1 addr=$2 port=$3
	cat >"$T/ssh/$name.conf" <<EOC
Port $port
ListenAddress $addr
HostKey $T/ssh/host_ed25519
PidFile $T/ssh/$name.pid
AuthorizedKeysFile $T/ssh/authorized_keys
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowTcpForwarding yes
GatewayPorts clientspecified
MaxSessions 64
MaxStartups 64:30:128
LogLevel DEBUG
EOC
}

ssh_sshd() {
	local name=$1 ns=$2 addr=$3 port=$4
	ssh_sshd_conf "$name" "$addr" "$port"
	bgns "$ns" "$SSHD" -D -f "$T/ssh/$name.conf" -E "$T/sshd-$name.log"
	SSHD_PID=$(echo $_pids | cut -d' ' -f1)
	wait_tcp "$ns" "$port"
}

ssh_known_hosts() {
	local h=$1
	[ "$2" = 22 ] || h="[$1]:$2"
	echo "$h $(cut -d' ' -f1,2 "$T/ssh/host_ed25519.pub")"
}

ssh_helper_conf() {
	local f=$1 addr=$2 port=$3 name=$4
	shift 4
	ssh_known_hosts "$addr" "$port" >"$T/ssh/known_hosts-$name"
	{
		echo "data-socket   $T/$name.data"
		echo "event-socket  $T/$name.event"
		echo "server        $addr:$port"
		echo "user          root"
		echo "identity      $T/ssh/id_ed25519"
		echo "known-hosts   $T/ssh/known_hosts-$name"
		echo "reconnect-min 200ms"
		echo "reconnect-max 2s"
		echo "keepalive     5s"
		for l in "$@"; do echo "$l"; done
	} >"$f"
}

ssh_rdv_key() {
	RDV_KEY=$T/ssh/rendezvous.key
	(umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$RDV_KEY") || fail "rendezvous key"
}

ssh_helper() {
	local ns=$1 conf=$2 name=$3
	rm -f "$T/$name.data" "$T/$name.event"
	bgns "$ns" "$BIN/sockout-ssh" -f -v -c "$conf" >"$T/helper-$name.log" 2>&1
	HELPER_PID=$(echo $_pids | cut -d' ' -f1)
	wait_sock "$T/$name.event"
}

# ssh_wait_up NAME [N] - until helper NAME has N sessions logged in (default 1).
ssh_wait_up() {
	wait_for "${3:-15}" sh -c "[ \$(grep -c 'logged in' '$T/helper-$1.log') -ge ${2:-1} ]" ||
		fail "helper $1 never logged in"
}

probe() {
	local ns=$1 name=$2
	shift 2
	ip netns exec "$ns" "$BIN/tests/tools/sockout-probe" -d "$T/$name.data" -e "$T/$name.event" "$@"
}
