#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# git clone of a repository that tracks *.sig files (signed release
# artifacts, golden signatures as test fixtures: this repository is one):
# the checkout succeeds as natively, the tracked .sig files have their
# committed bytes, git sees a clean tree, every file verifies.
. "$(dirname "$0")/common.sh"
tl_need git
tl_git_env
tl_start
up=$SRC/upstream
mkdir -p "$up/dist" "$up/tests/golden"
head -c 100000 /dev/urandom >"$up/dist/tool-1.0.tar.gz"
head -c 566 /dev/urandom >"$up/dist/tool-1.0.tar.gz.sig"
echo hello >"$up/tests/golden/hello.txt"
head -c 1100 /dev/urandom >"$up/tests/golden/hello.txt.sig"
echo "# project" >"$up/README"
{
	git -C "$up" init -q -b main && git -C "$up" add -A &&
		git -C "$up" commit -q -m "release 1.0"
} || tl_broken "upstream repository"
job() {
	tl_step clone git clone -q "file://$up" "$T/work"
	tl_step status sh -c 'cd "$1" && test -z "$(git status --porcelain)"' _ \
		"$T/work"
	tl_step fsck git -C "$T/work" fsck --strict --no-progress
}
tl_both job
tl_git_config work
tl_finish --ignore-content 'work/.git/index' --ignore-content 'work/.git/config'
