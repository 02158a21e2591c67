#!/bin/bash
# timeout: 900
# san: no
# 80-vm-systemd: sockout under a REAL systemd (PID 1 in a Debian 12 VM,
# tests/vm/), installed the way a user installs it, checked the way a user
# relies on it:
#  * `systemctl start sockoutd' returns with the unit active only once
#    READY=1 came (the guest socket and the control socket answer at once),
#    and a sockoutd that cannot come up (its guest socket on a path the
#    unit's ProtectSystem=strict makes read-only; `sockoutd -n' accepts it)
#    never becomes active, and the journal says why;
#  * sockout-plain@one and sockout-ssh@office (against an sshd inside the VM,
#    key and known_hosts given as systemd credentials) start active and a
#    guest (an unshared network namespace: only lo) reaches a web server
#    through each;
#  * `systemctl reload sockoutd' with a broken file keeps the running
#    table, the unit active with the same PID, and the journal names
#    file:line; a good file then applies;
#  * `kill -9' of each helper's MainPID: systemd restarts it, sockoutd
#    redials, the guest works again; the same for sockoutd itself;
#  * sockout-im@home and sockout-im@peer (two accounts on a Prosody inside
#    the VM, TLS with a self-signed certificate pinned by `tls-trust',
#    password, identity and certificate as systemd credentials, each
#    pinning the other's key) are active only after READY=1 (their sockets
#    answer when systemctl returns), log in, and a guest reaches a guest
#    server through `helper home' -> peer@example.org -> `accept ... helper
#    peer'; `kill -9' of sockout-im@home: systemd restarts it, it logs in
#    again and the guest gets through again;
#  * `systemd-analyze security' exposure for each unit goes to the log.
#
# The project is installed from build/deb/*.deb (apt-get install ./x.deb,
# so dependencies are checked against the image) when such a package
# exists, else from `make install DESTDIR=... PREFIX=/usr' of the build
# under test, copied in through the VM's 9p share.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/vm/vm.sh"
need qemu-system-x86_64 debootstrap mke2fs python3

t_start=$(date +%s)
log "image"
t0=$(date +%s)
vm_image || fail "the VM image could not be built (tests/vm/image; see the lines above)"
log "image ready in $(( $(date +%s) - t0 ))s: $VM_IMG ($(head -1 "$VM_IMG/ok"))"

log "boot"
vm_boot "$T/vm" || fail "the VM did not boot to its agent (console log above)"
log "booted ($VM_ACCEL) to the agent in ${VM_BOOT_S}s"
at_exit 'cp "$T/vm/console.log" "$T/vm-console.log"'
# V CMD... - run CMD in the VM; its output goes to our log.
V() { vm_run "$@"; }   # (vm_run: -t S first, default 60)
state() { # UNIT - ActiveState/SubState/MainPID/NRestarts on one line
	vm_run -t 30 "systemctl show -p ActiveState,SubState,MainPID,NRestarts,Result $1 | sort | tr '\n' ' '"
}
V 'systemctl is-system-running --wait' >"$T/sysstate" 2>&1
log "system state: $(cat "$T/sysstate")"
grep -qx running "$T/sysstate" || { V 'systemctl --failed --no-pager'; fail "the VM's systemd is not running cleanly"; }

