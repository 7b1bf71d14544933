# SPDX-License-Identifier: Apache-2.0
# large (issue 17, target 6): a BIG_MIB file.
#  - outbox: cp into BACKING directly, through --no-sign, through the
#    signing outbox (default config); each after an untimed warm-up copy
#    of WARM_MIB; the copy is removed after each run (a few inodes).
#  - inbox: cold read including verification (caches dropped, fresh
#    mount, so the time includes hashing the file and checking its
#    signature) and warm read, against reading BACKING directly; the
#    figures docs/inbox.md quotes today are printed beside them.
# Sourced by scripts/bench.

bench_large() {
	local w=$work/large k fs r
	mkdir -p "$w"
	k=$w/key
	fs=$w/fs
	mktoken "$k"
	note "large: a $BIG_MIB MiB file"
	mkdir -p "$w/src"
	head -c $((BIG_MIB << 20)) /dev/urandom >"$w/src/big"
	head -c $((WARM_MIB << 20)) /dev/urandom >"$w/src/warm"
	freshfs "$fs" $((BIG_MIB * 4 + WARM_MIB * 4 + 1024)) 100000
	mkdir -p "$fs/native" "$fs/in"
	mount_fs outbox "$k/signetfs.conf" "$fs/b-sign" "$w/m-sign"
	mount_fs outbox "$k/signetfs.conf" "$fs/b-nosign" "$w/m-nosign" --no-sign
	# the inbox's file lives on the same fresh fs, signed by the CLI
	cp "$w/src/big" "$fs/in/big"
	"$SIGNETFS" sign --config "$k/signetfs.conf" --root "$fs/in" "$fs/in/big" >/dev/null
	cpbig() { # DEST_DIR BACKING_DIR: timed copy; warm-up and clean-up around it
		cp "$w/src/warm" "$1/warm"
		rm -f "$2/warm" "$2/warm.sig"
		# untimed: the previous copy's GiB of dirty pages written back
		# first, not into whichever copy comes next (the signed one)
		sync
		timed cp "$w/src/big" "$1/big"
		rm -f "$2/big" "$2/big.sig"
	}
	readf() { cat "$1" >/dev/null; }
	local M=$w/mi
	declare -A t
	local order=(nat nos sig) v
	declare -A dest=([nat]="$fs/native $fs/native"
		[nos]="$w/m-nosign $fs/b-nosign" [sig]="$w/m-sign $fs/b-sign")
	for r in $(seq 1 "$REPS"); do
		note "large: round $r of $REPS (${order[*]})"
		# Each round starts with another variant: on this VM a copy's
		# speed depends on its place in the series (scripts/profile-large:
		# the second copy after the mount ran 3-5x slower, signed or
		# not), so no variant may always hold the same place.
		for v in "${order[@]}"; do
			# shellcheck disable=SC2086
			t[$v]+="$(cpbig ${dest[$v]}) "
		done
		order=("${order[@]:1}" "${order[0]}")
		# the signed copy verifies (checked once: it costs a full hash)
		if [ "$r" = 1 ]; then
			cp "$w/src/big" "$w/m-sign/check"
			"$SIGNETFS" verify --config "$k/signetfs.conf" --root "$fs/b-sign" \
				"$fs/b-sign/check" >/dev/null || die "large: outbox copy does not verify"
			rm -f "$fs/b-sign/check" "$fs/b-sign/check.sig"
		fi
		# inbox cold: warm-up read of the same kind first
		drop_caches; readf "$fs/in/big"
		drop_caches; t[cold_n]+="$(timed readf "$fs/in/big") "
		mount_fs inbox "$k/signetfs.conf" "$fs/in" "$M"
		drop_caches; readf "$M/big"; umount_fs "$M"
		mount_fs inbox "$k/signetfs.conf" "$fs/in" "$M"
		drop_caches; t[cold_i]+="$(timed readf "$M/big") "
		umount_fs "$M"
		# warm
		readf "$fs/in/big"; t[warm_n]+="$(timed readf "$fs/in/big") "
		mount_fs inbox "$k/signetfs.conf" "$fs/in" "$M"
		readf "$M/big"; readf "$M/big"
		t[warm_i]+="$(timed readf "$M/big") "
		umount_fs "$M"
	done
	umount_fs "$w/m-sign"
	umount_fs "$w/m-nosign"
	# shellcheck disable=SC2086
	local nat nos sig cn ci wn wi
	nat=$(med ${t[nat]}) nos=$(med ${t[nos]}) sig=$(med ${t[sig]})
	cn=$(med ${t[cold_n]}) ci=$(med ${t[cold_i]})
	wn=$(med ${t[warm_n]}) wi=$(med ${t[warm_i]})
	mibs() { calc "$BIG_MIB / $1"; }
	printf 'large: a %d MiB file, medians of %d (MiB/s)\n' "$BIG_MIB" "$REPS"
	row "outbox cp: BACKING directly" "$(mibs "$nat")" "MiB/s"
	row "outbox cp: --no-sign" "$(mibs "$nos")" "MiB/s"
	row "outbox cp: signed" "$(mibs "$sig")" "MiB/s"
	ratio "outbox cp signed / --no-sign" "$nos" "$sig" ">= 0.7x"
	ratio "outbox cp --no-sign / native" "$nat" "$nos" ""
	row "inbox cold read: BACKING directly" "$(mibs "$cn")" "MiB/s"
	row "inbox cold read incl. verification" "$(mibs "$ci")" "MiB/s"
	ratio "inbox cold / native (docs today: 0.81x)" "$cn" "$ci" ">= 0.5x"
	row "inbox warm read: BACKING directly" "$(mibs "$wn")" "MiB/s"
	row "inbox warm read" "$(mibs "$wi")" "MiB/s"
	ratio "inbox warm / native (docs today: 0.93x)" "$wn" "$wi" ">= 0.9x"
	for r in nat nos sig cold_n cold_i warm_n warm_i; do raw "$r (s)" "${t[$r]}"; done
}
