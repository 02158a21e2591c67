#!/bin/bash
# 30-ssh-forward: sockout-ssh carries connections to a real OpenSSH sshd as
# direct-tcpip channels (like ssh -L), driven through the helper protocol by
# sockout-probe.  20 MiB each way, sha256 checked; a refused target fails
# the connect with ECONNREFUSED; many connections share one session; with
# `sessions 2` (one thread per session) parallel transfers both ways and the
# loss of both sessions under load.
# timeout: 120
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-ssh.sh"
need socat
[ -x "$BIN/tests/tools/sockout-probe" ] || fail "sockout-probe not built (run make)"

topo_basic
ssh_keys
ssh_sshd gw "$NS_S" 198.51.100.2 2222
ssh_helper_conf "$T/office.conf" 198.51.100.2 2222 office
"$BIN/sockout-ssh" -n -c "$T/office.conf" | grep -q "configuration OK" || fail "config check"
ssh_helper "$NS_H" "$T/office.conf" office
ssh_wait_up office

mkdata "$T/down.bin" 20
mkdata "$T/up.bin" 20
# Servers on the SSH server's loopback: reachable only through sshd.
bgns "$NS_S" socat -U TCP-LISTEN:9000,bind=127.0.0.1,reuseaddr,fork OPEN:"$T/down.bin"
bgns "$NS_S" socat -u TCP-LISTEN:9001,bind=127.0.0.1,reuseaddr OPEN:"$T/up.out",creat,trunc
wait_tcp "$NS_S" 9000
wait_tcp "$NS_S" 9001

log "download 20 MiB through a forward"
probe "$NS_H" office -t 127.0.0.1:9000 connect 198.51.100.2:9000 </dev/null >"$T/down.out" || fail "probe download"
[ "$(sha "$T/down.out")" = "$(sha "$T/down.bin")" ] || fail "download sha256 differs"

log "upload 20 MiB through a forward"
probe "$NS_H" office -t 127.0.0.1:9001 connect 198.51.100.2:9001 <"$T/up.bin" >/dev/null || fail "probe upload"
wait_for 10 sh -c "[ \$(stat -c %s '$T/up.out') -eq $((20 * 1024 * 1024)) ]"
[ "$(sha "$T/up.out")" = "$(sha "$T/up.bin")" ] || fail "upload sha256 differs"

log "the guest's own destination when the rule has no target"
bgns "$NS_S" socat -U TCP-LISTEN:9002,bind=198.51.100.2,reuseaddr,fork OPEN:"$T/down.bin"
wait_tcp "$NS_S" 9002
probe "$NS_H" office connect 198.51.100.2:9002 </dev/null >"$T/down2.out" || fail "probe default target"
[ "$(sha "$T/down2.out")" = "$(sha "$T/down.bin")" ] || fail "default-target sha256 differs"

log "8 parallel downloads share the session"
ppids=""
for i in 1 2 3 4 5 6 7 8; do
	probe "$NS_H" office -t 127.0.0.1:9000 connect 198.51.100.2:9000 </dev/null >"$T/par$i.out" &
	ppids="$ppids $!"
done
wait_ok=1
for j in $ppids; do wait "$j" || wait_ok=0; done
[ $wait_ok = 1 ] || fail "a parallel probe failed"
for i in 1 2 3 4 5 6 7 8; do
	[ "$(sha "$T/par$i.out")" = "$(sha "$T/down.bin")" ] || fail "parallel $i sha256 differs"
done

log "64 short connections at once, over 2 sessions"
ssh_helper_conf "$T/multi.conf" 198.51.100.2 2222 multi "sessions 2"
ssh_helper "$NS_H" "$T/multi.conf" multi
ssh_wait_up multi 2
mkdata "$T/small.bin" 1
bgns "$NS_S" socat -U TCP-LISTEN:9003,bind=127.0.0.1,reuseaddr,fork,backlog=128 OPEN:"$T/small.bin"
wait_tcp "$NS_S" 9003
ppids=""
for i in $(seq 1 64); do
	probe "$NS_H" multi -t 127.0.0.1:9003 connect 198.51.100.2:9003 </dev/null >"$T/many$i.out" 2>"$T/many$i.err" &
	ppids="$ppids $!"
done
wait_ok=1
for j in $ppids; do wait "$j" || wait_ok=0; done
[ $wait_ok = 1 ] || fail "a short connection failed: $(cat "$T"/many*.err | sort | uniq -c)"
for i in $(seq 1 64); do
	[ "$(sha "$T/many$i.out")" = "$(sha "$T/small.bin")" ] || fail "short connection $i sha256 differs"
done
probe "$NS_H" multi status | grep -q '"channels":0.*"channels":0' || fail "channels left over: $(probe "$NS_H" multi status)"

log "8 downloads and 8 uploads at once over 2 sessions (one thread per session)"
bgns "$NS_S" socat -u TCP-LISTEN:9005,bind=127.0.0.1,reuseaddr,fork,backlog=64 SYSTEM:"sha256sum >>$T/upsums"
wait_tcp "$NS_S" 9005
ppids=""
for i in 1 2 3 4 5 6 7 8; do
	probe "$NS_H" multi -t 127.0.0.1:9000 connect 198.51.100.2:9000 </dev/null >"$T/mpar$i.out" &
	ppids="$ppids $!"
	probe "$NS_H" multi -t 127.0.0.1:9005 connect 198.51.100.2:9005 <"$T/up.bin" >/dev/null &
	ppids="$ppids $!"
