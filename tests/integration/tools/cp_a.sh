#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# cp -a of a release tree: contents, modes, owners and mtimes (files and
# directories) as natively; every file verifies.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/material.sh"
tl_need cp
tl_start
tl_tree "$SRC/rel"
# an owner other than root, which cp -a keeps when run by root
chown 65534:65534 "$SRC/rel/share/doc/README"
touch -m -d '2021-05-06 07:08:09.123456789' "$SRC/rel/share/doc"
job() {
	tl_step copy cp -a "$SRC/rel" "$T/rel"
}
tl_both job
tl_finish --mtime
