#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# tar -x into the outbox: every extracted file is signed when tar returns.
. "$(dirname "$0")/common.sh"
ob_start
src=$SFS_TMP/src
mkdir -p "$src/pkg/bin" "$src/pkg/share/doc"
head -c 200000 /dev/urandom >"$src/pkg/bin/tool"
chmod 755 "$src/pkg/bin/tool"
for i in $(seq 1 20); do head -c $((i * 997)) /dev/urandom >"$src/pkg/share/doc/p$i"; done
tar -C "$src" -cf "$SFS_TMP/pkg.tar" pkg
mkdir "$M/x"
tar -C "$M/x" -xf "$SFS_TMP/pkg.tar"
( cd "$src" && find . -type f ) | while read -r f; do
	ob_ok "x/${f#./}"
done
[ -x "$B/x/pkg/bin/tool" ] || fail "mode lost"
# tar again over the same tree (files are replaced): still valid
tar -C "$M/x" -xf "$SFS_TMP/pkg.tar"
ob_ok x/pkg/bin/tool
ob_forge_flip x/pkg/bin/tool
ob_forge_move x/pkg/share/doc/p3 x/pkg/share/doc/p4
ob_stop
