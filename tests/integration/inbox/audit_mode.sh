#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# --mode audit serves what strict hides (unsigned, tampered, renamed) and
# logs each as strict would have refused it (a verify-denied record, a
# line in the daemon's log, and the reason in user.signetfs.reason);
# symlinks stay invisible. The twin: the same BACKING in strict mode
# hides them.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup

printf 'good\n' >"$B/good"
printf 'plain\n' >"$B/plain"
printf 'tampered\n' >"$B/tampered"
printf 'moved\n' >"$B/moved"
ib_sign good tampered moved
flip tampered 0
mv "$B/moved" "$B/renamed"
mv "$B/moved.sig" "$B/renamed.sig"
ln -s /etc/passwd "$B/passwd"

ib_mount --mode audit
for f in good good.sig plain tampered tampered.sig renamed renamed.sig; do
	visible "$f"
done
hidden passwd
audited plain no-signature
audited tampered content-digest
audited renamed path-mismatch
getfattr -n user.signetfs.sha256 "$M/good" >/dev/null 2>&1 ||
	fail "no xattr on a verified file in audit mode"
# Each file served unverified says why in user.signetfs.reason (the
# record's reason), listed by listxattr; the verified one has none.
reason() { getfattr --only-values -n user.signetfs.reason "$M/$1" 2>/dev/null; }
for f in plain:no-signature tampered:content-digest renamed:path-mismatch; do
	[ "$(reason "${f%%:*}")" = "${f#*:}" ] ||
		fail "${f%%:*}: user.signetfs.reason is '$(reason "${f%%:*}")', want ${f#*:}"
	getfattr -d -m - "$M/${f%%:*}" 2>/dev/null | grep -q '^user.signetfs.reason=' ||
		fail "${f%%:*}: user.signetfs.reason not listed"
	getfattr -n user.signetfs.sha256 "$M/${f%%:*}" >/dev/null 2>&1 &&
		fail "${f%%:*}: a signature's xattr on a file that does not verify"
	grep -qF "signetfs: served unverified (audit mode): ${f%%:*}: ${f#*:} (" "$IB_LOG" ||
		{ cat "$IB_LOG" >&2; fail "${f%%:*}: no line in the daemon's log"; }
done
[ -z "$(reason good)" ] || fail "good: a reason on a verified file"
! getfattr -d -m - "$M/good" 2>/dev/null | grep -q 'user.signetfs.reason' ||
	fail "good: user.signetfs.reason listed"
ib_umount

ib_mount
visible good
for f in plain tampered tampered.sig renamed renamed.sig passwd; do
	hidden "$f"
done
ib_umount
