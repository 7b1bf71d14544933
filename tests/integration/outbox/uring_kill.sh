#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A file held by an io_uring ring (a registered "fixed file") outlives its
# last descriptor: the opener's close does not end the writing, and a
# kill drops the ring with a RELEASE and no close at all. An outside
# review got the half-written file of a SIGKILLed writer signed this way
# (the release signed because every write had been followed by a close).
# Now: a close that found the file still held leaves the release to sign
# only when the opener is known to have ended normally. The twin: the same
# writer that unregisters the ring and lives on is signed, of all it wrote.
. "$(dirname "$0")/common.sh"

# ringer FILE HOW: open, register the descriptor in a new io_uring,
# write half of 1 MiB, close the descriptor (not signed: the ring holds
# the file), print "ready" and then HOW: kill (SIGKILL itself), or unreg
# (close the ring, print "closed", then live until $SFS_TMP/FILE.done
# exists).
ringer() {
	python3 - "$M/$1" "$2" "$SFS_TMP/$1.done" <<'PY'
import ctypes, os, signal, sys, time
path, how, done = sys.argv[1:4]
libc = ctypes.CDLL(None, use_errno=True)
NR_SETUP, NR_REGISTER, REGISTER_FILES = 425, 427, 2
params = ctypes.create_string_buffer(120)  # struct io_uring_params
ring = libc.syscall(NR_SETUP, 8, params)
if ring < 0:
    print("skip: io_uring_setup:", os.strerror(ctypes.get_errno()))
    sys.exit(77)
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
fds = (ctypes.c_int * 1)(fd)
if libc.syscall(NR_REGISTER, ring, REGISTER_FILES, fds, 1) < 0:
    sys.exit("io_uring_register: " + os.strerror(ctypes.get_errno()))
os.write(fd, b"x" * (1 << 19))
os.close(fd)
print("ready", flush=True)
if how == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
os.close(ring)  # unregisters: the kernel releases the file
print("closed", flush=True)
while not os.path.exists(done):
    time.sleep(0.02)
PY
}

probe=$(python3 -c 'import ctypes; l = ctypes.CDLL(None); print(l.syscall(425, 8, ctypes.create_string_buffer(120)))')
[ "$probe" -ge 0 ] || skip "io_uring is not available here (io_uring_setup: $probe)"

ob_start
rc=0
ringer k kill >"$SFS_TMP/k.out" || rc=$?
[ "$rc" -eq 137 ] || fail "killed writer exited $rc: $(cat "$SFS_TMP/k.out")"
grep -qx ready "$SFS_TMP/k.out" || fail "the writer never got ready"
wait_for 10 ob_records_is sign-refused k 1 || fail "no sign-refused record for k"
ob_bad k
[ ! -e "$B/k.sig" ] || fail "k.sig exists: the killed writer's half file is signed"
[ "$(stat -c %s "$B/k")" -eq $((1 << 19)) ] || fail "k size $(stat -c %s "$B/k")"
echo again >"$M/k"
ob_ok k

# twin: the ring closed by a live writer: signed at the release
ringer u unreg >"$SFS_TMP/u.out" &
upid=$!
wait_for 10 grep -qx closed "$SFS_TMP/u.out" || fail "unreg writer: $(cat "$SFS_TMP/u.out")"
# the kernel drops a closed ring's files from a work queue: soon, not at once
signed() { "$SIGNETFS" verify --config "$CONF" --root "$B" "$B/$1" >/dev/null 2>&1; }
wait_for 10 signed u || fail "u not signed after the ring was closed: $(grep '"u"' "$AUDIT" | tail -1)"
kill -0 "$upid" || fail "the unreg writer is gone: it was to live until told"
ob_ok u
[ "$(stat -c %s "$B/u")" -eq $((1 << 19)) ] || fail "u size"
touch "$SFS_TMP/u.done"
wait "$upid" || fail "unreg writer failed"
ob_expect_records sign u 1
ob_forge_flip u
ob_records_match_stats
SFS_LOG_ALLOW='not signing' ob_stop
ob_audit_verify
