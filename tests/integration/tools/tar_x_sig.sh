#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# tar -x of a signed tree: an archive of a BACKING that an outbox (or
# signetfs sign) signed, each FILE with its FILE.sig, unpacked into an
# outbox (issue 14: tar failed on the .sig files with a mix of EPERM and
# "File exists"). The archive's .sig files are the writer's own files, as
# natively; every file verifies.
. "$(dirname "$0")/common.sh"
tl_need tar
tl_start
r=$SRC/rel
mkdir -p "$r/bin" "$r/share/doc"
head -c 200000 /dev/urandom >"$r/bin/tool"
chmod 755 "$r/bin/tool"
for i in 1 2 3; do head -c $((i * 997)) /dev/urandom >"$r/share/doc/p$i"; done
"$SIGNETFS" sign --config "$CONF" --root "$SRC" -r "$r" >"$SFS_TMP/sign.out" 2>&1 ||
	{ cat "$SFS_TMP/sign.out" >&2; tl_broken "signetfs sign -r"; }
[ -f "$r/bin/tool.sig" ] || tl_broken "no bin/tool.sig to archive"
find "$r" -exec touch -m -d '2021-05-06 07:08:09' {} +
tar -C "$SRC" -cf "$SFS_TMP/rel.tar" rel || tl_broken "tar -c"
job() {
	tl_step extract tar -xf "$SFS_TMP/rel.tar" -C "$T"
}
tl_both job
tl_finish --mtime
