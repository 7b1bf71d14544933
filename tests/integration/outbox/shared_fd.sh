#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# No valid signature for content a writer is still in the middle of
# writing (docs/outbox.md, "When a file is signed"). Every close(2) of a
# shared descriptor sends a FLUSH; only the close that ends the writing of
# the open file signs: the opener's process, with no other descriptor or
# shared mapping of the file left, no process started since holding one,
# and no other open of the file still being written. Shells, `exec 3>`,
# forks, threads and two openers, each with a twin that must not verify
# in between (before: each of these closes signed what was there).
. "$(dirname "$0")/common.sh"
ob_start
F1=$SFS_TMP/f1 F2=$SFS_TMP/f2
mkfifo "$F1" "$F2"

# (1) a subshell's redirect inherited by a child that exits first
( cat "$F1" >/dev/null; cat "$F2" >/dev/null; echo content ) >"$M/a" &
sub=$!
echo go >"$F1"
# the second cat runs only once the first has exited (and closed stdout)
wait_for 10 pgrep -f "^cat $F2\$" >/dev/null || fail "second cat did not start"
ob_bad a
[ ! -e "$B/a.sig" ] || fail "a.sig exists while the subshell still writes"
echo go >"$F2"
wait "$sub" || fail "subshell"
[ "$(cat "$B/a")" = content ] || fail "a content"
ob_ok a
ob_expect_records sign a 1

# (2) exec 3>: a builtin's redirect closes a dup of fd 3, fd 3 stays open
exec 3>"$M/b"
echo one >&3
ob_bad b
echo two >&3
ob_bad b
exec 3>&-
ob_ok b
[ "$(cat "$B/b")" = "$(printf 'one\ntwo')" ] || fail "b content"
ob_expect_records sign b 1

# (3) an external command's redirect: open, dup2, close the original, exec:
# one signature, of the whole content (before: the empty file, then it)
head -c 200000 /dev/urandom >"$SFS_TMP/src"
cat "$SFS_TMP/src" >"$M/c"
ob_ok c
cmp -s "$SFS_TMP/src" "$B/c" || fail "c content"
ob_expect_records sign c 1

# (4) fork: the parent closes first, the child still writes (and exits 0):
# no signature until the last reference goes, then one of the whole file
python3 - "$M/d" "$CONF" "$B" "$SIGNETFS" <<'PY' || fail "fork case"
import os, subprocess, sys
m, conf, b, sfs = sys.argv[1:5]
def verifies():
    return subprocess.run([sfs, "verify", "--config", conf, "--root", b,
                           b + "/d"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0
r, w = os.pipe()
fd = os.open(m, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
pid = os.fork()
if pid == 0:
    os.close(w)
    os.read(r, 1)            # until the parent has closed and checked
    os.write(fd, b"child\n")
    os._exit(0)
os.close(r)
os.write(fd, b"parent\n")
os.close(fd)
if verifies():
    sys.exit("signed while the child still holds the descriptor")
os.write(w, b"x")
os.close(w)
_, st = os.waitpid(pid, 0)
assert st == 0
PY
wait_for 10 sfs_verify_both "$CONF" "$B" "$B/d" "$CA" 2>/dev/null ||
	fail "d not signed after the child exited"
[ "$(cat "$B/d")" = "$(printf 'parent\nchild')" ] || fail "d content"

# (4') twin: the child is killed after writing part: never signed
python3 - "$M/e" <<'PY' || fail "fork kill case"
import os, signal, sys
r, w = os.pipe()
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
pid = os.fork()
if pid == 0:
    os.close(w)
    os.write(fd, b"half")
    os.read(r, 1)            # killed here
    os._exit(0)
os.close(r)
os.write(fd, b"parent\n")
os.close(fd)
while os.path.getsize(sys.argv[1]) < 11:
    pass                     # the child's bytes have landed
os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
PY
wait_for 10 ob_records_is sign-refused e 1 || fail "no sign-refused for e"
ob_bad e
case "$(ob_xattr "$M/e" status)" in
"failed: writer killed by signal 9"*) ;;
*) fail "e status: $(ob_xattr "$M/e" status)" ;;
esac

# (5) threads: one thread opens, another writes and closes: one process,
# the close signs at once
python3 - "$M/t" <<'PY' || fail "thread case"
import os, sys, threading
fds = []
t = threading.Thread(target=lambda: fds.append(
    os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)))
t.start(); t.join()
def w():
    os.write(fds[0], b"threads\n")
    os.close(fds[0])
t = threading.Thread(target=w)
t.start(); t.join()
PY
ob_ok t

# (5') a thread that unshared its descriptor table keeps a copy of the
# descriptor: the main thread's close does not sign while it still writes
python3 - "$M/u" "$CONF" "$B" "$SIGNETFS" <<'PY' || fail "unshare thread case"
import ctypes, os, subprocess, sys, threading
m, conf, b, sfs = sys.argv[1:5]
libc = ctypes.CDLL(None, use_errno=True)
CLONE_FILES = 0x400
fd = os.open(m, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"AAAA\n")
ready, go = threading.Event(), threading.Event()
def t():
    assert libc.unshare(CLONE_FILES) == 0
    ready.set()
    go.wait()
    os.write(fd, b"BBBB\n")
    os.close(fd)
th = threading.Thread(target=t)
th.start()
ready.wait()
os.close(fd)
r = subprocess.run([sfs, "verify", "--config", conf, "--root", b, b + "/u"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
go.set()
th.join()
if r.returncode == 0:
    sys.exit("signed while a thread's own table still held the file")
PY
wait_for 10 sfs_verify_both "$CONF" "$B" "$B/u" "$CA" 2>/dev/null ||
	fail "u not signed after the thread closed"
[ "$(cat "$B/u")" = "$(printf 'AAAA\nBBBB')" ] || fail "u content"

# (6) two opens by two processes: the first to close signs nothing while
# the other still writes; the last close signs both writers' bytes
python3 - "$M/g" "$F1" <<'PY' &
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
os.write(fd, b"first\n")
open(sys.argv[2]).read()     # wait for the go
os.write(fd, b"last\n")
os.close(fd)
PY
p1=$!
wait_for 10 test -s "$M/g" || fail "first writer did not start"
echo second >>"$M/g"
ob_bad g
echo go >"$F1"
wait "$p1" || fail "first writer"
ob_ok g
[ "$(cat "$B/g")" = "$(printf 'first\nsecond\nlast')" ] || fail "g content"

ob_records_match_stats
ob_forge_flip c
SFS_LOG_ALLOW='not signing' ob_stop
ob_audit_verify
