#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# rm -r of a nested tree the outbox signed, in one pass (issue 14: it took
# two: NAME.sig refused while NAME is there, EPERM, and gone with NAME by
# the time rm reaches it, ENOENT), then rm -rf of another: both exit 0
# and leave nothing, as natively.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/material.sh"
tl_need rm
tl_start
tl_tree "$SRC/rel"
job() {
	tl_step copy cp -r "$SRC/rel" "$T/rel"
	tl_step copy2 cp -r "$SRC/rel" "$T/rel2"
	tl_step rm rm -r "$T/rel"
	tl_step rmf rm -rf "$T/rel2"
}
tl_both job
[ -z "$(ls -A "$B")" ] || tl_problem "BACKING is not empty: $(cd "$B" && find . | head)"
tl_finish
