#!/bin/bash
# timeout: 600
# san: no -- the VM runs the plain build's binaries either way (the image
# has no libasan); sockoutd's stream mode under ASan is 81's.
# 82-vm-guest: a real virtual machine as a sockout guest (tests/vm: Debian
# 12, QEMU, TCG here).  The VM's only network is QEMU's user-mode stack
# with restrict=on, whose one way out is a guestfwd: each guest connection
# to 10.0.2.100:1024 becomes a socat to sockoutd's `guest-stream' Unix
# endpoint (one stream per connection: the guest protocol's stream mode,
# no descriptor crosses the VM boundary).  Inside the VM the project's own
# sockout-run and shim (-s tcp:10.0.2.100:1024) run unmodified programs:
#  * without sockout-run the VM reaches nothing (no network of its own);
#  * curl fetches 4 MiB through `direct' (sha256 in the VM);
#  * the same through the vsock transport (-s vsock:1:1024): the VM's own
#    vsock loopback to a socat that passes it on to the guestfwd, so the
#    shim's AF_VSOCK code runs for real (this host has no vhost-vsock);
#  * curl fetches it through `helper office': sockout-ssh to a real
#    OpenSSH sshd, whose loopback only it reaches (sha256);
#  * socat uploads 4 MiB through `direct' (sha256 at the server);
#  * a web server in the VM (python3 http.server) is reached from the
#    server namespace through `accept port 8080 direct' (sha256).
# The rules say `from uid 4242': the uid the endpoint gives the VM.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib-ssh.sh"
. "$TOP/tests/vm/vm.sh"
need qemu-system-x86_64 debootstrap mke2fs python3 curl socat
[ -x "$BIN/sockoutd" ] && [ -x "$BIN/sockout-run" ] && [ -x "$BIN/sockout-ssh" ] ||
	fail "sockoutd/sockout-run/sockout-ssh not built (run make)"

# The VM's binaries: the build under test, unless it is a sanitizer build
# (the image has no libasan): then the plain build's, and sockoutd (the
# side that reads what the VM sends) still runs under the sanitizers.
GBIN=$BIN
if ldd "$BIN/sockout-run" | grep -q libasan; then
	GBIN=$TOP/build
	[ -x "$GBIN/sockout-run" ] && [ -f "$GBIN/libsockout-guest.so" ] ||
		skip "a sanitizer build needs build/ too for the VM's binaries (make all)"
fi

log "image"
vm_image || fail "the VM image could not be built (tests/vm/image)"

topo_basic
ssh_keys
ssh_sshd gw "$NS_S" 198.51.100.2 2222
ssh_helper_conf "$T/office.conf" 198.51.100.2 2222 office
ssh_helper "$NS_H" "$T/office.conf" office
ssh_wait_up office

cat >"$T/sockoutd.conf" <<CONF
guest-socket   $T/guest.sock
control-socket $T/control.sock
guest-stream   $T/vm1.sock name vm1 uid 4242
helper office  data $T/office.data event $T/office.event
connect 198.51.100.2 port 8000 from uid 4242 direct
connect 198.51.100.2 port 9000 from uid 4242 direct
connect 192.0.2.80 port 80 from uid 4242 helper office to 127.0.0.1:8000
accept  port 8080 from uid 4242 direct
connect any    deny
accept  any    deny
CONF
start_sockoutd "$T/sockoutd.conf"
wait_sock "$T/vm1.sock"

mkdir -p "$T/www" "$T/vm/share/bin" "$T/vm/share/www"
mkdata "$T/www/data.bin" 4
mkdata "$T/vm/share/www/vm.bin" 4
mkdata "$T/vm/share/up.bin" 4
cp "$GBIN/sockout-run" "$GBIN/libsockout-guest.so" "$T/vm/share/bin/"
bgns "$NS_S" python3 -m http.server -d "$T/www" -b 0.0.0.0 8000 >"$T/http.log" 2>&1
bgns "$NS_S" python3 "$TOP/tests/integration/echo-server.py" 198.51.100.2 9000 --sink "$T/up.bin" >"$T/sink.log" 2>&1
wait_tcp "$NS_S" 8000
wait_tcp "$NS_S" 9000

