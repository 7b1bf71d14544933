#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Disk full. (1) BACKING on a 16 MiB tmpfs, filled through the outbox with
# files of 1 MiB down to 100 bytes: a failing file fails with ENOSPC at
# write or ENOSPC/EIO at close; every .sig present verifies for its file,
# and every file that verifies is complete (no partial file is signed);
# no temp file is left; each file whose write to BACKING failed has a
# sign-refused record (write-failed: ..., audit log outside the tmpfs);
# after files are removed through the mount, a new file is signed. (2)
# The audit log on a full tmpfs of its own: signing fails closed (close
# EIO, no .sig); once space is back, signing works again and the log's
# chain is intact. (Renames while the audit log or BACKING is full:
# stress/rename_audit_full.)
. "$(dirname "$0")/common.sh"
sfs_need_fuse
st_tmpfs "$SFS_TMP/backing" 16m
# The daemon logs each failed signature; nothing else may appear.
SFS_LOG_ALLOW='No space left on device'
ob_start
mkdir "$SFS_TMP/src"
for s in 1048576 65536 4096 100; do
	head -c "$s" /dev/urandom >"$SFS_TMP/src/$s"
done
res=$SFS_TMP/results
k=0
for spec in 1048576:40 65536:20 4096:40 100:20; do
	size=${spec%:*}
	for _ in $(seq 1 "${spec#*:}"); do
		k=$((k + 1))
		echo "$SFS_TMP/src/$size $M/f$k"
	done
done >"$SFS_TMP/list"
# "fK SIZE OUTCOME" per file, in order.
st_writes <"$SFS_TMP/list" | cut -d' ' -f2- |
	paste -d' ' <(awk '{ n = split($2, a, "/"); m = split($1, b, "/");
		print a[n], b[m] }' "$SFS_TMP/list") - >"$res"
note "outcomes: $(cut -d' ' -f3- "$res" | sort | uniq -c | tr -s ' \n' ' ')"
note "tmpfs: $(df -k --output=used,avail "$B" | tail -1 | tr -s ' ') KiB used/free"
grep -q ' ok$' "$res" || fail "nothing could be written"
grep -vqE ' ok$' "$res" || fail "the tmpfs never filled up"
if grep -vE ' (ok|write ENOSPC|close ENOSPC|close EIO|open ENOSPC)$' "$res"; then
	fail "unexpected outcomes above"
fi
# A file that succeeded is complete and signed; one that failed is not
# validly signed. Whatever is signed is complete.
while read -r f size r; do
	if [ "$r" = ok ]; then
		cmp -s "$SFS_TMP/src/$size" "$B/$f" || fail "$f: ok but not complete"
		ob_ok "$f"
	elif [ -e "$B/$f" ]; then
		ob_bad "$f"
	fi
