#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# `signetfs migrate`: a BACKING of layout 1 (signetfs 0.1: a writer's x.sig~
# stored as it is, a file named x.sig signed by x.sig.sig) becomes layout
# 2; every file still verifies, at its BACKING path and in the inbox, which
# serves each one with its signature. Twins: a layout 1 file whose
# signature does not verify (another file's signature; content changed)
# makes migrate refuse and change nothing, as does a name whose layout 2
# form is longer than NAME_MAX (one byte shorter, it migrates); a BACKING
# marked with another layout (or garbage) is not mounted.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup

# The layout 1 tree, signed with today's signer: each file is signed in a
# scratch tree under its layout 2 name (which reads as REL), then copied
# with its signature to REL, where layout 1 kept it.
S=$T/scratch
esc() { sed -E 's/(\.sig~*)(\/|$)/\1~\2/g' <<<"$1"; }
# old TREE REL [CONTENT]
old() {
	local tree=$1 rel=$2 s
	s=$(esc "$rel")
	mkdir -p "$(dirname "$S/$s")" "$(dirname "$tree/$rel")"
	printf '%s\n' "${3:-$rel}" >"$S/$s"
	"$SIGNETFS" sign --config "$CONF" --root "$S" "$S/$s" >"$T/sign.log" 2>&1 ||
		{ cat "$T/sign.log" >&2; fail "sign $rel"; }
	cp -p "$S/$s" "$tree/$rel"
	cp -p "$S/$s.sig" "$tree/$rel.sig"
}
# snap TREE: every name with its content's digest
snap() { (cd "$1" && find . -printf '%y %p\n' -type f -exec md5sum {} + | sort); }

for f in a x.sig y.sig~ y.sig~~ d.sig~/f sub/z.sig; do old "$B" "$f"; done
printf partial >"$B/.a.sig.Xy12Ab.tmp"
cp "$B/a.sig" "$B/gone.sig"
# read as layout 2 before the migration, a layout 1 name fails, never passes
"$SIGNETFS" verify --config "$CONF" --root "$B" "$B/y.sig~" >"$T/v0" 2>&1 &&
	fail "layout 1 y.sig~ verified as layout 2"
grep -q "path" "$T/v0" || fail "y.sig~ before migrate: $(cat "$T/v0")"

# a dry run changes nothing and says what it would do
snap "$B" >"$T/before"
"$SIGNETFS" migrate --config "$CONF" --dry-run "$B" >"$T/dry" 2>&1 ||
	{ cat "$T/dry" >&2; fail "migrate --dry-run"; }
grep -qx 'rename y.sig~~ -> y.sig~~~' "$T/dry" &&
	grep -qx 'rename x.sig.sig -> x.sig~.sig' "$T/dry" &&
	grep -qx 'remove .a.sig.Xy12Ab.tmp' "$T/dry" || fail "plan: $(cat "$T/dry")"
snap "$B" | cmp -s - "$T/before" || fail "--dry-run changed BACKING"

"$SIGNETFS" migrate --config "$CONF" "$B" >"$T/mig" 2>&1 ||
	{ cat "$T/mig" >&2; fail "migrate"; }
grep -q '5 name(s) escaped (4 signed, verified), 1 temp file(s) removed, 1 orphan' \
	"$T/mig" || fail "summary: $(cat "$T/mig")"
want=".signetfs-layout.sig.sig a a.sig d.sig~~ d.sig~~/f d.sig~~/f.sig gone.sig
sub sub/z.sig~ sub/z.sig~.sig x.sig~ x.sig~.sig y.sig~~ y.sig~~.sig y.sig~~~
y.sig~~~.sig"
got=$(cd "$B" && find . -mindepth 1 -printf '%P\n' | sort | tr '\n' ' ')
[ "$got" = "$(echo $want) " ] || fail "BACKING after migrate: $got"
[ "$(cat "$B/.signetfs-layout.sig.sig")" = "signetfs-layout 2" ] ||
	fail "marker"
