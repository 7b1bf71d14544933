#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# fsx on the outbox: 100,000 random reads, writes, truncations, extensions,
# hole punches, zeroed ranges and mapped reads/writes on one file, every
# read compared with a mirror in memory; closed and reopened about every
# 1,000 ops (signed each time, BACKING compared with the mirror; on a busy
# machine, where over 1,024 processes start while the file is open, the
# release signs, after close returned: fsx waits for it and counts those
# closes, docs/outbox.md). Then the signature verifies, and an inbox over
# the same BACKING serves the same bytes: the whole file, and 20,000
# random (mapped) reads against the mirror. FSX_SEED and FSX_OPS override
# the run.
. "$(dirname "$0")/common.sh"
ob_start
seed=$(st_seed "${FSX_SEED:-}")
nops=${FSX_OPS:-100000}
start=$SECONDS
"$FSX" -N "$nops" -S "$seed" -b "$B/fsx.f" -m "$SFS_TMP/mirror" "$M/fsx.f" ||
	fail "fsx (seed $seed) failed"
note "fsx on the outbox: $((SECONDS - start)) s"
cmp "$SFS_TMP/mirror" "$B/fsx.f" || fail "BACKING differs from the mirror"
ob_ok fsx.f
[ "$(ob_xattr "$M/fsx.f" status)" = signed ] || fail "status not signed"
ob_stop
IN=$SFS_TMP/in
sfs_mount inbox "$CONF" "$B" "$IN"
IB_PID=$SFS_PID
IB_LOG=$SFS_LOG
cmp "$SFS_TMP/mirror" "$IN/fsx.f" || fail "the inbox serves other bytes"
cmp "$B/fsx.f.sig" "$IN/fsx.f.sig" || fail "the inbox serves another .sig"
"$FSX" -R "$SFS_TMP/mirror" -N 20000 -S "$seed" "$IN/fsx.f" ||
	fail "fsx read-back through the inbox (seed $seed) failed"
sfs_umount "$IN" "$IB_PID" "$IB_LOG"
