#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Symlinks, hard links, device nodes and FIFOs are refused with EPERM.
. "$(dirname "$0")/common.sh"
ob_start
echo data >"$M/f"
ob_errno EPERM "os.symlink('f', '$M/s')"
ob_errno EPERM "os.link('$M/f', '$M/h')"
ob_errno EPERM "os.mkfifo('$M/p')"
ob_errno EPERM "os.mknod('$M/n', 0o600 | __import__('stat').S_IFCHR, os.makedev(1, 3))"
ob_errno EPERM "os.mknod('$M/r', 0o600 | __import__('stat').S_IFREG)"
[ "$(ls "$B" | sort | tr '\n' ' ')" = "f f.sig " ] || fail "left: $(ls "$B")"
ob_ok f
ob_forge_move f h
ob_stop
