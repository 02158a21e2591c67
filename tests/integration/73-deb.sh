#!/bin/bash
# timeout: 600
# san: no
# 73-deb: `make deb' builds the Debian packages with Debian's tools into
# build/deb/, and they hold what an installed sockout needs:
#   * exactly sockout, sockout-ssh and sockout-im (no -dbgsym), and the
#     .changes; lintian (with info and pedantic tags) reports nothing;
#   * every program, the shim in /usr/lib/sockout where sockout-run looks,
#     the units in /lib/systemd/system (dh_installsystemd's place on
#     Debian 12), the sysusers.d file, every man page, every example config,
#     the default table as a conffile; nothing else in /usr/lib/debug;
#   * the helpers depend on this very sockout; sockout's postinst creates
#     the users (systemd-sysusers) before it starts sockoutd, enables
#     sockoutd.service and no template unit;
#   * unpacked into a scratch root (dpkg -x): each unit's Exec lines name a
#     program the packages ship; systemd-sysusers --root creates every
#     User=/Group= the units name; the shipped configs pass the programs'
#     own checks (-n; the helpers' with their credential paths pointed at
#     scratch files); and the unpacked sockout-run, with no
#     SOCKOUT_GUEST_LIB, finds the unpacked shim and brings a guest with
#     no network to a server through the unpacked sockoutd.
. "$(dirname "$0")/../lib.sh"
need make dpkg-deb dpkg-parsechangelog python3 curl systemd-sysusers ssh-keygen
OUT=$TOP/build/deb
# One version: the package's (debian/changelog) is the one sockoutd reports.
ARCH=$(dpkg --print-architecture)
VER=$(dpkg-parsechangelog -l "$TOP/debian/changelog" -S Version) || fail "debian/changelog"
grep -q "define SOCKOUTD_VERSION \"$VER\"" "$TOP/dispatcher/sockoutd.h" ||
	fail "debian/changelog says $VER, dispatcher/sockoutd.h $(grep 'define SOCKOUTD_VERSION' "$TOP/dispatcher/sockoutd.h")"

log "make deb"
make -C "$TOP" --no-print-directory deb >"$T/make-deb.log" 2>&1 || fail "make deb failed"
grep -q 'dpkg-buildpackage -b -us -uc' "$T/make-deb.log" || fail "make deb did not run dpkg-buildpackage -b"
debs=$(cd "$OUT" && ls *.deb 2>/dev/null | tr '\n' ' ')
[ "$debs" = "sockout-im_${VER}_${ARCH}.deb sockout-ssh_${VER}_${ARCH}.deb sockout_${VER}_${ARCH}.deb " ] ||
	fail "build/deb holds: $debs"
[ -f "$OUT/sockout_${VER}_${ARCH}.changes" ] || fail "no .changes in build/deb"
# The build ran in a copy: nothing of it is left in the tree or beside it.
[ ! -e "$TOP/debian/tmp" ] && [ ! -e "$TOP/debian/files" ] && [ ! -e "$OUT/src" ] ||
	fail "make deb left build files in the tree"

log "lintian"
if command -v lintian >/dev/null; then
	lintian -I --pedantic "$OUT/sockout_${VER}_${ARCH}.changes" >"$T/lintian.log" 2>&1 || fail "lintian failed"
	grep -E '^[EWIPXCO]: ' "$T/lintian.log" && fail "lintian tags (see above)"
else
	[ "${CI:-}" = true ] && fail "lintian not installed (scripts/install-deps should have)"
	log "lintian not installed: skipped"
fi

