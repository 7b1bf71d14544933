#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A directory of many signed files lists completely (verified in parallel)
# and again from the cache; unsigned neighbours stay out; --prewarm
# verifies the tree at mount; a file replaced in BACKING is verified again.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup

n=1500
mkdir -p "$B/many"
for i in $(seq 1 $n); do printf 'file %d\n' "$i" >"$B/many/f$i"; done
ib_sign $(cd "$B" && ls -d many/f*)
for i in $(seq 1 50); do printf 'unsigned %d\n' "$i" >"$B/many/u$i"; done

ib_mount --prewarm
count=$(ls "$M/many" | wc -l)
[ "$count" -eq $((2 * n)) ] || fail "listed $count, want $((2 * n))"
count=$(ls -l "$M/many" | grep -c '^-r')
[ "$count" -eq $((2 * n)) ] || fail "ls -l listed $count, want $((2 * n))"
ls "$M/many" | grep -q '^u' && fail "an unsigned file is listed"
cmp -s "$M/many/f777" "$B/many/f777" || fail "f777 differs"
# Replaced by an unsigned file with the same size: re-verified, gone.
printf 'file 778\n' >"$B/many/f777.new"
mv "$B/many/f777.new" "$B/many/f777"
hidden many/f777
[ "$(ls "$M/many" | wc -l)" -eq $((2 * n - 2)) ] || fail "f777 still listed"
ib_umount
