#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A signed file renamed together with its .sig (the attack detached
# signatures usually allow) is refused: the signed path is the old one.
# Moving it back restores it; so does a move into another directory.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup

mkdir -p "$B/bin" "$B/lib"
printf '#!/bin/sh\necho tool\n' >"$B/bin/tool"
ib_sign bin/tool

ib_mount
visible bin/tool
mv "$B/bin/tool" "$B/bin/other"
mv "$B/bin/tool.sig" "$B/bin/other.sig"
hidden bin/tool
hidden bin/other
hidden bin/other.sig
audited bin/other path-mismatch
# Another directory, same name: still another path.
mv "$B/bin/other" "$B/lib/tool"
mv "$B/bin/other.sig" "$B/lib/tool.sig"
hidden lib/tool
audited lib/tool path-mismatch
# Twin: back where it was signed, it is served again.
mv "$B/lib/tool" "$B/bin/tool"
mv "$B/lib/tool.sig" "$B/bin/tool.sig"
visible bin/tool
visible bin/tool.sig
ib_umount
