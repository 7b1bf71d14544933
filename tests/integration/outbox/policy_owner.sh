#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# With allow_other: files end up owned by the user who created them, modes
# are enforced; only writers allowed by the config may write (EACCES and
# a policy-denied audit record for the others).
. "$(dirname "$0")/common.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root to switch users"
command -v setpriv >/dev/null || skip "no setpriv"
nob=$(id -u nobody)
nog=$(id -g nobody)
chmod 0755 "$SFS_TMP"
# BACKING stays out of other users' reach (strict modes)
mkdir -m 0700 "$SFS_TMP/priv"
OB_BACKING=$SFS_TMP/priv/backing # other users must reach the mount point
ob_start -o allow_other "writers-uid = 0 $nob"
as_nobody() { setpriv --reuid "$nob" --regid "$nog" --clear-groups "$@"; }
as_other() { setpriv --reuid 4242 --regid 4242 --clear-groups "$@"; }
mkdir "$M/pub" "$M/priv"
chmod 1777 "$M/pub"
chmod 0700 "$M/priv"
as_nobody sh -c "echo mine >'$M/pub/n'"
[ "$(stat -c %u:%g "$B/pub/n")" = "$nob:$nog" ] || fail "owner $(stat -c %u:%g "$B/pub/n")"
ob_ok pub/n
# permissions are enforced as on a normal filesystem
if as_nobody sh -c "echo x >'$M/priv/x'" 2>/dev/null; then fail "wrote into 0700 dir"; fi
echo root >"$M/pub/r"
chmod 644 "$M/pub/r"
if as_nobody sh -c "echo x >>'$M/pub/r'" 2>/dev/null; then fail "wrote a 644 root file"; fi
as_nobody cat "$M/pub/r" >/dev/null
ob_ok pub/r
# uid 4242 is not an allowed writer
if as_other sh -c "echo x >'$M/pub/o'" 2>"$SFS_TMP/err"; then fail "writer not refused"; fi
grep -q "Permission denied" "$SFS_TMP/err" || fail "not EACCES: $(cat "$SFS_TMP/err")"
[ ! -e "$B/pub/o" ] || fail "file created"
ob_record_writer policy-denied pub/o 4242 "$(readlink -f /bin/sh)" 1
ob_record_writer sign pub/n "$nob" "$(readlink -f /bin/sh)"
as_other cat "$M/pub/n" >/dev/null # reading is fine
ob_forge_flip pub/n
ob_records_match_stats
ob_stop
ob_audit_verify
