#!/bin/bash
# timeout: 120
# 27-guest-nginx: nginx (master + 2 workers sharing the listener) in the
# guest, served on the host's port 18080 by `accept port 8080 direct 18080`.
# It serves a static file with sendfile and proxies to python3 -m
# http.server on the server machine; nginx adds each upstream socket to
# epoll *before* connect(), which the shim's descriptor swap must survive.
# It listens the way nginx's default site does, on 8080 and [::]:8080
# (IPV6_V6ONLY): both must get a host listener (no EADDRINUSE).
. "$(dirname "$0")/../lib.sh"
need curl python3 nginx

topo_basic
GUEST_SOCK=$T/guest.sock
cat >"$T/sockoutd.conf" <<CONF
guest-socket   $GUEST_SOCK
control-socket $T/control.sock
connect 198.51.100.2 port 8000 direct
connect any      deny
accept port 8080 direct 18080
accept any       deny
CONF
start_sockoutd "$T/sockoutd.conf"

mkdir "$T/www" "$T/static" "$T/ngx"
mkdata "$T/www/up.bin" 12
mkdata "$T/static/st.bin" 12
bgns "$NS_S" python3 -m http.server -d "$T/www" -b 198.51.100.2 8000 >"$T/http.log" 2>&1
wait_tcp "$NS_S" 8000

cat >"$T/nginx.conf" <<CONF
daemon off;
master_process on;
worker_processes 2;
user root;
pid $T/ngx/nginx.pid;
error_log $T/nginx-error.log info;
events { worker_connections 256; }
http {
	access_log $T/nginx-access.log;
	client_body_temp_path $T/ngx/body;
	proxy_temp_path $T/ngx/proxy;
	fastcgi_temp_path $T/ngx/fastcgi;
	uwsgi_temp_path $T/ngx/uwsgi;
	scgi_temp_path $T/ngx/scgi;
	server {
		listen 8080;
		listen [::]:8080;
		location /static/ { alias $T/static/; sendfile on; }
		location / { proxy_pass http://198.51.100.2:8000; }
	}
}
CONF
nginx -t -q -c "$T/nginx.conf" -p "$T/ngx/" || fail "nginx config"
bg guest nginx -c "$T/nginx.conf" -p "$T/ngx/"
wait_tcp "$NS_H" 18080

get() { # PATH FILE - fetch through the guest's nginx
	ip netns exec "$NS_S" curl -sS --max-time 30 -o "$2" "http://198.51.100.1:18080$1"
}
log "static file (sendfile) from nginx in the guest"
get /static/st.bin "$T/got-st" || fail "static fetch: $(tail -5 "$T/nginx-error.log")"
[ "$(sha "$T/got-st")" = "$(sha "$T/static/st.bin")" ] || fail "static file differs"

log "proxied through nginx in the guest to the server"
get /up.bin "$T/got-up" || fail "proxied fetch: $(tail -5 "$T/nginx-error.log")"
[ "$(sha "$T/got-up")" = "$(sha "$T/www/up.bin")" ] || fail "proxied file differs"

log "16 requests at once, both workers"
pids=""
for i in $(seq 1 16); do
	if [ $((i % 2)) = 0 ]; then p=/up.bin; f=$T/www/up.bin; else p=/static/st.bin; f=$T/static/st.bin; fi
	( get "$p" "$T/par.$i" && [ "$(sha "$T/par.$i")" = "$(sha "$f")" ] ) &
	pids="$pids $!"
done
for p in $pids; do wait "$p" || fail "a parallel request failed: $(tail -5 "$T/nginx-error.log")"; done

log "the IPv6 listener, reached over the host's own ::1"
wait_for 10 sh -c "ip netns exec $NS_H ss -Hltn 'sport = :18080' | grep -q '\[::\]'" || fail "no IPv6 host listener: $(ip netns exec "$NS_H" ss -Hltn)"
ip netns exec "$NS_H" curl -sS --max-time 30 -o "$T/got-v6" "http://[::1]:18080/static/st.bin" || fail "IPv6 fetch"
[ "$(sha "$T/got-v6")" = "$(sha "$T/static/st.bin")" ] || fail "IPv6 file differs"
grep -q '^::1 ' "$T/nginx-access.log" || fail "nginx did not see an IPv6 peer: $(tail -2 "$T/nginx-access.log")"

n=$(grep -c '^198\.51\.100\.2 ' "$T/nginx-access.log")
[ "$n" = 18 ] || fail "nginx logged $n requests from 198.51.100.2, expected 18"
grep -q '\[\(alert\|crit\|emerg\)\]' "$T/nginx-error.log" && fail "nginx complained: $(grep -m3 '\[\(alert\|crit\|emerg\)\]' "$T/nginx-error.log")"
pass
