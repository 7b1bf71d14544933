#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A writer whose files are closed by a normal exit with a non-zero status
# is signed by default; with sign-nonzero-exit = false it is not.
. "$(dirname "$0")/common.sh"
ob_start
# the shell opens the file, writes, and exits 3 without closing it
sh -c "exec 3>'$M/f'; echo data >&3; exit 3" || true
ob_ok f
sh -c "exec 3>'$M/g'; echo data >&3; exit 0"
ob_ok g
ob_forge_flip f
ob_stop
ob_start "sign-nonzero-exit = false"
sh -c "exec 3>'$M/h'; echo data >&3; exit 3" || true
ob_bad h
[ ! -e "$B/h.sig" ] || fail "h.sig exists"
ob_audited sign-refused h
sh -c "exec 3>'$M/i'; echo data >&3; exit 0"
ob_ok i
ob_stop
