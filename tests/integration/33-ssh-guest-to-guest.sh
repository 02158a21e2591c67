#!/bin/bash
# timeout: 180
# 33-ssh-guest-to-guest: two sites, each behind its own NAT router that
# drops every inbound connection, reach each other's guests through one SSH
# gateway.  Both helpers only dial out.  Site B's helper holds a rendezvous
# forward on the gateway; site A's rule `to peer:127.0.0.1:40080` opens a
# direct-tcpip channel there and sends the connect header, authenticated
# with the rendezvous key both sites share; B answers OK
# because a guest on B accepts on that port (seed paper, section 3), or the
# paper's error for a port nobody accepts on, which A's guest sees as a
# fast "Connection refused".
#
#   guest A - host A 203.0.113.2 - router A (NAT) --+
#                                                   gateway 198.51.100.1 (sshd)
#   guest B - host B 203.0.113.130 - router B (NAT) +
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-ssh.sh"
need curl python3 iptables
[ -x "$BIN/sockoutd" ] && [ -x "$BIN/sockout-run" ] || fail "sockoutd/sockout-run not built (run make)"

GW="${P}gw" RA="${P}ra" RB="${P}rb" HA="${P}ha" HB="${P}hb" GA="${P}ga" GB="${P}gb"
for n in $GW $RA $RB $HA $HB $GA $GB; do ns_new "$n"; done
ns_link "$GW" 198.51.100.1/30 "$RA" 198.51.100.2/30; WAN_A=$LINK_B
ns_link "$GW" 198.51.100.5/30 "$RB" 198.51.100.6/30; WAN_B=$LINK_B
ns_link "$RA" 203.0.113.1/25 "$HA" 203.0.113.2/25
ns_link "$RB" 203.0.113.129/25 "$HB" 203.0.113.130/25
ip -n "$HA" route add default via 203.0.113.1
ip -n "$HB" route add default via 203.0.113.129
ip -n "$RB" route add 198.51.100.0/30 via 198.51.100.5
for r in "$RA:$WAN_A" "$RB:$WAN_B"; do
	ns=${r%%:*} wan=${r#*:}
	ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
	ip netns exec "$ns" iptables -t nat -A POSTROUTING -o "$wan" -j MASQUERADE || skip "iptables nat not available"
	# NAT in the strict sense: nothing from outside may open a connection in.
	ip netns exec "$ns" iptables -A FORWARD -i "$wan" -m conntrack --ctstate NEW -j DROP
done

ssh_keys
ssh_sshd gw "$GW" 198.51.100.1 2222

ssh_rdv_key
ssh_helper_conf "$T/siteA.conf" 198.51.100.1 2222 siteA "peer-timeout 5s" "rendezvous-key $RDV_KEY"
ssh_helper_conf "$T/siteB.conf" 198.51.100.1 2222 siteB "rendezvous 127.0.0.1:40080" "rendezvous-key $RDV_KEY"
ssh_helper "$HA" "$T/siteA.conf" siteA
ssh_helper "$HB" "$T/siteB.conf" siteB
ssh_wait_up siteA
ssh_wait_up siteB
wait_tcp "$GW" 40080 20
ip netns exec "$GW" ss -Htn state established '( sport = :2222 )' | grep -q 198.51.100.2 || fail "site A did not come from its NAT address"

mkdir -p "$T/a" "$T/b" "$T/www"
cat >"$T/a/sockoutd.conf" <<CONF
guest-socket   $T/a/guest.sock
control-socket $T/a/control.sock
helper office  data $T/siteA.data event $T/siteA.event
connect port 8080 helper office to peer:127.0.0.1:40080
connect port 8090 helper office to peer:127.0.0.1:40080
connect port 8070 helper office to peer:127.0.0.1:40080/8080
connect any    deny
accept  any    deny
CONF
cat >"$T/b/sockoutd.conf" <<CONF
guest-socket   $T/b/guest.sock
control-socket $T/b/control.sock
helper office  data $T/siteB.data event $T/siteB.event
accept port 8080 helper office to peer
connect any    deny
accept  any    deny
CONF
bgns "$HA" "$BIN/sockoutd" -f -v -c "$T/a/sockoutd.conf" >"$T/sockoutd-a.log" 2>&1
bgns "$HB" "$BIN/sockoutd" -f -v -c "$T/b/sockoutd.conf" >"$T/sockoutd-b.log" 2>&1
wait_sock "$T/a/guest.sock"
wait_sock "$T/b/guest.sock"

mkdata "$T/www/data.bin" 20
log "guest B serves http on port 8080 (peer only: no gateway port)"
NS_G=$GB GUEST_SOCK=$T/b/guest.sock bg guest python3 -m http.server -d "$T/www" -b 0.0.0.0 8080 >"$T/http-b.log" 2>&1
wait_for 20 grep -q "Serving HTTP" "$T/http-b.log" || fail "guest B's http.server did not start"
ip netns exec "$GW" ss -Hltn 'sport = :8080' | grep -q . && fail "a peer-only listener opened a gateway port"

log "guest A fetches 20 MiB from guest B"
ok=0
for i in $(seq 1 20); do
	NS_G=$GA GUEST_SOCK=$T/a/guest.sock guest curl -sS --max-time 60 -o "$T/got.bin" \
		http://203.0.113.200:8080/data.bin 2>"$T/curl.log" && { ok=1; break; }
	sleep 0.5 # B's sockoutd may still be dialing its helper
done
[ $ok = 1 ] || fail "curl A -> B: $(cat "$T/curl.log")"
[ "$(sha "$T/got.bin")" = "$(sha "$T/www/data.bin")" ] || fail "sha256 differs"

log "the same through a rule that names the port: peer:127.0.0.1:40080/8080"
NS_G=$GA GUEST_SOCK=$T/a/guest.sock guest curl -sS --max-time 60 -o "$T/got2.bin" \
	http://203.0.113.200:8070/data.bin || fail "curl via /8080"
[ "$(sha "$T/got2.bin")" = "$(sha "$T/www/data.bin")" ] || fail "sha256 differs (8070)"

log "a port no guest on B accepts: Connection refused, not a hang"
rc=0
NS_G=$GA GUEST_SOCK=$T/a/guest.sock guest curl -sS -v --max-time 30 -o /dev/null \
	http://203.0.113.200:8090/ >"$T/refused.log" 2>&1 || rc=$?
[ $rc = 7 ] || fail "curl exit $rc, expected 7 (couldn't connect)"
grep -q "Connection refused" "$T/refused.log" || fail "no 'Connection refused'"
grep -q '"peer_refused":1' <(probe "$HB" siteB status) || fail "B does not count the refusal"

pass
