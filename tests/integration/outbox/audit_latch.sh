#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A mount whose audit log latched exits non-zero (1), not 0. The log
# latches when a sign-failed record that answers a sign record cannot be
# written (docs/audit-log.md): from then on it takes no records, the
# session cannot be sealed, and every close fails. An operator (systemd)
# must see that from the exit status, as `signetfs sign` shows it.
# The answer is made unwritable with a file-size limit on the daemon
# (prlimit, the soft limit only), sized from a first failed signature so that the sign record
# fits and its answer does not; the daemon ignores SIGXFSZ, so the write
# fails with EFBIG as on a full disk.
# The twin: a signature refused while the log has room does not latch:
# the mount exits 0 and its log is sealed.
. "$(dirname "$0")/common.sh"
command -v prlimit >/dev/null || skip "no prlimit"
ob_p11fault_token
control() { printf '%s\n' "$@" >"$CTL.new"; mv "$CTL.new" "$CTL"; }
allow='signing .* failed|token|PKCS|pkcs11|CKR_|audit log|File too large'

# The twin first: a token failure with room in the log.
ob_start
control 'C_Sign=CKR_GENERAL_ERROR'
echo one >"$SFS_TMP/one"
cp "$SFS_TMP/one" "$M/f1" 2>/dev/null && fail "f1: cp succeeded with a failing token"
ob_bad f1
control '' # the final checkpoint is signed too
SFS_LOG_ALLOW=$allow ob_stop # exits 0 (sfs_umount checks)
"$SIGNETFS" audit verify --config "$CONF" "$AUDIT" >"$SFS_TMP/av" 2>&1 ||
	fail "the twin's log does not verify: $(cat "$SFS_TMP/av")"
# nothing was lost: verify counts no lost records
! grep -q 'records lost' "$SFS_TMP/av" || fail "lost records counted in a log that lost none: $(cat "$SFS_TMP/av")"

# Now the latch. f2 measures the two records one failed signature writes;
# no timed checkpoint may come between that and f3.
control ''
ob_start $'[signetfs]\ncheckpoint-secs = 0'
control 'C_Sign=CKR_GENERAL_ERROR'
cp "$SFS_TMP/one" "$M/f2" 2>/dev/null && fail "f2: cp succeeded with a failing token"
read -r l_sign l_failed < <(python3 - "$AUDIT" f2 <<'PY'
import sys
lines = [l for l in open(sys.argv[1], "rb")
         if b'"path":"%s"' % sys.argv[2].encode() in l]
assert len(lines) == 2, lines
print(len(lines[0]), len(lines[1]))
PY
) || fail "f2: not a sign and a sign-failed record"
size=$(stat -c %s "$AUDIT")
soft=$(prlimit --pid "$OB_PID" --fsize -o SOFT --noheadings --raw) ||
	fail "prlimit: the daemon's file-size limit"
# f3: the same length of name, so its sign record is as long as f2's.
prlimit --pid "$OB_PID" --fsize=$((size + l_sign + l_failed / 2)): ||
	fail "prlimit on the daemon"
cp "$SFS_TMP/one" "$M/f3" 2>/dev/null && fail "f3: cp succeeded with a failing token"
ob_bad f3
grep -q 'cannot answer record' "$OB_LOG" || fail "no word of the latch: $(cat "$OB_LOG")"
# Latched: with a working token and room again, nothing is signed, and
# the log is what refuses (its record comes before the token is asked).
control ''
prlimit --pid "$OB_PID" --fsize="$soft": || fail "prlimit: restore $soft"
n0=$(grep -c 'writes no more records' "$OB_LOG")
cp "$SFS_TMP/one" "$M/f4" 2>/dev/null && fail "f4 signed by a latched log"
ob_bad f4
[ ! -e "$B/f4.sig" ] || fail "f4.sig exists"
[ "$(grep -c 'writes no more records' "$OB_LOG")" -gt "$n0" ] ||
	fail "f4 was not refused by the latched log: $(tail -5 "$OB_LOG")"
SFS_LOG_ALLOW="$allow|no more records|too large" \
	sfs_umount "$M" "$OB_PID" "$OB_LOG" 1 # a latched mount exits 1
grep -q 'closed after a failed write or sync' "$OB_LOG" ||
	fail "the daemon does not say why it exits 1: $(tail -5 "$OB_LOG")"
# The last record is f3's unanswered sign: the session is not sealed.
tail -n1 "$AUDIT" | grep -q '"event":"sign","path":"f3"' ||
	fail "the log's last line is not f3's sign record: $(tail -n1 "$AUDIT")"
"$SIGNETFS" audit verify --config "$CONF" "$AUDIT" >"$SFS_TMP/av" 2>&1 &&
	fail "a latched log verified as sealed"
echo "audit_latch: ok"
