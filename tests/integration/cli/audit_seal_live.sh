#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sessions in a shared log, with a live writer (an outbox mount): a record
# forged in the running mount's name is not sealed by the mount's own
# checkpoint; a mount and `signetfs sign` runs interleave in one log and
# each seals its own lines (lines after another writer's checkpoint are
# no forgery by themselves); a writer killed before its checkpoint leaves
# its lines named as unsealed, whoever writes after it.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/audit_common.sh"
sfs_need_fuse

t=$SFS_TMP
sfs_init "$t/tok"
conf=$t/tok/live.conf # beside the token's config: relative paths hold
log=$t/audit.jsonl
{
	cat "$t/tok/signetfs.conf"
	# No timed checkpoint: which line seals what is up to the test.
	printf '\n[signetfs]\naudit-log = %s\ncheckpoint-secs = 0\n' "$log"
} >"$conf"
B=$t/backing
M=$t/mnt
mkdir -p "$B" "$M" "$t/r"
for i in 1 2 3; do echo "$i" >"$t/r/f$i"; done
mount_ob() {
	sfs_mount outbox "$conf" "$B" "$M"
	OB_PID=$SFS_PID
	OB_LOG=$SFS_LOG
}

# (1) Forged in the running mount's name, between two of its records.
mount_ob
echo a >"$M/a"
python3 "$FORGE" append "$log" --like sign --like-path a --path evil --session keep
echo c >"$M/c"
sfs_umount "$M" "$OB_PID" "$OB_LOG"
tail -n1 "$log" | grep -q '"event":"checkpoint","final":true' ||
	fail "the mount did not seal its log"
av_bad "$(wc -l <"$log")" "does not seal the lines its session has" \
	--config "$conf" "$log"

# (2) Shared: a `signetfs sign` run seals its own lines while the mount
# has lines before them that only the mount's checkpoint will seal.
rm -f "$log"
mount_ob
echo a >"$M/a"
"$SIGNETFS" sign --config "$conf" --root "$t/r" "$t/r/f1" || fail "sign"
echo b >"$M/b"
out=$("$SIGNETFS" audit verify --live --config "$conf" "$log") ||
	fail "live shared log: $out"
[[ $out == *"open (live)"* ]] || fail "live shared log: $out"
av_bad 1 "not sealed" --config "$conf" "$log"
sfs_umount "$M" "$OB_PID" "$OB_LOG"
av_sealed --config "$conf" "$log"
[ "$(grep -c '"event":"open"' "$log")" -eq 2 ] || fail "two sessions expected"

# (3) A writer killed before its checkpoint: the next one seals only its
# own lines, and says at its open that it found lines after the last
# checkpoint.
rm -f "$log"
mount_ob
echo a >"$M/a"
{ kill -9 "$OB_PID" && wait "$OB_PID"; } 2>/dev/null || true
fusermount3 -uz "$M" 2>/dev/null || true
n=$(wc -l <"$log")
"$SIGNETFS" sign --config "$conf" --root "$t/r" "$t/r/f2" 2>/dev/null ||
	fail "sign after the crash"
sed -n "$((n + 1))p" "$log" | grep -q '"event":"open",.*"tail":"unsealed","unsealed":'"$n"',' ||
	fail "open record: $(sed -n "$((n + 1))p" "$log")"
av_bad 1 "not sealed" --config "$conf" "$log"
echo "audit_seal_live: ok"
