#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Policy is enforced where a signature is made, not only where a file is
# opened: a signature for path P exists only if every writer since the
# last signature is allowed at P. A writer refused in firmware/** (an
# outsider, uid 4242, allowed in docs/**) must not get its bytes signed
# with the firmware key by (a) renaming its file there, (b) exchanging it
# there, (c) having an allowed user move it there, (d) keeping it open
# while someone moves it there, then writing and closing, (e) having it
# renamed in BACKING while open. Real uids (setpriv), directories the OS
# lets them write: only signetfs's policy stands in the way.
. "$(dirname "$0")/common.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root to add a group and a user"
command -v setpriv >/dev/null && command -v useradd >/dev/null ||
	skip "no setpriv/useradd"
sfs_need_fuse
chmod 0755 "$SFS_TMP" # other users reach the mount point, not BACKING
mkdir -m 0700 "$SFS_TMP/priv"
OB_BACKING=$SFS_TMP/priv/backing
grp=sfsrel$$ ug=sfsrel$$
groupadd "$grp" || fail "groupadd"
useradd -M -N -g nogroup -G "$grp" -s /usr/sbin/nologin "$ug" ||
	fail "useradd"
trap 'userdel "$ug" 2>/dev/null || true; groupdel "$grp" 2>/dev/null || true; ob_cleanup' EXIT
# /usr/bin/python3: another user cannot run root's (pyenv) interpreter
as_release() { setpriv --reuid "$ug" --regid nogroup --init-groups "$@"; }
as_outsider() { setpriv --reuid 4242 --regid 4242 --clear-groups "$@"; }
mkdir -p "$OB_BACKING/firmware" "$OB_BACKING/docs"
# not sticky: the kernel lets the outsider move others' files there
chmod 0777 "$OB_BACKING/firmware" "$OB_BACKING/docs"
ob_start -o allow_other "$(printf '%s\n' '[rule firmware/**]' \
	"writers-gid = $grp" '[rule docs/**]' 'writers-uid = *')"
F=$SFS_TMP/fifo
mkfifo "$F"
chmod 0666 "$F"

# the outsider's own files in docs/ are signed
for f in x y w; do
	as_outsider sh -c "echo $f-by-outsider >'$M/docs/$f'" || fail "docs/$f"
	ob_ok "docs/$f"
done
as_release sh -c "echo fw >'$M/firmware/z'" || fail "firmware/z"
ob_ok firmware/z

# (a) rename into the subtree: EACCES, nothing moved, a record
if as_outsider mv "$M/docs/x" "$M/firmware/x" 2>"$SFS_TMP/err"; then
	fail "outsider renamed into firmware"
fi
grep -q "Permission denied" "$SFS_TMP/err" || fail "(a) not EACCES: $(cat "$SFS_TMP/err")"
[ -e "$B/docs/x" ] && [ ! -e "$B/firmware/x" ] || fail "(a) moved"
ob_ok docs/x
ob_record_writer policy-denied firmware/x 4242 /usr/bin/mv 1

# (b) RENAME_EXCHANGE of docs/y with firmware/z: both sides are checked
exch() {
	/usr/bin/python3 - "$1" "$2" <<'PY'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
if libc.renameat2(AT_FDCWD, sys.argv[1].encode(), AT_FDCWD,
                  sys.argv[2].encode(), RENAME_EXCHANGE) != 0:
    e = ctypes.get_errno()
    sys.exit(f"renameat2: {os.strerror(e)}")
PY
}
if as_outsider bash -c "$(declare -f exch); exch '$M/docs/y' '$M/firmware/z'" \
	2>"$SFS_TMP/err"; then
	fail "outsider exchanged into firmware"
fi
grep -q "Permission denied" "$SFS_TMP/err" || fail "(b) not EACCES: $(cat "$SFS_TMP/err")"
[ "$(cat "$B/firmware/z")" = fw ] || fail "(b) exchanged"
ob_ok firmware/z
ob_ok docs/y

# (c) an allowed user moves the outsider's signed file into firmware: the
# signature would carry the outsider's bytes: EACCES, a record naming
# the mover and, in its reason, whose bytes
if as_release mv "$M/docs/w" "$M/firmware/w" 2>"$SFS_TMP/err"; then
	fail "release user moved the outsider's bytes into firmware"
fi
grep -q "Permission denied" "$SFS_TMP/err" || fail "(c) not EACCES: $(cat "$SFS_TMP/err")"
[ ! -e "$B/firmware/w" ] || fail "(c) moved"
python3 - "$AUDIT" <<'PY' || fail "(c) no policy-denied record naming uid 4242"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1], "rb")]
assert any(r["event"] == "policy-denied" and r.get("path") == "firmware/w"
           and "uid 4242, who wrote" in r.get("reason", "")
           and r["writer"]["exe"] == "/usr/bin/mv" for r in recs)
PY

# (d) open while someone else moves it there, then write and close
as_outsider /usr/bin/python3 - "$M/docs/o" "$F" <<'PY' &
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
os.write(fd, b"start\n")
open(sys.argv[2]).read()          # until moved
os.write(fd, b"firmware by outsider\n")
try:
    os.close(fd)
except PermissionError:
    sys.exit(13)
sys.exit(0)
PY
po=$!
wait_for 10 test -s "$M/docs/o" || fail "(d) writer did not start"
as_release mv "$M/docs/o" "$M/firmware/o" || fail "(d) move refused"
echo go >"$F"
rc=0
wait "$po" || rc=$?
[ "$rc" -eq 13 ] || fail "(d) close returned rc $rc, not EACCES"
[ -e "$B/firmware/o" ] || fail "(d) not moved"
ob_bad firmware/o
[ ! -e "$B/firmware/o.sig" ] || fail "(d) firmware/o.sig exists"

# (e) renamed in BACKING while open
as_outsider /usr/bin/python3 - "$M/docs/p" "$F" <<'PY' &
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
os.write(fd, b"p\n")
open(sys.argv[2]).read()
os.write(fd, b"more\n")
try:
    os.close(fd)
except PermissionError:
    sys.exit(13)
PY
pp=$!
wait_for 10 test -s "$M/docs/p" || fail "(e) writer did not start"
mv "$B/docs/p" "$B/firmware/p"
echo go >"$F"
rc=0
wait "$pp" || rc=$?
[ "$rc" -eq 13 ] || fail "(e) close returned rc $rc, not EACCES"
ob_bad firmware/p

# twins that must still work: moves the rules allow, signatures carried
as_outsider mv "$M/docs/x" "$M/docs/x2" || fail "docs rename"
ob_ok docs/x2
as_release mv "$M/firmware/z" "$M/firmware/z2" || fail "firmware rename"
ob_ok firmware/z2
ob_forge_move firmware/z2 firmware/z3
ob_records_match_stats
SFS_LOG_ALLOW='not signing' ob_stop
ob_audit_verify
