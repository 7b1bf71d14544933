#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A signer certificate with basicConstraints CA:TRUE, codeSigning and
# digitalSignature, for the token's own key and issued by the trusted CA,
# signs; signetfs verify refuses the signature (signer-is-ca). The twin:
# the same key with an end-entity certificate of the same extensions is
# accepted.
. "$(dirname "$0")/../lib.sh"
[ -e /usr/lib/softhsm/libsofthsm2.so ] || skip "no SoftHSM"

t=$SFS_TMP
sfs_init "$t/k"
k=$t/k
# certify KIND: the token key's certificate re-issued by the CA with
# basicConstraints KIND (CA:TRUE or CA:FALSE) and the code-signing usages.
certify() {
	printf '[e]\nbasicConstraints = critical,%s\nkeyUsage = critical,digitalSignature\nextendedKeyUsage = codeSigning\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n' \
		"$1" >"$t/$1.ext"
	# A request from a throwaway key; -force_pubkey puts the token's in.
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$t/throwaway.key" -subj "/CN=signer $1" \
		-out "$t/$1.csr" 2>"$t/x509.log" &&
	openssl x509 -req -in "$t/$1.csr" -CA "$k/ca.pem" -CAkey "$k/ca.key" \
		-force_pubkey "$t/pub.pem" -extfile "$t/$1.ext" -extensions e \
		-set_serial "$2" -days 30 -out "$t/$1.pem" 2>>"$t/x509.log" ||
		{ cat "$t/x509.log" >&2; fail "certify $1"; }
}
openssl x509 -in "$k/signer.pem" -noout -pubkey >"$t/pub.pem"
certify CA:TRUE 901
certify CA:FALSE 902
openssl x509 -in "$t/CA:TRUE.pem" -noout -text | grep -q 'CA:TRUE' ||
	fail "the CA certificate is not one"
mkdir "$t/d"
for kind in CA:TRUE CA:FALSE; do
	printf 'payload\n' >"$t/d/$kind"
	SOFTHSM2_CONF=$k/softhsm2.conf "$SIGNETFS" sign \
		--module /usr/lib/softhsm/libsofthsm2.so \
		--key "pkcs11:token=signetfs;object=signing-key;type=private" \
		--pin-file "$k/pin" --cert "$t/$kind.pem" --root "$t/d" \
		"$t/d/$kind" || fail "sign with the $kind certificate"
done
rc=0
"$SIGNETFS" verify --trust "$k/ca.pem" --root "$t/d" --json "$t/d/CA:TRUE" \
	>"$t/out" || rc=$?
[ "$rc" -eq 1 ] || { cat "$t/out"; fail "CA signer: exit $rc, want 1"; }
grep -q '"reason":"signer-is-ca"' "$t/out" || fail "CA signer: $(cat "$t/out")"
"$SIGNETFS" verify --trust "$k/ca.pem" --root "$t/d" "$t/d/CA:FALSE" \
	>"$t/out" || fail "end-entity twin refused: $(cat "$t/out")"
echo "signer_ca: ok"