log "contents"
# have DEB PATH... - each PATH is in the package
have() {
	local d=$OUT/$1 p
	shift
	dpkg-deb -c "$d" | awk '{print substr($6, 2)}' >"$T/list"
	for p in "$@"; do grep -qx "$p" "$T/list" || fail "$(basename "$d") lacks $p"; done
}
have sockout_${VER}_${ARCH}.deb /usr/sbin/sockoutd /usr/sbin/sockout-plain /usr/bin/sockoutctl \
	/usr/bin/sockout-run /usr/lib/sockout/libsockout-guest.so \
	/lib/systemd/system/sockoutd.service /lib/systemd/system/sockout-plain@.service \
	/usr/lib/sysusers.d/sockout.conf /etc/sockout/sockoutd.conf \
	/usr/share/man/man1/sockout-run.1.gz /usr/share/man/man5/sockoutd.conf.5.gz \
	/usr/share/man/man8/sockoutd.8.gz /usr/share/man/man8/sockoutctl.8.gz \
	/usr/share/man/man8/sockout-plain.8.gz /usr/share/doc/sockout/copyright \
	/usr/share/doc/sockout/examples/sockoutd.conf /usr/share/doc/sockout/examples/sockout-plain.conf \
	/usr/share/doc/sockout/examples/sockout-ssh.conf /usr/share/doc/sockout/examples/sockout-im.conf
grep -q '^/usr/lib/debug' "$T/list" && fail "debug files in the sockout package"
have sockout-ssh_${VER}_${ARCH}.deb /usr/sbin/sockout-ssh /lib/systemd/system/sockout-ssh@.service \
	/usr/share/man/man8/sockout-ssh.8.gz /usr/share/doc/sockout-ssh/copyright
have sockout-im_${VER}_${ARCH}.deb /usr/sbin/sockout-im /lib/systemd/system/sockout-im@.service \
	/usr/share/man/man8/sockout-im.8.gz /usr/share/doc/sockout-im/copyright
for h in ssh im; do
	dpkg-deb -f "$OUT/sockout-${h}_${VER}_${ARCH}.deb" Depends | grep -qF "sockout (= $VER)" ||
		fail "sockout-$h does not depend on sockout (= $VER)"
done
dpkg-deb -f "$OUT/sockout-im_${VER}_${ARCH}.deb" Depends | grep -q libstrophe || fail "sockout-im: no libstrophe dependency"
dpkg-deb -f "$OUT/sockout_${VER}_${ARCH}.deb" Depends | grep -q libstrophe && fail "sockout depends on libstrophe"

dpkg-deb -e "$OUT/sockout_${VER}_${ARCH}.deb" "$T/ctl"
grep -qx /etc/sockout/sockoutd.conf "$T/ctl/conffiles" || fail "sockoutd.conf is not a conffile"
pi=$T/ctl/postinst
grep -q "deb-systemd-helper enable 'sockoutd.service'" "$pi" || fail "postinst does not enable sockoutd"
su=$(grep -n 'systemd-sysusers .*sockout.conf' "$pi" | cut -d: -f1 | head -1)
st=$(grep -n "deb-systemd-invoke .*'sockoutd.service'" "$pi" | cut -d: -f1 | head -1)
[ -n "$su" ] && [ -n "$st" ] && [ "$su" -lt "$st" ] || fail "postinst: users (line $su) not created before sockoutd starts (line $st)"
for h in ssh im; do
	dpkg-deb -e "$OUT/sockout-${h}_${VER}_${ARCH}.deb" "$T/ctl-$h"
	cat "$T/ctl-$h/postinst" 2>/dev/null
done >"$T/helper-postinst"
grep -q 'enable .*@' "$pi" "$T/helper-postinst" && fail "a template unit is enabled by a postinst"

log "unpacked into a scratch root"
R=$T/root
for d in "$OUT"/*.deb; do dpkg -x "$d" "$R" || fail "dpkg -x $d"; done
for u in "$R"/lib/systemd/system/*.service; do
	grep -n '@[a-z]*@' "$u" && fail "$(basename "$u"): template variable left"
	for e in $(sed -n 's/^Exec[A-Za-z]*=[-+!@]*//p' "$u" | awk '{print $1}' | sort -u); do
		[ "$e" = /bin/kill ] || [ -x "$R$e" ] || fail "$(basename "$u") runs $e, which no package ships"
	done
