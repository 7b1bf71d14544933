#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every modifying call fails with EROFS and BACKING stays as it was; the
# twin: reading the same files works.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup

mkdir -p "$B/d"
printf 'keep me\n' >"$B/f"
ib_sign f
(cd "$B" && find . -printf '%p %s %T@\n' | sort) >"$T/before"

ib_mount
visible f
erofs() {
	local err
	err=$("$@" 2>&1) && fail "succeeded: $*"
	case $err in
	*"Read-only file system"*) ;;
	*) fail "$*: expected EROFS, got: $err" ;;
	esac
}
erofs touch "$M/new"
erofs sh -c "echo x >'$M/f'"
erofs sh -c "echo x >>'$M/f'"
erofs truncate -s 0 "$M/f"
erofs mkdir "$M/nd"
erofs rmdir "$M/d"
erofs rm -f "$M/f"
erofs mv "$M/f" "$M/g"
erofs ln -s f "$M/l"
erofs ln "$M/f" "$M/h"
erofs chmod 600 "$M/f"
erofs chown 1:1 "$M/f"
erofs touch -d @0 "$M/f"
erofs setfattr -n user.x -v y "$M/f"
erofs setfattr -x user.signetfs.sha256 "$M/f"
erofs mkfifo "$M/p"
erofs python3 -c 'import os,sys; os.open(sys.argv[1], os.O_RDWR)' "$M/f"
erofs fallocate -l 4096 "$M/f"
(cd "$B" && find . -printf '%p %s %T@\n' | sort) >"$T/after"
cmp -s "$T/before" "$T/after" || fail "BACKING changed"
visible f
ib_umount
