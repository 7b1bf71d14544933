#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# An unsigned file is ENOENT everywhere and audited (no-signature); once it
# is signed in BACKING it appears, without a remount.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup

printf 'signed\n' >"$B/signed"
printf 'not signed\n' >"$B/plain"
mkdir "$B/d"
printf 'nested\n' >"$B/d/plain"
ib_sign signed

ib_mount
visible signed
hidden plain
hidden plain.sig
hidden d/plain
audited plain no-signature
audited d/plain no-signature
# Twin: sign it now; it is served as soon as it verifies.
ib_sign plain d/plain
wait_for 5 test -f "$M/plain" || fail "plain did not appear after signing"
visible plain
visible plain.sig
visible d/plain
ib_umount
