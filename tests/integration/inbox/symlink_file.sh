#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Symlinks in BACKING are never followed: to /etc/passwd, to a signed file
# inside BACKING, a symlinked .sig next to a real file, even a symlink
# named like the signed path whose target carries a valid signature.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup

printf 'real\n' >"$B/real"
printf 'linked sig\n' >"$B/withlinksig"
ib_sign real withlinksig
ln -s /etc/passwd "$B/passwd"
ln -s /etc/passwd.sig "$B/passwd.sig"
ln -s real "$B/alias"
mv "$B/withlinksig.sig" "$T/withlinksig.sig"
ln -s "$T/withlinksig.sig" "$B/withlinksig.sig"
# A symlink at a signed path: sign a real file there, then swap in a link.
printf 'target\n' >"$B/swapped"
ib_sign swapped
mv "$B/swapped" "$B/swapped.target"
ln -s swapped.target "$B/swapped"

ib_mount
visible real
visible real.sig
hidden passwd
hidden passwd.sig
hidden alias
hidden withlinksig
hidden withlinksig.sig
hidden swapped
[ "$(find "$M" -type l | wc -l)" -eq 0 ] || fail "a symlink is visible"
ib_umount
