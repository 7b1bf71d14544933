#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Names (layout 2, docs/signature-format.md): writers see exactly what they
# wrote. The outbox's NAME.sig is in BACKING only; a writer's own *.sig
# is an ordinary file, stored with one '~' more (x.sig -> x.sig~, x.sig~
# -> x.sig~~) and signed like any other, for the name the writer gave it.
# No writer name reaches a signature slot; forgery twins in BACKING fail.
. "$(dirname "$0")/common.sh"
ob_start
echo data >"$M/f"
cp "$B/f.sig" "$SFS_TMP/f.sig.0"
ls -A "$M" | grep -qx f.sig && fail "the outbox's f.sig is listed"
ob_errno ENOENT "os.stat('$M/f.sig')"
# the writer's own f.sig, f.sig~, .sig: ordinary files, signed
echo mine >"$M/f.sig"
echo tilde >"$M/f.sig~"
echo dot >"$M/.sig"
cmp "$B/f.sig" "$SFS_TMP/f.sig.0" || fail "a writer's f.sig reached the slot"
[ "$(cat "$M/f.sig")" = mine ] && [ "$(cat "$B/f.sig~")" = mine ] ||
	fail "f.sig stored"
[ "$(cat "$B/f.sig~~")" = tilde ] && [ "$(cat "$B/.sig~")" = dot ] ||
	fail "f.sig~, .sig stored"
[ "$(ls -A "$M" | tr '\n' ' ')" = ".sig f f.sig f.sig~ " ] ||
	fail "view: $(ls -A "$M")"
for f in f f.sig~ f.sig~~ .sig~; do ob_ok "$f"; done
[ "$(ob_xattr "$M/f.sig" status)" = signed ] || fail "f.sig status"
# the signature binds the writer's name, not the stored one
"$SIGNETFS" verify --config "$CONF" --root "$B" --json "$B/f.sig~" |
	grep -q '"signed_path":"f.sig"' || fail "signed path of f.sig"
# written, truncated, chmod'ed, renamed, linked like any file
echo more >>"$M/f.sig"
truncate -s 3 "$M/f.sig"
chmod 0600 "$M/f.sig"
ob_ok f.sig~
mv "$M/f.sig" "$M/g.sig"
[ ! -e "$B/f.sig~" ] && [ ! -e "$B/f.sig~.sig" ] && [ -e "$B/g.sig~" ] ||
	fail "rename to g.sig"
ob_ok g.sig~
mv "$M/g.sig" "$M/h"
ob_ok h
mv "$M/h" "$M/h.sig"
ob_ok h.sig~
cmp "$B/f.sig" "$SFS_TMP/f.sig.0" || fail "renames touched f.sig"
ob_ok f
# directories too
mkdir "$M/d.sig"
echo x >"$M/d.sig/x"
[ -d "$B/d.sig~" ] || fail "d.sig stored"
ob_ok "d.sig~/x"
"$SIGNETFS" verify --config "$CONF" --root "$B" --json "$B/d.sig~/x" |
	grep -q '"signed_path":"d.sig/x"' || fail "signed path of d.sig/x"
mv "$M/d.sig" "$M/e"
ob_ok e/x
# the writer's unlink of f.sig~ leaves f's signature alone
rm "$M/f.sig~"
[ ! -e "$B/f.sig~~" ] && [ ! -e "$B/f.sig~~.sig" ] || fail "unlink f.sig~"
cmp "$B/f.sig" "$SFS_TMP/f.sig.0" && ob_ok f
ob_errno EPERM "os.setxattr('$M/f', 'user.signetfs.status', b'signed')"
# --- forgery twins, written around the mount ---
# a file planted under an escaped name, with another file's signature
cp "$B/f" "$B/p.sig~"
cp "$B/f.sig" "$B/p.sig~.sig"
ob_bad p.sig~
# the signature of h.sig (stored h.sig~) copied for f's slot: binds h.sig
cp "$B/h.sig~.sig" "$B/f.sig.forged"
mv "$B/f.sig" "$SFS_TMP/f.sig.save"
cp "$B/h.sig~" "$B/f"
mv "$B/f.sig.forged" "$B/f.sig"
ob_bad f
# h.sig's signature for an h.sig stored unescaped (as layout 1 would)
cp "$B/h.sig~" "$B/q"
cp "$B/h.sig~.sig" "$B/q.sig"
ob_bad q
# a slot planted for an escaped file whose name is one '~' off
cp "$B/h.sig~" "$B/h.sig~~"
cp "$B/h.sig~.sig" "$B/h.sig~~.sig"
ob_bad h.sig~~
ob_stop
