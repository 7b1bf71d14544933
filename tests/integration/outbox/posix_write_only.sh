#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Issue 13, POSIX defect 2 (pjdfstest open/06.t 30, 34, 38): the owner of a
# write-only (0200) file may open it O_WRONLY. The writeback cache used to
# turn every O_WRONLY open into O_RDWR in BACKING, which that owner may
# not do: EACCES. Now BACKING is opened with the caller's own access mode
# and credentials; a write to part of a page that the kernel must read
# first is read with the daemon's (test: writes into the middle of the
# file, which has pages the kernel never cached). Twins: what the modes
# refuse is still refused (others writing, the owner reading).
. "$(dirname "$0")/posix.sh"
head -c 20000 /dev/urandom >"$SFS_TMP/src"

# steps DIR: one line per step, its exit status and error.
steps() {
	local d=$1
	cp "$SFS_TMP/src" "$d/wo"
	chown "$PX_UID:$PX_UID" "$d/wo"
	chmod 0200 "$d/wo"
	cp "$SFS_TMP/src" "$d/ro"
	chown "$PX_UID:$PX_UID" "$d/ro"
	chmod 0400 "$d/ro"
	# the kernel forgets cached pages: the partial writes must read them
	echo 3 >/proc/sys/vm/drop_caches
	echo "mid: $(px_rc px_as "$PX_UID" dd of="$d/wo" bs=1 seek=5000 \
		conv=notrunc status=none if=/dev/zero count=3)"
	echo "page: $(px_rc px_as "$PX_UID" sh -c \
		'printf abc | dd of="$1" bs=1 seek=12289 conv=notrunc status=none' \
		_ "$d/wo")"
	echo "append: $(px_rc px_as "$PX_UID" sh -c 'echo tail >>"$1"' _ "$d/wo")"
	echo "owner reads: $(px_rc px_as "$PX_UID" cat "$d/wo")"
	echo "other writes: $(px_rc px_as "$PX_OTHER" sh -c 'echo x >>"$1"' _ \
		"$d/wo")"
	echo "owner writes 0400: $(px_rc px_as "$PX_UID" sh -c 'echo x >>"$1"' \
		_ "$d/ro")"
	echo "truncate: $(px_rc px_as "$PX_UID" truncate -s 15000 "$d/wo")"
	echo "rewrite: $(px_rc px_as "$PX_UID" sh -c 'echo new >"$1"' _ "$d/wo")"
}

for kind in sign nosign; do
	px_start "$kind"
	want=$(steps "$N")
	note "$want"
	got=$(steps "$M")
	px_same "steps ($kind)" "$want" "$got"
	cmp "$N/wo" "$B/wo" || fail "content ($kind)"
	cmp "$N/ro" "$B/ro" || fail "ro content ($kind)"
	[ "$(stat -c '%a %u' "$B/wo")" = "200 $PX_UID" ] || fail "wo mode/owner"
	if [ "$kind" = sign ]; then
		ob_ok wo
		ob_record_writer sign wo "$PX_UID" "$(readlink -f /bin/sh)"
	fi
	# the middle of a file: partial pages read back through the mount
	python3 - "$M/wo" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
os.pwrite(fd, b"Z" * 10, 1)
os.close(fd)
PY
	[ "$(head -c 11 "$B/wo")" = "nZZZZZZZZZZ" ] ||
		fail "pwrite into a write-only file: $(head -c 11 "$B/wo" | od -c)"
	[ "$kind" = nosign ] || ob_ok wo
	ob_stop
done
