#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Regenerates the golden signatures of the current format version into
# tests/data/golden/vN/. Golden fixtures of released versions are kept
# forever: run this only for a new version, into a new directory.
#   tests/data/mkgolden.sh BUILD/src/signetfs v1
set -euo pipefail
S=$(realpath "$1"); v=$2
here=$(cd "$(dirname "$0")" && pwd)
out=$here/golden/$v
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
[ ! -e "$out/hello.txt.sig" ] || { echo "$out exists: keep it" >&2; exit 1; }
"$S" init "$tmp/key" >/dev/null
mkdir -p "$out/tree/dir"
printf 'signetfs golden fixture %s\n' "$v" >"$out/tree/dir/hello.txt"
(cd "$out/tree" && "$S" sign --config "$tmp/key/signetfs.conf" dir/hello.txt)
cp "$tmp/key/ca.pem" "$out/ca.pem"
cp "$tmp/key/signer.pem" "$out/signer.pem"
echo "golden $v written to $out"
