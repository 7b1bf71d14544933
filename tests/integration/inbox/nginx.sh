#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issue item 4: Debian's nginx serving MOUNTPOINT on 127.0.0.1. curl gets
# signed files and their .sig (200, byte-identical; sendfile and ranges
# too); unsigned, tampered and renamed files are 404, and so is the twin
# of each signed file.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
command -v nginx >/dev/null || skip "no nginx"
command -v curl >/dev/null || skip "no curl"
ib_setup

mkdir -p "$B/pub/sub"
printf 'index\n' >"$B/pub/index.txt"
mkdata "$B/pub/sub/app.bin" $((2 * 131072 + 999))
printf 'unsigned\n' >"$B/pub/unsigned.txt"
printf 'tampered\n' >"$B/pub/tampered.txt"
printf 'renamed\n' >"$B/pub/before.txt"
ib_sign pub/index.txt pub/sub/app.bin pub/tampered.txt pub/before.txt
flip pub/tampered.txt 0
mv "$B/pub/before.txt" "$B/pub/renamed.txt"
mv "$B/pub/before.txt.sig" "$B/pub/renamed.txt.sig"
ln -s /etc/passwd "$B/pub/passwd"

ib_mount

# A free port: let the kernel pick one, then hand it to nginx.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ngx=$T/nginx
mkdir -p "$ngx/logs" "$ngx/tmp"
cat >"$ngx/nginx.conf" <<NGX
user root;
daemon off;
worker_processes 1;
error_log $ngx/logs/error.log warn;
pid $ngx/nginx.pid;
events { worker_connections 64; }
http {
	access_log $ngx/logs/access.log;
	client_body_temp_path $ngx/tmp;
	proxy_temp_path $ngx/tmp;
	fastcgi_temp_path $ngx/tmp;
	uwsgi_temp_path $ngx/tmp;
	scgi_temp_path $ngx/tmp;
	sendfile on;
	default_type application/octet-stream;
	server {
		listen 127.0.0.1:$port;
		root $M;
		disable_symlinks on;
	}
}
NGX
nginx -c "$ngx/nginx.conf" -p "$ngx" >"$ngx/stdout" 2>&1 &
ngx_pid=$!
SFS_PIDS+=("$ngx_pid")
url=http://127.0.0.1:$port
wait_for 10 curl -s -o /dev/null "$url/" ||
	{ cat "$ngx/stdout" "$ngx/logs/error.log" >&2; fail "nginx did not start"; }

# get PATH: HTTP status; body in $T/body
get() { curl -s -o "$T/body" -w '%{http_code}' "$url/$1"; }
ok200() {
	[ "$(get "$1")" = 200 ] || fail "GET /$1 is not 200"
	cmp -s "$T/body" "$B/$1" || fail "GET /$1 is not byte-identical"
}
status404() { [ "$(get "$1")" = 404 ]; }
is404() { status404 "$1" || fail "GET /$1 is not 404"; }
for f in pub/index.txt pub/sub/app.bin; do
	ok200 "$f"
	ok200 "$f.sig"
done
for f in pub/unsigned.txt pub/tampered.txt pub/renamed.txt pub/passwd; do
	is404 "$f"
	is404 "$f.sig"
done
# A range inside the second block.
curl -s -r 131000-131999 -o "$T/range" "$url/pub/sub/app.bin"
cmp -s "$T/range" <(tail -c +131001 "$B/pub/sub/app.bin" | head -c 1000) ||
	fail "range request differs"
# Twins: tamper with the served files now; nginx gets 404 for both (it
# opens the file per request, and every open is checked).
flip pub/index.txt 0
flip pub/sub/app.bin $((2 * 131072 + 5))
wait_for 3 status404 pub/index.txt || fail "tampered index.txt still served"
wait_for 3 status404 pub/sub/app.bin || fail "tampered app.bin still served"

kill "$ngx_pid"
wait "$ngx_pid" || true
ib_umount