done <"$res"
for s in "$B"/*.sig; do
	[ -e "$s" ] || continue
	f=${s%.sig}
	"$SIGNETFS" verify --config "$CONF" --root "$B" "$f" >/dev/null ||
		fail "${s#"$B"/} does not verify for its file"
done
ob_no_temps "$B"
# A file whose write-back failed at close is refused at its RELEASE,
# which comes after close(2) returned: wait for the records.
nfail=$(grep -cE ' (write|close) ENOSPC$' "$res" || true)
[ "$nfail" -gt 0 ] || fail "no write or close failed with ENOSPC: the write-failed path was not exercised"
n_refused() {
	grep -c '"event":"sign-refused".*"reason":"write-failed: .*No space left on device' "$AUDIT" || true
}
all_refused() { [ "$(n_refused)" -ge "$nfail" ]; }
wait_for 10 all_refused ||
	fail "$(n_refused) sign-refused (write-failed) records for $nfail files whose write failed"
note "$(n_refused) sign-refused (write-failed), $(grep -c '"event":"sign-failed"' "$AUDIT" || true) sign-failed records; e.g. $(grep '"event":"sign-refused"' "$AUDIT" | head -1 | grep -o '"reason":"[^"]*"')"
# Room again: remove the first big files through the mount.
for k in 1 2 3; do rm "$M/f$k"; done
[ ! -e "$B/f1.sig" ] || fail "f1.sig left behind"
[ "$(st_write "$SFS_TMP/src/1048576" "$M/again")" = ok ] ||
	fail "no write after space was freed"
cmp "$SFS_TMP/src/1048576" "$B/again"
ob_ok again
ob_stop
"$SIGNETFS" audit verify --config "$CONF" "$AUDIT" >/dev/null ||
	fail "audit log (BACKING full) does not verify"

# (2) The audit log's filesystem is full.
ALOG=$SFS_TMP/alog
st_tmpfs "$ALOG" 64k
CONF2=$TOK/audit-full.conf
{
	cat "$TOK/signetfs.conf"
	printf '\n[signetfs]\naudit-log = %s\n[outbox]\n' "$ALOG/audit.jsonl"
} >"$CONF2"
B2=$SFS_TMP/backing2
M2=$SFS_TMP/mnt2
mkdir -p "$B2"
SFS_LOG_ALLOW='No space left on device|audit'
sfs_mount outbox "$CONF2" "$B2" "$M2"
P2=$SFS_PID
L2=$SFS_LOG
v2() { "$SIGNETFS" verify --config "$CONF2" --root "$B2" "$B2/$1" >/dev/null 2>&1; }
[ "$(st_write "$SFS_TMP/src/4096" "$M2/before")" = ok ] || fail "first write"
v2 before || fail "before does not verify"
dd if=/dev/zero of="$ALOG/fill" bs=4k status=none 2>/dev/null || true
note "audit tmpfs: $(df -k --output=avail "$ALOG" | tail -1 | tr -d ' ') KiB free"
# The log's last page still has room for a few records: write until a
# record needs a page the tmpfs does not have.
x=
for k in $(seq 1 40); do
	r=$(st_write "$SFS_TMP/src/4096" "$M2/x$k")
	case "$r" in
	ok) v2 "x$k" || fail "x$k: close ok, does not verify" ;;
	"close EIO") x=x$k; break ;;
	*) fail "audit log full: x$k: $r (expected ok or close EIO)" ;;
	esac
done
[ -n "$x" ] || fail "40 signatures fit in a full audit filesystem"
note "audit log full: $x fails at close with EIO (after $((k - 1)) records fitted its last page)"
[ ! -e "$B2/$x.sig" ] || fail "$x.sig exists without its audit record"
! v2 "$x" || fail "$x verifies"
[ "$(ob_xattr "$M2/$x" status)" != signed ] || fail "$x status: signed"
r=$(st_write "$SFS_TMP/src/4096" "$M2/x")
[ "$r" = "close EIO" ] || fail "audit log still full: x: $r"
[ ! -e "$B2/x.sig" ] || fail "x.sig exists without its audit record"
rm "$ALOG/fill"
[ "$(st_write "$SFS_TMP/src/4096" "$M2/y")" = ok ] || fail "no recovery"
v2 y || fail "y does not verify"
[ "$(st_write "$SFS_TMP/src/4096" "$M2/x")" = ok ] || fail "x again"
v2 x || fail "x does not verify after recovery"
[ "$(st_write "$SFS_TMP/src/4096" "$M2/$x")" = ok ] || fail "$x again"
v2 "$x" || fail "$x does not verify after recovery"
"$SIGNETFS" audit verify --config "$CONF2" --live "$ALOG/audit.jsonl" \
	>/dev/null || fail "audit log (its fs full) does not verify (live)"
grep -F '"event":"sign-failed"' "$ALOG/audit.jsonl" >/dev/null &&
	note "a sign-failed record made it to the audit log after space came back"
sfs_umount "$M2" "$P2" "$L2"
"$SIGNETFS" audit verify --config "$CONF2" "$ALOG/audit.jsonl" >/dev/null ||
	fail "audit log (its fs full) does not verify after unmount"
