#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# FIFOs, sockets and device nodes are invisible and never block the
# daemon, even with a .sig next to them or a FIFO posing as a .sig; the
# signed file beside them is served.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup

printf 'regular\n' >"$B/regular"
printf 'was a file\n' >"$B/pipe"
printf 'sig is a fifo\n' >"$B/fifosig"
ib_sign regular pipe fifosig
rm "$B/pipe"
mkfifo "$B/pipe"
rm "$B/fifosig.sig"
mkfifo "$B/fifosig.sig"
mknod "$B/null" c 1 3
python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
	"$B/sock"

ib_mount
for f in pipe pipe.sig fifosig fifosig.sig null sock; do
	timeout 10 stat "$M/$f" >/dev/null 2>&1 && fail "$f is visible"
	timeout 10 cat "$M/$f" >/dev/null 2>&1 && fail "$f can be read"
	[ $? -ne 124 ] || fail "reading $f hung"
done
timeout 10 ls -la "$M" >"$T/ls" || fail "listing hung or failed"
for f in pipe fifosig null sock; do
	! listed "$f" || fail "$f is listed"
done
visible regular
visible regular.sig
ib_umount
