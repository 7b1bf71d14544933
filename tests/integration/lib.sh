# SPDX-License-Identifier: Apache-2.0
# Shared helpers for mount tests (libfuse test/cases style): start the daemon
# in the foreground with its log in a file, wait for the mount with a
# deadline, fail early if the daemon dies, unmount, require exit 0, fail on
# unexpected warnings (an inbox's notice per denial is expected), leave no
# mount behind.
set -euo pipefail

: "${SIGNETFS:?SIGNETFS must name the signetfs binary}"
SFS_TMP=$(mktemp -d /tmp/sfs-it.XXXXXX)
SFS_PIDS=()
SFS_MNTS=()

skip() { echo "SKIP: $*"; exit 77; }
# A failure shows the daemon's last words too: CI keeps no temp files.
fail() {
	SFS_FAILED=1
	echo "FAIL: $*" >&2
	sfs_last_words "${SFS_LOG:-}" 40
	exit 1
}
# sfs_last_words LOG N: a sanitizer's report in LOG from its first line
# (at most 150 lines), else LOG's last N lines. awk, not head: no
# SIGPIPE to fail an EXIT trap under pipefail.
sfs_last_words() {
	[ -s "$1" ] || return 0
	if grep -q "^==[0-9]*==ERROR\|runtime error" "$1"; then
		echo "--- sanitizer report in $1:" >&2
		awk '/^==[0-9]+==ERROR|runtime error/ { f = 1 }
			f && n++ < 150' "$1" >&2
	else
		echo "--- last lines of the daemon log ($1):" >&2
		tail -n "$2" "$1" >&2
	fi
}
note() { echo "# $*"; }

sfs_need_fuse() {
	[ -c /dev/fuse ] || skip "no /dev/fuse"
	command -v fusermount3 >/dev/null || skip "no fusermount3"
	[ -e /usr/lib/softhsm/libsofthsm2.so ] || skip "no SoftHSM"
}

# sfs_cleanup [RC]: RC is the case's exit status when a wrapper ran
# commands of its own first.
sfs_cleanup() {
	local rc=${1:-$?} m log
	# A case that ends in error other than by fail (set -e, a daemon
	# that aborted under a sanitizer) shows every daemon's last words:
	# CI keeps no temp files.
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -z "${SFS_FAILED:-}" ]; then
		echo "--- the case ended with exit $rc" >&2
		for log in "$SFS_TMP"/daemon.*.log; do
			sfs_last_words "$log" 60
		done
	fi
	for m in "${SFS_MNTS[@]}"; do
		mountpoint -q "$m" 2>/dev/null && fusermount3 -uz "$m" 2>/dev/null
	done
	for p in "${SFS_PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$SFS_TMP"
}
trap sfs_cleanup EXIT

# Poll COMMAND until it succeeds or SECONDS pass. A readiness check with a
# deadline, not a sleep standing in for one.
wait_for() {
	local secs=$1; shift
	local end=$((SECONDS + secs))
	until "$@"; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.02
	done
}

# A process has exited (gone, or a zombie its parent has not waited for).
sfs_exited() {
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 0
	[ "$st" = Z ]
}

# A private token, CA and config: sfs_init DIR -> DIR/signetfs.conf
sfs_init() {
	"$SIGNETFS" init "$1" >"$1.init.log" 2>&1 ||
		{ cat "$1.init.log" >&2; fail "signetfs init $1"; }
}

is_fuse_mounted() {
	# Field 5 of mountinfo is the mount point; the fstype follows " - ".
	awk -v m="$1" '$5 == m && / - fuse\.signetfs/ { f = 1 } END { exit !f }' \
		/proc/self/mountinfo
}

# sfs_mount MODE CONF BACKING MNT [extra args...]; sets SFS_PID, SFS_LOG
sfs_mount() {
	local mode=$1 conf=$2 backing=$3 mnt=$4; shift 4
	mkdir -p "$mnt"
	SFS_LOG="$SFS_TMP/daemon.$mode.$(basename "$mnt").log"
	"$SIGNETFS" "$mode" -f --config "$conf" "$@" "$backing" "$mnt" \
		>"$SFS_LOG" 2>&1 &
	SFS_PID=$!
	SFS_PIDS+=("$SFS_PID")
	SFS_MNTS+=("$(realpath "$mnt")")
	local end=$((SECONDS + 15))
	until is_fuse_mounted "$(realpath "$mnt")"; do
		if ! kill -0 "$SFS_PID" 2>/dev/null; then
			cat "$SFS_LOG" >&2
			fail "daemon died before mounting $mnt"
		fi
		[ $SECONDS -lt $end ] || { cat "$SFS_LOG" >&2; fail "mount timeout"; }
		sleep 0.02
	done
}

