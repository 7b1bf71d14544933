#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# unzip of a release archive: contents, modes and mtimes (files and
# directories) as natively; every file verifies.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/material.sh"
tl_need zip unzip
tl_start
tl_tree "$SRC/rel"
(cd "$SRC" && zip -qr "$SFS_TMP/rel.zip" rel) || tl_broken "zip"
job() {
	tl_step unzip unzip -q "$SFS_TMP/rel.zip" -d "$T"
}
tl_both job
tl_finish --mtime
