#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A shared writable mapping handed to another process before the opener's
# close: a forked child, or a sibling made with clone(CLONE_PARENT) (its
# parent is the opener's parent, not the opener). The opener unmaps and
# closes (the file is still held: not signed), then the other process
# writes half of it and is killed: the release must not sign what the
# killed writer left (an outside attack found both signed). Twin: the
# other process unmaps and lives on, then the release signs all of it.
. "$(dirname "$0")/common.sh"
ob_start

# mapper FILE fork|sibling kill|munmap: with munmap, the other process
# lives on until FILE.sig exists (a process that is gone before the
# release is judged is not known to have ended normally: refused)
mapper() {
	python3 - "$M/$1" "$2" "$3" "$B/$1.sig" <<'PY'
import ctypes, mmap, os, signal, sys, time
path, how, end, sig = sys.argv[1:5]
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                      ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.msync.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
libc.syscall.restype = ctypes.c_long
size = 8192
fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"A" * size)
addr = libc.mmap(None, size, mmap.PROT_READ | mmap.PROT_WRITE,
                 mmap.MAP_SHARED, fd, 0)
if addr in (None, ctypes.c_void_p(-1).value):
    sys.exit("mmap: " + os.strerror(ctypes.get_errno()))
go_r, go_w = os.pipe()
done_r, done_w = os.pipe()
quit_r, quit_w = os.pipe()
if how == "fork":
    child = os.fork()
else:  # clone(CLONE_PARENT | SIGCHLD): a sibling of ours
    child = libc.syscall(56, 0x00008000 | signal.SIGCHLD, 0, 0, 0, 0)
    if child < 0:
        sys.exit("clone: " + os.strerror(ctypes.get_errno()))
MS_SYNC = 4
if child == 0:
    try:
        os.close(fd)
        os.close(done_r)
        os.read(go_r, 1)
        ctypes.memset(addr, ord("K"), size // 2)
        libc.msync(addr, size, MS_SYNC)
        if end == "munmap":
            libc.munmap(addr, size)
        os.write(done_w, b"x")
        if end == "munmap":
            os.read(quit_r, 1)
            os._exit(0)
        while True:
            time.sleep(60)
    finally:
        os._exit(1)
os.close(done_w)
libc.munmap(addr, size)
os.close(fd)  # still held by the other process: not signed here
os.write(go_w, b"x")
if os.read(done_r, 1) != b"x":
    sys.exit("the other process died before writing")
if end == "kill":
    os.kill(child, signal.SIGKILL)
else:
    deadline = time.monotonic() + 10
    while not os.path.exists(sig) and time.monotonic() < deadline:
        time.sleep(0.02)
    os.write(quit_w, b"x")
if how == "fork":
    os.waitpid(child, 0)
PY
}

for how in fork sibling; do
	k=$how-kill u=$how-munmap
	mapper "$k" "$how" kill || fail "$how mapper"
	wait_for 10 ob_records_is sign-refused "$k" 1 ||
		fail "no sign-refused record for $k"
	ob_bad "$k"
	[ ! -e "$B/$k.sig" ] || fail "$k.sig exists: the killed $how's bytes signed"
	[ "$(head -c 1 "$B/$k")" = K ] || fail "$k content"
	case "$(ob_xattr "$M/$k" status)" in
	failed:*killed\ by\ signal\ 9* | failed:*ended\ before*) ;;
	*) fail "$k status: $(ob_xattr "$M/$k" status)" ;;
	esac
	# twin: the other process unmaps and exits 0: signed, all of it
	mapper "$u" "$how" munmap || fail "$how munmap mapper"
	wait_for 10 sfs_verify_both "$CONF" "$B" "$B/$u" "$CA" 2>/dev/null ||
		fail "$u not signed after the $how unmapped"
	[ "$(head -c 1 "$B/$u")" = K ] || fail "$u content"
	ob_expect_records sign "$u" 1
done
ob_records_match_stats
SFS_LOG_ALLOW='not signing' ob_stop
ob_audit_verify