# every file verifies where layout 2 keeps it, for the name it was signed for
"$SIGNETFS" verify --config "$CONF" --root "$B" -r "$B" >"$T/v1" 2>&1 ||
	{ cat "$T/v1" >&2; fail "verify -r after migrate"; }
[ "$(grep -c '^OK ' "$T/v1")" = 6 ] || fail "verified: $(cat "$T/v1")"
[ "$(cat "$B/y.sig~~")" = "y.sig~" ] && [ "$(cat "$B/d.sig~~/f")" = "d.sig~/f" ] ||
	fail "contents moved"
# a second run is a no-op
snap "$B" >"$T/after"
"$SIGNETFS" migrate --config "$CONF" "$B" | grep -q "already layout 2" ||
	fail "second migrate"
snap "$B" | cmp -s - "$T/after" || fail "second migrate changed BACKING"

# the inbox serves each file under its name, with its own signature
ib_mount
got=$(ls -A "$M" | tr '\n' ' ')
[ "$got" = "a a.sig d.sig~ sub x.sig x.sig.sig y.sig~ y.sig~.sig y.sig~~ y.sig~~.sig " ] ||
	fail "inbox view: $got"
for f in a x.sig y.sig~ y.sig~~ d.sig~/f sub/z.sig; do
	[ "$(cat "$M/$f")" = "$f" ] || fail "inbox $f"
	openssl cms -verify -binary -inform DER -in "$M/$f.sig" -content "$M/$f" \
		-CAfile "$T/tok/ca.pem" -purpose any -out /dev/null 2>"$T/cms" ||
		{ cat "$T/cms" >&2; fail "openssl cms -verify $f"; }
done
ib_umount

# --- an interrupted migration resumes from its plan, never re-plans ---
# (sub/ immutable: the migration stops after d.sig~'s moves, before sub's
# and the root's; planned again, the moved d.sig~/g.sig~~ would be
# escaped once more)
B3=$T/old3
mkdir -p "$B3"
for f in a x.sig y.sig~ y.sig~~ d.sig~/f d.sig~/g.sig~ sub/z.sig; do
	old "$B3" "$f"
done
if chattr +i "$B3/sub" 2>/dev/null; then
	rc=0
	"$SIGNETFS" migrate --config "$CONF" "$B3" >"$T/mig3" 2>&1 || rc=$?
	chattr -i "$B3/sub"
	[ "$rc" = 2 ] && grep -q "run it again to resume" "$T/mig3" ||
		fail "interrupted migrate: $rc $(cat "$T/mig3")"
	[ -e "$B3/d.sig~/g.sig~~" ] && [ -e "$B3/y.sig~" ] &&
		[ -e "$B3/.signetfs-migrate.sig.sig" ] || fail "not stopped midway"
	"$SIGNETFS" migrate --config "$CONF" "$B3" >"$T/mig3" 2>&1 ||
		{ cat "$T/mig3" >&2; fail "resumed migrate"; }
	grep -q "an interrupted migration: .* step(s) left" "$T/mig3" ||
		fail "not resumed: $(cat "$T/mig3")"
	got=$(cd "$B3" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort | tr '\n' ' ')
	want3=$(echo $want d.sig~~/g.sig~~ d.sig~~/g.sig~~.sig | tr ' ' '\n' |
		grep -vx gone.sig | LC_ALL=C sort | tr '\n' ' ')
	[ "$got" = "$want3" ] ||
		fail "BACKING after a resumed migrate: $got"
	"$SIGNETFS" verify --config "$CONF" --root "$B3" -r "$B3" >"$T/v3" 2>&1 ||
		{ cat "$T/v3" >&2; fail "verify -r after a resumed migrate"; }
else
	note "no chattr +i here: the resume case is not run"
fi

