#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# rsync -a --delete: the next version over the last one, removing what it
# no longer has (an rsync mirror's daily run), and a second run with
# nothing to do. Exit status, tree and mtimes as natively; every file
# verifies.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/material.sh"
tl_need rsync
tl_start
tl_tree "$SRC/v1"
tl_tree_v2 "$SRC/v1" "$SRC/v2"
job() {
	tl_step sync rsync -a "$SRC/v1/" "$T/rel/"
	tl_step delete rsync -a --delete "$SRC/v2/" "$T/rel/"
	tl_step again rsync -a --delete "$SRC/v2/" "$T/rel/"
}
tl_both job
tl_finish --mtime