log "install"
S=$T/vm/share
debs=$(ls "$TOP"/build/deb/*.deb 2>/dev/null | head -1)
if [ -n "$debs" ]; then
	log "from the packages: $(cd "$TOP/build/deb" && echo *.deb)"
	mkdir -p "$S/deb"
	cp "$TOP"/build/deb/*.deb "$S/deb/"
	# apt checks the packages' dependencies against the image (the VM
	# has no network: a dependency missing there fails here).  Absolute
	# paths, and no --no-download: apt 2.6 then takes local .debs for
	# names and fails with "Pathname to install is not absolute".
	V -t 120 'mkdir -p /var/tmp/deb && cp /mnt/host/deb/*.deb /var/tmp/deb/ &&
		apt-get install -y /var/tmp/deb/*.deb 2>&1' ||
		fail "apt-get install of build/deb/*.deb in the VM failed"
else
	log "no build/deb/*.deb: make install DESTDIR PREFIX=/usr of ${BIN#$TOP/}"
	make -s -C "$TOP" install DESTDIR="$S/root" PREFIX=/usr B="${BIN#$TOP/}" >"$T/install.log" 2>&1 ||
		fail "make install DESTDIR: $(tail -5 "$T/install.log")"
	V 'cp -a /mnt/host/root/. / && chown -R root:root /usr/sbin/sockout* /usr/bin/sockout* \
		/usr/lib/sockout /usr/lib/systemd/system/sockout* && systemd-sysusers && systemctl daemon-reload' ||
		fail "installing the tree in the VM failed"
fi
V 'id sockout && id sockout-plain && id sockout-ssh && id sockout-im && systemctl cat sockoutd.service >/dev/null' ||
	fail "users or units missing after the install"
# A package may start (and enable) sockoutd when it installs: every check
# below starts from a stopped unit with the test's own configuration.
V 'systemctl stop sockoutd.service; systemctl reset-failed 2>/dev/null; systemctl is-enabled sockoutd.service; true'

log "a web server in the VM on 198.51.100.2:8000 (an address of the VM's lo)"
V 'ip addr add 198.51.100.2/32 dev lo && mkdir -p /srv/www && echo hello-from-vm >/srv/www/index.html &&
	systemd-run -q --unit=websrv python3 -m http.server --bind 198.51.100.2 --directory /srv/www 8000 &&
	for i in $(seq 100); do curl -sf http://198.51.100.2:8000/ >/dev/null && exit 0; sleep 0.2; done; exit 1' ||
	fail "web server did not start"
# guest URL - curl URL as a guest: a process in a fresh network namespace
# with nothing but lo, through sockout-run.
guest() {
	vm_run -t 40 "unshare -n sh -c 'ip link set lo up; sockout-run -- curl -sS --max-time 10 $1'"
}

log "sockoutd that cannot come up never becomes active"
V 'install -d -m 0755 /etc/sockout /etc/sockout/plain /etc/sockout/ssh &&
	printf "guest-socket /usr/lib/sockout/guest.sock\ncontrol-socket /run/sockout/control.sock\nconnect any deny\n" \
		>/etc/sockout/sockoutd.conf && sockoutd -n -c /etc/sockout/sockoutd.conf' ||
	fail "sockoutd -n rejected the file meant to fail only at run time"
rc=0
V -t 60 'timeout 40 systemctl start sockoutd' >"$T/start-bad.out" 2>&1 || rc=$?
cat "$T/start-bad.out"
[ $rc != 0 ] || fail "systemctl start succeeded for a sockoutd that cannot bind its guest socket"
st=$(state sockoutd.service)
log "state: $st"
case "$st" in *ActiveState=active*) fail "sockoutd active without READY=1: $st" ;; esac
V 'journalctl -u sockoutd --no-pager -o cat' >"$T/journal-bad.txt"
grep -i 'guest.sock' "$T/journal-bad.txt" | head -3
grep -qi '/usr/lib/sockout/guest.sock' "$T/journal-bad.txt" || fail "the journal does not say why sockoutd failed"
V 'systemctl stop sockoutd; systemctl reset-failed sockoutd 2>/dev/null; true' >/dev/null

log "sockout-plain@one, sockout-ssh@office and an sshd in the VM on 127.0.0.1:2222"
V 'cat >/etc/sockout/plain/one.conf <<EOF
data-socket  /run/sockout-plain/one.data
event-socket /run/sockout-plain/one.event
EOF
mkdir -p -m 0700 /etc/sockout/ssh/office && mkdir -p -m 0755 /etc/test-sshd && cd /etc/test-sshd &&
ssh-keygen -q -t ed25519 -N "" -f host_key && ssh-keygen -q -t ed25519 -N "" -f /etc/sockout/ssh/office/id_ed25519 &&
cp /etc/sockout/ssh/office/id_ed25519.pub authorized_keys &&
echo "[127.0.0.1]:2222 $(cut -d" " -f1,2 host_key.pub)" >/etc/sockout/ssh/office/known_hosts &&
useradd -m -s /bin/sh -p "*" tunnel &&   # "*": no password, but not locked (sshd refuses locked accounts)
cat >sshd.conf <<EOF
Port 2222
ListenAddress 127.0.0.1
HostKey /etc/test-sshd/host_key
AuthorizedKeysFile /etc/test-sshd/authorized_keys
PidFile /run/test-sshd.pid
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowTcpForwarding yes
EOF
mkdir -p /run/sshd && systemd-run -q --unit=test-sshd /usr/sbin/sshd -D -f /etc/test-sshd/sshd.conf &&
cat >/etc/sockout/ssh/office.conf <<EOF
data-socket   /run/sockout-ssh/office.data
event-socket  /run/sockout-ssh/office.event
server        127.0.0.1:2222
user          tunnel
identity      /run/credentials/sockout-ssh@office.service/ssh_id_ed25519
known-hosts   /run/credentials/sockout-ssh@office.service/ssh_known_hosts
reconnect-min 200ms
reconnect-max 2s
EOF
sockout-plain -n -c /etc/sockout/plain/one.conf' ||
	fail "helper configuration"
V -t 60 'timeout 40 systemctl start sockout-plain@one sockout-ssh@office' || fail "systemctl start of the helpers"
for u in sockout-plain@one sockout-ssh@office; do
	st=$(state "$u.service")
	log "$u: $st"
	case "$st" in *ActiveState=active*SubState=running*) ;; *) fail "$u not active/running: $st" ;; esac
done

conf_good() { # the table: port 8000 through plain, 8001 through ssh
	V "cat >/etc/sockout/sockoutd.conf <<EOF
guest-socket   /run/sockout/guest.sock
control-socket /run/sockout/control.sock
helper one    data /run/sockout-plain/one.data  event /run/sockout-plain/one.event
helper office data /run/sockout-ssh/office.data event /run/sockout-ssh/office.event
connect 198.51.100.2 port 8000 helper one to 198.51.100.2:8000
connect 198.51.100.2 port 8001 helper office to 198.51.100.2:8000
$1
EOF"
}
conf_good "connect any deny"

log "systemctl start sockoutd: active only after READY=1"
V -t 60 'timeout 40 systemctl start sockoutd' || { V 'journalctl -u sockoutd --no-pager | tail -20'; fail "systemctl start sockoutd"; }
# systemctl returned: systemd saw READY=1.  sockoutd must have been ready
# by then - no waiting here.
V 'test -S /run/sockout/guest.sock && sockoutctl status' >"$T/status1.txt" 2>&1 ||
	fail "active, but the sockets do not answer yet: $(cat "$T/status1.txt")"
st=$(state sockoutd.service)
log "sockoutd: $st"
case "$st" in *ActiveState=active*SubState=running*) ;; *) fail "sockoutd not active/running: $st" ;; esac
d_pid=$(echo "$st" | sed -n 's/.*MainPID=\([0-9]*\).*/\1/p')
V 'for i in $(seq 100); do sockoutctl helpers | grep -q "^one *up" && sockoutctl helpers | grep -q "^office *up" && exit 0; sleep 0.2; done
	sockoutctl helpers; exit 1' || fail "sockoutd did not reach both helpers"

guest_ok() { # PORT WHAT
	local out
	out=$(guest "http://198.51.100.2:$1/" 2>&1)
	[ "$out" = hello-from-vm ] || fail "$2: the guest got: $out"
	log "$2: guest reached the web server on port $1"
}
guest_ok 8000 "through sockout-plain"
V 'for i in $(seq 100); do journalctl -u sockout-ssh@office --no-pager -o cat | grep -q "logged in to 127.0.0.1:2222 as tunnel" && exit 0; sleep 0.2; done; exit 1' || {
	V 'journalctl -u sockout-ssh@office -u test-sshd --no-pager | tail -30'; fail "sockout-ssh@office did not log in to the VM's sshd"; }
guest_ok 8001 "through sockout-ssh and the VM's sshd"

log "systemctl reload with a broken file keeps the table; the journal says file:line"
V "sed -i 's/^connect any deny\$/connect port 90-80 deny/' /etc/sockout/sockoutd.conf && grep -n 90-80 /etc/sockout/sockoutd.conf"
V -t 40 'systemctl reload sockoutd' || fail "systemctl reload exit status"
V 'for i in $(seq 100); do journalctl -u sockoutd --no-pager -o cat | grep -q "reload failed" && exit 0; sleep 0.2; done; exit 1' ||
	fail "no failed reload in the journal"
V 'journalctl -u sockoutd --no-pager -o cat' >"$T/journal-reload.txt"
grep 'reload' "$T/journal-reload.txt"
grep -q "/etc/sockout/sockoutd.conf:7: port range reversed" "$T/journal-reload.txt" ||
	fail "the journal does not name file:line of the error"
st=$(state sockoutd.service)
case "$st" in *ActiveState=active*"MainPID=$d_pid "*SubState=running*) ;; *) fail "sockoutd after a broken reload: $st (pid was $d_pid)" ;; esac
guest_ok 8000 "old table after the broken reload"
V 'sockoutctl status' | grep -q "connect any *deny" || fail "the old table's last rule is gone from sockoutctl status"

