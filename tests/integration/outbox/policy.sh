#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Per-subtree keys and writers (issue 5, item 3): firmware/** is signed by
# key A and only group release may write there; docs/** is signed by key
# B and anyone may write. Both keys live in one SoftHSM store under one
# CA (init --join), so one daemon uses both. A writer outside release
# gets EACCES in firmware/ and one policy-denied record naming it.
. "$(dirname "$0")/common.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root to add a group and a user"
command -v setpriv >/dev/null && command -v useradd >/dev/null ||
	skip "no setpriv/useradd"
sfs_need_fuse
A=$SFS_TMP/keyA KB=$SFS_TMP/keyB
sfs_init "$A"
"$SIGNETFS" init "$KB" --join "$A" --label docs >"$SFS_TMP/initB.log" 2>&1 ||
	{ cat "$SFS_TMP/initB.log" >&2; fail "init --join"; }
fpr() { openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }
fa=$(fpr "$A/signer.pem") fb=$(fpr "$KB/signer.pem")
[ "$fa" != "$fb" ] || fail "keys A and B have one certificate"
uri() { sed -n 's/^key = //p' "$1/signetfs.conf"; }

# A group release and a user in it (supplementary), removed at exit.
ug=sfsrel$$
made_group=0
getent group release >/dev/null || { groupadd release && made_group=1; }
useradd -M -N -g nogroup -G release -s /usr/sbin/nologin "$ug" ||
	fail "useradd"
trap 'userdel "$ug" 2>/dev/null; [ $made_group = 0 ] || groupdel release; ob_cleanup' EXIT
rel_uid=$(id -u "$ug")
as_release() { setpriv --reuid "$ug" --regid nogroup --init-groups "$@"; }
as_outsider() { setpriv --reuid 4242 --regid 4242 --clear-groups "$@"; }

chmod 0755 "$SFS_TMP"
# BACKING stays out of other users' reach (strict modes)
mkdir -m 0700 "$SFS_TMP/priv"
OB_BACKING=$SFS_TMP/priv/backing
mkdir -p "$OB_BACKING/firmware" "$OB_BACKING/docs"
chmod 1777 "$OB_BACKING/firmware" "$OB_BACKING/docs"
TOK=$A # ob_start: A's config is the base (trust, SoftHSM store)
ob_start -o allow_other "$(printf '%s\n' \
	'[rule firmware/**]' "key = $(uri "$A")" "pin-file = $A/pin" \
	"cert = $A/signer.pem" 'writers-gid = release' \
	'[rule docs/**]' "key = $(uri "$KB")" "pin-file = $KB/pin" \
	"cert = $KB/signer.pem" 'writers-uid = *')"
head -c 300000 /dev/urandom >"$SFS_TMP/fw.bin"
chmod 0644 "$SFS_TMP/fw.bin"
signer_of() {
	"$SIGNETFS" verify --config "$CONF" --root "$B" --json "$B/$1" |
		python3 -c 'import json,sys; r=json.loads(sys.stdin.readline()); print(r.get("signer_sha256") or r.get("signer") or r)'
}

# firmware/: the release user's file is signed by A
as_release cp "$SFS_TMP/fw.bin" "$M/firmware/fw.bin" || fail "release user refused"
ob_ok firmware/fw.bin
[ "$(ob_xattr "$M/firmware/fw.bin" signer)" = "$fa" ] || fail "firmware signer xattr"
[ "$(stat -c %u "$B/firmware/fw.bin")" = "$rel_uid" ] || fail "owner"
ob_record_writer sign firmware/fw.bin "$rel_uid" /usr/bin/cp
# docs/: anyone, signed by B
as_outsider sh -c "echo doc >'$M/docs/readme.txt'" || fail "docs write refused"
as_release cp "$SFS_TMP/fw.bin" "$M/docs/by-release" || fail "docs by release"
echo root-doc >"$M/docs/root.txt"
for f in readme.txt by-release root.txt; do
	ob_ok "docs/$f"
	[ "$(ob_xattr "$M/docs/$f" signer)" = "$fb" ] || fail "docs/$f signer"
done
# an outsider in firmware/: EACCES, nothing created, one record naming it
if as_outsider cp "$SFS_TMP/fw.bin" "$M/firmware/evil.bin" 2>"$SFS_TMP/err"; then
	fail "outsider wrote firmware"
fi
grep -q "Permission denied" "$SFS_TMP/err" || fail "not EACCES: $(cat "$SFS_TMP/err")"
[ ! -e "$B/firmware/evil.bin" ] && [ ! -e "$B/firmware/evil.bin.sig" ] ||
	fail "outsider file exists"
ob_record_writer policy-denied firmware/evil.bin 4242 /usr/bin/cp 1
# root is no release member either
ob_errno EACCES "open('$M/firmware/root.bin', 'w')"
# forgeries: B's signature on a firmware file, a file moved across rules
ob_forge_flip firmware/fw.bin
ob_forge_move firmware/fw.bin firmware/other.bin
ob_records_match_stats
ob_stop
ob_audit_verify
# signetfs verify --json names the signer: A for firmware, B for docs
signer_of firmware/fw.bin | grep -qi "$fa" || fail "verify --json signer: $(signer_of firmware/fw.bin)"
signer_of docs/readme.txt | grep -qi "$fb" || fail "verify --json docs signer"
