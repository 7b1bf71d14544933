#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A checkpoint's signature covers every byte of its line that a verifier
# reads, not only the chain head: a periodic checkpoint whose "final" is
# flipped (so that a log cut right after it looks sealed), or any other
# field of it changed, is refused at that line.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/audit_common.sh"
[ -e /usr/lib/softhsm/libsofthsm2.so ] || skip "no SoftHSM"

t=$SFS_TMP
sfs_init "$t/key"
conf=$t/key/signetfs.conf
log=$t/key/audit.log
printf '\n[signetfs]\ncheckpoint-every = 2\n' >>"$conf"
mkdir -p "$t/r"
for i in 1 2 3 4 5; do echo "$i" >"$t/r/f$i"; done
"$SIGNETFS" sign --config "$conf" --root "$t/r" "$t"/r/f{1..5} ||
	fail "sign"
av_sealed --config "$conf" "$log"

# The first periodic checkpoint, with records after it.
k=$(grep -m1 -n '"event":"checkpoint","final":false' "$log" | cut -d: -f1)
n=$(wc -l <"$log")
[ -n "$k" ] && [ "$k" -lt $((n - 1)) ] ||
	fail "no periodic checkpoint followed by records: $(cat "$log")"
flip="${k}s/\"final\":false/\"final\":true/"

# The attack: cut the log after it, flip its final flag.
head -n "$k" "$log" | sed "$flip" >"$t/cut-flip.log"
av_bad "$k" "checkpoint line was changed" --config "$conf" "$t/cut-flip.log"
# The same flip with nothing cut.
sed "$flip" "$log" >"$t/flip.log"
av_bad "$k" "checkpoint line was changed" --config "$conf" "$t/flip.log"
# A second "final" after "sig" (a JSON parser keeps the last one).
head -n "$k" "$log" | sed "${k}s/}\$/,\"final\":true}/" >"$t/dup.log"
av_bad "$k" "last member" --config "$conf" "$t/dup.log"
# Any other field of the checkpoint: its record count, its time.
sed "${k}s/\"records\":[0-9]*/\"records\":1000/" "$log" >"$t/records.log"
av_bad "$k" "checkpoint line was changed" --config "$conf" "$t/records.log"
sed "${k}s/\"time\":\"[^\"]*\"/\"time\":\"2000-01-01T00:00:00.000000Z\"/" \
	"$log" >"$t/time.log"
av_bad "$k" "checkpoint line was changed" --config "$conf" "$t/time.log"
# Twin: the cut alone (no flip) is a truncation, reported past the end.
head -n "$k" "$log" >"$t/cut.log"
av_bad $((k + 1)) "not final" --config "$conf" "$t/cut.log"
# Format 1 is refused with its reason, not as a broken chain.
sed '1s/"v":2/"v":1/' "$log" >"$t/v1.log"
av_bad 1 "format 1" --config "$conf" "$t/v1.log"
echo "audit_seal_line: ok"
