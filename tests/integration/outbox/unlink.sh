#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# unlink removes the .sig too; signatures are not in the view, so nobody
# unlinks one through the mount; an orphaned one (its file removed in
# BACKING) does not keep its directory alive: rm -r removes a tree in one
# pass; rmdir works.
. "$(dirname "$0")/common.sh"
ob_start
echo data >"$M/f"
ob_ok f
ob_errno ENOENT "os.unlink('$M/f.sig')"
[ -e "$B/f.sig" ] || fail "f.sig gone"
rm "$M/f"
[ ! -e "$B/f" ] && [ ! -e "$B/f.sig" ] || fail "unlink left files"
ob_bad f
# an orphan .sig (its file was removed in BACKING) is not in the view,
# and its directory goes with rmdir all the same
mkdir "$M/o"
echo data >"$M/o/g"
rm "$B/o/g"
[ -z "$(ls -A "$M/o")" ] || fail "orphan listed: $(ls -A "$M/o")"
rmdir "$M/o"
[ ! -e "$B/o" ] || fail "orphan kept its directory"
# ...but a writer's file, or anything else the outbox does not own (a
# FIFO named like a signature), keeps it, and then nothing goes
mkdir "$M/p"
echo x >"$M/p/x"
echo stray >"$B/p/stray.sig~" # a writer's name, written around the mount
rm "$B/p/x"
mkfifo "$B/p/fifo.sig"
ob_fails rmdir "$M/p"
[ -e "$B/p/x.sig" ] && [ -p "$B/p/fifo.sig" ] || fail "rmdir removed what it does not own"
rm "$M/p/stray.sig"
ob_fails rmdir "$M/p" # the FIFO
rm "$B/p/fifo.sig"
rmdir "$M/p"
# rm -r of a signed tree through the mount, in one pass
mkdir -p "$M/t/a/b" "$M/t/c.sig"
for d in t t/a t/a/b t/c.sig; do
	for n in 1 2 x.sig y.sig~; do echo "$d/$n" >"$M/$d/$n"; done
done
[ "$(find "$B/t" -name '*.sig' | wc -l)" -eq 16 ] || fail "sigs under t"
rm -r "$M/t" || fail "rm -r"
[ ! -e "$B/t" ] || fail "rm -r left $(find "$B/t")"
mkdir -p "$M/d/e"
echo x >"$M/d/e/h"
rm "$M/d/e/h"
rmdir "$M/d/e" "$M/d"
[ ! -e "$B/d" ] || fail "rmdir"
# forgery twin: a signature restored after unlink does not vouch for a
# different file put at that name
echo one >"$M/r"
cp "$B/r.sig" "$SFS_TMP/r.sig"
rm "$M/r"
echo two >"$B/r"
cp "$SFS_TMP/r.sig" "$B/r.sig"
ob_bad r
ob_stop
