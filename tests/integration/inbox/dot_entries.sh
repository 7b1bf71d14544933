#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every directory of the inbox lists "." and ".." (ls -a), as any other
# file system does, each once, with BACKING's inode numbers ("." that of
# the directory itself, as stat reports it through the mount); in a
# listing that takes several READDIR(PLUS) replies nothing is repeated or
# lost, and a rewind (a second ls of the same directory) lists them again.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup
mkdir -p "$B/sub/deeper" "$B/many"
printf 'top\n' >"$B/top"
printf 'a\n' >"$B/sub/a"
n=150
for i in $(seq 1 $n); do
	printf '%s\n' "$i" >"$B/many/a-file-with-a-long-name-so-replies-fill-up-$i"
done
ib_sign top sub/a
(cd "$B" && "$SIGNETFS" sign --config "$CONF" -r many >/dev/null) || fail "sign many"
ib_mount

# dots DIR WANT_ENTRIES: "." and ".." first, each once, and the number of
# entries in all (ls -a, no sorting: the order the file system gives).
dots() {
	local dir=$1 want=$2 got
	ls -a -U "$dir" >"$T/ls" || fail "ls -a $dir"
	[ "$(sed -n 1p "$T/ls")" = . ] && [ "$(sed -n 2p "$T/ls")" = .. ] ||
		fail "$dir: '.' and '..' are not the first entries: $(head -3 "$T/ls" | tr '\n' ' ')"
	[ "$(grep -cx '\.' "$T/ls")" -eq 1 ] && [ "$(grep -cx '\.\.' "$T/ls")" -eq 1 ] ||
		fail "$dir: '.' or '..' listed more than once"
	got=$(wc -l <"$T/ls")
	[ "$got" -eq "$want" ] || fail "$dir: $got entries, want $want"
	[ -z "$(sort "$T/ls" | uniq -d)" ] || fail "$dir: repeated entries: $(sort "$T/ls" | uniq -d)"
}
# Twice: the second listing of each directory starts again at offset 0.
for pass in 1 2; do
	dots "$M" 6 # . .. top top.sig sub many
	dots "$M/sub" 5 # . .. a a.sig deeper
	dots "$M/sub/deeper" 2
	dots "$M/many" $((2 * n + 2))
done

# The inode numbers are BACKING's: "." is the directory as stat sees it.
for d in "" sub sub/deeper; do
	want=$(stat -c %i "$B/$d")
	[ "$(stat -c %i "$M/$d")" -eq "$want" ] || fail "stat $M/$d: not BACKING's inode"
	got=$(ls -a -i -U "$M/$d" | awk '$2 == "." { print $1 }')
	[ "$got" = "$want" ] || fail "'.' of /$d has inode $got, want $want"
done
got=$(ls -a -i -U "$M/sub/deeper" | awk '$2 == ".." { print $1 }')
[ "$got" = "$(stat -c %i "$B/sub")" ] || fail "'..' of sub/deeper is not sub"
# The dots take no lookup the kernel must forget: cd into them works.
[ "$(cd "$M/sub/deeper/.." && ls a)" = a ] || fail "cd sub/deeper/.. is not sub"
ib_umount
