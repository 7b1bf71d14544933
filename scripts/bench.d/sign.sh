# SPDX-License-Identifier: Apache-2.0
# sign (issue 17, target 3): bulk `signetfs sign` of SIGN_N x 4 KiB files
# against the token's own C_Sign rate (tests/bench/p11_sign_loop: the same
# key on the same token, PKCS#11 straight from the module, as many
# threads as `signetfs sign` uses by default) and against the per-file
# `openssl cms -sign` loop (LOOP_N files), and against a bare in-process
# signer on the same libraries (tests/bench/cms_sign_loop: libp11 +
# OpenSSL's CMS_sign, with and without writing each .sig as a new file
# beside the files, as many threads). Interleaved per round, each
# after an untimed warm-up. `signetfs sign` runs with the init config (an
# audit log, audit-sync = group) and, for the record, without an audit
# log. Sourced by scripts/bench.

bench_sign() {
	local w=$work/sign k r jobs
	mkdir -p "$w"
	k=$w/key
	mktoken "$k"
	jobs=$(nproc)
	gen_flat "$w/files" "$SIGN_N" 4096
	gen_flat "$w/warm" 200 4096
	gen_flat "$w/loop" "$LOOP_N" 4096
	local a=() na=() p=() p1=() o=() b=() bf=()
	sign_all() { (cd "$1" && "$SIGNETFS" sign --config "$2" --root . -r .); }
	for r in $(seq 1 "$REPS"); do
		note "sign: round $r of $REPS"
		sign_all "$w/warm" "$k/signetfs.conf" >/dev/null
		a+=("$(calc "$SIGN_N / $(timed sign_all "$w/files" "$k/signetfs.conf")")")
		p+=("$(raw_sign "$k" "$SOFTHSM" "$jobs" "$RAW_N")")
		p1+=("$(raw_sign "$k" "$SOFTHSM" 1 "$RAW_N")")
		b+=("$(bare_sign "$k" "$jobs" "$SIGN_N")")
		bf+=("$(bare_sign "$k" "$jobs" "$SIGN_N" "$w/bare.$r")")
		sign_all "$w/warm" "$k/noaudit.conf" >/dev/null
		na+=("$(calc "$SIGN_N / $(timed sign_all "$w/files" "$k/noaudit.conf")")")
		openssl_loop "$k" "$w/loop/f00000" "$w/loop/f00001" "$w/loop/f00002"
		o+=("$(calc "$LOOP_N / $(timed openssl_loop "$k" "$w"/loop/f?????)")")
	done
	"$SIGNETFS" verify --config "$k/signetfs.conf" --root "$w/files" -r "$w/files" >/dev/null ||
		die "signetfs sign's output does not verify"
	local ma mna mp mp1 mo mb mbf
	ma=$(med "${a[@]}") mna=$(med "${na[@]}") mp=$(med "${p[@]}")
	mp1=$(med "${p1[@]}") mo=$(med "${o[@]}")
	mb=$(med "${b[@]}") mbf=$(med "${bf[@]}")
	printf 'sign: %d x 4 KiB files, EC P-256 on SoftHSM, %d CPUs, medians of %d (per second)\n' \
		"$SIGN_N" "$jobs" "$REPS"
	row "signetfs sign -j $jobs (audit-sync = group)" "$ma" "files/s"
	row "signetfs sign -j $jobs (no audit log)" "$mna" "files/s"
	row "raw PKCS#11 C_Sign loop, $jobs threads" "$mp" "sig/s"
	row "raw PKCS#11 C_Sign loop, 1 thread" "$mp1" "sig/s"
	row "openssl cms -sign loop ($LOOP_N files)" "$mo" "files/s"
	row "bare libp11+CMS_sign, $jobs threads, no file" "$mb" "sig/s"
	row "bare libp11+CMS_sign, $jobs threads, .sig files" "$mbf" "files/s"
	ratio "signetfs sign / raw C_Sign ($jobs threads)" "$ma" "$mp" ">= 0.7x"
	ratio "signetfs sign / openssl cms loop" "$ma" "$mo" ">= 30x"
	ratio "signetfs sign, no audit log / raw C_Sign" "$mna" "$mp" ""
	# what the libraries allow: the bare signer against the token
	ratio "bare signer, no file / raw C_Sign" "$mb" "$mp" ""
	ratio "bare signer, .sig files / raw C_Sign" "$mbf" "$mp" ""
	ratio "signetfs sign / bare signer, .sig files" "$ma" "$mbf" ""
	raw "signetfs sign" "${a[*]}"
	raw "signetfs sign, no audit" "${na[*]}"
	raw "C_Sign $jobs threads" "${p[*]}"
	raw "C_Sign 1 thread" "${p1[*]}"
	raw "openssl loop" "${o[*]}"
	raw "bare signer, no file" "${b[*]}"
	raw "bare signer, .sig files" "${bf[*]}"
}
