#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issue 16, item 5: stock OpenSSL. `openssl cms -verify` still accepts a
# stamped .sig (the token is an unsigned attribute: the signature is
# unchanged), and the token, cut out with the commands of
# docs/signature-format.md ("Checking the token with stock OpenSSL"),
# passes `openssl ts -verify` over the signature value. Twins: the token
# against another file's signature value, and against another CA.
# Then tsa-url per [rule] (a dead TSA for one subtree), and tsa-url
# without tsa-trust (refused before anything is signed).
. "$(dirname "$0")/common.sh"

K=$SFS_TMP/k
tsa_init "$K"
tsa_start "$K"
CONF=$K/signetfs.conf
B=$SFS_TMP/w
ROOT=$B
mkdir -p "$B"
echo "interop one" >"$B/one"
echo "interop two" >"$B/two"
"$SIGNETFS" sign --config "$CONF" --root "$B" "$B/one" "$B/two" || fail "sign"
cp "$B/one.sig" "$SFS_TMP/one.stamped"
stamped "$B/one" || fail "not stamped"

# sign --sync: the stamped .sig replaces the signed one as durably (each
# written with an fsync before its rename: two file fsyncs). Twin: without
# --sync, none.
echo "durable" >"$B/three"
echo "plain" >"$B/four"
file_fsyncs() { grep -c "fsync([0-9]*<$B/[^>]*\.sig>)" "$1" || true; }
strace -f -y -e trace=fsync,fdatasync -o "$SFS_TMP/sync.st" \
	"$SIGNETFS" sign --config "$CONF" --root "$B" --sync "$B/three" ||
	fail "sign --sync"
stamped "$B/three" || fail "three not stamped"
[ "$(file_fsyncs "$SFS_TMP/sync.st")" -eq 2 ] ||
	fail "sign --sync: $(file_fsyncs "$SFS_TMP/sync.st") .sig fsyncs, want 2 (signed, stamped)"
strace -f -y -e trace=fsync,fdatasync -o "$SFS_TMP/nosync.st" \
	"$SIGNETFS" sign --config "$CONF" --root "$B" "$B/four" || fail "sign"
[ "$(file_fsyncs "$SFS_TMP/nosync.st")" -eq 0 ] ||
	fail "sign without --sync fsynced a .sig"

openssl cms -verify -binary -inform DER -in "$B/one.sig" -content "$B/one" \
	-CAfile "$K/ca.pem" -purpose any -out /dev/null 2>"$SFS_TMP/cms.err" ||
	fail "openssl cms -verify: $(cat "$SFS_TMP/cms.err")"

# cut SIG: token.der and sigvalue.bin of SIG, as the docs do it.
cut() {
	(
		cd "$SFS_TMP"
		sig=$1
		# --- from docs/signature-format.md ---
		openssl asn1parse -inform DER -in "$sig" >sig.asn1
		tok=$(awk '/:id-smime-aa-timeStampToken/ { n = NR + 2 } NR == n' sig.asn1)
		val=$(awk '/cont \[ 1 \]/ && p ~ /prim: OCTET STRING/ { print p } { p = $0 }' sig.asn1)
		field() { echo "$1" | sed -E "s/.*$2= *([0-9]+).*/\1/"; }
		o=${tok%%:*} hl=$(field "$tok" hl) l=$(field "$tok" ' l')
		tail -c +$((o + 1)) "$sig" | head -c $((hl + l)) >token.der
		o=${val%%:*} hl=$(field "$val" hl) l=$(field "$val" ' l')
		tail -c +$((o + hl + 1)) "$sig" | head -c "$l" >sigvalue.bin
		# ---
	)
}
cut "$B/one.sig"
[ -s "$SFS_TMP/token.der" ] && [ -s "$SFS_TMP/sigvalue.bin" ] || fail "nothing cut out"
openssl ts -verify -data "$SFS_TMP/sigvalue.bin" -in "$SFS_TMP/token.der" \
	-token_in -CAfile "$K/ca.pem" >"$SFS_TMP/ts.out" 2>&1 ||
	fail "openssl ts -verify: $(cat "$SFS_TMP/ts.out")"
grep -q "Verification: OK" "$SFS_TMP/ts.out" || fail "$(cat "$SFS_TMP/ts.out")"
openssl ts -reply -in "$SFS_TMP/token.der" -token_in -text -token_out \
	>"$SFS_TMP/tst.txt" 2>&1 || fail "openssl ts -reply -text"
grep -q "Nonce:" "$SFS_TMP/tst.txt" || fail "the token has no nonce"

# Twin: the token is not over the other file's signature value.
mv "$SFS_TMP/token.der" "$SFS_TMP/token.one"
cut "$B/two.sig"
if openssl ts -verify -data "$SFS_TMP/sigvalue.bin" -in "$SFS_TMP/token.one" \
	-token_in -CAfile "$K/ca.pem" >/dev/null 2>&1; then
	fail "openssl ts -verify accepts one's token over two's signature"
