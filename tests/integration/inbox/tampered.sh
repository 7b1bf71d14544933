#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A signed file changed afterwards (a flipped byte, appended, truncated,
# replaced) disappears; restoring the signed bytes brings it back.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup

for f in flip append trunc replace restore; do
	mkdata "$B/$f" $((131072 + 777))
done
ib_sign flip append trunc replace restore
cp "$B/restore" "$T/restore.orig"

ib_mount
for f in flip append trunc replace restore; do visible "$f"; done
flip flip 131072
printf 'x' >>"$B/append"
truncate -s 131072 "$B/trunc"
mkdata "$B/replace.new" $((131072 + 777))
mv "$B/replace.new" "$B/replace"
flip restore 5
for f in flip append trunc replace restore; do
	hidden "$f"
	hidden "$f.sig"
	audited "$f" content-digest
done
# Twin: the signed bytes again (new inode, new times) verify again.
cp "$T/restore.orig" "$B/restore.tmp"
mv "$B/restore.tmp" "$B/restore"
visible restore
visible restore.sig
ib_umount
