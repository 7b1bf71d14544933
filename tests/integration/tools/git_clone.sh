#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# git clone, commit, gc, fsck in the outbox: a build that checks out its
# sources and tags a release there. Every step exits as natively, the
# repository (objects, packs, refs) and work tree are the same bytes (the
# index, which records inode numbers and ctimes, only exists), every file
# git wrote verifies.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/material.sh"
tl_need git
tl_git_env
tl_start
up=$SRC/upstream
tl_tree "$up"
{
	git -C "$up" init -q -b main &&
		git -C "$up" add -A && git -C "$up" commit -q -m "release 1" &&
		echo more >>"$up/share/doc/README" &&
		git -C "$up" commit -q -am "release 1.1" &&
		git -C "$up" tag -a v1.1 -m v1.1
} || tl_broken "upstream repository"
job() {
	# file://: the pack protocol, as from a server (a plain path would
	# hard-link the objects, which only a native directory can)
	tl_step clone git clone -q "file://$up" "$T/work"
	tl_step commit sh -c 'cd "$1" && echo "built" >BUILD-INFO &&
		sed -i s/hello/hi/ bin/hello && git add -A &&
		git commit -q -m "build 42" && git tag build-42' _ "$T/work"
	tl_step gc git -C "$T/work" -c pack.threads=1 gc -q --prune=now
	tl_step fsck git -C "$T/work" fsck --strict --no-progress
	tl_step status sh -c 'cd "$1" && test -z "$(git status --porcelain)"' _ \
		"$T/work"
}
tl_both job
tl_git_config work
tl_finish --ignore-content 'work/.git/index' --ignore-content 'work/.git/config'
