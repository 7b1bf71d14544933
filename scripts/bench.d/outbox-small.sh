# SPDX-License-Identifier: Apache-2.0
# outbox-small (issue 17, targets 1 and 2): tar -x of a source-like tree,
# cp -r of 4 KiB files, rsync -a of the tree; into BACKING directly
# (native), through --no-sign, and through the signing outbox with the
# default (durable, group-committed) audit log. OB_NOSYNC=1 adds a mount
# with audit-sync = none. "floor": libfuse's reference passthrough_ll
# (lib.sh build_floor) with the same cache settings, what any libfuse 3.14
# filesystem pays on this kernel; its utime/chown requests fail
# (passthrough_ll does not do them), so tar and rsync exit non-zero there:
# the requests were still made, and the files must all be there.
# Sourced by scripts/bench.

bench_outbox_small() {
	local w=$work/osmall src fs ops op r n_tree n_flat
	mkdir -p "$w"
	src=$w/src
	fs=$w/fs
	mktoken "$w/key"
	note "outbox-small: generating a $TREE_N-file tree and $FLAT_N x 4 KiB files"
	gen_tree "$src/tree" "$TREE_N"
	gen_tree "$src/wtree" "$WARM_N"
	gen_flat "$src/flat" "$FLAT_N" 4096
	gen_flat "$src/wflat" "$WARM_N" 4096
	tar -cf "$src/tree.tar" -C "$src/tree" .
	tar -cf "$src/wtree.tar" -C "$src/wtree" .
	n_tree=$(find "$src/tree" -type f | wc -l)
	n_flat=$FLAT_N
	# Inodes: every run keeps its copy (file + .sig + temp), nothing is
	# deleted during the series; so does each round's bare signer.
	local variants=(native nosign sign) nv
	[ -z "$(build_floor)" ] || { FLOOR_BIN=$work/passthrough_ll; variants=(native floor nosign sign); }
	[ -z "${OB_NOSYNC:-}" ] || variants+=(nosync)
	nv=${#variants[@]}
	# space and inodes: what three copies took, for each of nv
	freshfs "$fs" $((((TREE_N * 3 + FLAT_N) * 20 * REPS / 1024 + 2048) * nv / 3)) \
		$(((TREE_N * 2 + FLAT_N + WARM_N * 3) * nv * (REPS + 1) * 2 + TOKEN_N * 2 * REPS + 100000))
	mkdir -p "$fs/native"
	mount_fs outbox "$w/key/signetfs.conf" "$fs/b-sign" "$w/m-sign"
	mount_fs outbox "$w/key/signetfs.conf" "$fs/b-nosign" "$w/m-nosign" --no-sign
	[ -z "${OB_NOSYNC:-}" ] ||
		mount_fs outbox "$w/key/nosync.conf" "$fs/b-nosync" "$w/m-nosync"
	[ -z "${FLOOR_BIN:-}" ] ||
		mount_floor "$fs/b-floor" "$w/m-floor" -o writeback -o cache=auto -o xattr
	dest() { case $1 in native) echo "$fs/native" ;; *) echo "$w/m-$1" ;; esac; }
	op_tar() { mkdir "$2" && tar -xf "$src/$1.tar" -C "$2" 2>/dev/null || floor_ok "$@"; }
	op_cp() { cp -r "$src/$1" "$2"; }
	op_rsync() { rsync -a "$src/$1/" "$2/" 2>/dev/null || floor_ok "$@"; }
	# a failed tar or rsync is only accepted on the floor, all files there
	floor_ok() {
		[ "${2#"$w/m-floor/"}" != "$2" ] &&
			[ "$(find "$2" -type f | wc -l)" = "$(find "$src/$1" -type f | wc -l)" ] ||
			die "$2: copy failed"
	}
	IFS=, read -ra ops <<<"$OB_OPS"
	declare -A t
	for r in $(seq 1 "$REPS"); do
		note "outbox-small: round $r of $REPS"
		for op in "${ops[@]}"; do
			local what=tree warm=wtree v d
			[ "$op" != cp ] || { what=flat; warm=wflat; }
			# passthrough_ll's fds (one per inode the kernel knows) go
			# with the inodes; every variant's warm-up then refills
			[ -z "${FLOOR_BIN:-}" ] || { sync; echo 2 >/proc/sys/vm/drop_caches; }
			for v in "${variants[@]}"; do
				d=$(dest "$v")
				"op_$op" "$warm" "$d/warm.$op.$r" # untimed warm-up
				t[$op.$v]+="$(timed "op_$op" "$what" "$d/run.$op.$r") "
			done
		done
		# The token's own cost per signature, on the mounts' key, in
		# the same round: what each signed file must add at least.
		t[token]+="$(raw_sign "$w/key" "$SOFTHSM" 1 "$TOKEN_N") "
		# What any in-process signer on these libraries pays per
		# file: libp11 + OpenSSL's CMS_sign, the .sig written as a
		# new file on the same filesystem as BACKING.
		t[bare]+="$(bare_sign "$w/key" 1 "$TOKEN_N" "$fs/bare.$r") "
		# The audit log's disk: a durable record, which a signed close
		# waits for while the token signs (not after).
		t[logsync]+="$(log_sync "$(dirname "$(audit_log "$w/key")")" "$TOKEN_N") "
	done
	# The signed copies are signed, and verify for their paths.
	for op in "${ops[@]}"; do
		local f
		f=$(cd "$fs/b-sign/run.$op.1" && find . -type f ! -name '*.sig' ! -name '.*' | sed -n '1p;$p')
		for g in $f; do
			"$SIGNETFS" verify --config "$w/key/signetfs.conf" --root "$fs/b-sign" \
				"$fs/b-sign/run.$op.1/${g#./}" >/dev/null ||
				die "outbox copy run.$op.1/$g does not verify"
		done
	done
	umount_fs "$w/m-sign"
	umount_fs "$w/m-nosign"
	[ -z "${FLOOR_BIN:-}" ] || umount_fs "$w/m-floor"
	[ -z "${OB_NOSYNC:-}" ] || umount_fs "$w/m-nosync"

	printf 'outbox-small: medians of %d; tree = %s; flat = %d x 4 KiB\n' \
		"$REPS" "$(tree_stats "$src/tree")" "$n_flat"
	local tok bare lsync both
	# shellcheck disable=SC2086
	tok=$(calc "1000000 / $(med ${t[token]})")
	# shellcheck disable=SC2086
	bare=$(calc "1000000 / $(med ${t[bare]})")
	# shellcheck disable=SC2086
	lsync=$(calc "1000000 / $(med ${t[logsync]})")
	# both must be done before the close returns; they overlap
	both=$(awk -v a="$bare" -v b="$lsync" 'BEGIN { print (a > b ? a : b) }')
	printf ' %-45s %10.0f us\n' "the token's signature (raw C_SignInit+C_Sign)" "$tok"
	printf ' %-45s %10.0f us\n' "a bare signer's .sig (libp11+CMS_sign+file)" "$bare"
	printf ' %-45s %10.0f us\n' "a durable log record (append+fdatasync)" "$lsync"
	for op in "${ops[@]}"; do
		local n=$n_tree label tn tns ts tf sigs=1
		case $op in
		tar) label="tar -x of the tree" ;;
		cp) label="cp -r of $n_flat x 4 KiB"; n=$n_flat ;;
		# its temp name is signed at close, its final name at rename
		rsync) label="rsync -a of the tree (2 signatures a file)"; sigs=2 ;;
		esac
		# shellcheck disable=SC2086
		tn=$(med ${t[$op.native]}) tns=$(med ${t[$op.nosign]}) ts=$(med ${t[$op.sign]})
		printf ' %s (files/s; seconds)\n' "$label"
		printf '  %-44s %10.0f  %7.3f s\n' native "$(calc "$n / $tn")" "$tn"
		if [ -n "${FLOOR_BIN:-}" ]; then
			tf=$(med ${t[$op.floor]})
			printf '  %-44s %10.0f  %7.3f s\n' "libfuse passthrough_ll (FUSE floor)" "$(calc "$n / $tf")" "$tf"
		fi
		printf '  %-44s %10.0f  %7.3f s\n' "--no-sign" "$(calc "$n / $tns")" "$tns"
		printf '  %-44s %10.0f  %7.3f s\n' "signed (audit-sync = group)" "$(calc "$n / $ts")" "$ts"
		if [ -n "${OB_NOSYNC:-}" ]; then
			local tnn
			tnn=$(med ${t[$op.nosync]})
			printf '  %-44s %10.0f  %7.3f s\n' "signed (audit-sync = none)" "$(calc "$n / $tnn")" "$tnn"
			ratio "signed, audit-sync none / --no-sign" "$tns" "$tnn" ""
		fi
		ratio "signed / --no-sign" "$tns" "$ts" ">= 0.6x"
		ratio "--no-sign / native" "$tn" "$tns" ">= 0.25x"
		if [ -n "${FLOOR_BIN:-}" ]; then
			ratio "passthrough_ll / native (the floor)" "$tn" "$tf" ""
			ratio "--no-sign / passthrough_ll" "$tf" "$tns" ""
		fi
		printf '  %-44s %10.0f us\n' "signing cost per file (signed - --no-sign)" \
			"$(calc "($ts - $tns) * 1000000 / $n")"
		# A serial writer waits for each signature: --no-sign plus the
		# token alone, nothing of signetfs, is the best signed can be;
		# plus a bare signer's work, the best these libraries allow.
		ratio "ceiling: --no-sign / (--no-sign + token)" "$tns" \
			"$(calc "$tns + $sigs * $n * $tok / 1000000")" ""
		ratio "ceiling: --no-sign/(--no-sign + bare signer)" "$tns" \
			"$(calc "$tns + $sigs * $n * $bare / 1000000")" ""
		ratio "ceiling, also the durable record" "$tns" \
			"$(calc "$tns + $sigs * $n * $both / 1000000")" ""
		printf '  %-44s %10.0f us\n' "signing cost beyond the token, per file" \
			"$(calc "($ts - $tns) * 1000000 / $n - $sigs * $tok")"
		printf '  %-44s %10.0f us\n' "signing cost beyond a bare signer, per file" \
			"$(calc "($ts - $tns) * 1000000 / $n - $sigs * $bare")"
		printf '  %-44s %10.0f us\n' "FUSE cost per file (--no-sign - native)" \
			"$(calc "($tns - $tn) * 1000000 / $n")"
		for v in "${variants[@]}"; do raw "$op $v" "${t[$op.$v]}"; done
	done
	raw "token sig/s, 1 thread" "${t[token]}"
	raw "bare signer sig/s, 1 thread" "${t[bare]}"
	raw "durable log records/s" "${t[logsync]}"
}
