#!/bin/bash
# timeout: 120
# 34-ssh-hostkey: host keys are always verified.  A server whose key is
# not in known-hosts, or differs from it, gets no session: the helper logs
# a line saying "host key" and fails connects at once instead of hanging.
# A server that is not there at all: the same fast failure.  The config
# check (-n) reports every bad line as file:line.  SIGHUP reloads: a broken
# file is refused, a fixed known-hosts lets the helper log in without a
# restart.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-ssh.sh"
[ -x "$BIN/tests/tools/sockout-probe" ] || fail "sockout-probe not built (run make)"

topo_basic
ssh_keys
ssh_sshd gw "$NS_S" 198.51.100.2 2222

# fast_fail NAME - a connect through helper NAME fails quickly (not a hang).
fast_fail() {
	local out rc=0
	out=$(timeout 10 ip netns exec "$NS_H" "$BIN/tests/tools/sockout-probe" \
		-d "$T/$1.data" -e "$T/$1.event" -t 127.0.0.1:22 connect 198.51.100.2:22 </dev/null 2>&1) || rc=$?
	[ $rc = 2 ] || fail "$1: connect did not fail fast (rc $rc): $out"
	log "$1: $out"
}

log "a different host key in known-hosts: mismatch"
ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/other_host" || fail "ssh-keygen"
ssh_helper_conf "$T/mitm.conf" 198.51.100.2 2222 mitm
echo "[198.51.100.2]:2222 $(cut -d' ' -f1,2 "$T/ssh/other_host.pub")" >"$T/ssh/known_hosts-mitm"
ssh_helper "$NS_H" "$T/mitm.conf" mitm
echo "$HELPER_PID" >"$T/mitm.pid"
wait_for 15 grep -q "host key" "$T/helper-mitm.log" || fail "no 'host key' line in the log"
grep "host key" "$T/helper-mitm.log" | head -1
grep -q "does NOT match" "$T/helper-mitm.log" || fail "mismatch not reported as such"
grep -q "logged in" "$T/helper-mitm.log" && fail "logged in despite a wrong host key"
fast_fail mitm

log "the server is not in known-hosts at all: unknown is as fatal"
ssh_helper_conf "$T/unknown.conf" 198.51.100.2 2222 unknown
echo "[198.51.100.9]:2222 $(cut -d' ' -f1,2 "$T/ssh/host_ed25519.pub")" >"$T/ssh/known_hosts-unknown"
ssh_helper "$NS_H" "$T/unknown.conf" unknown
wait_for 15 grep -q "host key.*not in known-hosts" "$T/helper-unknown.log" || fail "unknown host key not reported"
grep -q "logged in" "$T/helper-unknown.log" && fail "logged in to an unknown host"
fast_fail unknown

log "a wrong user key: authentication fails, connects fail fast"
ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/stranger" || fail "ssh-keygen"
ssh_helper_conf "$T/stranger.conf" 198.51.100.2 2222 stranger "identity-pub $T/ssh/stranger.pub"
sed -i "s|^identity .*|identity      $T/ssh/stranger|" "$T/stranger.conf"
ssh_helper "$NS_H" "$T/stranger.conf" stranger
wait_for 15 grep -q "authentication" "$T/helper-stranger.log" || fail "auth failure not logged"
fast_fail stranger

log "nobody listens where the server should be"
ssh_helper_conf "$T/dead.conf" 198.51.100.2 2299 dead
ssh_helper "$NS_H" "$T/dead.conf" dead
wait_for 15 grep -q "failed" "$T/helper-dead.log" || fail "dead server not reported"
fast_fail dead

log "the good configuration logs in (the setup itself is sound)"
ssh_helper_conf "$T/good.conf" 198.51.100.2 2222 good
ssh_helper "$NS_H" "$T/good.conf" good
ssh_wait_up good

log "SIGHUP: a broken file changes nothing, a fixed known-hosts lets mitm log in"
cp "$T/mitm.conf" "$T/mitm.conf.orig"
echo "sessions lots" >>"$T/mitm.conf"
kill -HUP "$(cat "$T/mitm.pid")"
wait_for 10 grep -q "keeping the running configuration" "$T/helper-mitm.log" || fail "broken reload not refused"
grep -v "^known-hosts" "$T/mitm.conf.orig" >"$T/mitm.conf"
echo "known-hosts $T/ssh/known_hosts-good" >>"$T/mitm.conf"
kill -HUP "$(cat "$T/mitm.pid")"
wait_for 10 grep -q "reloaded" "$T/helper-mitm.log" || fail "reload not done"
ssh_wait_up mitm 1 20

log "config check: every error with file:line, Terrapin-prone algorithms refused"
cat >"$T/bad.conf" <<EOC
data-socket $T/x.data
event-socket $T/x.event
server 198.51.100.2:99999
user root
identity $T/ssh/nonexistent
known-hosts $T/ssh/known_hosts-good
ciphers chacha20-poly1305@openssh.com
macs hmac-sha2-256-etm@openssh.com
EOC
rc=0
"$BIN/sockout-ssh" -n -c "$T/bad.conf" >"$T/check.out" 2>&1 || rc=$?
cat "$T/check.out"
[ $rc != 0 ] || fail "bad config accepted"
grep -q "bad.conf:3: server" "$T/check.out" || fail "server error missing"
grep -q "bad.conf:5: identity" "$T/check.out" || fail "identity error missing"
grep -q "bad.conf:7: ciphers.*Terrapin" "$T/check.out" || fail "chacha20 accepted"
grep -q "bad.conf:8: macs.*Terrapin" "$T/check.out" || fail "EtM accepted"
"$BIN/sockout-ssh" -n -c "$T/good.conf" | grep -qx "configuration OK" || fail "good config rejected"
pass
