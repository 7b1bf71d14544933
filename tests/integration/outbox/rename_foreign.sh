#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Rename carries over only a signature this mount's own key made for the
# source path. A file planted in BACKING with a valid signature by another
# certificate of the same CA (init --join) is not re-signed with the
# mount's key when renamed through it (before: any trusted signature was
# carried, writer attribute and all, so a second key could launder bytes
# into the mount's key). The mount's own signatures are still carried.
. "$(dirname "$0")/common.sh"
sfs_need_fuse
TOK=$SFS_TMP/tok
sfs_init "$TOK"
"$SIGNETFS" init "$SFS_TMP/other" --join "$TOK" --label other \
	>"$SFS_TMP/other.log" 2>&1 || { cat "$SFS_TMP/other.log" >&2; fail "init --join"; }
ob_start
# planted: bytes and a .sig by the other key, valid for the path "planted"
printf 'planted by another key\n' >"$B/planted"
( cd "$B" && "$SIGNETFS" sign --config "$SFS_TMP/other/signetfs.conf" planted ) \
	>/dev/null 2>&1 || fail "sign with the other key"
ob_ok planted # trusted: same CA
mv "$M/planted" "$M/moved" || fail "mv planted"
ob_bad moved
[ ! -e "$B/moved.sig" ] || fail "moved.sig exists: re-signed with the mount's key"
case "$(ob_xattr "$M/moved" status)" in
unsigned|failed:*) ;;
*) fail "moved status: $(ob_xattr "$M/moved" status)" ;;
esac
ob_records_is sign moved 0 || fail "a sign record for moved"
# twin: the mount's own signature is carried, with its writer
echo own >"$M/own"
ob_ok own
mv "$M/own" "$M/own2" || fail "mv own"
ob_ok own2
ob_records_is sign own2 1 || fail "own2 not re-signed"
ob_stop
ob_audit_verify
