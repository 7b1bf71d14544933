#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# sed -i (a temp file in the same directory, renamed over the original):
# the edited files keep their modes, the temp names leave nothing behind,
# every file verifies.
. "$(dirname "$0")/common.sh"
tl_need sed
tl_start
job() {
	mkdir -p "$T/etc"
	tl_step write sh -c 'printf "name = app\nversion = 1.0\nmode = debug\n" >"$1/etc/app.conf"; seq 1 1000 >"$1/etc/list"; chmod 0640 "$1/etc/app.conf"' _ "$T"
	tl_step sed sed -i -e 's/1\.0/2.0/' -e 's/debug/release/' "$T/etc/app.conf"
	tl_step sed-many sed -i -e '/5$/d' "$T/etc/list" "$T/etc/app.conf"
	tl_step sed-backup sed -i.orig -e 's/^1/one/' "$T/etc/list"
}
tl_both job
tl_finish
