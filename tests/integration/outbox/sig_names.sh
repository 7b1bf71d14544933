#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# NAME.sig is visible and readable through the outbox but cannot be
# created, written, truncated, renamed to or from, or chmod'ed (EPERM).
. "$(dirname "$0")/common.sh"
ob_start
echo data >"$M/f"
cmp "$M/f.sig" "$B/f.sig"
ls "$M" | grep -qx f.sig || fail "f.sig not listed"
ob_errno EPERM "open('$M/new.sig', 'wb')"
ob_errno EPERM "open('$M/f.sig', 'r+b')"
ob_errno EPERM "open('$M/f.sig', 'ab')"
ob_errno EPERM "os.truncate('$M/f.sig', 0)"
ob_errno EPERM "os.chmod('$M/f.sig', 0o600)"
ob_errno EPERM "os.mkdir('$M/d.sig')"
ob_errno EPERM "os.rename('$M/f', '$M/g.sig')"
ob_errno EPERM "os.rename('$M/f.sig', '$M/g')"
ob_errno EPERM "os.setxattr('$M/f', 'user.signetfs.status', b'signed')"
[ ! -e "$B/new.sig" ] && [ ! -e "$B/g.sig" ] && [ ! -e "$B/d.sig" ] ||
	fail "a refused name exists"
ob_ok f
ob_forge_flip f
ob_stop