log "boot"
# -t: socat waits this long for the other direction after one side's EOF
# (its default, 0.5 s, would cut a half-closed connection short).
VM_NETDEV="user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:1024-cmd:socat -t 600 - UNIX-CONNECT:$T/vm1.sock" \
	vm_boot "$T/vm" || fail "the VM did not boot to its agent"
log "booted ($VM_ACCEL) in ${VM_BOOT_S}s"
at_exit 'cp "$T/vm/console.log" "$T/vm-console.log"'
vm_net_up || fail "eth0 in the VM"
vm_run 'cp /mnt/host/bin/* /usr/local/bin/ && mkdir -p /tmp/www && cp /mnt/host/www/vm.bin /tmp/www/' ||
	fail "copying the guest binaries into the VM"
SR="sockout-run -s tcp:10.0.2.100:1024 --"

log "without sockout-run the VM reaches nothing"
vm_run -t 30 'curl -sS --max-time 5 -o /dev/null http://198.51.100.2:8000/data.bin' 2>"$T/native.log" &&
	fail "the VM reached the server without sockout"

log "curl in the VM through direct: 4 MiB"
t0=$(date +%s%N)
got=$(vm_run -t 120 "$SR curl -sS --max-time 100 -o /tmp/d.bin http://198.51.100.2:8000/data.bin && sha256sum /tmp/d.bin") ||
	fail "curl through direct failed: $got"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "${got%% *}" = "$(sha "$T/www/data.bin")" ] || fail "sha256 through direct differs: $got"
log "4 MiB in ${ms} ms"

log "the vsock transport: sockout-run -s vsock:1:1024 (VM-local vsock relay)"
vm_run 'modprobe vsock_loopback && systemd-run --unit=vsockfwd socat VSOCK-LISTEN:1024,fork TCP:10.0.2.100:1024' ||
	fail "vsock loopback relay in the VM"
vm_run -t 30 'for i in $(seq 50); do ss -Hl --vsock | grep -q 1024 && exit 0; sleep 0.2; done; exit 1' ||
	fail "the VM's vsock relay does not listen"
got=$(vm_run -t 120 "sockout-run -s vsock:1:1024 -- curl -sS --max-time 100 -o /tmp/v.bin http://198.51.100.2:8000/data.bin && sha256sum /tmp/v.bin") ||
	fail "curl over the vsock transport failed: $got"
[ "${got%% *}" = "$(sha "$T/www/data.bin")" ] || fail "sha256 over the vsock transport differs: $got"

log "curl in the VM through sockout-ssh to sshd's loopback"
got=$(vm_run -t 120 "$SR curl -sS --max-time 100 -o /tmp/s.bin http://192.0.2.80/data.bin && sha256sum /tmp/s.bin") ||
	fail "curl through helper office failed: $got"
[ "${got%% *}" = "$(sha "$T/www/data.bin")" ] || fail "sha256 through sockout-ssh differs: $got"
grep -q "direct-tcpip" "$T/sshd-gw.log" || fail "sshd saw no direct-tcpip channel"

log "upload 4 MiB from the VM through direct"
vm_run -t 120 "$SR socat -u OPEN:/mnt/host/up.bin TCP:198.51.100.2:9000" >"$T/up.out" 2>&1 ||
	fail "upload failed: $(cat "$T/up.out")"
wait_for 30 test -f "$T/up.bin" || fail "the sink never finished"
[ "$(sha "$T/up.bin")" = "$(sha "$T/vm/share/up.bin")" ] || fail "sha256 of the upload differs"

log "a web server in the VM, reached from outside through accept ... direct"
vm_run "systemd-run --unit=vmweb $SR python3 -m http.server -d /tmp/www 8080" ||
	fail "starting the web server in the VM"
wait_tcp "$NS_H" 8080 60
for i in 1 2; do
	ip netns exec "$NS_S" curl -sS --max-time 120 -o "$T/in$i.bin" http://198.51.100.1:8080/vm.bin 2>"$T/curl-in.log" ||
		fail "curl to the VM's server failed: $(cat "$T/curl-in.log")"
	[ "$(sha "$T/in$i.bin")" = "$(sha "$T/vm/share/www/vm.bin")" ] || fail "sha256 from the VM's server differs ($i)"
done

vm_stop
pass
