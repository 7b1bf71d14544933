#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Writes through a shared mapping after close(2), then the writer killed:
# no signature of the half-written file (before: close signed the zeros,
# and the release signed the half-written file without the killed-writer
# rule). The same writer that unmaps, or exits normally, is signed at
# the release, of what it wrote.
. "$(dirname "$0")/common.sh"
ob_start

# mapper FILE HOW [raw]: open O_RDWR, ftruncate 1 MiB, mmap, close, then
# no valid signature while mapped; write half the mapping, then HOW: kill
# (SIGKILL itself), munmap (and live on until told), exit (status 0,
# without munmap). Python's mmap keeps a dup of the descriptor, so the
# close finds a descriptor still open; raw maps with libc's mmap instead:
# after the close only the mapping holds the file (/proc/PID/maps).
mapper() {
	python3 - "$M/$1" "$2" "$CONF" "$B" "$SIGNETFS" "${3:-}" <<'PY'
import ctypes, mmap, os, signal, subprocess, sys
path, how, conf, b, sfs, raw = sys.argv[1:7]
rel = os.path.basename(path)
size = 1 << 20
fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.ftruncate(fd, size)
if raw:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                          ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    addr = libc.mmap(None, size, mmap.PROT_READ | mmap.PROT_WRITE,
                     mmap.MAP_SHARED, fd, 0)
    if addr in (None, ctypes.c_void_p(-1).value):
        sys.exit("mmap: " + os.strerror(ctypes.get_errno()))
else:
    mp = mmap.mmap(fd, size, mmap.MAP_SHARED)
os.close(fd)
if subprocess.run([sfs, "verify", "--config", conf, "--root", b,
                   f"{b}/{rel}"], stdout=subprocess.DEVNULL,
                  stderr=subprocess.DEVNULL).returncode == 0:
    sys.exit("the zero-filled file is signed while it is mapped")
if raw:
    ctypes.memset(addr, ord("x"), size // 2)
else:
    mp[0:size // 2] = b"x" * (size // 2)
if how == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
if how == "munmap":
    if raw:
        libc.munmap(addr, size)
    else:
        mp.close()
sys.exit(0)
PY
}

# killed: the release comes from its exit, after its last pages
rc=0
mapper k kill || rc=$?
[ "$rc" -eq 137 ] || fail "killed mapper exited $rc"
wait_for 10 ob_records_is sign-refused k 1 ||
	fail "no sign-refused record for k"
ob_bad k
[ ! -e "$B/k.sig" ] || fail "k.sig exists"
case "$(ob_xattr "$M/k" status)" in
"failed: writer killed by signal 9"*) ;;
*) fail "k status: $(ob_xattr "$M/k" status)" ;;
esac
[ "$(head -c 1 "$B/k")" = x ] || fail "k content"
# emptied and written again: signed as usual
echo again >"$M/k"
ob_ok k

# twin: unmapped by a live process: signed at the release, all of it
mapper u munmap || fail "munmap mapper"
wait_for 10 sfs_verify_both "$CONF" "$B" "$B/u" "$CA" 2>/dev/null ||
	fail "u not signed after munmap"
[ "$(head -c 1 "$B/u")" = x ] || fail "u content"
ob_expect_records sign u 1

# twin: exits normally without munmap: its pages come back from its exit
mapper e exit || fail "exit mapper"
wait_for 10 sfs_verify_both "$CONF" "$B" "$B/e" "$CA" 2>/dev/null ||
	fail "e not signed after a normal exit"
ob_expect_records sign e 1

# the same with a mapping alone after the close (no dup of the descriptor)
rc=0
mapper rk kill raw || rc=$?
[ "$rc" -eq 137 ] || fail "killed raw mapper exited $rc"
wait_for 10 ob_records_is sign-refused rk 1 ||
	fail "no sign-refused record for rk"
ob_bad rk
[ ! -e "$B/rk.sig" ] || fail "rk.sig exists"
[ "$(head -c 1 "$B/rk")" = x ] || fail "rk content"
mapper ru munmap raw || fail "raw munmap mapper"
wait_for 10 sfs_verify_both "$CONF" "$B" "$B/ru" "$CA" 2>/dev/null ||
	fail "ru not signed after munmap"
[ "$(head -c 1 "$B/ru")" = x ] || fail "ru content"
ob_expect_records sign ru 1
ob_forge_flip u
ob_records_match_stats
SFS_LOG_ALLOW='not signing' ob_stop
ob_audit_verify
