#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Signed files (and their .sig) are listed and served byte-identical, at
# any offset, with their signature's facts as xattrs; the twin with one
# flipped byte in its last block is not there at all.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup

mkdir -p "$B/pkg/deep" "$B/emptydir"
printf 'hello\n' >"$B/hello.txt"
mkdata "$B/pkg/blob" $((3 * 131072 + 12345))
mkdata "$B/pkg/two-blocks" $((2 * 131072))
: >"$B/pkg/empty"
printf 'x' >"$B/pkg/deep/a name with spaces"
mkdata "$B/pkg/twin" $((3 * 131072 + 12345))
ib_sign hello.txt pkg/blob pkg/two-blocks pkg/empty \
	"pkg/deep/a name with spaces" pkg/twin
flip pkg/twin $((3 * 131072 + 100))

ib_mount
for f in hello.txt pkg/blob pkg/two-blocks pkg/empty \
	"pkg/deep/a name with spaces"; do
	visible "$f"
	visible "$f.sig"
done
hidden pkg/twin
hidden pkg/twin.sig
[ -d "$M/emptydir" ] || fail "an empty directory is not shown"

# Exactly these names, nothing else.
want=$(printf '%s\n' blob blob.sig deep empty empty.sig two-blocks \
	two-blocks.sig)
[ "$(ls "$M/pkg")" = "$want" ] || fail "pkg lists: $(ls "$M/pkg" | tr '\n' ' ')"

# Reads at offsets that straddle blocks return the same bytes.
for spec in "1000 131 5" "4096 31 3" "65536 1 4" "7 18000 3000"; do
	set -- $spec
	cmp -s <(dd if="$M/pkg/blob" bs="$1" skip="$2" count="$3" status=none) \
		<(dd if="$B/pkg/blob" bs="$1" skip="$2" count="$3" status=none) ||
		fail "partial read bs=$1 skip=$2 count=$3 differs"
done

# xattrs: the signed digest, the signer, the signing time.
sha=$(sha256sum <"$B/hello.txt" | cut -d' ' -f1)
[ "$(getfattr --only-values -n user.signetfs.sha256 "$M/hello.txt")" = "$sha" ] ||
	fail "user.signetfs.sha256"
fp=$(openssl x509 -in "$T/tok/signer.pem" -outform DER | sha256sum | cut -d' ' -f1)
getfattr --only-values -n user.signetfs.signer "$M/hello.txt" | grep -q "^$fp " ||
	fail "user.signetfs.signer lacks the signer fingerprint"
getfattr --only-values -n user.signetfs.signed_at "$M/hello.txt" |
	grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' ||
	fail "user.signetfs.signed_at is not RFC 3339"
getfattr -d "$M/hello.txt" | grep -c user.signetfs. | grep -qx 3 ||
	fail "listxattr does not list three attributes"

# End to end: what the mount serves verifies downstream, both ways.
sfs_verify_both "$CONF" "$M" "$M/pkg/blob" "$T/tok/ca.pem"
ib_umount
