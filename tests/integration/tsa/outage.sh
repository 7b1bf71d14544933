#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issue 16, item 3: the TSA down, slow (5 s) and answering garbage. What
# docs/operations.md promises: an outbox close never waits for the TSA
# (the file is signed at once, the token follows); `signetfs sign` signs,
# exits 1 within tsa-timeout and says so; every failure has an audit
# record; when the TSA is back the stamper catches up by itself and
# `signetfs timestamp` adds what the CLI could not.
. "$(dirname "$0")/common.sh"
sfs_need_fuse
command -v getfattr >/dev/null || skip "no getfattr"

K=$SFS_TMP/k
tsa_init "$K"
tsa_start "$K"
# A 2 s limit so that the 5 s TSA counts as slow here (default: 10 s).
echo "tsa-timeout = 2" >>"$K/signetfs.conf"
CONF=$K/signetfs.conf
LOG=$K/audit.log
B=$SFS_TMP/backing
ROOT=$B
install -d -m 0700 "$B"
M=$SFS_TMP/out
sfs_mount outbox "$CONF" "$B" "$M"
OB_PID=$SFS_PID OB_LOG=$SFS_LOG
SFS_LOG_ALLOW='not timestamped yet'

ms() { date +%s%3N; }
st() { getfattr --only-values -n user.signetfs.status "$M/$1" 2>/dev/null; }
# write NAME: through the outbox; fails the case if close takes >= 1 s.
write() {
	local t0 t1
	t0=$(ms)
	echo "content of $1" >"$M/$1" || fail "write $1"
	t1=$(ms)
	[ $((t1 - t0)) -lt 1000 ] || fail "close of $1 took $((t1 - t0)) ms"
	"$SIGNETFS" verify --config "$CONF" --root "$B" "$B/$1" >/dev/null ||
		fail "$1 not signed at close"
}
pending() { st "$1" | grep -q "^signed, not timestamped yet"; }
is_stamped() { st "$1" | grep -q "^signed, timestamped "; }

for mode in down "slow 5" garbage; do
	f=${mode%% *}.txt
	note "TSA $mode"
	if [ "$mode" = down ]; then tsa_stop; else tsa_mode "$mode"; fi
	write "$f"
	wait_for 15 audited_event "$LOG" timestamp-failed "$f" ||
		fail "$mode: no timestamp-failed record"
	pending "$f" || fail "$mode: status is '$(st "$f")'"
	case $mode in
	down) st "$f" | grep -q "cannot reach the TSA" || fail "status: $(st "$f")" ;;
	slow*) st "$f" | grep -q "timed out after 2000 ms" || fail "status: $(st "$f")" ;;
	garbage) st "$f" | grep -q "not a TimeStampResp" || fail "status: $(st "$f")" ;;
	esac
	# The CLI: signed, exit 1, bounded by the timeout.
	echo "cli $mode" >"$B/cli-$f"
	t0=$(ms)
	if "$SIGNETFS" sign --config "$CONF" --root "$B" "$B/cli-$f" 2>"$SFS_TMP/err"; then
		fail "$mode: sign exits 0"
	fi
	t1=$(ms)
	note "sign with the TSA $mode: $((t1 - t0)) ms"
	[ $((t1 - t0)) -lt 4000 ] || fail "$mode: sign took $((t1 - t0)) ms"
	grep -q "signed, but not timestamped" "$SFS_TMP/err" || fail "$(cat "$SFS_TMP/err")"
	[ "$(reason "$B/cli-$f")" = ok ] || fail "$mode: cli-$f not signed"
	! stamped "$B/cli-$f" || fail "$mode: cli-$f stamped"
	# Back: the stamper retries by itself (backoff 1 s, doubling).
	if [ "$mode" = down ]; then tsa_start "$K"; else tsa_mode ok; fi
	wait_for 90 is_stamped "$f" || fail "$mode: not stamped after recovery: $(st "$f")"
	stamped "$B/$f" || fail "$mode: $f.sig has no valid token"
	audited_event "$LOG" timestamp "$f" || fail "$mode: no timestamp record"
	"$SIGNETFS" timestamp --config "$CONF" --root "$B" "$B/cli-$f" ||
		fail "$mode: signetfs timestamp after recovery"
	stamped "$B/cli-$f" || fail "$mode: cli-$f not stamped by timestamp"
done
# A token that lands later replaces NAME.sig as the close did: the
# directory keeps the mtime its writer set (rsync -a), as in
# outbox/dir_mtime. The TSA answers garbage until the mtime is set.
tsa_mode garbage
mkdir "$M/d"
echo stamped later >"$M/d/f"
touch -m -d 2001-02-03T04:05:06 "$M/d"
want=$(stat -c %Y "$B/d")
wait_for 15 audited_event "$LOG" timestamp-failed d/f || fail "d/f: no timestamp-failed record"
tsa_mode ok
wait_for 90 is_stamped d/f || fail "d/f: not stamped: $(st d/f)"
[ "$(stat -c %Y "$B/d")" = "$want" ] || fail "the token for d/f changed d's mtime"
# -r: everything is stamped now; a second run changes nothing.
cp "$B/down.txt.sig" "$SFS_TMP/before"
"$SIGNETFS" timestamp --config "$CONF" --root "$B" -r "$B" || fail "timestamp -r"
cmp -s "$B/down.txt.sig" "$SFS_TMP/before" || fail "timestamp -r changed a stamped .sig"
# Unmounting while the TSA hangs: bounded, the queue is audited.
tsa_mode "slow 30"
echo late >"$M/late.txt"
t0=$(ms)
sfs_umount "$M" "$OB_PID" "$OB_LOG"
t1=$(ms)
note "unmount with a request in flight: $((t1 - t0)) ms"
[ $((t1 - t0)) -lt 5000 ] || fail "unmount took $((t1 - t0)) ms"
audited_event "$LOG" timestamp-failed late.txt || fail "late.txt: no record at unmount"
"$SIGNETFS" audit verify --config "$CONF" "$LOG" >"$SFS_TMP/av" 2>&1 ||
	fail "audit verify: $(cat "$SFS_TMP/av")"
tsa_stop
echo "outage: down, slow and garbage as documented, recovered"
