# SPDX-License-Identifier: Apache-2.0
# Shared by the stress cases: the outbox helpers, and daemon fd counts.
# shellcheck source=../outbox/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../outbox/common.sh"

: "${FSSTRESS:?FSSTRESS must name tests/stress/fsstress}"
: "${FSX:?FSX must name tests/stress/fsx}"

# A 32-bit seed: $1 if set and not empty, else a random one.
st_seed() {
	if [ -n "${1:-}" ]; then echo "$1"; else od -An -tu4 -N4 /dev/urandom | tr -d ' '; fi
}

# Open descriptors of process PID.
st_fds() {
	ls "/proc/$1/fd" 2>/dev/null | wc -l
}

st_alive() {
	kill -0 "$1" 2>/dev/null || fail "daemon $1 died"
}

# Descriptors of PID that are not pipes. libfuse gives each worker thread
# that spliced a reply a pipe pair of its own (freed when the thread
# exits), so pipes follow the thread count, not the work done.
st_fds_nonpipe() {
	find "/proc/$1/fd" -mindepth 1 -printf '%l\n' 2>/dev/null |
		grep -vc '^pipe:' || true
}

st_threads() {
	ls "/proc/$1/task" | wc -l
}

# st_fds_back PID NONPIPE: PID holds NONPIPE non-pipe descriptors (the
# baseline) and at most 2 pipes per thread.
st_fds_back() {
	[ "$(st_fds_nonpipe "$1")" -le "$2" ] &&
		[ $(($(st_fds "$1") - $(st_fds_nonpipe "$1"))) -le $((2 * $(st_threads "$1"))) ]
}

# Every regular file in BACKING (not *.sig) verifies, every .sig has its
# file, and no atomic-write temp file is left.
st_all_signed() {
	local n
	n=$(find "$B" -type f ! -name '*.sig' | wc -l)
	"$SIGNETFS" verify --config "$CONF" --root "$B" -r "$B" \
		>"$SFS_TMP/verify.out" 2>&1 || return 1
	[ "$(grep -c '^OK ' "$SFS_TMP/verify.out")" -eq "$n" ]
}
