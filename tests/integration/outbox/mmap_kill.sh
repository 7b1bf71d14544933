#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Writes through a shared mapping after close(2), then the writer killed:
# no signature of the half-written file (before: close signed the zeros,
# and the release signed the half-written file without the killed-writer
# rule). The same writer that unmaps, or exits normally, is signed at
# the release, of what it wrote.
. "$(dirname "$0")/common.sh"
ob_start

# mapper FILE HOW: open O_RDWR, ftruncate 1 MiB, mmap, close, then no
# valid signature while mapped; write half the mapping, then HOW: kill
# (SIGKILL itself), munmap (and live on until told), exit (status 0,
# without munmap).
mapper() {
	python3 - "$M/$1" "$2" "$CONF" "$B" "$SIGNETFS" <<'PY'
import mmap, os, signal, subprocess, sys
path, how, conf, b, sfs = sys.argv[1:6]
rel = os.path.basename(path)
fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.ftruncate(fd, 1 << 20)
mp = mmap.mmap(fd, 1 << 20, mmap.MAP_SHARED)
os.close(fd)
if subprocess.run([sfs, "verify", "--config", conf, "--root", b,
                   f"{b}/{rel}"], stdout=subprocess.DEVNULL,
                  stderr=subprocess.DEVNULL).returncode == 0:
    sys.exit("the zero-filled file is signed while it is mapped")
mp[0:1 << 19] = b"x" * (1 << 19)
if how == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
if how == "munmap":
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
ob_forge_flip u
ob_records_match_stats
SFS_LOG_ALLOW='not signing' ob_stop
ob_audit_verify
