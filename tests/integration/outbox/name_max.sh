#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Names up to what can be signed (issue 13, defect 5 and 7): statvfs and
# pathconf say NAME_MAX 250 on a signing outbox (a name's slot takes four
# bytes more, an escaped name one), every name up to that length is
# created, written, signed and verifies (x.sig names too: stored with
# their '~' in 251 bytes, slot 255), and a longer name is ENAMETOOLONG for
# every way to make one, leaving nothing behind. Twin: the 250-byte name's
# signature copied for another 250-byte name does not verify.
. "$(dirname "$0")/common.sh"
ob_start
py() { python3 -c "import os; print($1)"; }
[ "$(py "os.statvfs('$M').f_namemax")" = 250 ] || fail "f_namemax"
[ "$(py "os.pathconf('$M', 'PC_NAME_MAX')")" = 250 ] || fail "pathconf NAME_MAX"
[ "$(getconf NAME_MAX "$M")" = 250 ] || fail "getconf NAME_MAX"
a() { printf "$1%.0s" $(seq 1 "$2"); }
n250=$(a a 250)
s250=$(a b 246).sig
for n in "$n250" "$s250" "$(a c 239)"; do
	echo "${#n}" >"$M/$n"
	echo more >>"$M/$n"
	[ "$(head -1 "$M/$n")" = "${#n}" ] || fail "content of a ${#n}-byte name"
done
ob_ok "$n250"
ob_ok "$s250~"
ob_ok "$(a c 239)"
mkdir "$M/$(a d 250)"
echo x >"$M/$(a d 250)/$n250"
ob_ok "$(a d 250)/$n250"
mv "$M/$n250" "$M/$(a e 250)"
ob_ok "$(a e 250)"
# one byte more, every way: nothing is made
before=$(cd "$B" && find . | sort)
n251=$(a f 251)
ob_errno ENAMETOOLONG "open('$M/$n251', 'w')"
ob_errno ENAMETOOLONG "os.mkdir('$M/$n251')"
ob_errno ENAMETOOLONG "os.mknod('$M/$n251')"
ob_errno ENAMETOOLONG "os.rename('$M/$(a e 250)', '$M/$n251')"
ob_errno ENAMETOOLONG "open('$M/$(a g 247).sig', 'w')"
[ "$(cd "$B" && find . | sort)" = "$before" ] || fail "a too long name left something"
ob_no_temps "$B"
# twin: a signature moved to another name of the same length
cp "$B/$(a e 250)" "$B/$(a h 250)"
cp "$B/$(a e 250).sig" "$B/$(a h 250).sig"
ob_bad "$(a h 250)"
ob_stop
