#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Signing a file leaves its directory's mtime as a native write would
# (issue 13, defect 7): rewriting an existing file in place changes the
# file, not its directory, so `rsync -a --inplace` keeps a directory's
# preserved mtime although the outbox installs a new NAME.sig there. Twin:
# a writer's own create or unlink in the directory (which also installs or
# removes a signature there) does change its mtime, as natively.
. "$(dirname "$0")/common.sh"
ob_start
old=2001-02-03T04:05:06
mtime() { stat -c %Y "$1"; }
mkdir -p "$M/d"
echo one >"$M/d/f"
echo two >"$M/d/g"
touch -m -d "$old" "$M/d"
want=$(mtime "$M/d")
# in place: open without O_CREAT/O_TRUNC, write, close (signs)
printf 'ONE' | dd of="$M/d/f" conv=notrunc status=none
ob_ok d/f
[ "$(mtime "$M/d")" = "$want" ] || fail "re-signing d/f changed d's mtime (view)"
[ "$(mtime "$B/d")" = "$want" ] || fail "re-signing d/f changed d's mtime (BACKING)"
echo three >>"$M/d/g"
ob_ok d/g
[ "$(mtime "$M/d")" = "$want" ] || fail "re-signing d/g changed d's mtime"
# rsync --inplace with a directory mtime to preserve
src=$SFS_TMP/src
mkdir -p "$src/r/s"
echo a >"$src/r/s/a"
rsync -a "$src/" "$M/c/"
echo b >>"$src/r/s/a"
touch -m -d "$old" "$src/r/s"
rsync -a --inplace "$src/" "$M/c/"
ob_ok c/r/s/a
[ "$(mtime "$M/c/r/s")" = "$(mtime "$src/r/s")" ] ||
	fail "rsync --inplace: c/r/s mtime $(mtime "$M/c/r/s") not $(mtime "$src/r/s")"
# twin: the writer's own change to d is its mtime's, as natively
touch -m -d "$old" "$M/d"
echo new >"$M/d/h"
[ "$(mtime "$M/d")" != "$want" ] || fail "a create in d left d's mtime"
touch -m -d "$old" "$M/d"
rm "$M/d/g"
[ "$(mtime "$M/d")" != "$want" ] || fail "an unlink in d left d's mtime"
ob_stop