done
mkdir -p "$R/etc"
systemd-sysusers --root="$R" >"$T/sysusers.log" 2>&1 || fail "systemd-sysusers --root failed"
gid=$(awk -F: '$1=="sockout"{print $3}' "$R/etc/group")
[ -n "$gid" ] || fail "group sockout not created"
for u in "$R"/lib/systemd/system/*.service; do
	user=$(sed -n 's/^User=//p' "$u") group=$(sed -n 's/^Group=//p' "$u")
	[ "$group" = sockout ] || fail "$(basename "$u"): Group=$group"
	[ "$(awk -F: -v n="$user" '$1==n{print $4}' "$R/etc/passwd")" = "$gid" ] ||
		fail "$(basename "$u"): user $user not created with primary group sockout"
done

"$R/usr/sbin/sockoutd" -n -c "$R/etc/sockout/sockoutd.conf" | grep -qx "configuration OK" ||
	fail "the shipped /etc/sockout/sockoutd.conf does not pass sockoutd -n"
EX=$R/usr/share/doc/sockout/examples
"$R/usr/sbin/sockoutd" -n -c "$EX/sockoutd.conf" | grep -qx "configuration OK" || fail "examples/sockoutd.conf"
"$R/usr/sbin/sockout-plain" -n -c "$EX/sockout-plain.conf" | grep -qx "configuration OK" || fail "examples/sockout-plain.conf"
# The helpers' examples name systemd credentials; point those at files here.
C=$T/cred
mkdir -m 0700 "$C"
ssh-keygen -q -t ed25519 -N '' -f "$C/ssh_id_ed25519" || fail ssh-keygen
echo "gw.example.org $(cut -d' ' -f1,2 "$C/ssh_id_ed25519.pub")" >"$C/ssh_known_hosts"
"$R/usr/sbin/sockout-im" keygen "$C/im_identity" >/dev/null 2>&1 || fail "sockout-im keygen"
(umask 077 && echo pw >"$C/im_password")
sed "s|/run/credentials/sockout-ssh@office.service/|$C/|" "$EX/sockout-ssh.conf" >"$T/ssh.conf"
sed "s|/run/credentials/sockout-im@home.service/|$C/|" "$EX/sockout-im.conf" >"$T/im.conf"
"$R/usr/sbin/sockout-ssh" -n -c "$T/ssh.conf" >"$T/ssh-n.log" 2>&1
grep -qx "configuration OK" "$T/ssh-n.log" || fail "examples/sockout-ssh.conf: $(cat "$T/ssh-n.log")"
"$R/usr/sbin/sockout-im" -n -c "$T/im.conf" >"$T/im-n.log" 2>&1
grep -q "^configuration OK" "$T/im-n.log" || fail "examples/sockout-im.conf: $(cat "$T/im-n.log")"

log "the unpacked sockout-run finds its shim; a guest reaches a server through the unpacked sockoutd"
topo_basic
mkdir "$T/www"
echo "served to a packaged guest" >"$T/www/hello.txt"
cat >"$T/sockoutd.conf" <<EOC
guest-socket   $T/guest.sock
control-socket $T/control.sock
connect 198.51.100.2 port 8000 direct
connect any deny
accept  any deny
EOC
bgns "$NS_S" python3 -m http.server 8000 --bind 198.51.100.2 --directory "$T/www" >"$T/http.log" 2>&1
bgns "$NS_H" "$R/usr/sbin/sockoutd" -f -v -c "$T/sockoutd.conf" >"$T/sockoutd.log" 2>&1
wait_sock "$T/guest.sock"
wait_tcp "$NS_S" 8000
ip netns exec "$NS_G" curl -sS -m 3 http://198.51.100.2:8000/hello.txt >/dev/null 2>&1 && fail "the guest has a network"
got=$(ip netns exec "$NS_G" env -u SOCKOUT_GUEST_LIB "$R/usr/bin/sockout-run" -s "$T/guest.sock" -- \
	curl -sS -m 10 http://198.51.100.2:8000/hello.txt 2>"$T/curl.log") || fail "curl under the packaged sockout-run: $(cat "$T/curl.log")"
[ "$got" = "served to a packaged guest" ] || fail "got '$got'"
"$R/usr/bin/sockoutctl" -s "$T/control.sock" status | grep -q "^sockoutd $VER " || fail "packaged sockoutctl status"
pass
