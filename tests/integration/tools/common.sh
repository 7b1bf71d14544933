# SPDX-License-Identifier: Apache-2.0
# Real tools into the outbox (issue 13): each case runs the same job once
# into a native directory and once into a signing outbox, then requires
#  1. the same exit status of every step (tl_step),
#  2. the same tree in the mount's view (treecmp.py: type, content, mode,
#     owner, and mtime where the tool preserves it; nothing more: the
#     outbox's own signatures are not in the view),
#  3. after unmount, every regular file the tool wrote (the native tree's
#     files, at the same paths as BACKING stores them: tl_backing)
#     verifies with `signetfs verify`,
# and a daemon that exits 0 with a clean log (lib.sh). All differences
# are printed, then the case exits 1. A case that cannot run as meant (a
# native step fails, its material cannot be made) exits 99: meson calls
# that ERROR, also for a case marked should_fail (known bugs), so a
# broken case never passes for an expected failure.
#
# A case:
#   . "$(dirname "$0")/common.sh"
#   tl_need TOOL...            # skip (77) without them
#   tl_start                   # mount; $SRC is scratch space for material
#   job() { tl_step NAME CMD...; ... }    # writes below "$T"
#   tl_both job                # T=native dir, then T=the mount
#   tl_problem "..."           # a case's own check that failed (optional)
#   tl_finish [treecmp options]
#
# TL_SABOTAGE=status|content|mode|mtime|verify makes the outbox's result
# wrong in that one respect after the job ran, to show that each check can
# fail: `TL_SABOTAGE=mode meson test -C build tools/tar_x` must fail.
# shellcheck source=../outbox/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../outbox/common.sh"

# A case that cannot do what it means to test: ERROR, never EXPECTEDFAIL.
tl_broken() {
	echo "BROKEN: $*" >&2
	exit 99
}

tl_need() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null || skip "no $t (scripts/setup-deps)"
	done
}

# Hermetic git: no user or system config, fixed identities and dates, so
# that commits (and the packs gc writes) are the same bytes both times.
tl_git_env() {
	export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
	export GIT_AUTHOR_NAME=builder GIT_AUTHOR_EMAIL=builder@example.org
	export GIT_COMMITTER_NAME=builder GIT_COMMITTER_EMAIL=builder@example.org
	export GIT_AUTHOR_DATE='2024-01-02T03:04:05Z'
	export GIT_COMMITTER_DATE='2024-01-02T03:04:05Z'
}

tl_start() {
	umask 022
	ob_start
	SRC=$SFS_TMP/src
	TL_NATIVE=$SFS_TMP/native
	TL_OUT=$SFS_TMP/steps
	TL_PROBLEMS=$SFS_TMP/problems
	mkdir -p "$SRC" "$TL_NATIVE" "$TL_OUT"
	: >"$TL_PROBLEMS"
}

# tl_problem MESSAGE: a difference a case found itself; tl_finish fails.
tl_problem() {
	echo "$*" >>"$TL_PROBLEMS"
}

# tl_git_config REPO: the repository's .git/config as natively, except
# that git, which probes for symlinks when it makes a repository, finds
# that the outbox refuses them (by design) and says so there. Compare
# the config with treecmp's --ignore-content REPO/.git/config.
tl_git_config() {
	local n=$TL_NATIVE/$1/.git/config o=$M/$1/.git/config
	[ -f "$o" ] || return 0 # treecmp reports it missing
	if ! diff -u "$n" <(grep -vx $'\tsymlinks = false' "$o") \
		>"$SFS_TMP/config.diff"; then
		tl_problem "$1/.git/config differs (besides core.symlinks):"
		sed 's/^/    /' "$SFS_TMP/config.diff" >>"$TL_PROBLEMS"
	fi
}

# tl_step NAME CMD...: run CMD, record its exit status for this target
# (native or outbox); its output goes to a file, printed when it matters.
tl_step() {
	local name=$1 rc=0
	shift
	"$@" >"$TL_OUT/$TL_KIND.$name.out" 2>&1 </dev/null || rc=$?
	echo "$name $rc" >>"$TL_OUT/$TL_KIND.status"
}

