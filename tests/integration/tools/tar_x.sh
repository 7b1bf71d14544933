#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# tar -x of a release tree: contents, modes and mtimes (files and
# directories) as natively; every file verifies.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/material.sh"
tl_need tar
tl_start
tl_tree "$SRC/rel"
tar -C "$SRC" -cf "$SFS_TMP/rel.tar" rel || tl_broken "tar -c"
job() {
	tl_step extract tar -xf "$SFS_TMP/rel.tar" -C "$T"
}
tl_both job
tl_finish --mtime
