#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# dd with several block sizes, in order (running digest) and out of order
# (seek, conv=notrunc: re-read at close).
. "$(dirname "$0")/common.sh"
ob_start
head -c 5000000 /dev/urandom >"$SFS_TMP/src"
for bs in 1 511 4096 65536 1M 3M; do
	count=
	[ "$bs" = 1 ] && count="count=20000"
	dd if="$SFS_TMP/src" of="$M/dd.$bs" bs=$bs $count status=none
	ob_ok "dd.$bs"
done
cmp "$SFS_TMP/src" "$M/dd.1M"
# backwards: the second half first, then the first half
dd if="$SFS_TMP/src" of="$M/rev" bs=1M skip=3 seek=3 status=none
dd if="$SFS_TMP/src" of="$M/rev" bs=1M count=3 conv=notrunc status=none
cmp "$SFS_TMP/src" "$B/rev"
ob_ok rev
# a hole in the middle (sparse), then a write over existing bytes
dd if="$SFS_TMP/src" of="$M/holes" bs=64k count=2 seek=10 status=none
dd if=/dev/zero of="$M/holes" bs=1k count=1 seek=5 conv=notrunc status=none
ob_ok holes
for bs in 511 1M; do ob_forge_flip "dd.$bs"; done
ob_forge_flip rev
ob_stop
