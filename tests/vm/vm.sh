# tests/vm/vm.sh - boot the test VM (tests/vm/image) and run commands in it.
# Sourced by tests (after tests/lib.sh, or alone: tests/vm/boot).
#
#   vm_boot DIR [MEM_MIB]   boot the image; DIR is this VM's work dir (FIFOs,
#                           console log, the shared folder DIR/share, which
#                           the guest sees at /mnt/host).  Returns once the
#                           agent answers.  Sets VM_PID, VM_ACCEL (kvm|tcg),
#                           VM_BOOT_S (seconds from start to agent ready).
#   vm_run [-t S] CMD...    run CMD (bash -c, words joined) in the VM as root;
#                           stdin goes in, stdout/stderr come out, exit status
#                           is CMD's (124: timed out inside, 123: no reply).
#   vm_stop                 power off cleanly (bounded), else kill QEMU.
#
# No network: the guest has no NIC at all (-nic none); it has its own
# loopback, which is where the tests' servers live.  VM_NETDEV (one QEMU
# -netdev value, spaces allowed, id n0) replaces -nic none with a virtio NIC
# on it, e.g. a restricted user-mode network whose only way out is a
# guestfwd to sockoutd (test 82, bench/vm.sh); the guest then configures
# eth0 itself (vm_net_up).  VM_NETNS runs QEMU (and so its user-mode
# network's connections) in that network namespace.  Files go in through a
# 9p share of DIR/share (read-write, so results can come back too).
#
# KVM is used when it works: /dev/kvm exists on these machines but nested
# KVM has hung before the kernel printed anything, so a short probe (does a
# kernel print its banner within VM_KVM_PROBE_S seconds?) decides, once per
# host boot (the answer is cached in build/vm/kvm-probe).  Otherwise TCG.
# VM_ACCEL=tcg|kvm forces one.

VM_TOP=${VM_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
VM_PID=""
VM_DIR=""
VM_IMG=""

_vm_log() { printf '%s: vm: %s\n' "$(date +%T.%3N)" "$*" >&2; }

# vm_image - build or reuse the image; sets VM_IMG.
vm_image() {
	VM_IMG=$("$VM_TOP/tests/vm/image") || return 1
}

# _vm_kvm_works IMGDIR - 0 when KVM boots a kernel far enough to print.
_vm_kvm_works() {
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
	local cache=$VM_TOP/build/vm/kvm-probe bootid
	bootid=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)
	if [ -f "$cache" ] && [ "$(head -1 "$cache")" = "$bootid" ]; then
		[ "$(sed -n 2p "$cache")" = yes ]
		return
	fi
	local log; log=$(mktemp)
	# No root fs: the kernel panics at once, panic=-1 reboots, -no-reboot exits.
	timeout -k 2 "${VM_KVM_PROBE_S:-10}" qemu-system-x86_64 -accel kvm -cpu host -m 256 \
		-nodefaults -display none -no-reboot -serial "file:$log" \
		-kernel "$1/vmlinuz" -append "console=ttyS0 panic=-1 loglevel=4" >/dev/null 2>&1
	local ok=no
	grep -q 'Linux version' "$log" && ok=yes
	rm -f "$log"
	printf '%s\n%s\n' "$bootid" "$ok" >"$cache"
	[ $ok = yes ]
}

