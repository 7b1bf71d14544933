#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Issue 13, POSIX defect 4: a user who may write a file but does not own
# it sets its times to "now" (touch, utimensat(..., NULL), UTIME_NOW in
# both fields), as natively; explicit times, and "now" for one field only,
# stay the owner's (EPERM), and without write permission "now" is EACCES.
# With the writeback cache the kernel sends "now" as an explicit mtime, and
# the daemon used to set it as the caller: EPERM (pjdfstest utimensat/06.t
# 11 too). With and without signing; a touch is no content change, so
# the signature stays valid.
. "$(dirname "$0")/posix.sh"

# utimensat(2) as called: NULL, or two timespecs (NOW, OMIT or seconds).
cat >"$SFS_TMP/ut.py" <<'PY'
import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
class TS(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("nsec", ctypes.c_long)]
NOW, OMIT = (1 << 30) - 1, (1 << 30) - 2
def ts(v):
    return {"now": TS(0, NOW), "omit": TS(0, OMIT)}.get(v) or TS(int(v), 0)
path, how = sys.argv[1], sys.argv[2:]
arg = None if how == ["null"] else (TS * 2)(ts(how[0]), ts(how[1]))
if libc.utimensat(-100, path.encode(), arg, 0) == 0:
    print(0)
else:
    print(errno.errorcode[ctypes.get_errno()])
PY
# The user's python: root's may be a version manager's shim it cannot run.
PY=/usr/bin/python3
[ -x "$PY" ] || skip "no /usr/bin/python3"

# steps DIR: each call by another user on root's 0666 and 0644 files; then
# whether "now" happened (the time moved off 2001).
steps() {
	local d=$1 f how
	for f in rw ro; do
		printf 'root\n' >"$d/$f"
	done
	chmod 0666 "$d/rw"
	chmod 0644 "$d/ro"
	for f in rw ro; do
		for how in null "now now" "omit now" "now omit" "5 5" "omit omit"; do
			touch -d '2001-01-01 00:00:00' "$d/$f"
			# shellcheck disable=SC2086 # how is two words
			echo "$f utimensat($how): $(px_as "$PX_UID" "$PY" \
				"$SFS_TMP/ut.py" "$d/$f" $how)" \
				"mtime moved: $([ "$(stat -c %Y "$d/$f")" -gt 978307200 ] &&
					echo yes || echo no)"
		done
		touch -d '2001-01-01 00:00:00' "$d/$f"
		echo "$f touch: $(px_rc px_as "$PX_UID" touch "$d/$f")" \
			"$(px_rc px_as "$PX_UID" touch -m "$d/$f")" \
			"$(px_rc px_as "$PX_UID" touch -d 2002-02-02 "$d/$f")"
	done
}

for kind in sign nosign; do
	px_start "$kind"
	want=$(steps "$N")
	note "$want"
	got=$(steps "$M")
	px_same "steps ($kind)" "$want" "$got"
	if [ "$kind" = sign ]; then
		ob_ok rw
		ob_ok ro
	fi
	ob_stop
done
