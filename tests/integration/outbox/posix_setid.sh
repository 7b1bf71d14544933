#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Issue 13, POSIX defect 3 (pjdfstest chmod/12.t): a user who may write a
# set-user-ID or set-group-ID file but does not own it writes it, and the
# kernel clears those bits, as natively. Before, the write failed with
# EPERM and the bits stayed: the kernel asks for the bits to go with a
# SETATTR of the mode sent with the writer's credentials (libfuse 3.14
# never offers it FUSE_HANDLE_KILLPRIV), and the daemon made that chmod as
# the writer, who is not the owner. Twins: a chmod by a non-owner is still
# EPERM (also one that would only clear the bits), root's writes keep
# the bits, and a truncate by a non-owner clears them too.
. "$(dirname "$0")/posix.sh"

# steps DIR: root's files, another user's writes; statuses and modes.
steps() {
	local d=$1 m
	for m in 4777 2777 6777 6755 4775; do
		printf 'root\n' >"$d/s$m"
		chmod "$m" "$d/s$m"
		echo "write $m: $(px_rc px_as "$PX_UID" sh -c 'echo x >>"$1"' _ \
			"$d/s$m") -> $(stat -c %a "$d/s$m")"
	done
	printf 'root\n' >"$d/t"
	chmod 6777 "$d/t"
	echo "truncate: $(px_rc px_as "$PX_UID" truncate -s 2 "$d/t")" \
		"-> $(stat -c '%a %s' "$d/t")"
	printf 'root\n' >"$d/c"
	chmod 6777 "$d/c"
	echo "chmod by non-owner: $(px_rc px_as "$PX_UID" chmod 0777 "$d/c")" \
		"$(px_rc px_as "$PX_UID" chmod u-s "$d/c") -> $(stat -c %a "$d/c")"
	echo "root writes: $(px_rc sh -c 'echo r >>"$1"' _ "$d/c")" \
		"-> $(stat -c %a "$d/c")"
	chown "$PX_UID" "$d/c"
	echo "chown: $(stat -c %a "$d/c")"
	chmod 6777 "$d/c"
	echo "owner writes: $(px_rc px_as "$PX_UID" sh -c 'echo o >>"$1"' _ \
		"$d/c") -> $(stat -c %a "$d/c")"
}

for kind in sign nosign; do
	px_start "$kind"
	want=$(steps "$N")
	note "$want"
	got=$(steps "$M")
	px_same "steps ($kind)" "$want" "$got"
	for f in s4777 s2777 s6777 t c; do
		cmp "$N/$f" "$B/$f" || fail "$f content ($kind)"
		[ "$kind" = nosign ] || ob_ok "$f"
	done
	ob_stop
done