vm_boot() {
	VM_DIR=$1
	local mem=${2:-1024} img accel cpu t0
	local net=(-nic none)
	[ -z "${VM_NETDEV:-}" ] || net=(-netdev "$VM_NETDEV" -device virtio-net-pci,netdev=n0)
	[ -n "$VM_IMG" ] || vm_image || return 1
	img=$VM_IMG
	mkdir -p "$VM_DIR/share"
	rm -f "$VM_DIR/agent.in" "$VM_DIR/agent.out"
	mkfifo "$VM_DIR/agent.in" "$VM_DIR/agent.out" || return 1
	: >"$VM_DIR/agent.lock"
	accel=${VM_ACCEL:-}
	if [ -z "$accel" ]; then
		if _vm_kvm_works "$img"; then accel=kvm; else accel=tcg; fi
	fi
	if [ "$accel" = kvm ]; then cpu="-accel kvm -cpu host"; else cpu="-accel tcg -cpu max"; fi
	VM_ACCEL=$accel
	t0=$(date +%s%N)
	# snapshot=on: the guest writes to a temporary overlay; the cached
	# image is never changed, so every boot starts from the same state.
	# shellcheck disable=SC2086
	${VM_NETNS:+ip netns exec "$VM_NETNS"} qemu-system-x86_64 $cpu -m "$mem" -smp 2 -nodefaults -display none -no-reboot \
		"${net[@]}" \
		-serial "file:$VM_DIR/console.log" \
		-kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
		-append "root=/dev/vda rw console=ttyS0 panic=-1 mitigations=off net.ifnames=0 systemd.show_status=0 loglevel=4" \
		-drive "file=$img/rootfs.img,if=virtio,format=raw,snapshot=on" \
		-device virtio-serial-pci \
		-chardev "pipe,id=agent,path=$VM_DIR/agent" \
		-device virtserialport,chardev=agent,name=org.sockout.agent.0 \
		-virtfs "local,path=$VM_DIR/share,mount_tag=host0,security_model=none,id=host0" \
		-pidfile "$VM_DIR/qemu.pid" \
		>"$VM_DIR/qemu.log" 2>&1 &
	VM_PID=$!
	# lib.sh's cleanup kills what bg started; do the same for QEMU.
	if declare -F at_exit >/dev/null; then at_exit vm_kill; fi
	_vm_log "QEMU pid $VM_PID ($accel), console $VM_DIR/console.log"
	# The first request waits in the FIFO until the agent opens its port.
	if ! vm_run -t "${VM_BOOT_TIMEOUT:-180}" true; then
		_vm_log "the VM agent never answered; last console lines:"
		tail -n 30 "$VM_DIR/console.log" >&2
		cat "$VM_DIR/qemu.log" >&2
		return 1
	fi
	t0=$(( ($(date +%s%N) - t0) / 1000000 ))
	VM_BOOT_S=$((t0 / 1000)).$(printf %03d $((t0 % 1000)))
	vm_run -t 30 'mkdir -p /mnt/host && mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 host0 /mnt/host' ||
		{ _vm_log "cannot mount the 9p share"; return 1; }
	_vm_log "agent ready after ${VM_BOOT_S}s"
}

# vm_net_up [ADDR/LEN] - bring up eth0 with a static address (slirp's
# default 10.0.2.15/24; no DHCP client in the image, no default route:
# what the guest reaches is on its link, i.e. the guestfwd addresses).
vm_net_up() {
	vm_run -t 30 "ip link set eth0 up && ip addr add ${1:-10.0.2.15/24} dev eth0"
}

vm_run() {
	local t=60
	if [ "${1:-}" = -t ]; then t=$2; shift 2; fi
	python3 "$VM_TOP/tests/vm/vmctl.py" --timeout "$t" --pid "${VM_PID:-0}" "$VM_DIR" -- "$@"
}

vm_kill() {
	[ -n "$VM_PID" ] || return 0
	kill "$VM_PID" 2>/dev/null
	local n=20
	while [ $n -gt 0 ] && kill -0 "$VM_PID" 2>/dev/null; do sleep 0.1; n=$((n - 1)); done
	kill -9 "$VM_PID" 2>/dev/null
	wait "$VM_PID" 2>/dev/null
	VM_PID=""
}

vm_stop() {
	[ -n "$VM_PID" ] || return 0
	vm_run -t 10 'systemctl --no-block poweroff' >/dev/null 2>&1
	local n=300
	while [ $n -gt 0 ] && kill -0 "$VM_PID" 2>/dev/null; do sleep 0.1; n=$((n - 1)); done
	if kill -0 "$VM_PID" 2>/dev/null; then
		_vm_log "no clean poweroff in 30 s: killing QEMU"
		vm_kill
		return 1
	fi
	wait "$VM_PID" 2>/dev/null
	VM_PID=""
}
