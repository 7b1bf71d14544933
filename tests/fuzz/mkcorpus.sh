#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Regenerates the fuzz seed corpora and the fuzz trust store:
#   tests/fuzz/mkcorpus.sh BUILD/src/signetfs
# data/ca.pem = the golden v1 CA + the CA of the keys made here, so seeds
# signed here reach the signature and path checks of fuzz_verify.
set -euo pipefail
S=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
golden=$here/../data/golden/v1
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
c=$here/corpus
rm -rf "$c"; mkdir -p "$c"/{fuzz_verify,fuzz_config,fuzz_path,fuzz_json,fuzz_audit} "$here/data"

"$S" init "$tmp/ec" >/dev/null
"$S" init --key-type rsa-3072 "$tmp/rsa" >/dev/null
cat "$golden/ca.pem" "$golden-tsa/ca.pem" "$tmp/ec/ca.pem" "$tmp/rsa/ca.pem" \
	>"$here/data/ca.pem"
# The TSA trust store: the stamped golden fixture's CA (it issued the TSA).
cp "$golden-tsa/ca.pem" "$here/data/tsa-ca.pem"

# Signatures over dir/hello.txt (the path fuzz_verify expects) and others.
mkdir -p "$tmp/tree/dir" "$tmp/tree/other"
echo hello >"$tmp/tree/dir/hello.txt"
printf '\377\376 not utf-8\n' >"$tmp/tree/other/$(printf 'n\303\251\377')"
: >"$tmp/tree/other/empty"
sign() { # KEYDIR DIGEST NAME FILE
	sed "s/^\[signetfs\]$/[signetfs]\ndigest = $2/" "$1/signetfs.conf" >"$1/d.conf"
	(cd "$tmp/tree" && "$S" sign --config "$1/d.conf" "$4" >/dev/null)
	cp "$tmp/tree/$4.sig" "$c/fuzz_verify/$3"
}
sign "$tmp/ec" sha256 ec-sha256 dir/hello.txt
sign "$tmp/ec" sha384 ec-sha384 dir/hello.txt
sign "$tmp/ec" sha512 ec-sha512 dir/hello.txt
sign "$tmp/rsa" sha256 rsa-sha256 dir/hello.txt
sign "$tmp/ec" sha256 ec-other-path "other/$(printf 'n\303\251\377')"
sign "$tmp/ec" sha256 ec-empty other/empty
cp "$golden/tree/dir/hello.txt.sig" "$c/fuzz_verify/golden-v1"
# With a signetfs-version (its attributes parse before the chain is met).
cp "$golden-version/tree/dir/hello.txt.sig" "$c/fuzz_verify/golden-v1-version"
cp "$golden-tsa/tree/dir/hello.txt.sig" "$c/fuzz_verify/golden-v1-tsa"
# Forgery twins: truncated, trailing bytes.
head -c 200 "$c/fuzz_verify/ec-sha256" >"$c/fuzz_verify/truncated"
{ cat "$c/fuzz_verify/ec-sha256"; printf '\0'; } >"$c/fuzz_verify/trailing"

# Audit logs: the ec key's log (records and signed checkpoints), and twins.
cp "$tmp/ec/audit.log" "$c/fuzz_audit/sealed"
head -n 2 "$tmp/ec/audit.log" >"$c/fuzz_audit/unsealed"
sed '1s/"size":[0-9]*/"size":7/' "$tmp/ec/audit.log" >"$c/fuzz_audit/edited"

# Configs: what init writes, and the keys the parser knows.
cp "$tmp/ec/signetfs.conf" "$c/fuzz_config/init"
cp "$tmp/rsa/signetfs.conf" "$c/fuzz_config/init-rsa"
cat >"$c/fuzz_config/full" <<'CONF'
[signetfs]
module = /usr/lib/softhsm/libsofthsm2.so
softhsm-conf = softhsm2.conf
key = pkcs11:token=t;object=k;type=private?pin-source=file:pin
pin-file = pin
cert = signer.pem
chain = chain.pem
trust = ca.pem
trust-dir = /etc/ssl/certs
crl = crl.pem
validity = signing-time
digest = sha384
audit-log = audit.log
audit-sync = yes
sync-sig = true
state-dir = /var/lib/signetfs
[outbox]
writers-uid = 0, 1000, 65534
writers-gid = 27
sign-nonzero-exit = no
[inbox]
mode = audit
path-binding = yes
signer-sha256 = 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
CONF
printf '[signetfs]\nkey=\n[inbox]\nmode=strict\n; comment\n# comment\n' \
	>"$c/fuzz_config/empty-values"
printf '[unknown]\nx = y\n' >"$c/fuzz_config/unknown-section"

# Paths: good, bad, and escapes from the root.
printf 'dir/hello.txt' >"$c/fuzz_path/good"
printf 'b/../../x' >"$c/fuzz_path/dotdot"
printf 'up/x' >"$c/fuzz_path/symlink-out"
printf 'self/b/./x' >"$c/fuzz_path/dot"
printf '/tmp/x' >"$c/fuzz_path/absolute"
printf 'a//b/' >"$c/fuzz_path/empty-component"
printf 'n\303\251\377' >"$c/fuzz_path/bytes"

# JSON strings: ASCII, UTF-8, invalid sequences, controls, quotes.
printf 'plain' >"$c/fuzz_json/ascii"
printf 'caf\303\251 \360\237\224\217 \344\270\255' >"$c/fuzz_json/utf8"
printf '\300\257 \355\240\200 \364\220\200\200 \377' >"$c/fuzz_json/invalid"
printf '\001\t\n"\\\177/' >"$c/fuzz_json/controls"
echo "corpora in $c, trust store in $here/data/ca.pem"
