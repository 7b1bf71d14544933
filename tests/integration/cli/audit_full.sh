#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# signetfs sign fails closed when its audit log cannot be written: the
# records of a batch are made durable before any of its .sig files exist
# (one fdatasync per batch, cmd_sign.c), so with the log on a full
# filesystem no .sig exists without its record, the exit is non-zero and
# the message names the log.
# The twin: with room again the same command signs everything, and the
# files and the log verify.
. "$(dirname "$0")/../lib.sh"
[ -e /usr/lib/softhsm/libsofthsm2.so ] || skip "no SoftHSM"

t=$SFS_TMP
alog=$t/alog
mkdir -p "$alog"
mount -t tmpfs -o size=1m,mode=0755 tmpfs "$alog" || skip "cannot mount tmpfs"
cleanup() { umount -l "$alog" 2>/dev/null; sfs_cleanup; }
trap cleanup EXIT
sfs_init "$t/key"
conf=$t/key/full.conf
sed "s|^audit-log = .*|audit-log = $alog/audit.jsonl|" "$t/key/signetfs.conf" >"$conf"
grep -q "^audit-log = $alog/audit.jsonl" "$conf" || fail "config: no audit-log line to point at the tmpfs"
mkdir -p "$t/files"
for i in $(seq 1 150); do printf 'file %d\n' "$i" >"$t/files/f$i"; done

# Room for the log to be created, not for 150 records.
head -c $(((1024 - 8) << 10)) /dev/zero >"$alog/fill" 2>/dev/null || true
rc=0
"$SIGNETFS" sign --config "$conf" --root "$t" -r "$t/files" >"$t/out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "sign exited 0 with a full audit log"
grep -q "audit log" "$t/out" || fail "no message about the audit log: $(head -3 "$t/out")"
n=$(find "$t/files" -name '*.sig' | wc -l)
note "full log: exit $rc, $n .sig files"
# Records that fitted are durable and their files signed; every other
# file has no .sig: no signature exists without its record.
[ "$n" -lt 150 ] || fail "every file signed although the audit log was full"
for sig in $(find "$t/files" -name '*.sig'); do
	rel=${sig#"$t/"}
	rel=${rel%.sig}
	# Records put "event" then "path"; the closing quote: f1 is not f10.
	grep -qF "\"event\":\"sign\",\"path\":\"$rel\"," "$alog/audit.jsonl" ||
		fail "$rel.sig exists without a sign record"
done
rm -f "$t"/files/*.sig

rm -f "$alog/fill" "$alog/audit.jsonl"
"$SIGNETFS" sign --config "$conf" --root "$t" -r "$t/files" >"$t/out" 2>&1 ||
	fail "sign with room again: $(head -3 "$t/out")"
[ "$(find "$t/files" -name '*.sig' | wc -l)" -eq 150 ] || fail "not every file signed"
"$SIGNETFS" verify --config "$conf" --root "$t" -r "$t/files" >"$t/vout" 2>&1 ||
	fail "verify: $(grep -v '^OK' "$t/vout" | head -3)"
"$SIGNETFS" audit verify --config "$conf" "$alog/audit.jsonl" >"$t/aout" 2>&1 ||
	fail "audit verify: $(cat "$t/aout")"
[ "$(grep -c '"event":"sign"' "$alog/audit.jsonl")" -eq 150 ] || fail "sign records != 150"
