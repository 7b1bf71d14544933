# SPDX-License-Identifier: Apache-2.0
# slow-token (issue 17, target 4): the token behind tests/p11fault with
# `C_Sign.delay_ms=SLOW_MS` (a network HSM's round trip). Measured:
#  - the token's capacity: the raw C_Sign loop through the same module on
#    16 threads (16 sessions) and on 1;
#  - `signetfs sign -r` of SLOW_SIGN_N files, default -j and -j 16;
#  - the signing outbox with 16 parallel writers (16 cp -r of
#    SLOW_PAR_N/16 files each) and with one serial writer (cp -r of
#    SLOW_SER_N files);
#  - the same writers with the delay switched off (same mount, same
#    module), which shows what a serial writer is bound by:
#    per file = (its time without the delay) + SLOW_MS.
# Sourced by scripts/bench.

bench_slow_token() {
	local w=$work/slow k fs ctl r m=$SLOW_MS
	mkdir -p "$w"
	k=$w/key
	fs=$w/fs
	ctl=$w/p11fault.ctl
	mktoken "$k"
	[ -f "$P11FAULT" ] || die "no fault module at $P11FAULT (build first)"
	for c in signetfs noaudit; do
		sed -i "s|^module = .*|module = $P11FAULT|" "$k/$c.conf"
	done
	export P11FAULT_MODULE=$SOFTHSM P11FAULT_CONTROL=$ctl
	delay() {
		printf 'C_Sign.delay_ms=%s\n' "$1" >"$ctl.tmp"
		mv "$ctl.tmp" "$ctl"
	}
	delay "$m"
	local per=$((SLOW_PAR_N / 16)) i
	for i in $(seq -w 0 15); do
		gen_flat "$w/par/p$i" "$per" 4096
		gen_flat "$w/wpar/p$i" 4 4096
	done
	gen_flat "$w/ser" "$SLOW_SER_N" 4096
	gen_flat "$w/wser" 20 4096
	gen_flat "$w/files" "$SLOW_SIGN_N" 4096
	gen_flat "$w/wfiles" 100 4096
	freshfs "$fs" 4096 $(((SLOW_PAR_N + SLOW_SER_N) * 4 * (REPS + 1) * 2 + 100000))
	mount_fs outbox "$k/signetfs.conf" "$fs/b" "$w/m"
	par() { # SRC DEST: 16 writers at once
		local i ps=()
		mkdir -p "$2"
		for i in $(seq -w 0 15); do
			cp -r "$1/p$i" "$2/p$i" &
			ps+=($!)
		done
		# not a bare wait: the mount's daemon is a child too
		for i in "${ps[@]}"; do wait "$i" || die "a parallel writer failed"; done
	}
	signr() { (cd "$1" && "$SIGNETFS" sign --config "$k/signetfs.conf" --root . -r "${@:2}" .); }
	declare -A t
	for r in $(seq 1 "$REPS"); do
		note "slow-token: round $r of $REPS"
		delay "$m"
		t[raw16]+="$(raw_sign "$k" "$P11FAULT" 16 $((SLOW_SIGN_N)) ) "
		t[raw1]+="$(raw_sign "$k" "$P11FAULT" 1 200) "
		signr "$w/wfiles" >/dev/null
		t[sign]+="$(timed signr "$w/files") "
		signr "$w/wfiles" -j 16 >/dev/null
		t[sign16]+="$(timed signr "$w/files" -j 16) "
		par "$w/wpar" "$w/m/wpar.$r"
		t[par]+="$(timed par "$w/par" "$w/m/par.$r") "
		cp -r "$w/wser" "$w/m/wser.$r"
		t[ser]+="$(timed cp -r "$w/ser" "$w/m/ser.$r") "
		delay 0
		par "$w/wpar" "$w/m/wpar0.$r"
		t[par0]+="$(timed par "$w/par" "$w/m/par0.$r") "
		cp -r "$w/wser" "$w/m/wser0.$r"
		t[ser0]+="$(timed cp -r "$w/ser" "$w/m/ser0.$r") "
	done
	delay 0
	"$SIGNETFS" verify --config "$k/signetfs.conf" --root "$fs/b" \
		"$fs/b/par.1/p07/f00003" "$fs/b/ser.1/f00009" >/dev/null ||
		die "slow-token: outbox copies do not verify"
	umount_fs "$w/m"
	# shellcheck disable=SC2086
	local raw16 raw1 s s16 p s0 p0 sr
	raw16=$(med ${t[raw16]}) raw1=$(med ${t[raw1]})
	s=$(calc "$SLOW_SIGN_N / $(med ${t[sign]})")
	s16=$(calc "$SLOW_SIGN_N / $(med ${t[sign16]})")
	p=$(calc "$per * 16 / $(med ${t[par]})")
	p0=$(calc "$per * 16 / $(med ${t[par0]})")
	sr=$(calc "$SLOW_SER_N / $(med ${t[ser]})")
	s0=$(calc "$SLOW_SER_N / $(med ${t[ser0]})")
	printf 'slow-token: p11fault C_Sign.delay_ms=%d in front of SoftHSM, medians of %d\n' "$m" "$REPS"
	row "raw C_Sign loop, 16 threads/sessions" "$raw16" "sig/s"
	row "raw C_Sign loop, 1 thread" "$raw1" "sig/s"
	row "signetfs sign -r, $SLOW_SIGN_N files, no -j (default)" "$s" "files/s"
	row "signetfs sign -r, $SLOW_SIGN_N files, -j 16" "$s16" "files/s"
	ratio "sign -r default -j / 1,000 files/s" "$s" 1000 ">= 1x"
	ratio "sign -r -j 16 / 1,000 files/s" "$s16" 1000 ">= 1x"
	row "outbox, 16 parallel writers ($((per * 16)) files)" "$p" "files/s"
	ratio "outbox 16 writers / 1,000 files/s" "$p" 1000 ">= 1x"
	row "outbox, 16 parallel writers, no delay" "$p0" "files/s"
	row "outbox, serial writer (cp -r, $SLOW_SER_N files)" "$sr" "files/s"
	row "outbox, serial writer, no delay" "$s0" "files/s"
	printf '  %-44s %10.2f ms = %.2f ms without the delay + %.2f ms\n' \
		"serial writer, per file" "$(calc "1000 / $sr")" "$(calc "1000 / $s0")" \
		"$(calc "1000 / $sr - 1000 / $s0")"
	printf '  %-44s %10.0f files/s (1 / (%.2f ms + %d ms))\n' \
		"serial bound predicted" "$(calc "1000 / (1000 / $s0 + $m)")" "$(calc "1000 / $s0")" "$m"
	for i in raw16 raw1 sign sign16 par par0 ser ser0; do raw "$i (s or /s)" "${t[$i]}"; done
}