log "a good reload applies"
conf_good "connect port 8000 deny"
V "sed -i '5d' /etc/sockout/sockoutd.conf"   # port 8000 no longer via plain: the deny now matches
V -t 40 'systemctl reload sockoutd' || fail "systemctl reload (good file)"
V 'for i in $(seq 100); do sockoutctl status | grep -q "connect port 8000 *deny" && exit 0; sleep 0.2; done; exit 1' ||
	fail "the good reload was not applied"
out=$(guest "http://198.51.100.2:8000/" 2>&1) && fail "port 8000 still open after the reload denied it: $out"
log "denied as the new table says: $out"
conf_good "connect any deny"
V -t 40 'systemctl reload sockoutd' || fail "reload back"
V 'for i in $(seq 100); do sockoutctl status | grep -q "connect any *deny" && exit 0; sleep 0.2; done; exit 1' ||
	fail "reload back not applied"

# killed UNIT PORT [HOST [TRIES]] - kill -9 the unit's MainPID; systemd
# must restart it (a new MainPID, NRestarts up) and the guest must get
# through to HOST:PORT again (TRIES half-second-spaced attempts, default 20).
killed() {
	local u=$1 port=$2 host=${3:-198.51.100.2} tries=${4:-20} st pid npid i
	st=$(state "$u")
	pid=$(echo "$st" | sed -n 's/.*MainPID=\([0-9]*\).*/\1/p')
	[ -n "$pid" ] && [ "$pid" != 0 ] || fail "$u has no MainPID: $st"
	log "kill -9 $u (pid $pid)"
	V "kill -9 $pid" || fail "kill -9 $pid"
	npid=""
	for i in $(seq 40); do
		st=$(state "$u")
		case "$st" in *ActiveState=active*NRestarts=[1-9]*SubState=running*)
			npid=$(echo "$st" | sed -n 's/.*MainPID=\([0-9]*\).*/\1/p')
			[ "$npid" != "$pid" ] && break ;;
		esac
		npid=""
		sleep 0.5
	done
	[ -n "$npid" ] || fail "$u not restarted by systemd: $st"
	log "$u restarted by systemd: $st"
	# sockoutd redials its helpers with backoff: the guest may need a
	# few tries (bounded) before the path is whole again.
	for i in $(seq "$tries"); do
		out=$(guest "http://$host:$port/" 2>&1)
		[ "$out" = hello-from-vm ] && { log "guest through port $port again after $i tries"; return 0; }
		sleep 0.5
	done
	fail "guests do not recover after $u was killed: $out"
}
killed sockout-plain@one.service 8000
killed sockout-ssh@office.service 8001
killed sockoutd.service 8000
guest_ok 8001 "sockout-ssh after sockoutd's restart"