done
wait_ok=1
for j in $ppids; do wait "$j" || wait_ok=0; done
[ $wait_ok = 1 ] || fail "a parallel probe over 2 sessions failed"
for i in 1 2 3 4 5 6 7 8; do
	[ "$(sha "$T/mpar$i.out")" = "$(sha "$T/down.bin")" ] || fail "2 sessions: download $i sha256 differs"
done
wait_for 20 sh -c "[ \$(wc -l <'$T/upsums') -eq 8 ]"
[ "$(awk '{print $1}' "$T/upsums" | sort -u)" = "$(sha "$T/up.bin")" ] || fail "2 sessions: an upload's sha256 differs: $(cat "$T/upsums")"
probe "$NS_H" multi status | grep -q '"channels":0.*"channels":0' || fail "2 sessions: channels left over"
grep -q "lost" "$T/helper-multi.log" && fail "a session of the 2-session helper was lost"
log "pump rounds run on both session threads at once: $(probe "$NS_H" multi status | grep -o '"rounds":[0-9]*')"

log "uploads killed mid-stream while a download shares the session"
# A killed dispatcher resets its connections, possibly while a channel
# packet is half sent: the session must finish that packet and go on.
bgns "$NS_S" socat -u TCP-LISTEN:9004,bind=127.0.0.1,reuseaddr,fork OPEN:/dev/null
wait_tcp "$NS_S" 9004
mkdata "$T/big.bin" 64
ip netns exec "$NS_H" "$BIN/tests/tools/sockout-probe" -d "$T/office.data" -e "$T/office.event" \
	-t 127.0.0.1:9000 connect 198.51.100.2:9000 </dev/null >"$T/longdown.out" &
LONG=$!
for i in 1 2 3 4 5 6 7 8; do
	ip netns exec "$NS_H" "$BIN/tests/tools/sockout-probe" -d "$T/office.data" -e "$T/office.event" \
		-t 127.0.0.1:9004 connect 198.51.100.2:9004 <"$T/big.bin" >/dev/null 2>&1 &
	UP=$!
	sleep 0.3
	kill -9 "$UP" 2>/dev/null
	wait "$UP" 2>/dev/null
done
wait "$LONG" || fail "download beside killed uploads failed"
[ "$(sha "$T/longdown.out")" = "$(sha "$T/down.bin")" ] || fail "download beside killed uploads: sha256 differs"
probe "$NS_H" office -t 127.0.0.1:9000 connect 198.51.100.2:9000 </dev/null >"$T/after-kill.out" || fail "transfer after the killed uploads"
[ "$(sha "$T/after-kill.out")" = "$(sha "$T/down.bin")" ] || fail "sha256 after the killed uploads"
grep -q "lost" "$T/helper-office.log" && fail "the session was lost"
log "packets left half sent and finished so far: $(probe "$NS_H" office status | grep -o '"half_sent":[0-9]*')"

log "a refused target fails the connect with ECONNREFUSED"
out=$(probe "$NS_H" office -t 127.0.0.1:9 connect 198.51.100.2:9 </dev/null 2>&1) && fail "connect to a closed port succeeded"
echo "$out" | grep -q "Connection refused" || fail "expected ECONNREFUSED, got: $out"

log "an idle helper does not spin (a busy loop would burn ~2 s of CPU here)"
cpu() { awk '{print $14 + $15}' "/proc/$HELPER_PID/stat"; }
c0=$(cpu); sleep 2; c1=$(cpu)
log "CPU ticks while idle for 2 s: $((c1 - c0))"
[ $((c1 - c0)) -lt 100 ] || fail "the idle helper used $((c1 - c0)) ticks in 2 s"

log "status"
probe "$NS_H" office status | tee "$T/status.json" | grep -q '"state":"up"' || fail "status"

log "the 2-session helper loses both sessions under endless downloads: resets, logs in again"
bgns "$NS_S" socat -U TCP-LISTEN:9006,bind=127.0.0.1,reuseaddr,fork SYSTEM:"cat /dev/zero"
wait_tcp "$NS_S" 9006
n=$(grep -c "logged in" "$T/helper-multi.log")
ppids=""
for i in 1 2 3 4; do
	probe "$NS_H" multi -t 127.0.0.1:9006 connect 198.51.100.2:9006 </dev/null >/dev/null 2>"$T/endless$i.err" &
	ppids="$ppids $!"
done
ok=0
for k in $(seq 1 50); do
	probe "$NS_H" multi status | grep -q '"channels":2.*"channels":2' && { ok=1; break; }
	sleep 0.2
done
[ $ok = 1 ] || fail "endless downloads not spread over both sessions: $(probe "$NS_H" multi status)"
sleep 0.5
# sshd's per-connection children carry the sessions; the listener stays.
kill -9 $(ps -o pid= --ppid "$SSHD_PID") 2>/dev/null
for j in $ppids; do wait "$j" && fail "an endless download ended without a reset"; done
wait_for 15 grep -q "session [01] .*lost" "$T/helper-multi.log" || fail "2-session helper did not notice"
ssh_wait_up multi $((n + 2)) 30 || fail "2-session helper did not log in again"
probe "$NS_H" multi -t 127.0.0.1:9000 connect 198.51.100.2:9000 </dev/null >"$T/mafter.out" || fail "2 sessions: transfer after the loss"
[ "$(sha "$T/mafter.out")" = "$(sha "$T/down.bin")" ] || fail "2 sessions: sha256 after the loss"
pass
