#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Bytes are signed only when the outbox can vouch for all of them: the
# file was empty when this mount began changing it, or carried a signature
# of this mount's key for its path. Before, the writers since the last
# signature lived only in the daemon's memory of the inode: once the
# kernel forgot the inode, or the daemon restarted, an allowed writer's
# append signed a refused or a killed writer's bytes (outside review,
# F3). Twins: a signed file is appended to across a restart and signed;
# emptying a refused file makes it writable again.
. "$(dirname "$0")/common.sh"
ob_start
head -c 100000 /dev/urandom >"$SFS_TMP/src"

# (1) a killed writer's partial file, then a daemon restart, then an append
python3 - "$M/k" <<'PY' &
import os, signal, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"partial")
os.fsync(fd)
os.kill(os.getpid(), signal.SIGKILL)
PY
wait $! || true
case "$(ob_xattr "$M/k" status)" in
"failed: writer killed"*) ;;
*) fail "k status: $(ob_xattr "$M/k" status)" ;;
esac
echo signed >"$M/s"
ob_ok s
ob_records_match_stats
SFS_LOG_ALLOW='not signing' ob_stop
ob_start
ob_errno EIO "f = open('$M/k', 'ab'); f.write(b'+more'); f.close()"
ob_bad k
case "$(ob_xattr "$M/k" status)" in
"failed: earlier content not vouched for"*) ;;
*) fail "k after restart: $(ob_xattr "$M/k" status)" ;;
esac
# twin: the signed file takes an append across the restart
echo appended >>"$M/s"
ob_ok s
[ "$(cat "$B/s")" = "$(printf 'signed\nappended')" ] || fail "s content"

# (2) refused by policy (not signed), then the kernel forgets the inode
printf 'refused bytes\n' >"$B/r" # as a refused writer would have left it
sync
echo 2 >/proc/sys/vm/drop_caches
ob_errno EIO "f = open('$M/r', 'ab'); f.write(b'allowed append'); f.close()"
ob_bad r
echo 2 >/proc/sys/vm/drop_caches
ob_errno EIO "os.truncate('$M/r', 3)"
ob_bad r
# emptying it makes it the writer's file: signed
: >"$M/r"
echo fresh >>"$M/r"
ob_ok r
[ "$(cat "$B/r")" = fresh ] || fail "r content"
SFS_LOG_ALLOW='not signing|earlier content' ob_stop
ob_audit_verify
