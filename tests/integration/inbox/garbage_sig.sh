#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A .sig that is garbage, empty, truncated, has bytes appended, or is larger
# than SFS_SIG_MAX: the file is not there. The twin with its intact .sig is.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup

for f in good garbage empty truncated appended huge; do
	printf 'payload %s\n' "$f" >"$B/$f"
done
ib_sign good garbage empty truncated appended huge
head -c 1500 /dev/urandom >"$B/garbage.sig"
: >"$B/empty.sig"
n=$(stat -c %s "$B/truncated.sig")
truncate -s $((n - 7)) "$B/truncated.sig"
printf 'TRAILER' >>"$B/appended.sig"
head -c $((256 * 1024 + 1)) /dev/urandom >"$B/huge.sig"

ib_mount
visible good
visible good.sig
for f in garbage empty truncated appended huge; do
	hidden "$f"
	hidden "$f.sig"
done
audited garbage sig-malformed
audited empty sig-empty
audited huge sig-too-large
grep -F '"path":"appended"' "$AUDIT" | grep -q verify-denied ||
	fail "appended .sig not audited"
ib_umount
