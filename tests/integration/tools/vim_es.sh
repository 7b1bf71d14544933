#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# vim -es (an editor's write: swap file, backup, rewrite): the same
# content and mode as natively, no swap or backup file left, every file
# verifies.
. "$(dirname "$0")/common.sh"
tl_need vim
tl_start
job() {
	mkdir -p "$T/src"
	tl_step write sh -c 'seq 1 5000 | sed "s/^/line /" >"$1/src/notes.txt"; chmod 0664 "$1/src/notes.txt"' _ "$T"
	# -u NONE -i NONE: no vimrc, no viminfo; the defaults otherwise
	# (swap file, writebackup) are what a user's vim does.
	tl_step edit vim -es -u NONE -i NONE -N -c '%s/line 1/LINE 1/' -c 'wq' \
		"$T/src/notes.txt"
	tl_step new vim -es -u NONE -i NONE -N -c 'call setline(1, "fresh file")' \
		-c 'wq' "$T/src/new.txt"
	tl_step backup vim -es -u NONE -i NONE -N -c 'set backup' -c '$d' \
		-c 'wq' "$T/src/notes.txt"
}
tl_both job
tl_finish
