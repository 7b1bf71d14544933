# SPDX-License-Identifier: Apache-2.0
# Shared by scripts/bench's sub-benchmarks (sourced, not run): timing,
# medians, ratios, a fresh ext4 per sub-benchmark, mounts, fixtures, and a
# clean-up that undoes only what this run made.

# shellcheck source=scripts/bench.d/stats.inc
. scripts/bench.d/stats.inc
# timed CMD...: seconds CMD took (its stdout goes to /dev/null)
timed() {
	local t0 t1
	t0=$(now)
	"$@" >/dev/null
	t1=$(now)
	calc "$t1 - $t0"
}
note() { printf '# %s\n' "$*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }

# row LABEL VALUE UNIT: one figure
row() { printf '  %-44s %10.1f %s\n' "$1" "$2" "$3"; }
# ratio LABEL A B TARGET: A/B with its target (">= 0.6x", "<= 5x", or ""
# for none), and whether it is met
ratio() {
	local r
	r=$(calc "$2 / $3")
	if [ -n "$4" ]; then
		local op=${4%% *} want=${4#* } ok=MISSED
		want=${want%x}
		[ "$(calc "$r $op $want")" = 1 ] && ok=met
		printf '  %-44s %9.2fx (target %s: %s)\n' "$1" "$r" "$4" "$ok"
	else
		printf '  %-44s %9.2fx\n' "$1" "$r"
	fi
}
raw() {
	printf '  raw %s:' "$1"
	# shellcheck disable=SC2086
	printf ' %s' $(for v in $2; do awk -v v="$v" 'BEGIN {printf (v >= 100 ? "%.0f\n" : "%.3f\n"), v}'; done)
	printf '\n'
}

pids=()
fmnts=()
loops=()
nginx_pid=
cleanup() {
	local m p l
	[ -z "$nginx_pid" ] || kill "$nginx_pid" 2>/dev/null || true
	for m in "${fmnts[@]}"; do
		mountpoint -q "$m" 2>/dev/null && fusermount3 -u "$m" 2>/dev/null
	done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	for m in "${fmnts[@]}"; do
		mountpoint -q "$m" 2>/dev/null && fusermount3 -uz "$m" 2>/dev/null
	done
	for l in "${loops[@]}"; do umount "$l" 2>/dev/null || umount -l "$l" || true; done
	[ -n "${KEEP:-}" ] || rm -rf "$work"
	return 0
}


# freshfs DIR MIB INODES: a fresh sparse ext4 on a loop device at DIR.
# ext4 allocates inodes slowly right after mass deletions, so a series
# never deletes many files; each sub-benchmark starts on its own fs.
freshfs() {
	local img=$1.img
	mkdir -p "$1"
	if [ "$(id -u)" -eq 0 ] && command -v mkfs.ext4 >/dev/null &&
		truncate -s "${2}M" "$img" &&
		mkfs.ext4 -q -F -N "$3" -E lazy_itable_init=0 "$img" &&
		mount -o loop "$img" "$1"; then
		loops+=("$1")
		note "fresh ext4 at $1 (loop, $2 MiB sparse, $3 inodes)"
	else
		note "WARNING: no fresh ext4 (needs root, mkfs.ext4, loop): $1 on $(df -T "${1%/*}" | awk 'NR==2 {print $2}') as is"
	fi
}

# mount_fs KIND CONF BACKING MNT [ARGS...]: foreground daemon, log in
# $work/NAME.log, wait for the mount with a deadline, fail if it died.
mount_fs() {
	local kind=$1 conf=$2 b=$3 m=$4 log
	shift 4
	log=$work/$(basename "$m").log
	mkdir -p "$b" "$m"
	"$SIGNETFS" "$kind" -f --config "$conf" "$@" "$b" "$m" >>"$log" 2>&1 &
	pids+=($!)
	fmnts+=("$m")
	local end=$((SECONDS + 30))
	until mounted "$m"; do
		kill -0 "${pids[-1]}" 2>/dev/null || { cat "$log" >&2; die "$kind mount of $m failed"; }
		[ $SECONDS -lt $end ] || die "mount timeout ($m)"
		sleep 0.02
	done
	MNT_PID=${pids[-1]}
}
# build_floor: libfuse's own reference daemon, passthrough_ll (shipped as
# an example by libfuse3-dev, the version signetfs builds against),
# compiled into the work directory. It forwards every request to BACKING
# and does nothing else (no permission checks, no xattrs, no state): what
# any libfuse filesystem pays per request on this kernel, i.e. the floor
# under --no-sign. Prints its path, or nothing when it cannot be built.
build_floor() {
	local src=/usr/share/doc/libfuse3-dev/examples
	[ -z "${FLOOR_BIN:-}" ] || { echo "$FLOOR_BIN"; return 0; }
	[ -r "$src/passthrough_ll.c" ] || { note "no $src/passthrough_ll.c: no FUSE floor"; return 0; }
	FLOOR_BIN=$work/passthrough_ll
	# shellcheck disable=SC2046
	cc -O2 -I"$src" -o "$FLOOR_BIN" "$src/passthrough_ll.c" \
		$(pkg-config --cflags --libs fuse3) 2>"$work/floor-cc.log" ||
		{ note "passthrough_ll did not build (see $work/floor-cc.log)"; FLOOR_BIN=; return 0; }
	echo "$FLOOR_BIN"
}
# mount_floor BACKING MNT [OPTION...]: passthrough_ll, by default with the
# outbox's cache settings (writeback cache, 1 s entry and attribute
# timeouts); OPTIONs (-o ...) replace those.
mount_floor() {
	local b=$1 m=$2
	shift 2
	[ $# -gt 0 ] || set -- -o writeback -o cache=auto
	mkdir -p "$b" "$m"
	# it holds an O_PATH fd per inode the kernel knows: a tree of 10,000
	# files needs more than the default 1,024
	(ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
		exec "$FLOOR_BIN" -f -o source="$b" "$@" "$m") \
		>>"$work/$(basename "$m").log" 2>&1 &
	pids+=($!)
	fmnts+=("$m")
	local end=$((SECONDS + 30))
	until mounted "$m"; do
		kill -0 "${pids[-1]}" 2>/dev/null || die "passthrough_ll mount of $m failed"
		[ $SECONDS -lt $end ] || die "mount timeout ($m)"
		sleep 0.02
	done
}
# umount_fs MNT: unmount and wait for the daemon (it must exit; how long
# it took is noted when that is more than 2 s).
umount_fs() {
	local t0=$SECONDS end=$((SECONDS + 600)) pid
	fusermount3 -u "$1"
	for pid in "${pids[@]}"; do
		kill -0 "$pid" 2>/dev/null || continue
		# the daemon of this mount: its cmdline ends with the mountpoint
		tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | tail -1 |
			grep -qxF "$1" || continue
		while kill -0 "$pid" 2>/dev/null; do
			[ $SECONDS -lt $end ] || die "daemon $pid did not exit in 600 s"
			sleep 0.05
		done
	done
	[ $((SECONDS - t0)) -le 2 ] ||
		note "the daemon of $1 took $((SECONDS - t0)) s to exit after the unmount"
}

# mktoken DIR: token, key, CA, config (signetfs init) and a variant with
# audit-sync = none next to it (same directory: relative paths hold).
mktoken() {
	"$SIGNETFS" init "$1" >/dev/null
	sed 's/^audit-log = .*/audit-log = audit-nosync.log\naudit-sync = none/' \
		"$1/signetfs.conf" >"$1/nosync.conf"
	grep -q '^audit-sync = none' "$1/nosync.conf" ||
		die "no audit-log line in the init config"
	grep -v '^audit-log' "$1/signetfs.conf" >"$1/noaudit.conf"
}

# gen_flat DIR N SIZE: N files of SIZE random bytes, f00000...
gen_flat() {
	python3 - "$1" "$2" "$3" <<'PY'
import os, sys
d, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(d, exist_ok=True)
for i in range(n):
    with open(f"{d}/f{i:05d}", "wb") as f:
        f.write(os.urandom(size))
PY
}

# gen_tree DIR N: a source-like tree of N files: nested directories
# (2-5 levels, 5-40 files each), mostly small files (median ~4 KiB, a tail
# to ~400 KiB; ~11 KiB average, like a kernel or LLVM checkout), names
# like src/net/foo_bar.c. Deterministic (seeded).
gen_tree() {
	python3 - "$1" "$2" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(17)
words = ("core net fs io util crypto mem sched proto test lib drv arch "
         "block parse sign hash tree list map queue buf log conf ipc").split()
exts = [".c", ".h", ".c", ".h", ".py", ".md", ".txt", ".json", ".S", ".mk"]
chunk = os.urandom(1 << 20)
made = 0
def size():
    s = int(rnd.lognormvariate(8.3, 1.1))      # median ~4 KiB
    return max(16, min(s, 400 << 10))
def fill(path, sz):
    off = rnd.randrange(0, len(chunk) - sz)
    with open(path, "wb") as f:
        f.write(chunk[off:off + sz])
stack = [(root, 0)]
while made < n:
    d, depth = stack.pop(0) if stack else (root, 0)
    os.makedirs(d, exist_ok=True)
    for _ in range(rnd.randint(5, 40)):
        if made >= n:
            break
        name = "_".join(rnd.sample(words, rnd.randint(1, 3))) + rnd.choice(exts)
        p = os.path.join(d, name)
        if not os.path.exists(p):
            fill(p, size())
            made += 1
    if depth < rnd.randint(2, 5):
        for _ in range(rnd.randint(1, 4)):
            stack.append((os.path.join(d, rnd.choice(words) + str(rnd.randint(0, 99))), depth + 1))
PY
}

# tree_stats DIR: "N files, M dirs, S MiB"
tree_stats() {
	printf '%s files, %s dirs, %s MiB' \
		"$(find "$1" -type f | wc -l)" "$(find "$1" -mindepth 1 -type d | wc -l)" \
		"$(du -sm "$1" | cut -f1)"
}

# p11 helpers: the token of a `signetfs init` DIR
token_label() { sed -n 's/^key = .*token=\([^;]*\);.*/\1/p' "$1/signetfs.conf"; }
key_label() { sed -n 's/^key = .*object=\([^;]*\);.*/\1/p' "$1/signetfs.conf"; }
audit_log() { sed -n 's/^audit-log = //p' "$1/signetfs.conf"; }
# raw_sign DIR MODULE THREADS N: the token's raw C_Sign rate (sig/s)
raw_sign() {
	SOFTHSM2_CONF=$1/softhsm2.conf "$P11_LOOP" -m "$2" -t "$(token_label "$1")" \
		-k "$(key_label "$1")" -p "$1/pin" -j "$3" -n "$4" -w "$(( $4 / 10 ))" |
		awk '{print $NF}' | tr -d '/s'
}

# bare_sign DIR THREADS N [OUT]: a detached CMS signature per 4 KiB of
# memory with bare libp11 + OpenSSL on DIR's key, no signetfs
# (tests/bench/cms_sign_loop); with OUT, each written there as a new
# NAME.sig (temp file + rename). Signatures/s.
bare_sign() {
	local out=()
	[ -z "${4:-}" ] || { mkdir -p "$4"; out=(-d "$4"); }
	SOFTHSM2_CONF=$1/softhsm2.conf "$CMS_SIGN_LOOP" -m "$SOFTHSM" \
		-t "$(token_label "$1")" -k "$(key_label "$1")" -p "$1/pin" \
		-c "$1/signer.pem" -j "$2" -n "$3" -w "$(($3 / 10))" "${out[@]}" |
		awk '{print $NF}' | tr -d '/s'
}

# log_sync DIR N: N appends of a record-sized line (600 bytes) to a new
# file in DIR, each followed by fdatasync, as the audit log's durable
# record is: what the log's disk takes per durable record. Per second.
log_sync() {
	python3 - "$1" "$2" <<'PY'
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
p = os.path.join(d, ".log_sync.%d" % os.getpid())
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
line = b"x" * 599 + b"\n"
for _ in range(n // 10):  # warm-up
    os.write(fd, line); os.fdatasync(fd)
t0 = time.monotonic()
for _ in range(n):
    os.write(fd, line); os.fdatasync(fd)
t = time.monotonic() - t0
os.close(fd)
os.unlink(p)
print(n / t)
PY
}

# openssl_loop DIR FILES...: `openssl cms -sign` with the pkcs11 engine per
# file, as people script it; checks the last signature verifies.
openssl_loop() {
	local k=$1 f
	shift
	local uri="pkcs11:token=$(token_label "$k");object=$(key_label "$k");type=private?pin-source=file:$k/pin"
	for f in "$@"; do
		SOFTHSM2_CONF=$k/softhsm2.conf openssl cms -sign -binary \
			-in "$f" -signer "$k/signer.pem" -engine pkcs11 \
			-keyform engine -inkey "$uri" -outform DER \
			-out "$f.sig" 2>/dev/null
	done
	openssl cms -verify -binary -inform DER -in "$f.sig" -content "$f" \
		-CAfile "$k/ca.pem" -purpose any -out /dev/null 2>/dev/null ||
		die "the openssl loop made no valid signature"
}

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
