#!/bin/bash
# timeout: 180
# 41-im-bytestream: the same two NATed sites, now with the proxy found by
# service discovery: curl in guest A fetches 20 MiB from python3
# http.server in guest B over an encrypted SOCKS5 bytestream through
# Prosody's mod_proxy65; then guest B's socat sends to guest A's socat
# with a half-close in the middle of a conversation (reply after EOF), a
# reset that must reach B's server as a reset;
# then a short iperf3 run (guest A client, guest B server; -R and -P 4);
# OpenSSH's ssh in guest A logs in to an sshd in guest B (sha256 of 8 MiB);
# a server that writes a banner and closes at once; last, B's site cannot
# reach the proxy: the connection goes in-band.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-im.sh"
. "$(dirname "$0")/../lib-ssh.sh"
need curl python3 socat iperf3 ssh

im_setup
im_conf a alice@example.org/sockout bob@example.org "$KEY_B"
im_conf b bob@example.org/sockout alice@example.org "$KEY_A"
im_start a
im_start b
sockoutd_start a "connect port 8080 helper home to bob@example.org" \
	"connect port 7000 helper home to bob@example.org" "connect port 5201 helper home to bob@example.org" \
	"connect port 7001 helper home to bob@example.org" \
	"connect port 7002 helper home to bob@example.org" \
	"connect port 2222 helper home to bob@example.org" \
	"connect any deny" "accept any deny"
sockoutd_start b "accept port 8080 helper home" "accept port 7000 helper home" "accept port 5201 helper home" \
	"accept port 7001 helper home" \
	"accept port 7002 helper home" "accept port 2222 helper home" \
	"connect any deny" "accept any deny"
im_wait_session a
im_wait_session b
wait_for 20 grep -q "bytestream proxy proxy.example.org at $IM_SERVER:5000" "$T/im-a.log" ||
	fail "A did not discover the proxy"

mkdir "$T/www"
mkdata "$T/www/data.bin" 20
cd "$T/www" || fail cd
bg guest_b python3 -m http.server 8080 >"$T/guest-http.log" 2>&1
wait_for 20 grep -q "accepting port 8080" "$T/im-b.log" || fail "B's helper never got the listener"

log "curl in guest A -> bob@example.org port 8080, 20 MiB over a bytestream"
guest_a curl -sS --max-time 120 -o "$T/got.bin" http://203.0.113.99:8080/data.bin 2>"$T/curl.log" ||
	fail "curl failed: $(cat "$T/curl.log")"
[ "$(sha "$T/got.bin")" = "$(sha "$T/www/data.bin")" ] || fail "sha256 differs"
grep -q "accepted (bytestream)" "$T/im-b.log" || fail "B did not use a bytestream"

log "half-close and reset over bytestreams"
im_check_halfclose_reset 7000 7001

log "B's server writes a banner and closes at once, before the stream is up"
bg guest_b socat TCP-LISTEN:7002,reuseaddr,fork SYSTEM:'echo banner-xyz' >"$T/socat-banner.log" 2>&1
wait_for 20 grep -q "accepting port 7002" "$T/im-b.log" || fail "no listener for 7002"
for i in 1 2 3; do
	out=$(guest_a socat -t 10 -T 20 -u TCP:203.0.113.99:7002 - 2>"$T/banner-a.log")
	[ "$out" = banner-xyz ] || fail "banner $i lost: '$out' $(cat "$T/banner-a.log")"
done

log "iperf3 across the overlay: normal, -R, -P 4"
bg guest_b iperf3 -s -p 5201 >"$T/iperf3-server.log" 2>&1
wait_for 20 grep -q "accepting port 5201" "$T/im-b.log" || fail "no listener for 5201"
for args in "" "-R" "-P 4"; do
	guest_a iperf3 -c 203.0.113.99 -p 5201 -t 2 --json $args >"$T/ip.json" 2>"$T/ip.log" ||
		fail "iperf3 $args: $(cat "$T/ip.log"; tail -5 "$T/ip.json")"
	python3 - "$T/ip.json" <<'PY' || fail "iperf3 $args moved nothing"
import json, sys
j = json.load(open(sys.argv[1]))
if "error" in j: sys.exit(j["error"])
s = j["end"]["sum_received"]["bytes"]
print("iperf3 received %d bytes" % s)
sys.exit(0 if s > 0 else 1)
PY
done
log "ssh in guest A -> sshd in guest B across both NATs, 8 MiB through sha256sum"
ssh_keys
ssh_known_hosts 203.0.113.99 2222 >"$T/known_hosts"
ssh_sshd_conf b 0.0.0.0 2222
bg guest_b "$SSHD" -D -e -f "$T/ssh/b.conf" >"$T/sshd-b.log" 2>&1
wait_for 20 grep -q "accepting port 2222" "$T/im-b.log" || fail "no listener for 2222: $(tail -3 "$T/sshd-b.log")"
mkdata "$T/ssh.bin" 8
got=$(guest_a ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes \
	-o UserKnownHostsFile="$T/known_hosts" -o StrictHostKeyChecking=yes \
	-o ConnectTimeout=30 -i "$T/ssh/id_ed25519" -p 2222 root@203.0.113.99 sha256sum \
	<"$T/ssh.bin" 2>"$T/ssh-a.log" | cut -d' ' -f1)
[ "$got" = "$(sha "$T/ssh.bin")" ] || fail "ssh over the IM overlay: '$got' $(cat "$T/ssh-a.log"; tail -5 "$T/sshd-b.log")"

log "B's site cannot reach the proxy: in-band instead"
ip netns exec "$NS_RB" iptables -I FORWARD -p tcp --dport 5000 -j REJECT --reject-with tcp-reset ||
	fail "iptables"
mkdata "$T/www/small.bin" 2
guest_a curl -sS --max-time 60 -o "$T/small.bin" http://203.0.113.99:8080/small.bin 2>"$T/curl3.log" ||
	fail "curl without proxy failed: $(cat "$T/curl3.log")"
cmp -s "$T/small.bin" "$T/www/small.bin" || fail "in-band fallback transfer differs"
grep -q "proxy unreachable .*going in-band" "$T/im-b.log" || fail "B did not fall back to in-band"
im_finish
pass
