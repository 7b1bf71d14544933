#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The installed Debian package's first run (the "doctest: debian" block of
# docs/operations.md, exactly as written) under a systemd booted in a
# private namespace (lib_sdns.sh): init, the config copied to
# /etc/signetfs/pub.conf, the inbox unit enabled. Then the unit, running
# the package's /usr/bin/signetfs, serves the signed file and its .sig to
# curl through a web server on the mount, which stock openssl verifies;
# an unsigned file beside it is a 404. Run by scripts/ci-debian after it
# installed the package (not a meson test: it needs the package).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib_ops.sh"
. "$(dirname "$0")/lib_sdns.sh"
sfs_need_fuse
sdns_need
: "${SFS_SRC:?SFS_SRC must name the source tree}"
dpkg-query -W -f='${Status}' signetfs 2>/dev/null | grep -q 'ok installed' ||
	fail "the signetfs package is not installed"
command -v curl >/dev/null || fail "no curl"
t=$SFS_TMP
trap 'rc=$?; sdns_stop; sfs_cleanup $rc' EXIT
python3 "$(dirname "$0")/doc_blocks.py" debian "$SFS_SRC/docs/operations.md" \
	>"$t/first-run.sh" || fail "docs/operations.md: unmarked sh blocks"
grep -q 'systemctl enable --now signetfs-inbox@pub' "$t/first-run.sh" ||
	fail "no first run of an inbox unit in docs/operations.md"

sdns_boot "$t/ns"
ls "$t/ns/units/signetfs-inbox@.service" >/dev/null || fail "the package's unit is not there"
rc=0
sdns_run bash -c "cd /root && exec bash -xe -o pipefail '$t/first-run.sh'" \
	>"$t/first-run.log" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || { tail -n 30 "$t/first-run.log" >&2; fail "first run: a documented step failed"; }
unit=signetfs-inbox@pub.service
[ "$(sdns_run systemctl is-active $unit)" = active ] || fail "$unit not active"
sdns_run systemctl show -p ExecStart --value $unit | grep -q 'path=/usr/bin/signetfs ' ||
	fail "$unit does not run the package's /usr/bin/signetfs"

# A web server on the inbox (same network namespace as this script).
sdns_run sh -c 'echo "not signed" >/srv/pub/backing/unsigned.txt'
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sdns_run python3 -m http.server --bind 127.0.0.1 --directory /srv/pub/www "$port" \
	>"$t/http.log" 2>&1 &
SFS_PIDS+=("$!")
disown
wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$port/" || fail "web server"
code() { curl -s -o "$t/got" -w '%{http_code}' "http://127.0.0.1:$port/$1"; }
[ "$(code hello.txt)" = 200 ] || fail "hello.txt: not served"
[ "$(cat "$t/got")" = 'hello from pub' ] || fail "hello.txt: served $(cat "$t/got")"
cp "$t/got" "$t/hello.txt"
[ "$(code hello.txt.sig)" = 200 ] || fail "hello.txt.sig: not served"
openssl cms -verify -binary -inform DER -in "$t/got" -content "$t/hello.txt" \
	-CAfile "/proc/$SDNS_PID1/root/var/lib/signetfs/keys/ca.pem" -purpose any \
	-out /dev/null 2>"$t/openssl.err" || { cat "$t/openssl.err" >&2; fail "openssl: served .sig"; }
[ "$(code unsigned.txt)" = 404 ] || fail "unsigned.txt: served"
sdns_run systemctl stop $unit || fail "stop $unit"
[ "$(sdns_run systemctl show -p Result --value $unit)" = success ] ||
	fail "the daemon did not exit cleanly"
echo "debian: ok"
