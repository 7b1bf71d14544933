#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# rsync writes each file under a temp name and renames it (issue 13): the
# outbox signs the temp file from the digest it kept while the bytes went
# by, and signs the renamed file for its new path from that same digest,
# without reading the file again to verify it. Watched with inotify on
# BACKING: no file is read while rsync copies 20 files into the outbox
# (signetfs 0.1 read every one back at its rename). Every file verifies
# at its final name, and no temp name's signature is left. Twin: after a
# remount the outbox has no digest of its own to recall, so a rename does
# read the file to verify it, and the watch sees that read.
. "$(dirname "$0")/common.sh"
command -v rsync >/dev/null || skip "no rsync"
ob_start
src=$SFS_TMP/src
mkdir -p "$src/d" "$M/d"
for i in $(seq 1 20); do head -c $((i * 5003)) /dev/urandom >"$src/d/f$i"; done

# watch DIR OUT: IN_ACCESS (a read) of any file in DIR, counted into OUT
# when a file named .stop appears there; OUT.ready once the watch is set.
watch() {
	python3 - "$1" "$2" <<'PY' &
import ctypes, os, struct, sys
d, out = sys.argv[1], sys.argv[2]
libc = ctypes.CDLL(None, use_errno=True)
IN_ACCESS, IN_CREATE = 0x1, 0x100
fd = libc.inotify_init1(0)
if fd < 0 or libc.inotify_add_watch(fd, d.encode(), IN_ACCESS | IN_CREATE) < 0:
    sys.exit("inotify: " + os.strerror(ctypes.get_errno()))
open(out + ".ready", "w").close()
reads, names = 0, set()
while True:
    buf = os.read(fd, 65536)
    off = 0
    while off < len(buf):
        _, mask, _, n = struct.unpack_from("iIII", buf, off)
        name = buf[off + 16:off + 16 + n].rstrip(b"\0").decode()
        off += 16 + n
        if mask & IN_CREATE and name == ".stop":
            with open(out, "w") as f:
                f.write(f"{reads} {' '.join(sorted(names))}\n")
            sys.exit(0)
        if mask & IN_ACCESS and name:  # a file, not DIR listed
            reads += 1
            names.add(name)
PY
	WATCH_PID=$!
	wait_for 10 test -e "$2.ready" || fail "inotify watch not ready"
}
# stop DIR OUT: OUT gets the count of reads seen, and the names read
stop() {
	touch "$1/.stop"
	wait "$WATCH_PID" || fail "inotify watch failed"
	rm "$1/.stop"
}
# Every final name's signature installed, no temp name left: read from
# BACKING's directory only (the status xattr may verify, which reads).
signed_all() {
	local i
	for i in $(seq 1 20); do
		[ -e "$B/d/f$i.sig" ] || return 1
	done
	[ "$(ls -A "$B/d" | wc -l)" = 40 ]
}

watch "$B/d" "$SFS_TMP/w1"
rsync -a "$src/d/" "$M/d/"
wait_for 30 signed_all || fail "not all signed"
stop "$B/d" "$SFS_TMP/w1"
seen=$(cat "$SFS_TMP/w1")
[ "${seen%% *}" = 0 ] || fail "files read back during rsync: $seen"
for i in $(seq 1 20); do
	ob_ok "d/f$i"
	cmp "$src/d/f$i" "$B/d/f$i" || fail "d/f$i content"
done
[ "$(ls -A "$B/d" | wc -l)" = 40 ] || fail "BACKING: $(ls -A "$B/d")"
ob_stop

# twin: a fresh mount must read the file to sign it for its new name
ob_start
watch "$B/d" "$SFS_TMP/w2"
mv "$M/d/f7" "$M/d/g7"
stop "$B/d" "$SFS_TMP/w2"
seen=$(cat "$SFS_TMP/w2")
[ "${seen%% *}" -ge 1 ] && [[ " $seen " == *" f7 "* || " $seen " == *" g7 "* ]] ||
	fail "the verifying read of a rename after a remount was not seen: $seen"
ob_ok d/g7
ob_stop
