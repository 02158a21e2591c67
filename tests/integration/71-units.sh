#!/bin/bash
# timeout: 180
# san: no
# 71-units: what `make install PREFIX=/usr' installs is what systemd needs.
# Every unit's ExecStart points into /usr/sbin, at a file that was
# installed there; `systemd-analyze verify' passes on each installed unit
# with the installed binaries mounted over /usr/sbin (a private mount
# namespace, nothing on the host changes); no unit runs as root, each
# User=/Group= is created by the installed sysusers.d file, and sockoutd's
# capabilities are CAP_NET_BIND_SERVICE and CAP_NET_ADMIN (pin.c), the
# helpers' none; and
# `systemd-analyze security --offline=yes' scores each unit at most
#   1.5 for a helper: its floor is 1.2, the host network it exists to use
#       (PrivateNetwork 0.5, IPAddressDeny 0.2, AF_INET/AF_UNIX 0.4) and
#       the host's root directory (0.1);
#   2.0 for sockoutd: the same 1.2, plus the full /proc it needs to see
#       guests of every user (0.3) and its two capabilities (0.3; it
#       scored 1.7 with CAP_NET_BIND_SERVICE alone, 1.8 with CAP_NET_ADMIN).
# A unit run as root scores 2.3 (sockoutd) and 4.6 (helpers) with every
# other setting unchanged: over both limits.
. "$(dirname "$0")/../lib.sh"
need systemd-analyze unshare make
R=$T/root
log "make install DESTDIR=\$T/root PREFIX=/usr"
san=
[ "$(basename "$BIN")" = build-san ] && san=1
make -C "$TOP" --no-print-directory SAN=$san install DESTDIR="$R" PREFIX=/usr >"$T/install.log" 2>&1 ||
	fail "make install: $(tail -5 "$T/install.log")"
UD=$R/usr/lib/systemd/system
SU=$R/usr/lib/sysusers.d/sockout.conf
[ -f "$SU" ] || fail "no sysusers.d file installed"
units=$(cd "$UD" && ls *.service 2>/dev/null)
[ "$(echo $units)" = "sockout-im@.service sockout-plain@.service sockout-ssh@.service sockoutd.service" ] ||
	fail "installed units: $(echo $units)"

# key UNITFILE - the values of KEY= lines, one per line
key() { sed -n "s/^$1=//p" "$2"; }
mkdir "$T/inst"
for u in $units; do
	f=$UD/$u
	grep -n '@[a-z]*@' "$f" && fail "$u: template variable left"
	ex=$(key 'Exec[A-Za-z]*' "$f" | awk '{print $1}' | sort -u)
	for e in $ex; do
		case "$e" in
		/usr/sbin/sockout*) [ -x "$R$e" ] || fail "$u: $e was not installed" ;;
		/bin/kill) ;;
		*) fail "$u: Exec line runs $e, not from /usr/sbin" ;;
		esac
	done
	user=$(key User "$f") group=$(key Group "$f")
	[ -n "$user" ] && [ "$user" != root ] && [ "$user" != 0 ] || fail "$u runs as root (User=$user)"
	[ -n "$group" ] || fail "$u: no Group="
	awk -v n="$user" '$1=="u" && $2==n {f=1} END {exit !f}' "$SU" || fail "$u: user $user not in sysusers.d"
	awk -v n="$group" '$1=="g" && $2==n {f=1} END {exit !f}' "$SU" || fail "$u: group $group not in sysusers.d"
	key NoNewPrivileges "$f" | grep -qx yes || fail "$u: NoNewPrivileges"
	case $u in
	sockoutd.service)
		[ "$(key CapabilityBoundingSet "$f")" = "CAP_NET_BIND_SERVICE CAP_NET_ADMIN" ] || fail "$u: bounding set"
		[ "$(key AmbientCapabilities "$f")" = "CAP_NET_BIND_SERVICE CAP_NET_ADMIN" ] || fail "$u: ambient set"
		inst=$u ;;
	*)
		[ "$(key CapabilityBoundingSet "$f")" = "" ] && grep -qx 'CapabilityBoundingSet=' "$f" ||
			fail "$u: capabilities not emptied"
		key AmbientCapabilities "$f" | grep -q . && fail "$u: ambient capabilities"
		[ "$group" = sockout ] || fail "$u: primary group $group, not the trust group sockout"
		inst=${u/@./@test.} ;;
	esac
	# the same bytes under an instance name (verify and security want one)
	cp "$f" "$T/inst/$inst"
done

log "systemd-analyze verify, installed binaries mounted over /usr/sbin"
for u in $(ls "$T/inst"); do
	# verify warns about unrelated units on some hosts: judge only ours
	unshare --mount --propagation private sh -c '
		mount -t overlay overlay -o lowerdir="$1/usr/sbin":/usr/sbin /usr/sbin || exit 99
		SYSTEMD_LOG_LEVEL=warning exec systemd-analyze verify --man=no "$2"' sh "$R" "$T/inst/$u" \
		>"$T/verify-$u.log" 2>&1
	rc=$?
	[ $rc = 99 ] && skip "cannot mount an overlay here: $(cat "$T/verify-$u.log")"
	cat "$T/verify-$u.log"
	grep -F "${u%%@*}" "$T/verify-$u.log" && fail "verify complained about $u"
	[ $rc = 0 ] || fail "systemd-analyze verify $u: exit $rc"
done

log "systemd-analyze security --offline=yes"
for u in $(ls "$T/inst"); do
	case $u in sockoutd.service) lim=2.0 ;; *) lim=1.5 ;; esac
	(cd "$T/inst" && systemd-analyze security --offline=yes --no-pager "$u") >"$T/sec-$u.log" 2>&1
	score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p' "$T/sec-$u.log")
	[ -n "$score" ] || fail "no score for $u: $(tail -3 "$T/sec-$u.log")"
	log "exposure $u: $score (limit $lim)"
	awk -v s="$score" -v l="$lim" 'BEGIN {exit !(s <= l)}' ||
		fail "$u: exposure $score over $lim: $(grep '✗' "$T/sec-$u.log")"
	grep -q "Service runs as root" "$T/sec-$u.log" && fail "$u: systemd-analyze says it runs as root"
done
pass