log "Prosody in the VM on 127.0.0.1:5222 (proxy65 on 5000), TLS with a self-signed certificate"
# As tests/lib-im.sh does it: its own config, data and certificate, run as
# user prosody (it refuses root); the packaged prosody.service is masked.
V -t 120 'set -e; P=/var/lib/test-prosody
install -d -m 0755 $P $P/data $P/certs && cd $P
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout example.org.key -out example.org.crt -days 2 -subj /CN=example.org \
	-addext "subjectAltName=DNS:example.org,DNS:*.example.org" 2>/dev/null
cat >prosody.cfg.lua <<EOF
pidfile = "$P/prosody.pid"
data_path = "$P/data"
plugin_paths = {}
log = { { levels = { min = "info" }, to = "file", filename = "$P/prosody.log" } }
interfaces = { "127.0.0.1" }
c2s_ports = { 5222 }
c2s_direct_tls_ports = {}
s2s_ports = {}
proxy65_ports = { 5000 }
proxy65_interfaces = { "127.0.0.1" }
http_ports = {}
https_ports = {}
modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "presence", "posix" }
modules_disabled = { "s2s", "offline", "c2s_bidi" }
allow_registration = false
authentication = "internal_hashed"
storage = "internal"
c2s_require_encryption = true
ssl = { certificate = "$P/example.org.crt", key = "$P/example.org.key" }
VirtualHost "example.org"
Component "proxy.example.org" "proxy65"
	proxy65_address = "127.0.0.1"