fi
# Twin: another CA is not the TSA's.
"$SIGNETFS" init "$SFS_TMP/other" >/dev/null 2>&1 || fail "init other"
if openssl ts -verify -data "$SFS_TMP/sigvalue.bin" -in "$SFS_TMP/token.der" \
	-token_in -CAfile "$SFS_TMP/other/ca.pem" >/dev/null 2>&1; then
	fail "openssl ts -verify accepts an untrusted TSA"
fi
# And the same twins for signetfs: one's token moved into two's .sig.
python3 - "$SFS_TMP/one.stamped" "$B/two.sig" "$SFS_TMP/moved.sig" <<'PY' || fail "graft"
import sys
one, two = (open(p, 'rb').read() for p in sys.argv[1:3])
def tlv(b, i):
    """(tag, start of body, end) of the DER element at i."""
    n = b[i + 1]
    s = i + 2
    if n & 0x80:
        k = n & 0x7f
        n = int.from_bytes(b[s:s + k], 'big')
        s += k
    return b[i], s, s + n
def wrap(tag, body):
    n = len(body)
    h = bytes([n]) if n < 0x80 else \
        bytes([0x80 | (n.bit_length() + 7) // 8]) + \
        n.to_bytes((n.bit_length() + 7) // 8, 'big')
    return bytes([tag]) + h + body
def children(b):
    tag, s, e = tlv(b, 0)
    out, i = [], s
    while i < e:
        _, _, j = tlv(b, i)
        out.append(b[i:j])
        i = j
    return tag, out
# ContentInfo / [0] / SignedData / signerInfos SET / SignerInfo: each the
# last element of the one above; the token attribute [1] ends SignerInfo.
def descend(b, depth):
    tag, kids = children(b)
    if depth == 0:
        return tag, kids
    return descend(kids[-1], depth - 1)
_, si_one = descend(one, 4)
assert si_one[-1][0] == 0xa1, 'no unsigned attributes in one'
def graft(b, depth):
    tag, kids = children(b)
    if depth == 0:
        if kids[-1][0] == 0xa1:  # two's own token goes
            kids = kids[:-1]
        return wrap(tag, b''.join(kids) + si_one[-1])
    return wrap(tag, b''.join(kids[:-1]) + graft(kids[-1], depth - 1))
open(sys.argv[3], 'wb').write(graft(two, 4))
PY
cp "$SFS_TMP/moved.sig" "$B/two.sig"
[ "$(reason "$B/two")" = tsa-imprint-mismatch ] ||
	fail "moved token: $(reason "$B/two")"

# tsa-url per [rule]: a subtree whose TSA does not answer is signed and
# left unstamped (exit 1, naming it), the rest of the same run is stamped.
mkdir -p "$B/dead"
echo "rule one" >"$B/top"
echo "rule two" >"$B/dead/x"
cp "$CONF" "$SFS_TMP/rule.conf"
printf '[rule dead/**]\ntsa-url = http://127.0.0.1:9/\n' >>"$SFS_TMP/rule.conf"
if "$SIGNETFS" sign --config "$SFS_TMP/rule.conf" --root "$B" "$B/top" "$B/dead/x" \
	>"$SFS_TMP/rule.out" 2>&1; then
	fail "sign exits 0 although dead/'s TSA did not answer"
fi
grep -q "dead/x: signed, but not timestamped" "$SFS_TMP/rule.out" ||
	fail "sign with a rule's dead TSA: $(cat "$SFS_TMP/rule.out")"
grep -q "/top: signed, but not timestamped" "$SFS_TMP/rule.out" &&
	fail "top named as unstamped: $(cat "$SFS_TMP/rule.out")"
stamped "$B/top" || fail "top (global tsa-url) not stamped"
! stamped "$B/dead/x" || fail "dead/x stamped by another rule's TSA"
[ "$(reason "$B/dead/x")" = ok ] || fail "dead/x not signed: $(reason "$B/dead/x")"
# tsa-url without tsa-trust: refused before anything is signed (usage).
echo "no trust" >"$B/nt"
grep -v '^tsa-trust' "$CONF" >"$SFS_TMP/notrust.conf"
st=0
"$SIGNETFS" sign --config "$SFS_TMP/notrust.conf" --root "$B" "$B/nt" \
	2>"$SFS_TMP/nt.err" || st=$?
[ "$st" = 2 ] || fail "tsa-url without tsa-trust: exit $st"
grep -q "tsa-url needs tsa-trust" "$SFS_TMP/nt.err" || fail "$(cat "$SFS_TMP/nt.err")"
[ ! -e "$B/nt.sig" ] || fail "signed although the config is refused"
tsa_stop
echo "interop: openssl cms and openssl ts accept, the twins are refused"
