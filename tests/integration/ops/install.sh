#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# meson install puts the binary, signetfs(1) and both unit templates in
# place (into a DESTDIR), and the installed unit runs the installed binary.
. "$(dirname "$0")/../lib.sh"
: "${SFS_BUILD:?SFS_BUILD must name the build directory}"
command -v meson >/dev/null || skip "no meson"
d=$SFS_TMP/destdir
meson install -C "$SFS_BUILD" --no-rebuild --destdir "$d" >"$SFS_TMP/log" 2>&1 ||
	{ cat "$SFS_TMP/log"; fail "meson install"; }
prefix=$(meson introspect "$SFS_BUILD" --buildoptions |
	 python3 -c 'import json,sys; print({o["name"]: o["value"] for o in json.load(sys.stdin)}["prefix"])')
bin=$(find "$d" -path '*/bin/signetfs' -type f)
man=$(find "$d" -path '*/man1/signetfs.1*' -type f)
[ -n "$bin" ] && [ -x "$bin" ] || fail "no binary installed"
[ "$bin" = "$d$prefix/bin/signetfs" ] || fail "binary at $bin"
[ -n "$man" ] || fail "no man page installed"
"$bin" --version | grep -q '^signetfs ' || fail "installed binary does not run"
for kind in outbox inbox; do
	u=$(find "$d" -path "*/systemd/system/signetfs-$kind@.service")
	[ -n "$u" ] || fail "no signetfs-$kind@.service installed"
	grep -q "^ExecStart=$prefix/bin/signetfs $kind -f " "$u" ||
		fail "$u does not run $prefix/bin/signetfs"
done
groff -ww -z -man "$man" 2>&1 | grep . && fail "installed page warns"
echo "install: ok"
