#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A symlink to a directory outside BACKING (and one to a directory inside)
# is not a way out or around: nothing below it resolves, even a file that
# carries a signature for the path it would have inside the mount.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup

mkdir -p "$B/inside" "$T/outside"
printf 'in\n' >"$B/inside/f"
ib_sign inside/f
# A file outside, signed as if it lived at out/f inside the mount.
mkdir -p "$B/out"
printf 'escaped\n' >"$B/out/f"
ib_sign out/f
mv "$B/out/f" "$B/out/f.sig" "$T/outside/"
rmdir "$B/out"
ln -s "$T/outside" "$B/out"
ln -s /etc "$B/etc"
ln -s inside "$B/alias"

ib_mount
visible inside/f
hidden out
hidden out/f
hidden etc
hidden etc/passwd
hidden alias
hidden alias/f
[ ! -d "$M/etc" ] || fail "etc is a directory in the mount"
ib_umount
