#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Issue 13, POSIX defect 5: truncate(2) without an open file is signed at
# once, and whatever it returns, the mount shows what BACKING holds. It
# used to truncate BACKING, then fail to sign and return EIO, while the
# kernel (writeback cache: it takes a file's size from no getattr) went on
# showing the old size and old bytes. Now a refusal known before (content
# nobody vouches for, a writer the rule refuses) fails with nothing
# changed, and a signature that fails afterwards (the token: p11fault)
# does not fail the truncation: audited (sign-failed), no valid .sig,
# status failed. Twins: the same truncations sign when the token works.
. "$(dirname "$0")/common.sh"
ob_p11fault_token
control() { printf '%s\n' "$@" >"$CTL.new"; mv "$CTL.new" "$CTL"; }
# truncate(2) by path (truncate(1) opens the file: its close signs)
tr() { python3 -c 'import os, sys; os.truncate(sys.argv[1], int(sys.argv[2]))' "$@"; }
ob_start
head -c 50000 /dev/urandom >"$SFS_TMP/src"

# same_view NAME SIZE: mount and BACKING agree on size and bytes.
same_view() {
	[ "$(stat -c %s "$M/$1")" = "$2" ] ||
		fail "$1: the mount shows $(stat -c %s "$M/$1") bytes, not $2"
	[ "$(stat -c %s "$B/$1")" = "$2" ] ||
		fail "$1: BACKING holds $(stat -c %s "$B/$1") bytes, not $2"
	cmp "$M/$1" "$B/$1" || fail "$1: the mount shows other bytes"
}

# (1) a refusal known before the change: nothing changes, EIO
printf 'planted in BACKING, never written through the mount\n' >"$B/planted"
cat "$M/planted" >/dev/null # cached by the kernel, as a reader leaves it
ob_errno EIO "os.truncate('$M/planted', 3)"
same_view planted 52
ob_bad planted
ob_records_is sign-refused planted 1 || fail "no sign-refused record"

# (2) the token fails after the truncation: it stands, audited
cp "$SFS_TMP/src" "$M/f"
ob_ok f
cat "$M/f" >/dev/null
control C_Sign=CKR_GENERAL_ERROR
tr "$M/f" 1000 || fail "truncate down returned an error"
same_view f 1000
cmp <(head -c 1000 "$SFS_TMP/src") "$M/f" || fail "f: content"
ob_bad f
ob_records_is sign-failed f 1 || fail "no sign-failed record for f"
case "$(ob_xattr "$M/f" status)" in
failed:*) ;;
*) fail "f status: $(ob_xattr "$M/f" status)" ;;
esac
tr "$M/f" 3000 || fail "truncate up returned an error"
same_view f 3000
ob_bad f
ob_records_is sign-failed f 2 || fail "no second sign-failed record"

# twin: once the token works again, a truncation signs
control ''
signed_after_truncate() { # the HSM layer may still be backing off
	tr "$M/f" "$1" && "$SIGNETFS" verify --config "$CONF" \
		--root "$B" "$B/f" >/dev/null 2>&1
}
n=100
wait_for 10 eval 'signed_after_truncate $((n += 1))' ||
	fail "no signature after the token came back"
same_view f "$n"
ob_ok f
ob_records_match_stats
SFS_LOG_ALLOW='signing .* failed|not signing|earlier content|token|PKCS|pkcs11|login|session|CKR_|module' \
	ob_stop
ob_audit_verify
