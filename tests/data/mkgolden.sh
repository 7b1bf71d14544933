#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Regenerates the golden signatures of the current format version into
# tests/data/golden/vN/. Golden fixtures of released versions are kept
# forever: run this only for a new version, into a new directory.
#   tests/data/mkgolden.sh BUILD/src/signetfs v1
#   tests/data/mkgolden.sh BUILD/src/signetfs v1-version
# v1-version: the second signature of its path with signetfs sign --state
# (signetfs-version 2), and in twins/ its forgery twins (twin.py).
set -euo pipefail
S=$(realpath "$1"); v=$2
here=$(cd "$(dirname "$0")" && pwd)
out=$here/golden/$v
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
[ ! -e "$out/tree/dir/hello.txt.sig" ] || { echo "$out exists: keep it" >&2; exit 1; }
"$S" init "$tmp/key" >/dev/null
mkdir -p "$out/tree/dir"
printf 'signetfs golden fixture %s\n' "$v" >"$out/tree/dir/hello.txt"
case $v in
*-version)
	# Twice: the golden is version 2, the second signature of its path.
	for _ in 1 2; do
		(cd "$out/tree" && "$S" sign --config "$tmp/key/signetfs.conf" \
			--state "$tmp/state" dir/hello.txt)
	done
	python3 "$here/twin.py" "$out/tree/dir/hello.txt.sig" "$out/twins"
	;;
*)
	(cd "$out/tree" && "$S" sign --config "$tmp/key/signetfs.conf" dir/hello.txt)
	;;
esac
cp "$tmp/key/ca.pem" "$out/ca.pem"
cp "$tmp/key/signer.pem" "$out/signer.pem"
echo "golden $v written to $out"