# sfs_umount MNT PID LOG [RC]: unmount, the daemon must exit RC (0) with
# a clean log.
sfs_umount() {
	local mnt=$1 pid=$2 log=$3 want=${4:-0} rc=0 dev held
	dev=$(awk -v m="$(realpath "$mnt")" '$5 == m { d = $3 } END { print d }' \
		/proc/self/mountinfo)
	fusermount3 -u "$mnt" || fail "fusermount3 -u $mnt"
	# The daemon ends when the kernel drops the connection. A copy of the
	# mount in another mount namespace (made while it was mounted: unshare
	# -m, a systemd namespace of another test run on this machine) keeps
	# it up, and the daemon serves that namespace on. Then abort our
	# connection (fusectl) and say so: a test is not stuck on someone
	# else's namespace, and a daemon that does not exit on its own still
	# fails.
	if ! wait_for 60 sfs_exited "$pid"; then
		held=$(grep -l " $dev / " /proc/[0-9]*/mountinfo 2>/dev/null | head -n1)
		[ -n "$dev" ] && [ -n "$held" ] ||
			{ cat "$log" >&2; fail "daemon $pid did not exit after the unmount"; }
		note "$mnt ($dev) is still mounted in the namespace of ${held%/mountinfo}: aborting the connection"
		unshare -m sh -c "mount -t fusectl fusectl /sys/fs/fuse/connections &&
			echo 1 >/sys/fs/fuse/connections/${dev#*:}/abort" ||
			fail "cannot abort the FUSE connection of $mnt"
	fi
	wait "$pid" || rc=$?
	[ "$rc" -eq "$want" ] || { cat "$log" >&2; fail "daemon exited $rc, not $want"; }
	! is_fuse_mounted "$(realpath "$mnt")" || fail "$mnt still mounted"
	# An inbox's line per denial is a notice, whatever its path and
	# reason (io-error, crl-error...) say.
	if grep -Eiv "${SFS_LOG_ALLOW:-^$}" "$log" |
		grep -Ev '^signetfs: (not served|served unverified \(audit mode\)): |^signetfs: [0-9]+ more verify-denied not logged' |
		grep -Ei 'warning|error|sanitizer|leak' >&2; then
		fail "unexpected warnings in the daemon log ($log)"
	fi
}

# Verify FILE.sig with signetfs and with stock openssl cms.
sfs_verify_both() {
	local conf=$1 root=$2 file=$3 ca=$4
	"$SIGNETFS" verify --config "$conf" --root "$root" "$file" >/dev/null ||
		fail "signetfs verify rejected $file"
	openssl cms -verify -binary -inform DER -in "$file.sig" -content "$file" \
		-CAfile "$ca" -purpose any -out /dev/null 2>/dev/null ||
		fail "openssl cms -verify rejected $file"
}

# A remote token: `p11-kit server` exporting KEYDIR's SoftHSM token on the
# unix socket SOCK (P11_KIT_SERVER_ADDRESS is exported for clients).
P11_CLIENT=$(ls /usr/lib/*/pkcs11/p11-kit-client.so 2>/dev/null | head -n1 || true)
p11kit_start() {
	local keydir=$1 sock=$2
	export P11_KIT_SERVER_ADDRESS=unix:path=$sock
	rm -f "$sock"
	SOFTHSM2_CONF=$keydir/softhsm2.conf p11-kit server -f -n "$sock" \
		-p /usr/lib/softhsm/libsofthsm2.so "pkcs11:token=signetfs" \
		>>"$SFS_TMP/p11kit-server.log" 2>&1 &
	P11KIT_PID=$!
	SFS_PIDS+=("$P11KIT_PID")
	wait_for 10 test -S "$sock" || fail "p11-kit server did not start"
}
# The server forks a p11-kit-remote per connection: stop those too, or a
# client that is already connected keeps its token.
p11kit_stop() {
	pkill -P "$P11KIT_PID" 2>/dev/null || true
	kill "$P11KIT_PID"
	wait "$P11KIT_PID" 2>/dev/null || true
}
# p11kit_remote_conf KEYDIR CONF [LINE...]: a config signing with KEYDIR's
# key through p11-kit-client.so instead of SoftHSM (only the module
# differs), LINEs appended to its [signetfs] section.
p11kit_remote_conf() {
	local k=$1 out=$2
	shift 2
	{
		printf '[signetfs]\nmodule = %s\n' "$P11_CLIENT"
		printf 'key = pkcs11:token=signetfs;object=signing-key;type=private\n'
		printf 'pin-file = %s/pin\ncert = %s/signer.pem\ntrust = %s/ca.pem\n' \
			"$k" "$k" "$k"
		[ $# -eq 0 ] || printf '%s\n' "$@"
	} >"$out"
}
