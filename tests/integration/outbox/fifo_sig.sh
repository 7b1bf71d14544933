#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A FIFO (or device) named NAME.sig in BACKING blocks nothing: rename,
# the status xattr, fsync and other writers' closes go on (before: a
# rename opened the FIFO and blocked forever holding the namespace lock,
# so every close in the mount waited too). `timeout` only detects a hang.
. "$(dirname "$0")/common.sh"
ob_start
echo data >"$B/f"
mkfifo "$B/f.sig"
echo data >"$B/g"
mknod "$B/g.sig" c 1 5 # /dev/zero
timeout -s KILL 10 mv "$M/f" "$M/f2" || fail "mv over a FIFO .sig hung or failed"
timeout -s KILL 10 mv "$M/g" "$M/g2" || fail "mv over a device .sig hung or failed"
ob_bad f2
ob_bad g2
# the status of a file whose .sig is a FIFO
mkfifo "$B/h.sig"
echo data >"$B/h"
st=$(timeout -s KILL 10 getfattr --only-values -n user.signetfs.status "$M/h") ||
	fail "status xattr hung"
case "$st" in signed) fail "h reported signed" ;; esac
# fsync of a file whose .sig is a FIFO, and others' closes meanwhile
timeout -s KILL 10 python3 -c "
import os; fd = os.open('$M/h', os.O_RDONLY); os.fsync(fd); os.close(fd)" ||
	fail "fsync hung"
timeout -s KILL 10 sh -c "echo ok >'$M/other'" || fail "a close hung"
ob_ok other
ob_stop
