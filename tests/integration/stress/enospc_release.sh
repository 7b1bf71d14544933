#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A file whose write-back failed (ENOSPC) gets no signature, whichever
# close or release comes next, until its content is reset.
#
# With the writeback cache the kernel writes dirty pages back in flush;
# when that fails (ENOSPC) close(2) returns the error and the kernel never
# sends FLUSH, so only the failed WRITE tells the daemon. It marks the
# inode (write-failed) and refuses to sign it (sign-refused, no .sig):
# (1) at RELEASE, when a mapping keeps the file open past its failed
# close and space comes back before munmap (another job's files removed);
# (2) at the FLUSH of a second descriptor closed later (close EIO);
# (3) at the close of a later writer that appends, also after the kernel
# forgot the inode (drop_caches). (4) A rewrite with O_TRUNC, or a
# truncation to 0, resets the content: signed again. (5) The same for a
# fallocate that failed with ENOSPC.
. "$(dirname "$0")/common.sh"
sfs_need_fuse
st_tmpfs "$SFS_TMP/backing" 4m
SFS_LOG_ALLOW='No space left on device'
ob_start
data=$SFS_TMP/written
head -c $((2 << 20)) /dev/urandom >"$data"
fill() { head -c $((3 << 20)) /dev/zero >"$B/filler" 2>/dev/null || true; }
# append REL TEXT: "ok", or the errno of the failed call.
append() {
	python3 - "$M/$1" "$2" <<'PY'
import errno, os, sys
try:
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
    os.write(fd, sys.argv[2].encode())
    os.close(fd)
    print("ok")
except OSError as e:
    print(errno.errorcode[e.errno])
PY
}
refused() {
	grep -q "\"event\":\"sign-refused\".*\"path\":\"$1\".*write-failed" "$AUDIT"
}

# (1) RELEASE after a failed close.
fill
r=$(python3 - "$M/p" "$B/filler" "$data" <<'PY'
import mmap, os, sys
data = open(sys.argv[3], "rb").read()
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, data)
m = mmap.mmap(fd, 4096)     # keeps the open file alive past close(2)
try:
    os.close(fd)
    print("close ok")
except OSError as e:
    print("close", os.strerror(e.errno))
os.unlink(sys.argv[2])      # space comes back
m.close()                   # the last reference goes: RELEASE
PY
)
note "p: $r; BACKING has $(stat -c %s "$B/p") of 2097152 bytes"
[ "$r" = "close No space left on device" ] || fail "setup: close: $r"
cmp -s "$data" "$B/p" && fail "setup: p is complete"
# RELEASE is asynchronous: its decision is the audit record.
wait_for 10 refused p || fail "no sign-refused (write-failed) record for p"
[ ! -e "$B/p.sig" ] || fail "p.sig exists"
ob_bad p
[ "$(ob_xattr "$M/p" status)" != signed ] || fail "p status: signed"

# (2) A second descriptor's close: FLUSH.
fill
r=$(python3 - "$M/q" "$B/filler" "$data" <<'PY'
import os, sys
data = open(sys.argv[3], "rb").read()
fd2 = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
os.write(fd, data)
out = []
for f in (fd, fd2):
    try:
        os.close(f)
        out.append("ok")
    except OSError as e:
        out.append(os.strerror(e.errno))
    if f == fd:
        os.unlink(sys.argv[2])
print(", ".join(out))
PY
)
note "q: closes: $r; BACKING has $(stat -c %s "$B/q") of 2097152 bytes"
[ "$r" = "No space left on device, Input/output error" ] ||
	fail "q: closes: $r (expected ENOSPC, then EIO)"
refused q || fail "no sign-refused (write-failed) record for q"
[ ! -e "$B/q.sig" ] || fail "q.sig exists"
ob_bad q

# (3) A later writer that appends: still refused, also once the kernel
# forgot the inode (the daemon then has no state for it but its stash).
n0=$(grep -c '"event":"sign-refused"' "$AUDIT")
r=$(append p x)
[ "$r" = EIO ] || fail "append to p: $r (expected EIO)"
sync
echo 2 >/proc/sys/vm/drop_caches
r=$(append p y)
[ "$r" = EIO ] || fail "append to p after drop_caches: $r (expected EIO)"
[ "$(grep -c '"event":"sign-refused"' "$AUDIT")" -eq $((n0 + 2)) ] ||
	fail "appends to p: expected 2 more sign-refused records"
[ ! -e "$B/p.sig" ] || fail "p.sig exists after appends"
ob_bad p

# (4) Reset: O_TRUNC rewrite of p, truncation of q to 0.
cp "$data" "$M/p" || fail "rewrite of p"
cmp "$data" "$B/p"
ob_ok p
truncate -s 0 "$M/q" || fail "truncate q"
ob_ok q
r=$(append q more)
[ "$r" = ok ] || fail "append to q after the reset: $r"
ob_ok q
# (5) fallocate that fails for want of space may have allocated part of
# the range: the same refusal (close EIO), and the same reset.
r=$(python3 - "$M/r" <<'PY'
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"abc")
out = []
try:
    os.posix_fallocate(fd, 0, 64 << 20)
    out.append("ok")
except OSError as e:
    out.append(errno.errorcode[e.errno])
try:
    os.close(fd)
    out.append("ok")
except OSError as e:
    out.append(errno.errorcode[e.errno])
print(" ".join(out))
PY
)
[ "$r" = "ENOSPC EIO" ] || fail "r: fallocate, close: $r (expected ENOSPC EIO)"
grep -q '"event":"sign-refused".*"path":"r".*write-failed: fallocate' "$AUDIT" ||
	fail "no sign-refused (write-failed: fallocate) record for r"
[ ! -e "$B/r.sig" ] || fail "r.sig exists"
echo again >"$M/r"
ob_ok r
ob_records_match_stats
ob_stop
