#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# --mode audit serves what strict hides (unsigned, tampered, renamed) and
# logs each as strict would have refused it; symlinks stay invisible. The
# twin: the same BACKING in strict mode hides them.
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
ib_umount

ib_mount
visible good
for f in plain tampered tampered.sig renamed renamed.sig passwd; do
	hidden "$f"
done
ib_umount