# tl_both JOB: JOB with T=a native directory, then with T=the mount.
tl_both() {
	TL_KIND=native T=$TL_NATIVE "$1"
	TL_KIND=outbox T=$M "$1"
	local name rc
	while read -r name rc; do
		[ "$rc" -eq 0 ] || {
			cat "$TL_OUT/native.$name.out" >&2
			tl_broken "step $name fails natively (exit $rc)"
		}
	done <"$TL_OUT/native.status"
	tl_sabotage
}

# TL_SABOTAGE: spoil one respect of the outbox's result (see the top).
tl_sabotage() {
	local f
	[ -n "${TL_SABOTAGE:-}" ] || return 0
	f=$(cd "$TL_NATIVE" && find . -type f -size +0 | sort | head -n1)
	f=${f#./}
	[ -n "$f" ] || tl_broken "TL_SABOTAGE: no file to spoil"
	note "TL_SABOTAGE=$TL_SABOTAGE on $f"
	case "$TL_SABOTAGE" in
	status) sed -i '1s/ [0-9]*$/ 42/' "$TL_OUT/outbox.status" ;;
	content) echo sabotage >>"$M/$f" ;;
	mode) chmod u+x,g+w "$M/$f" ;;
	mtime) touch -m -d '2001-01-01 00:00:01' "$M/$f" ;;
	verify) # the signature only: its directory keeps its mtime
		f=$(tl_backing "$f")
		touch -r "$(dirname "$B/$f")" "$SFS_TMP/dirtime"
		rm -f "$B/$f.sig"
		touch -m -r "$SFS_TMP/dirtime" "$(dirname "$B/$f")" ;;
	*) tl_broken "TL_SABOTAGE=$TL_SABOTAGE: status|content|mode|mtime|verify" ;;
	esac
}

# tl_backing PATH: where BACKING stores a writer's PATH (layout 2, docs/
# signature-format.md): every component matching \.sig~*$ gets one '~'.
TL_BACKING_PY='
import re, sys
esc = lambda p: b"/".join(re.sub(rb"(\.sig~*)\Z", rb"\1~", c) for c in p.split(b"/"))
paths = sys.stdin.buffer.read().split(b"\0")
sys.stdout.buffer.write(b"".join(sys.argv[1].encode() + b"/" + esc(p) + b"\0"
                                 for p in paths if p))
'
tl_backing() {
	printf '%s\0' "$1" | python3 -c "$TL_BACKING_PY" "" | tr -d '\0' | cut -c2-
}

# tl_finish [treecmp options]: compare, unmount, verify; exit 1 on any
# difference, after printing all of them.
tl_finish() {
	local bad=$TL_PROBLEMS name nrc orc list=$SFS_TMP/written
	# 1. exit status of each step
	while read -r name nrc; do
		orc=$(awk -v n="$name" '$1 == n { print $2 }' "$TL_OUT/outbox.status")
		[ "$nrc" = "$orc" ] && continue
		{
			echo "step $name: exit $nrc natively, ${orc:-none} in the outbox:"
			tail -n 8 "$TL_OUT/outbox.$name.out" | sed 's/^/    /'
		} >>"$bad"
	done <"$TL_OUT/native.status"
	# 2. the tree, as the writer sees it
	python3 "$(dirname "${BASH_SOURCE[0]}")/treecmp.py" "$@" \
		"$TL_NATIVE" "$M" >>"$bad" || true
	ob_stop
	# 3. every file the tool wrote verifies (after unmount: a signature
	# made at RELEASE, which the kernel sends after close returned, is
	# there by now)
	(cd "$TL_NATIVE" && find . -type f -printf '%P\0') |
		python3 -c "$TL_BACKING_PY" "$B" >"$list"
	if [ -s "$list" ]; then
		xargs -0 "$SIGNETFS" verify --config "$CONF" --root "$B" \
			<"$list" >"$SFS_TMP/verify.out" 2>&1 || true
		grep -v '^OK ' "$SFS_TMP/verify.out" | sed 's/^/verify: /' \
			>>"$bad" || true
	fi
	note "$(tr -cd '\0' <"$list" | wc -c) files written, $(wc -l \
		<"$TL_OUT/native.status") steps"
	if [ -s "$bad" ]; then
		echo "FAIL: the outbox differs from a native directory:" >&2
		cat "$bad" >&2
		exit 1
	fi
}
