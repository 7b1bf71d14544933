#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The first read of a file looked up fresh is served from the page cache
# filled while it was verified (src/inbox/inbox_fill.c): the bytes are the
# signed ones and no READ request reaches the daemon. Twins: a tampered
# file of the same size is ENOENT although its bytes were pushed to the
# kernel while it was hashed, and when the signed bytes come back what is
# read is them, never the tampered ones; another file's .sig is refused
# before anything is hashed or pushed; a file whose pages are not in the
# page cache is read with O_DIRECT (BACKING's page cache stays empty) and
# served as signed, its tampered twin refused; a file whose inode the kernel
# already knows (listed first) is served by checked READ requests; and
# while writers swap a file between its signed and a tampered version
# (rename-over and in place), reads of freshly looked-up inodes (the
# kernel made to forget them each time) return the signed bytes or fail,
# never anything else.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup
command -v python3 >/dev/null || skip "no python3"
command -v fincore >/dev/null || skip "no fincore (util-linux)"

SZ=$((8 << 20))
mkdir -p "$B/d"
mkdata "$B/a" "$SZ"
mkdata "$B/bad" "$SZ"
mkdata "$B/d/listed" "$SZ"
mkdata "$B/other" "$SZ"
mkdata "$B/r" $((4 << 20))
# In their own directory: listing the root (hidden does) verifies its files.
mkdir -p "$B/c"
mkdata "$B/c/cold" "$SZ"
mkdata "$B/c/bad" "$SZ"
ib_sign a bad d/listed r c/cold c/bad
cp "$B/c/cold" "$T/cold.orig"
flip c/bad $((SZ / 2))
cp "$B/r" "$T/r.good"
cp "$B/r" "$T/r.bad"
printf 'X' | dd of="$T/r.bad" bs=1 seek=$((3 << 20)) conv=notrunc status=none
cp "$B/bad" "$T/bad.orig"
cp "$B/a.sig" "$B/other.sig"
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
# other: a's .sig beside another file of the same size: refused on the
# signed path before any byte is hashed, so nothing is pushed either.
hidden other
audited other path-mismatch
[ "$(st bytes_filled)" -eq "$filled" ] ||
	fail "other: $(($(st bytes_filled) - filled)) bytes filled for a file whose .sig names another path"
# The signed bytes again, same size and name: read back exactly.
cp "$T/bad.orig" "$B/bad.tmp"
mv "$B/bad.tmp" "$B/bad"
cmp -s "$M/bad" "$T/bad.orig" || fail "bad: restored file not served as signed"

# c/cold, c/bad: nothing of them in the page cache, so read with O_DIRECT.
resident() { fincore -nb -o RES "$B/$1"; }
# At most the page each 1 MiB chunk's cache probe reads (inbox_hash.c:
# none with mincore, as here; one with the RWF_NOWAIT probe).
probes=$(((SZ >> 20) * $(getconf PAGESIZE)))
# One cold verification of both, checked. A probe that raced its own page
# read would make a chunk (at offset 0: the file) buffered on a busy
# machine (tests/unit/test_inbox_hash.c): then the setup is made again,
# as systemd_boot does: new inodes (same bytes: their .sig still
# verifies, but the cached verdicts do not apply), BACKING's cache and
# the kernel's inodes dropped. A daemon that never reads with O_DIRECT
# fails every try.
cold_check() {
	local filled
	sync
	echo 3 >/proc/sys/vm/drop_caches
	[ "$(resident c/cold)" -eq 0 ] || fail "c/cold: $(resident c/cold) bytes cached after drop_caches"
	filled=$(st bytes_filled)
	stat "$M/c/cold" >/dev/null || fail "c/cold: stat"
	[ "$(st bytes_filled)" -eq $((filled + SZ)) ] || fail "c/cold: not filled"
	cmp -s "$M/c/cold" "$T/cold.orig" || fail "c/cold: bytes read differ from the signed file"
	hidden c/bad
	for f in c/cold c/bad; do
		[ "$(resident $f)" -le "$probes" ] || {
			note "$f: $(resident $f) bytes of BACKING's file cached after a cold verification"
			return 1
		}
	done
}
tries=1
until cold_check; do
	[ $tries -lt 3 ] || fail "c/cold, c/bad: not read with O_DIRECT ($tries tries)"
	tries=$((tries + 1))
	for f in c/cold c/bad; do
		cp -p "$B/$f" "$T/again" && mv "$T/again" "$B/$f"
	done
done
# One record per version of c/bad refused: one per try.
audited c/bad content-digest $tries

# d/listed: known to the kernel from the listing: READ requests, checked.
ls -l "$M/d" >/dev/null
before=$(st bytes_read)
cmp -s "$M/d/listed" "$B/d/listed" || fail "d/listed differs"
[ "$(st bytes_read)" -ge $((before + SZ)) ] ||
	fail "d/listed: $(($(st bytes_read) - before)) bytes by READ, want $SZ"

# r: fills racing a writer. drop_caches makes the kernel forget the inode,
# so each lookup is fresh and fills (bytes_filled must grow).
filled0=$(st bytes_filled)
# Mostly signed versions (new inodes), a tampered one now and then, by
# rename and in place, until the reader is done.
swapper() {
	local i
	while :; do
		cp "$T/r.bad" "$B/r.tmp" && mv "$B/r.tmp" "$B/r"
		cp "$T/r.good" "$B/r.tmp" && mv "$B/r.tmp" "$B/r"
		dd if="$T/r.bad" of="$B/r" bs=1M seek=3 skip=3 count=1 conv=notrunc status=none
		dd if="$T/r.good" of="$B/r" bs=1M seek=3 skip=3 count=1 conv=notrunc status=none
		for i in 1 2 3 4; do
			cp "$T/r.good" "$B/r.tmp" && mv "$B/r.tmp" "$B/r"
		done
	done
}
swapper &
wpid=$!
ok=0 wrong=0 failed=0
for i in $(seq 1 150); do
	echo 2 >/proc/sys/vm/drop_caches
	if cat "$M/r" >"$T/r.out" 2>/dev/null; then
		if cmp -s "$T/r.out" "$T/r.good"; then ok=$((ok + 1)); else wrong=$((wrong + 1)); fi
	else
		failed=$((failed + 1))
	fi
done
kill "$wpid"
wait "$wpid" 2>/dev/null || true
fills=$((($(st bytes_filled) - filled0) / (4 << 20)))
note "race: $ok signed, $wrong wrong, $failed refused (ENOENT/EIO); $fills fills"
[ "$wrong" -eq 0 ] || fail "race: $wrong reads returned bytes other than the signed ones"
[ "$ok" -gt 0 ] || fail "race: no read succeeded"
[ "$fills" -ge 5 ] || fail "race: only $fills fills: the fill path was not exercised"
ib_umount
