#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# rename(2) of signed files when what the rename must write cannot be
# written: EIO and everything as it was (old names, their valid .sigs, no
# new .sig, no temp file), or success with the new names signed.
#
# rename_signed() signs the new paths, writes the new .sigs to temp files
# and writes their `sign` audit records, all before renameat2 (a record
# comes before its signature exists, docs/outbox.md); after it only
# renames of those temp files remain. (1) The audit log cannot be written:
# a file, then a directory with a signed file. (2) BACKING is full: the
# new .sig cannot be written. Once there is room again, both renames work.
. "$(dirname "$0")/common.sh"
sfs_need_fuse
ALOG=$SFS_TMP/alog
st_tmpfs "$ALOG" 64k
SFS_LOG_ALLOW='No space left on device|audit'
B=$SFS_TMP/backing
M=$SFS_TMP/mnt
TOK=$SFS_TMP/tok
mkdir -p "$B"
sfs_init "$TOK"
CONF=$TOK/audit-full.conf
{
	cat "$TOK/signetfs.conf"
	printf '\n[signetfs]\naudit-log = %s\n[outbox]\n' "$ALOG/audit.jsonl"
} >"$CONF"
vf() { "$SIGNETFS" verify --config "$CONF" --root "$B" "$B/$1" >/dev/null 2>&1; }
# mv_check FROM TO: mv fails with everything as it was, or succeeds with
# TO signed (FILE: the signed file to check, relative to FROM and TO).
mv_check() {
	local from=$1 to=$2 file=${3:-} rc=0
	mv "$M/$from" "$M/$to" 2>/dev/null || rc=$?
	note "mv $from $to: exit $rc; BACKING: $(cd "$B" && echo "$from"* "$to"*)"
	if [ "$rc" -ne 0 ]; then
		[ -e "$B/$from" ] && [ ! -e "$B/$to" ] ||
			fail "rename returned an error but happened: $(cd "$B" && echo "$from"* "$to"*)"
		vf "$from$file" || fail "$from$file lost its signature in a failed rename"
		[ ! -e "$B/$to$file.sig" ] || fail "$to$file.sig left behind"
	else
		vf "$to$file" || fail "$to$file is not signed"
		[ ! -e "$B/$from$file.sig" ] || fail "$from$file.sig left behind"
	fi
	ob_no_temps "$B"
	return "$rc"
}

# A signed file and a signed tree to rename.
signed_pair() {
	echo data >"$M/before"
	mkdir "$M/dir"
	echo data >"$M/dir/f"
	vf before || fail "setup: before not signed"
	vf dir/f || fail "setup: dir/f not signed"
}

# full_then_room WHAT FILLER: both renames fail (and change nothing) while
# FILLER keeps WHAT full; both succeed once FILLER is gone.
full_then_room() {
	mv_check before moved && fail "mv of a signed file succeeded with $1 full"
	mv_check dir dir2 /f && fail "mv of a signed tree succeeded with $1 full"
	rm "$2"
	mv_check before moved || fail "mv of a signed file once $1 has room"
	mv_check dir dir2 /f || fail "mv of a signed tree once $1 has room"
}

# (1) The audit log is full.
sfs_mount outbox "$CONF" "$B" "$M"
signed_pair
dd if=/dev/zero of="$ALOG/fill" bs=4k status=none 2>/dev/null || true
# Fill the log's last page too: small writes until one cannot be signed.
for k in $(seq 1 40); do
	[ "$(st_write /etc/hostname "$M/pad$k")" = ok ] || break
done
full_then_room "the audit log" "$ALOG/fill"
sfs_umount "$M" "$SFS_PID" "$SFS_LOG"
"$SIGNETFS" audit verify --config "$CONF" "$ALOG/audit.jsonl" >/dev/null ||
	fail "audit log does not verify"
# The records the full log refused are counted in the log once it had
# room (docs/audit-log.md): a records-lost line with the count, before
# the record that followed. The twin, below: case (2)'s session, whose
# log never filled, adds none.
lost_lines() { grep -c '"event":"records-lost"' "$ALOG/audit.jsonl" || true; }
n_lost=$(python3 - "$ALOG/audit.jsonl" <<'PY') || fail "records-lost"
import json, re, sys
recs = [json.loads(l) for l in open(sys.argv[1], "rb")]
lost = [r for r in recs if r["event"] == "records-lost"]
if not lost:
    sys.exit("no records-lost line after the log was full")
for r in lost:
    if not re.fullmatch(r"[1-9][0-9]* records could not be written: .+", r["reason"]):
        sys.exit(f"records-lost reason {r['reason']!r}")
print(f"# {len(lost)} records-lost line(s): {[r['reason'] for r in lost]}",
      file=sys.stderr)
print(sum(int(r["reason"].split()[0]) for r in lost))
PY
# audit verify says so too: intact, and not complete.
out=$("$SIGNETFS" audit verify --config "$CONF" "$ALOG/audit.jsonl") || fail "audit verify: $out"
[[ $out == *", $n_lost records lost (see its records-lost lines), sealed" ]] ||
	fail "audit verify does not count the $n_lost lost records: $out"
lost1=$(lost_lines)

# (2) BACKING is full (the audit log elsewhere): no room for a new .sig.
B=$SFS_TMP/backing2
M=$SFS_TMP/mnt2
st_tmpfs "$B" 1m
sfs_mount outbox "$CONF" "$B" "$M"
signed_pair
head -c $((2 << 20)) /dev/zero >"$B/filler" 2>/dev/null || true
full_then_room BACKING "$B/filler"
sfs_umount "$M" "$SFS_PID" "$SFS_LOG"
[ "$(lost_lines)" = "$lost1" ] || fail "records-lost written with room in the log"
