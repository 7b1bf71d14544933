#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# rsync --partial and --partial-dir resuming an interrupted transfer: what
# an interrupted run left (the first half of a large file, under its own
# name or in the partial dir) is the basis of the next run, which
# completes it. Contents and mtimes as natively, the partial dir gone,
# every file verifies.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/material.sh"
tl_need rsync
tl_start
tl_tree "$SRC/rel"
half=$(( $(stat -c %s "$SRC/rel/lib/sub/big.bin") / 2 ))
job() {
	# what `rsync --partial` leaves when interrupted: the partial file
	# under its final name; with --partial-dir, in that directory
	mkdir -p "$T/a/lib/sub" "$T/b/lib/sub/.rsync-partial"
	tl_step seed-partial sh -c 'head -c "$1" "$2" >"$3"' _ "$half" \
		"$SRC/rel/lib/sub/big.bin" "$T/a/lib/sub/big.bin"
	tl_step seed-partial-dir sh -c 'head -c "$1" "$2" >"$3"' _ "$half" \
		"$SRC/rel/lib/sub/big.bin" "$T/b/lib/sub/.rsync-partial/big.bin"
	tl_step resume rsync -a --partial "$SRC/rel/" "$T/a/"
	tl_step resume-dir rsync -a --partial-dir=.rsync-partial \
		"$SRC/rel/" "$T/b/"
}
tl_both job
tl_finish --mtime
