# SPDX-License-Identifier: Apache-2.0
# tl_tree DIR: a release-like tree to copy, archive or sync: nested
# directories, empty and large files, executables, a setuid-less 0600 file,
# odd names, and fixed mtimes on files and directories (set last, so the
# directories keep theirs). No symlinks, hard links or device nodes: the
# outbox refuses those by design, and these cases are about everything else.
tl_tree() {
	local d=$1 i
	mkdir -p "$d/bin" "$d/lib/sub/deep" "$d/share/doc" "$d/empty-dir"
	printf '#!/bin/sh\necho hello\n' >"$d/bin/hello"
	chmod 0755 "$d/bin/hello"
	for i in $(seq 1 20); do
		head -c $((i * 1537)) /dev/urandom >"$d/lib/part$i.o"
	done
	head -c $((3 << 20)) /dev/urandom >"$d/lib/sub/big.bin"
	head -c 70000 /dev/urandom >"$d/lib/sub/deep/blob"
	: >"$d/share/doc/EMPTY"
	echo "read me" >"$d/share/doc/README"
	echo secret >"$d/share/private.key"
	chmod 0600 "$d/share/private.key"
	echo spaces >"$d/share/doc/a name with spaces"
	echo dash >"$d/share/doc/-leading-dash"
	chmod 0750 "$d/lib/sub"
	find "$d" -exec touch -m -d '2021-05-06 07:08:09.123456789' {} +
	touch -m -d '2019-01-02 03:04:05' "$d/bin/hello" "$d/lib/sub"
}

# tl_tree_v2 V1 V2: V2 is V1 after a release's changes: a file grown, one
# shrunk, one rewritten in the middle, one removed, one added, a mode
# changed, and fresh mtimes on what changed.
tl_tree_v2() {
	cp -a "$1" "$2"
	head -c 9000 /dev/urandom >>"$2/lib/part3.o"
	truncate -s 100 "$2/lib/part7.o"
	printf 'CHANGED' | dd of="$2/lib/sub/big.bin" bs=1 seek=1500000 \
		conv=notrunc status=none
	rm "$2/lib/part9.o"
	echo "new in v2" >"$2/share/doc/NEWS"
	chmod 0700 "$2/bin/hello"
	touch -m -d '2022-06-07 08:09:10.5' "$2/lib/part3.o" "$2/lib/part7.o" \
		"$2/lib/sub/big.bin" "$2/share/doc/NEWS" "$2/lib" "$2/share/doc" \
		"$2/lib/sub"
}
