#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# NAME.sig that belongs to another file: a copy of a's signature next to b
# (path and digest wrong) and next to an identical copy of a (only the
# path wrong) are both refused; a itself is served.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup

printf 'alpha\n' >"$B/a"
printf 'beta\n' >"$B/b"
cp "$B/a" "$B/a-copy"
ib_sign a
cp "$B/a.sig" "$B/b.sig"
cp "$B/a.sig" "$B/a-copy.sig"

ib_mount
visible a
visible a.sig
hidden b
hidden b.sig
hidden a-copy
hidden a-copy.sig
audited b path-mismatch
audited a-copy path-mismatch
ib_umount
