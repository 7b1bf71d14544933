# SPDX-License-Identifier: Apache-2.0
# fuse-requests (issue 17, target 2): FUSE requests per written file, by
# opcode, counted from libfuse's own debug output (`--debug`: one
# "opcode: NAME" line per request the kernel sent), for cp -r, tar -x and
# rsync -a of REQ_N files through --no-sign and through the signing
# outbox. Counts, not times: the debug output slows the daemon.
# Sourced by scripts/bench.

# settle LOG: wait until LOG stops growing (RELEASE and FORGET come after
# the writer has exited).
settle() {
	local a b=-1
	while :; do
		a=$(stat -c %s "$1")
		[ "$a" != "$b" ] || return 0
		b=$a
		sleep 0.3
	done
}

# count_ops LOG FROM N: requests after byte FROM, per file, by opcode
count_ops() {
	tail -c +$(($2 + 1)) "$1" | grep -o 'opcode: [A-Z_]*' |
		awk -v n="$3" '{c[$2]++; t++} END {for (o in c) printf "%s %.2f\n", o, c[o] / n; printf "TOTAL %.2f\n", t / n}'
}

bench_fuse_requests() {
	local w=$work/freq src fs v op
	mkdir -p "$w"
	src=$w/src
	fs=$w/fs
	mktoken "$w/key"
	gen_tree "$src/tree" "$REQ_N"
	gen_flat "$src/flat" "$REQ_N" 4096
	tar -cf "$src/tree.tar" -C "$src/tree" .
	local n_tree
	n_tree=$(find "$src/tree" -type f | wc -l)
	freshfs "$fs" 4096 $((REQ_N * 40 + 100000))
	declare -A res
	for v in nosign sign; do
		local args=(--debug) log
		[ $v = sign ] || args+=(--no-sign)
		mount_fs outbox "$w/key/signetfs.conf" "$fs/b-$v" "$w/m-$v" "${args[@]}"
		log=$work/m-$v.log
		for op in cp tar rsync; do
			local from n=$n_tree d=$w/m-$v/$op
			settle "$log"
			from=$(stat -c %s "$log")
			case $op in
			cp) cp -r "$src/flat" "$d"; n=$REQ_N ;;
			tar) mkdir "$d" && tar -xf "$src/tree.tar" -C "$d" ;;
			rsync) rsync -a "$src/tree/" "$d/" ;;
			esac
			settle "$log"
			res[$op.$v]=$(count_ops "$log" "$from" "$n")
		done
		umount_fs "$w/m-$v"
	done
	printf 'fuse-requests: FUSE requests per written file (libfuse --debug), %d files each\n' "$REQ_N"
	for op in cp tar rsync; do
		local label
		case $op in
		cp) label="cp -r of $REQ_N x 4 KiB" ;;
		tar) label="tar -x of a $n_tree-file tree" ;;
		rsync) label="rsync -a of the same tree" ;;
		esac
		printf ' %s                --no-sign   signed\n' "$label"
		join -a1 -a2 -e 0 -o 0,1.2,2.2 \
			<(echo "${res[$op.nosign]}" | sort) <(echo "${res[$op.sign]}" | sort) |
			sort -k2,2gr | awk '$1 != "TOTAL" {printf "  %-40s %8.2f %8.2f\n", $1, $2, $3}
				$1 == "TOTAL" {t = $0} END {split(t, a); printf "  %-40s %8.2f %8.2f\n", "all requests", a[2], a[3]}'
	done
}
