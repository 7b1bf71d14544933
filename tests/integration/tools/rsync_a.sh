#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# rsync -a of a release tree, then of its next version over it (a temp
# file and a rename per file): contents, modes, owners and mtimes (files
# and directories) as natively; every file verifies.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/material.sh"
tl_need rsync
tl_start
tl_tree "$SRC/v1"
tl_tree_v2 "$SRC/v1" "$SRC/v2"
job() {
	tl_step sync rsync -a "$SRC/v1/" "$T/rel/"
	tl_step update rsync -a "$SRC/v2/" "$T/rel/"
}
tl_both job
tl_finish --mtime
