#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# rsync -a --inplace: the next version written into the existing files
# (no temp file, no rename). Contents, modes and mtimes (files and
# directories) as natively; every file verifies.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/material.sh"
tl_need rsync
tl_start
tl_tree "$SRC/v1"
tl_tree_v2 "$SRC/v1" "$SRC/v2"
job() {
	tl_step sync rsync -a --inplace "$SRC/v1/" "$T/rel/"
	tl_step update rsync -a --inplace "$SRC/v2/" "$T/rel/"
}
tl_both job
tl_finish --mtime
