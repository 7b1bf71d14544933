#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# rsync -a (temp file + rename per file): the final names are signed, the
# temp names' signatures are gone, metadata is preserved.
. "$(dirname "$0")/common.sh"
command -v rsync >/dev/null || skip "no rsync"
ob_start
src=$SFS_TMP/src
mkdir -p "$src/d1/d2" "$src/e"
for i in $(seq 1 30); do head -c $((i * 3001)) /dev/urandom >"$src/d1/f$i"; done
for i in $(seq 1 10); do head -c 70000 /dev/urandom >"$src/d1/d2/g$i"; done
echo small >"$src/e/one"
chmod 0750 "$src/d1/f3"
touch -d '2001-02-03 04:05:06' "$src/d1/f4"
rsync -a "$src/" "$M/r/"
( cd "$src" && find . -type f ) | while read -r f; do
	ob_ok "r/${f#./}"
	cmp "$src/$f" "$B/r/$f"
done
[ "$(stat -c %a "$B/r/d1/f3")" = 750 ] || fail "mode not preserved"
[ "$(stat -c %Y "$B/r/d1/f4")" = "$(stat -c %Y "$src/d1/f4")" ] || fail "mtime"
# no signature of an rsync temp name is left over
[ "$(find "$B/r" -name '*.sig' | wc -l)" -eq 41 ] || fail "stray .sig files"
# a second rsync after a change re-signs only what changed, correctly
echo changed >>"$src/d1/f7"
rsync -a "$src/" "$M/r/"
ob_ok r/d1/f7
cmp "$src/d1/f7" "$B/r/d1/f7"
ob_forge_flip r/d1/f7
ob_forge_move r/d1/f1 r/d1/f1copy
ob_stop
