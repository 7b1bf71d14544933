#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# rsync -a of a release tree that ships its own signatures (FILE.sig, as
# GnuPG, signify and minisign releases do, and a SHA256SUMS.sig): the
# writer's own *.sig files are ordinary files to it, copied as natively,
# and signed like any other.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/material.sh"
tl_need rsync
tl_start
r=$SRC/rel
mkdir -p "$r"
head -c 200000 /dev/urandom >"$r/tool-1.0.tar.gz"
head -c 566 /dev/urandom >"$r/tool-1.0.tar.gz.sig"
(cd "$r" && sha256sum tool-1.0.tar.gz >SHA256SUMS)
head -c 119 /dev/urandom >"$r/SHA256SUMS.sig"
# a detached signature without its file (the file is fetched elsewhere)
head -c 310 /dev/urandom >"$r/lonely.iso.sig"
find "$r" -exec touch -m -d '2021-05-06 07:08:09' {} +
job() {
	tl_step sync rsync -a "$SRC/rel/" "$T/rel/"
}
tl_both job
tl_finish --mtime
