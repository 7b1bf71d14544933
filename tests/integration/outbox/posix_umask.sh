#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Issue 13, POSIX defect 1: a create or mkdir through the outbox gets the
# mode asked for less the caller's umask, as natively. The daemon's own
# umask (022, from the shell that started it) used to apply on top:
# `umask 0` and open(O_CREAT, 0666) gave 0644, mkdir 0777 gave 0755, a
# 04777 create gave 04755, so directories meant to be group-writable were
# not. Root and another user, with and without signing; the daemon's own
# files in BACKING stay writable by their owner only.
. "$(dirname "$0")/posix.sh"

# modes DIR: as root, creates and mkdirs under several umasks; the modes.
modes() {
	python3 - "$1" <<'PY'
import os, sys
d = sys.argv[1]
for k, (um, mode, kind) in enumerate([
        (0o000, 0o666, "f"), (0o000, 0o4777, "f"), (0o000, 0o2755, "f"),
        (0o022, 0o666, "f"), (0o077, 0o640, "f"), (0o002, 0o777, "f"),
        (0o000, 0o777, "d"), (0o000, 0o1777, "d"), (0o027, 0o777, "d"),
        (0o000, 0o2775, "d")]):
    os.umask(um)
    p = f"{d}/{kind}{k}"
    if kind == "f":
        os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
        with open(p, "wb") as f:
            f.write(b"content %d\n" % k)
    else:
        os.mkdir(p, mode)
    print(f"{kind}{k} umask {um:03o} mode {mode:04o}: "
          f"{os.stat(p).st_mode & 0o7777:04o}")
PY
}

# user_modes DIR: the same as another user, from a shell, in a 1777 dir.
user_modes() {
	mkdir -m 1777 "$1/pub"
	px_as "$PX_UID" sh -c 'cd "$1/pub" && umask 0 && : >a && mkdir b &&
		umask 002 && : >c && mkdir d && umask 077 && : >e && mkdir f &&
		stat -c "%n %a" a b c d e f' _ "$1"
}

for kind in sign nosign; do
	px_start "$kind"
	want=$(modes "$N")
	got=$(modes "$M")
	note "$want"
	px_same "modes as root ($kind)" "$want" "$got"
	px_same "BACKING's modes ($kind)" "$(cd "$N" && stat -c "%n %a" [fd]?)" \
		"$(cd "$B" && stat -c "%n %a" [fd]?)"
	px_same "modes as uid $PX_UID ($kind)" "$(user_modes "$N")" \
		"$(user_modes "$M")"
	if [ "$kind" = sign ]; then
		for f in f0 f1 f3 f5; do ob_ok "$f"; done
		# what the daemon made for itself (signatures) is not writable
		# by group or others, whatever umask the writers had
		extra=$(find "$B" -type f -perm /022 ! -path "$B/f?" \
			! -path "$B/pub/?" -printf '%P %m\n')
		[ -z "$extra" ] || fail "group/other-writable daemon files: $extra"
	fi
	ob_stop
done
