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

# tmpfs mounts a case made: unmounted after the FUSE mounts on exit.
ST_TMPFS=()

st_cleanup() {
	local rc=$? m
	for m in "${SFS_MNTS[@]}"; do
		mountpoint -q "$m" 2>/dev/null && fusermount3 -uz "$m" 2>/dev/null
	done
	for m in "${ST_TMPFS[@]}"; do
		mountpoint -q "$m" 2>/dev/null && umount -l "$m"
	done
	sfs_cleanup "$rc"
}

# st_tmpfs DIR SIZE: a tmpfs of SIZE (e.g. 16m) on DIR, removed on exit.
st_tmpfs() {
	mkdir -p "$1"
	mount -t tmpfs -o "size=$2,mode=0755" tmpfs "$1" || skip "cannot mount tmpfs"
	ST_TMPFS+=("$1")
	trap st_cleanup EXIT
}

# st_writes < "SRC DST" lines: copy each SRC to DST with os.write and
# os.close (in one interpreter: python3 starts in ~0.1-0.3 s here) and
# print "DST ok", "DST write ERRNO", "DST close ERRNO" or "DST open
# ERRNO": which call failed, and how.
st_writes() {
	python3 -c '
import errno, os, sys
for line in sys.stdin:
    src, dst = line.split()
    data = open(src, "rb").read()
    try:
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as e:
        print(dst, "open", errno.errorcode[e.errno], flush=True)
        continue
    failed = None
    try:
        for off in range(0, len(data), 65536):
            os.write(fd, data[off:off + 65536])
    except OSError as e:
        failed = "write " + errno.errorcode[e.errno]
    try:
        os.close(fd)
    except OSError as e:
        failed = failed or "close " + errno.errorcode[e.errno]
    print(dst, failed or "ok", flush=True)
'
}

# st_write SRC DST: one copy; prints the outcome only ("ok", "close EIO"...).
st_write() {
	echo "$1 $2" | st_writes | cut -d' ' -f2-
}
