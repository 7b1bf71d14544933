#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Issue 13, POSIX defect 6 (pjdfstest chmod/03.t, chown/03.t, open/03.t,
# truncate/03.t, ftruncate/03.t, link/03.t, unlink/03.t): a file whose
# path below the mount is PATH_MAX - 1 bytes is created, written,
# truncated and signed. The daemon found a file's path with readlink of
# /proc/self/fd, which gives BACKING's absolute path plus it, so such a
# file's path could not be told: its create returned EIO after the file
# was made (a retry got EEXIST). Now a path too long for readlink is
# built from the names the daemon recorded, each checked, and a create
# that fails after making the file removes it again.
. "$(dirname "$0")/posix.sh"
# pjdfstest's dirgen_max: 127-byte components, PATH_MAX - 1 bytes in all
nx=$(python3 -c '
import hashlib
n, i = "", 0
while len(n) < 4095:
    n += hashlib.sha256(b"%d" % i).hexdigest()[:63] * 2 + "x/"
    i += 1
print(n[:4094] + "z")')
[ ${#nx} -eq 4095 ] || fail "path of ${#nx} bytes"
dir=${nx%/*}
base=${nx##*/}

# steps DIR: from inside DIR (its absolute path is too long for a syscall)
steps() {
	(cd "$1" && mkdir -p "$dir" && python3 - "$nx" <<'PY')
import os, sys
p = sys.argv[1]
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
os.write(fd, b"path max\n" * 100)
os.close(fd)
os.truncate(p, 123)
os.chmod(p, 0o640)
print(os.stat(p).st_size, oct(os.stat(p).st_mode & 0o777))
fd = os.open(p, os.O_WRONLY | os.O_APPEND)
os.write(fd, b"appended\n")
os.close(fd)
print(os.stat(p).st_size)
PY
}

for kind in sign nosign; do
	px_start "$kind"
	px_same "steps ($kind)" "$(steps "$N")" "$(steps "$M")"
	cmp <(cd "$N" && cat "$nx") <(cd "$B" && cat "$nx") ||
		fail "content in BACKING ($kind)"
	if [ "$kind" = sign ]; then
		# its signature: stock openssl from the file's directory, and
		# it names the whole path
		(cd "$B" && cd "$dir" &&
			openssl cms -verify -binary -inform DER -in "$base.sig" \
				-content "$base" -CAfile "$CA" -purpose any \
				-out /dev/null 2>/dev/null) ||
			fail "no valid signature of the PATH_MAX file"
		(cd "$B" && cd "$dir" && python3 -c '
import sys
sys.exit(sys.argv[1].encode() not in open(sys.argv[2], "rb").read())' \
			"$nx" "$base.sig") || fail "the signature names another path"
		ob_records_is sign "$nx" 3 || fail "sign records for the file"
	fi
	(cd "$M" && rm "$nx") || fail "unlink ($kind)"
	(cd "$B" && [ ! -e "$nx" ]) || fail "unlinked file still in BACKING"
	ob_stop
done

# A create that fails after the file exists leaves nothing behind. The
# fault: a directory where the old NAME.sig would be removed (EISDIR).
px_start sign
mkdir "$B/u.sig"
touch "$B/u.sig/keep"
for try in 1 2; do
	rc=$(python3 -c 'import errno, os, sys
try:
    os.close(os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL))
    print("ok")
except OSError as e:
    print(errno.errorcode[e.errno])' "$M/u")
	if [ "$rc" = ok ]; then
		ob_ok u # the layout of signatures changed: then it is signed
		break
	fi
	note "create $try: $rc"
	[ "$rc" = EIO ] || fail "create $try: $rc"
	[ ! -e "$B/u" ] || fail "a failed create left u behind (try $try)"
done
SFS_LOG_ALLOW='cannot remove the .sig' ob_stop
