#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# signetfs(1) renders without a groff warning, and cannot fall behind the
# code: every subcommand, every long option any 'signetfs CMD --help'
# prints, every config key the parser knows and every exit code is in it.
# And docs/cli.md, the man page and --help agree (doc_agree.py): each
# command's options, both ways, config keys and defaults, exit codes.
. "$(dirname "$0")/../lib.sh"
command -v groff >/dev/null || skip "no groff (package groff-base)"
: "${SFS_BUILD:?SFS_BUILD must name the build directory}"
src=$SFS_SRC/doc/signetfs.1.in
built=$SFS_BUILD/doc/signetfs.1
[ -f "$built" ] || fail "meson did not build $built"
t=$SFS_TMP

for page in "$src" "$built"; do
	groff -ww -z -man "$page" 2>"$t/warn" || fail "groff failed on $page"
	[ ! -s "$t/warn" ] || { cat "$t/warn" >&2; fail "groff warns on $page"; }
done
grep -q '@VERSION@' "$built" && fail "version not filled in"
# The template is not a page: 'man doc/signetfs.1' would show @VERSION@.
[ ! -e "$SFS_SRC/doc/signetfs.1" ] || fail "doc/signetfs.1 in the source tree reads as a page"
version=$("$SIGNETFS" -V) || fail "signetfs -V"
[ "$("$SIGNETFS" --version)" = "$version" ] || fail "-V and --version differ"
groff -man -Tutf8 -P-cbou "$built" 2>/dev/null | tail -n1 | grep -q "^$version " ||
	fail "footer is not '$version': $(groff -man -Tutf8 -P-cbou "$built" 2>/dev/null | tail -n1)"
# Rendered text, with the hyphens and bold of the roff source resolved.
groff -man -Tutf8 -P-cbou "$built" 2>/dev/null >"$t/page.txt"
man_has() { grep -qF -- "$1" "$t/page.txt"; }

missing=()
cmds=$("$SIGNETFS" --help | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }')
[ -n "$cmds" ] || fail "no commands in 'signetfs --help'"
for c in $cmds; do
	grep -qE "^\.SS \"$c( |\")" "$src" || missing+=("section for '$c'")
	helps=("$c")
	# A command with subcommands ("signetfs audit verify ...") documents
	# each one's options in that one's --help.
	for sub in $("$SIGNETFS" "$c" --help 2>&1 |
		     grep -oE "signetfs $c [a-z]+" | awk '{ print $3 }' | sort -u); do
		helps+=("$c $sub")
	done
	for h in "${helps[@]}"; do
		# shellcheck disable=SC2086 # $h is "cmd [sub]"
		"$SIGNETFS" $h --help >"$t/help" 2>&1 || true
		for o in $(grep -oE -- '--[a-z][a-z0-9-]*' "$t/help" | sort -u); do
			man_has "$o" || missing+=("$h $o")
		done
	done
done
# The mount(8) form's own -o keys.
for o in config= mode= prewarm; do
	man_has "$o" || missing+=("mount option $o")
done
# Every key src/policy/config.c accepts, and its sections.
keys=$(grep -oE 'strcmp\((k|section), "[a-z0-9-]+"\)' "$SFS_SRC/src/policy/config.c" |
       sed -E 's/.*"([a-z0-9-]+)".*/\1/' | sort -u)
[ -n "$keys" ] || fail "found no config keys in src/policy/config.c"
# In the CONFIGURATION section, as a tag: ".B key", ".BR a ", " b", ".SS "[s]"".
awk '/^\.SH CONFIGURATION/ { on = 1; next } /^\.SH/ { on = 0 }
     on && /^\.(B|BR|SS) / { gsub(/\\-/, "-"); gsub(/[]["]/, " "); print }' \
	"$src" >"$t/conf-tags"
for k in $keys; do
	grep -qE "(^| )$k( |$)" "$t/conf-tags" || missing+=("config key $k")
done
for code in 0 1 2 3; do
	awk '/^\.SH EXIT STATUS/ { on = 1; next } /^\.SH/ { on = 0 }
	     on && $0 == ".B '"$code"'" { f = 1 } END { exit !f }' "$src" ||
		missing+=("exit status $code")
done
if [ ${#missing[@]} -gt 0 ]; then
	printf 'missing from doc/signetfs.1.in: %s\n' "${missing[@]}" >&2
	fail "the man page is behind the code"
fi
python3 "$(dirname "$0")/doc_agree.py" "$SIGNETFS" "$SFS_SRC" "$built" ||
	fail "docs/cli.md, signetfs(1) and --help disagree"
echo "manpage: ok"
