# unit-lib.sh - run a daemon the way its shipped unit (conf/systemd/*.in)
# would, without systemd as PID 1.  Sourced by 70-72, after tests/lib.sh.
# /run is $T/run here.

# users_create - the users and group of conf/sysusers.d; skip when the
# build tree cannot be read by them.
users_create() {
	need setpriv systemd-sysusers
	systemd-sysusers "$TOP/conf/sysusers.d/sockout.conf" || fail "systemd-sysusers"
	setpriv --reuid=sockout --regid=sockout --init-groups test -x "$BIN/sockoutd" ||
		skip "the build tree is not readable by user sockout"
	mkdir -p "$T/run"
}

# unit_key KEY UNIT - the values of KEY= in conf/systemd/UNIT.in
unit_key() { sed -n "s/^$1=//p" "$TOP/conf/systemd/$2.in"; }

# as_unit UNIT [INSTANCE] - do what systemd does for UNIT's
# RuntimeDirectory= and LoadCredential=DIR (files copied to
# $T/run/credentials/UNIT-with-INSTANCE/ID_FILE, 0400, owned by User=, as
# systemd does on ramfs), and set AS_UNIT to the setpriv command that does
# what it does for User=, Group=, CapabilityBoundingSet= and
# AmbientCapabilities=.
as_unit() {
	local u=$1 i=${2:-} user group caps rd lc id src cd f
	user=$(unit_key User "$u") group=$(unit_key Group "$u")
	[ -n "$user" ] && [ -n "$group" ] || fail "$u: no User=/Group="
	caps=$(unit_key AmbientCapabilities "$u" | tr 'A-Z ' 'a-z\n' | sed -n 's/^cap_/+/p' | paste -sd,)
	[ "$(unit_key CapabilityBoundingSet "$u" | tr 'A-Z ' 'a-z\n' | sed -n 's/^cap_/+/p' | paste -sd,)" = "$caps" ] ||
		fail "$u: bounding set and ambient set differ; this test knows only equal ones"
	rd=$(unit_key RuntimeDirectory "$u")
	install -d -m "$(unit_key RuntimeDirectoryMode "$u")" -o "$user" -g "$group" "$T/run/$rd"
	for lc in $(unit_key LoadCredential "$u"); do
		id=${lc%%:*}
		src=$(echo "${lc#*:}" | sed -e "s|@sysconfdir@|$T/etc|" -e "s|%i|$i|g")
		[ -d "$src" ] || fail "$u: credential directory $src missing"
		cd=$T/run/credentials/${u/@./@$i.}
		install -d -m 0700 "$cd"
		for f in "$src"/*; do
			install -m 0400 -o "$user" "$f" "$cd/${id}_$(basename "$f")"
		done
		chown "$user" "$cd"
		chmod 0500 "$cd"
	done
	AS_UNIT=(setpriv --reuid="$user" --regid="$group" --init-groups
		--inh-caps="-all${caps:+,$caps}" --ambient-caps="-all${caps:+,$caps}"
		--bounding-set="-all${caps:+,$caps}")
}
