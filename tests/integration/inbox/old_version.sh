#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# An old signed version copied over a newer path. What v1 signatures can
# tell: a version signed for another path (app-1.0 copied over app-2.0) is
# refused; old content under the new .sig, or new content under the old
# .sig, is refused. What they cannot tell: the previous version signed for
# the same path, restored with its own .sig, is validly signed for that
# path and is served. Refusing it needs the signetfs-version attribute and
# an inbox with a state-dir (rollback.sh); without them (this case: no
# state-dir, unversioned signatures) it is served, and this pins that.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup

mkdir -p "$B/rel"
printf 'app 1.0\n' >"$B/rel/app-1.0.bin"
printf 'app 2.0\n' >"$B/rel/app-2.0.bin"
printf 'current v1\n' >"$B/rel/app.bin"
ib_sign rel/app-1.0.bin rel/app-2.0.bin rel/app.bin
mkdir -p "$T/old"
cp -p "$B/rel/app.bin" "$B/rel/app.bin.sig" "$T/old/"
printf 'current v2, a newer build\n' >"$B/rel/app.bin"
ib_sign rel/app.bin
cp -p "$B/rel/app.bin" "$B/rel/app.bin.sig" "$T/"

ib_mount
visible rel/app-2.0.bin
visible rel/app.bin
# The old release copied over the new path: signed for another path.
cp "$B/rel/app-1.0.bin" "$B/rel/app-2.0.bin"
cp "$B/rel/app-1.0.bin.sig" "$B/rel/app-2.0.bin.sig"
hidden rel/app-2.0.bin
audited rel/app-2.0.bin path-mismatch
# Old content, new signature; new content, old signature.
cp "$T/old/app.bin" "$B/rel/app.bin"
hidden rel/app.bin
cp "$T/app.bin" "$B/rel/app.bin"
cp "$T/old/app.bin.sig" "$B/rel/app.bin.sig"
hidden rel/app.bin
# Two versions refused for the same reason: one record each.
audited rel/app.bin content-digest 2
# The undetectable one: old content with its own old signature.
cp "$T/old/app.bin" "$B/rel/app.bin"
visible rel/app.bin
grep -q 'current v1' "$M/rel/app.bin" || fail "not the old version"
ib_umount
