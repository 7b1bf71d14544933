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
	local variants=(nosign sign)
	[ -z "$(build_floor)" ] || { FLOOR_BIN=$work/passthrough_ll; variants=(floor nosign sign); }
	for v in "${variants[@]}"; do
		local args=(--debug) log
		if [ $v = floor ]; then
			mount_floor "$fs/b-$v" "$w/m-$v" -d -o writeback -o cache=auto -o xattr
		else
			[ $v = sign ] || args+=(--no-sign)
			mount_fs outbox "$w/key/signetfs.conf" "$fs/b-$v" "$w/m-$v" "${args[@]}"
		fi
		log=$work/m-$v.log
		for op in cp tar rsync; do
			local from n=$n_tree d=$w/m-$v/$op
			settle "$log"
			from=$(stat -c %s "$log")
			case $op in
			cp) cp -r "$src/flat" "$d"; n=$REQ_N ;;
			# passthrough_ll does not set times: tar and rsync say so
			tar) mkdir "$d" && { tar -xf "$src/tree.tar" -C "$d" 2>/dev/null || [ $v = floor ]; } ;;
			rsync) rsync -a "$src/tree/" "$d/" 2>/dev/null || [ $v = floor ] ;;
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
		local cols=("${variants[@]}") hdr=
		for v in "${cols[@]}"; do
			case $v in floor) hdr+=" passthrough_ll" ;; nosign) hdr+="  --no-sign" ;; sign) hdr+="     signed" ;; esac
		done
		printf ' %-40s%s\n' "$label" "$hdr"
		for v in "${cols[@]}"; do echo "${res[$op.$v]}" | sort >"$w/c.$v"; done
		cp "$w/c.${cols[0]}" "$w/j"
		for v in "${cols[@]:1}"; do
			# shellcheck disable=SC2046
			join -a1 -a2 -e 0 -o 0,$(seq -s, -f '1.%g' 2 "$(head -1 "$w/j" | wc -w)"),2.2 \
				"$w/j" "$w/c.$v" >"$w/j2"
			mv "$w/j2" "$w/j"
		done
		sort -k2,2gr "$w/j" | awk '$1 != "TOTAL" {printf "  %-40s", $1; for (i = 2; i <= NF; i++) printf " %10.2f", $i; print ""}
			$1 == "TOTAL" {t = $0} END {n = split(t, a); printf "  %-40s", "all requests"; for (i = 2; i <= n; i++) printf " %10.2f", a[i]; print ""}'
	done
}