# --- a planted plan cannot move names out of their directory ---
# The plan's names are single components; one naming ../ (planted by
# whoever could write BACKING) is refused before any step runs.
B4=$T/old4
mkdir -p "$B4/in"
old "$B4" in/y.sig~
echo outside >"$T/outside"
printf 'R\0in\0../../outside\0moved\0' >"$B4/.signetfs-migrate.sig.sig"
rc=0
"$SIGNETFS" migrate --config "$CONF" "$B4" >"$T/mig4" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "a planted plan naming ../: exit $rc $(cat "$T/mig4")"
[ -e "$T/outside" ] && [ ! -e "$B4/in/moved" ] || fail "a planted plan moved a file from outside BACKING"
# Twin: the same plan with names of its own directory runs.
printf 'R\0in\0y.sig~\0y.sig~~\0' >"$B4/.signetfs-migrate.sig.sig"
"$SIGNETFS" migrate --config "$CONF" "$B4" >"$T/mig4" 2>&1 ||
	fail "a well-formed plan: $(cat "$T/mig4")"
[ -e "$B4/in/y.sig~~" ] || fail "the well-formed plan did not run"

# --- twins: migrate refuses a file it cannot verify, and changes nothing ---
B2=$T/old2
mkdir -p "$B2"
old "$B2" a
old "$B2" w.sig
cp "$B2/a.sig" "$B2/w.sig.sig" # a's signature passed off as w.sig's
snap "$B2" >"$T/before2"
"$SIGNETFS" migrate --config "$CONF" "$B2" >"$T/mig2" 2>&1 &&
	fail "migrate accepted w.sig signed as a"
grep -q "REFUSED w.sig" "$T/mig2" || fail "refusal: $(cat "$T/mig2")"
snap "$B2" | cmp -s - "$T/before2" || fail "a refused migrate changed BACKING"
rm -rf "$B2"
mkdir -p "$B2"
old "$B2" v.sig~
echo changed >"$B2/v.sig~"
snap "$B2" >"$T/before2"
"$SIGNETFS" migrate --config "$CONF" "$B2" >"$T/mig2" 2>&1 &&
	fail "migrate accepted a changed v.sig~"
grep -q "REFUSED v.sig~" "$T/mig2" || fail "refusal: $(cat "$T/mig2")"
snap "$B2" | cmp -s - "$T/before2" || fail "a refused migrate changed BACKING"

# a name whose layout 2 form would exceed NAME_MAX (one '~' more) is
# refused, nothing changed; twin: one byte shorter, it is escaped
rm -rf "$B2"
mkdir -p "$B2"
long=$(printf 'n%.0s' $(seq 250)).sig~ # 255 bytes
echo long >"$B2/$long"
snap "$B2" >"$T/before2"
"$SIGNETFS" migrate --config "$CONF" "$B2" >"$T/mig2" 2>&1 &&
	fail "migrate accepted a 255-byte ${long: -5}"
grep -q "REFUSED .*: its layout 2 name is too long" "$T/mig2" ||
	fail "refusal: $(cat "$T/mig2")"
snap "$B2" | cmp -s - "$T/before2" || fail "a refused migrate changed BACKING"
mv "$B2/$long" "$B2/${long#n}"
"$SIGNETFS" migrate --config "$CONF" "$B2" >"$T/mig2" 2>&1 ||
	{ cat "$T/mig2" >&2; fail "migrate of a 254-byte name"; }
[ -f "$B2/${long#n}~" ] || fail "254-byte name not escaped: $(ls "$B2")"

# --- a BACKING that says another layout is not mounted ---
for marker in "signetfs-layout 3" "layout 2"; do
	printf '%s\n' "$marker" >"$B/.signetfs-layout.sig.sig"
	for mode in inbox outbox; do
		timeout 30 "$SIGNETFS" $mode -f --config "$CONF" "$B" "$M" \
			>"$T/m.log" 2>&1 && fail "$mode mounted '$marker'"
		grep -Eq "layout 3; this signetfs reads layout 2|not a layout marker" \
			"$T/m.log" || fail "$mode '$marker': $(cat "$T/m.log")"
		! is_fuse_mounted "$(realpath "$M")" || fail "$M mounted"
	done
	"$SIGNETFS" migrate --config "$CONF" "$B" >"$T/m.log" 2>&1 &&
		fail "migrate of '$marker'"
done
exit 0
