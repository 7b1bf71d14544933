# SPDX-License-Identifier: Apache-2.0
# Shared by the POSIX cases of issue 13 (posix_*.sh): what a caller sees
# through the outbox must be what a native directory shows. Each case runs
# its steps in a native directory and in the outbox (signing and
# --no-sign, -o allow_other, every uid a writer), as root and as other
# users, and compares.
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root to switch users"
command -v setpriv >/dev/null || skip "no setpriv"
sfs_need_fuse
# Other users reach the mount point and the native twin, never BACKING.
chmod 0755 "$SFS_TMP"
mkdir -p -m 0700 "$SFS_TMP/priv"
OB_BACKING=$SFS_TMP/priv/backing
N=$SFS_TMP/native
PX_UID=65534
PX_OTHER=65533

# px_as UID CMD...: run CMD as UID (its own gid, no supplementary groups).
px_as() {
	local u=$1
	shift
	setpriv --reuid "$u" --regid "$u" --clear-groups "$@"
}

# px_start sign|nosign: an empty BACKING and native twin, the outbox on M.
px_start() {
	rm -rf "$OB_BACKING" "$N"
	mkdir -m 0755 "$N"
	case "$1" in
	sign) ob_start -o allow_other "writers-uid = *" ;;
	nosign) ob_start --no-sign -o allow_other "writers-uid = *" ;;
	*) fail "px_start $1" ;;
	esac
	chmod 0755 "$M"
	note "outbox ($1) on $M"
}

# px_same WHAT NATIVE OUTBOX: the two results must be equal.
px_same() {
	[ "$2" = "$3" ] || fail "$1: native '$2', outbox '$3'"
}

# px_rc CMD...: CMD's exit status and its error message's errno text.
px_rc() {
	local rc=0
	"$@" 2>"$SFS_TMP/px.err" >/dev/null || rc=$?
	printf '%s' "$rc"
	[ "$rc" -eq 0 ] ||
		printf ' %s' "$(sed -n 's/.*: //p' "$SFS_TMP/px.err" | tail -1)"
}