EOF
chown -R prosody: $P
for u in home peer; do
	runuser -u prosody -- prosodyctl --config $P/prosody.cfg.lua register $u example.org pw-$u >>$P/prosodyctl.log 2>&1 ||
		{ tail $P/prosodyctl.log; exit 1; }; done
systemd-run -q --unit=test-prosody -p User=prosody prosody --config $P/prosody.cfg.lua -F
for i in $(seq 150); do
	ss -Hltn "sport = :5222" | grep -q . && ss -Hltn "sport = :5000" | grep -q . && exit 0; sleep 0.2; done
journalctl -u test-prosody --no-pager | tail; tail $P/prosody.log; exit 1' 2>&1 ||
	fail "Prosody in the VM did not come up"

log "sockout-im@home and sockout-im@peer: identities, passwords, the server's certificate as credentials"
# Everything in /etc/sockout/im/NAME/ (0700) reaches the unit as
# /run/credentials/sockout-im@NAME.service/im_FILE (docs/operations.md).
V -t 60 'set -e; install -d -m 0755 /etc/sockout/im
for s in home peer; do
	install -d -m 0700 /etc/sockout/im/$s
	sockout-im keygen /etc/sockout/im/$s/identity >/etc/sockout/im/$s.pub
	printf "pw-%s\n" $s >/etc/sockout/im/$s/password && chmod 0600 /etc/sockout/im/$s/password
	install -m 0600 /var/lib/test-prosody/example.org.crt /etc/sockout/im/$s/server.crt
done
imconf() { # NAME OTHER
	C=/run/credentials/sockout-im@$1.service
	cat >/etc/sockout/im/$1.conf <<EOF
data-socket   /run/sockout-im/$1.data
event-socket  /run/sockout-im/$1.event
jid           $1@example.org/sockout
password-file $C/im_password
identity      $C/im_identity
server        127.0.0.1:5222
tls-trust     $C/im_server.crt
peer          $2@example.org $(cat /etc/sockout/im/$2.pub)
EOF
}
imconf home peer; imconf peer home; cat /etc/sockout/im/home.conf' || fail "sockout-im configuration"

log "systemctl start sockout-im@home sockout-im@peer: active only after READY=1"
V -t 60 'timeout 40 systemctl start sockout-im@home sockout-im@peer' || {
	V 'journalctl -u "sockout-im@*" --no-pager | tail -30'; fail "systemctl start of the IM helpers"; }
# systemctl returned, so systemd saw READY=1 from both: their sockets must
# exist now, without waiting.
V 'ls -l /run/sockout-im/ && for s in home peer; do test -S /run/sockout-im/$s.data && test -S /run/sockout-im/$s.event || exit 1; done' ||
	fail "sockout-im active, but its sockets are not there yet"
