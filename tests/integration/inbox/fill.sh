#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The first read of a file looked up fresh is served from the page cache
# filled while it was verified (src/fs/inbox_fill.c): the bytes are the
# signed ones and no READ request reaches the daemon. Twins: a tampered
# file of the same size is ENOENT although its bytes were pushed to the
# kernel while it was hashed, and when the signed bytes come back what is
# read is them, never the tampered ones; a file whose inode the kernel
# already knows (listed first) is served by checked READ requests.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup
command -v python3 >/dev/null || skip "no python3"

SZ=$((8 << 20))
mkdir -p "$B/d"
mkdata "$B/a" "$SZ"
mkdata "$B/bad" "$SZ"
mkdata "$B/d/listed" "$SZ"
ib_sign a bad d/listed
cp "$B/bad" "$T/bad.orig"
flip bad $((SZ - 1))

ib_mount
st() { "$SIGNETFS" status --json "$M" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
[ "$(st bytes_filled)" -eq 0 ] || fail "bytes_filled before any lookup: $(st bytes_filled)"

# a: the lookup verifies and fills; the read comes from the page cache.
stat "$M/a" >/dev/null || fail "a: stat"
[ "$(st bytes_filled)" -eq "$SZ" ] || fail "a: bytes_filled $(st bytes_filled), want $SZ"
cmp -s "$M/a" "$B/a" || fail "a: bytes read differ from the signed file"
[ "$(st bytes_read)" -eq 0 ] ||
	fail "a: $(st bytes_read) bytes came through READ requests, want 0 (filled cache)"

# bad: hashed (and pushed) in full, refused: nothing of it is readable.
hidden bad
audited bad content-digest
filled=$(st bytes_filled)
[ "$filled" -eq $((2 * SZ)) ] || fail "bad: bytes_filled $filled, want $((2 * SZ))"
# The signed bytes again, same size and name: read back exactly.
cp "$T/bad.orig" "$B/bad.tmp"
mv "$B/bad.tmp" "$B/bad"
cmp -s "$M/bad" "$T/bad.orig" || fail "bad: restored file not served as signed"

# d/listed: known to the kernel from the listing: READ requests, checked.
ls -l "$M/d" >/dev/null
before=$(st bytes_read)
cmp -s "$M/d/listed" "$B/d/listed" || fail "d/listed differs"
[ "$(st bytes_read)" -ge $((before + SZ)) ] ||
	fail "d/listed: $(($(st bytes_read) - before)) bytes by READ, want $SZ"
ib_umount
