#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The golden signature with an RFC 3161 token (format v1: the token is an
# unsigned attribute, docs/signature-format.md "Timestamps"), made by a
# development TSA (scripts/dev-tsa). Kept forever, like golden/v1: its
# signer certificate expires after 730 days, and it must verify after
# that, at the token's genTime (tests/unit/test_tsa.c, test_golden_tsa).
#   tests/data/mkgolden-tsa.sh BUILD/src/signetfs
set -euo pipefail
S=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
out=$here/golden/v1-tsa
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
[ ! -e "$out/tree/dir/hello.txt.sig" ] || { echo "$out exists: keep it" >&2; exit 1; }
"$S" init "$tmp/key" --tsa http://127.0.0.1:9/ >/dev/null
"$here/../../scripts/dev-tsa" --dir "$tmp/key" --state "$tmp/tsa" >"$tmp/tsa.out" &
pid=$!
until grep -q listening "$tmp/tsa.out" 2>/dev/null; do
	kill -0 $pid || exit 1
	sleep 0.1
done
url=$(sed -n 's/^dev-tsa: listening on //p' "$tmp/tsa.out")
sed -i "s|^tsa-url = .*|tsa-url = $url|" "$tmp/key/signetfs.conf"
mkdir -p "$out/tree/dir"
printf 'signetfs golden fixture v1 with an RFC 3161 token\n' >"$out/tree/dir/hello.txt"
(cd "$out/tree" && "$S" sign --config "$tmp/key/signetfs.conf" dir/hello.txt)
cp "$tmp/key/ca.pem" "$out/ca.pem"
cp "$tmp/key/signer.pem" "$out/signer.pem"
cp "$tmp/key/tsa.pem" "$out/tsa.pem"
echo "golden v1-tsa written to $out"