for u in sockout-im@home sockout-im@peer; do
	st=$(state "$u.service")
	log "$u: $st"
	case "$st" in *ActiveState=active*SubState=running*) ;; *) fail "$u not active/running: $st" ;; esac
done

# The table gains both IM helpers: a guest's connect to 203.0.113.99:8002
# goes out through home to peer@example.org; peer hands it to a guest
# that listens on 8002 (accept ... helper peer).  One sockoutd serves both
# ends, as two sites would each serve one.
conf_good "helper home data /run/sockout-im/home.data event /run/sockout-im/home.event
helper peer data /run/sockout-im/peer.data event /run/sockout-im/peer.event
connect 203.0.113.99 port 8002 helper home to peer@example.org
accept port 8002 helper peer
connect any deny"
V -t 40 'systemctl reload sockoutd' || fail "systemctl reload (IM helpers)"
# im_up - until sockoutd has both IM helpers up and home sees peer online.
im_up() {
	V -t 90 'for i in $(seq 150); do sockoutctl helpers | grep -q "^home *up" && sockoutctl helpers | grep -q "^peer *up" &&
		sockoutctl helpers --json | grep -q "\"jid\":\"peer@example.org\",\"online\":true" && exit 0; sleep 0.4; done
		sockoutctl helpers; exit 1' || {
		V 'journalctl -u "sockout-im@*" -u sockoutd --no-pager -o short-monotonic | tail -40'
		fail "sockout-im@home/peer not up with each other online ($1)"; }
	log "home and peer up in sockoutd, peer online for home ($1)"
}
im_up "first start"
V 'sockoutctl helpers'
V -t 30 'systemd-run -q --unit=im-guest-www unshare -n sh -c "ip link set lo up; cd /srv/www && exec sockout-run -- python3 -m http.server 8002"
	for i in $(seq 100); do journalctl -u sockout-im@peer --no-pager -o cat | grep -q "accepting port 8002" && exit 0; sleep 0.3; done
	journalctl -u sockout-im@peer -u im-guest-www --no-pager | tail -20; exit 1' ||
	fail "the guest server behind sockout-im@peer does not listen"
out=$(vm_run -t 60 "unshare -n sh -c 'ip link set lo up; sockout-run -- curl -sS --max-time 30 http://203.0.113.99:8002/'" 2>&1)
[ "$out" = hello-from-vm ] || {
	V 'journalctl -u "sockout-im@*" --no-pager -o cat | tail -30'
	fail "through sockout-im home -> peer: the guest got: $out"; }
log "through sockout-im@home -> peer@example.org -> sockout-im@peer: the guest reached the guest server"
killed sockout-im@home.service 8002 203.0.113.99 60
# The restarted helper logged in again (the journal holds both runs).
n=$(vm_run -t 30 'journalctl -u sockout-im@home --no-pager -o cat | grep -c "xmpp: logged in as home@example.org"')
[ "${n:-0}" -ge 2 ] || fail "sockout-im@home did not log in again after its restart (logins in the journal: $n)"

log "systemd-analyze security"
V 'systemd-analyze security --no-pager sockoutd.service sockout-plain@one.service sockout-ssh@office.service sockout-im@home.service' \
	>"$T/security.txt" 2>&1
cat "$T/security.txt"
V 'for u in sockoutd.service sockout-plain@one.service sockout-ssh@office.service sockout-im@x.service; do
	systemd-analyze security --no-pager $u | grep "Overall exposure" || exit 1; done' ||
	fail "systemd-analyze security"

V 'systemctl --failed --no-legend --no-pager' >"$T/failed.txt"
[ -s "$T/failed.txt" ] && { cat "$T/failed.txt"; fail "failed units in the VM"; }
log "power off"
vm_stop || fail "the VM did not power off cleanly"
log "total $(( $(date +%s) - t_start ))s (boot ${VM_BOOT_S}s, $VM_ACCEL)"
pass
