#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# What the inbox serves from a layout 2 BACKING written through an outbox:
# every writer's file under its own name (a release's own rel.tar.gz.sig
# too), and the signature of FILE as FILE + [inbox] sig-suffix unless a
# name of the tree takes it (then the writer's file wins). Each served
# signature is the file's own: stock openssl accepts it for that file.
# Twins: a slot holding another file's signature serves neither the file
# nor the signature; a writer's file named e.sig holding e's real
# signature bytes is served as a file and never stands in for e's
# signature (e, its slot gone, is refused); with sig-suffix .p7s the same
# tree serves rel.tar.gz's own signature as rel.tar.gz.p7s.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup
O=$T/ob
sfs_mount outbox "$CONF" "$B" "$O"
for f in a c e rel.tar.gz; do echo "$f" >"$O/$f"; done
echo gpg >"$O/rel.tar.gz.sig"
sfs_umount "$O" "$SFS_PID" "$SFS_LOG"
# twins, written around the mounts
cp "$B/a.sig" "$B/c.sig" # c's slot: a's signature
cp "$B/e.sig" "$T/e.sig.bytes"
sfs_mount outbox "$CONF" "$B" "$O"
cp "$T/e.sig.bytes" "$O/e.sig" # a writer's e.sig: e's signature bytes
sfs_umount "$O" "$SFS_PID" "$SFS_LOG"
rm "$B/e.sig" # e's own slot gone

ca=$T/tok/ca.pem
cms() {
	openssl cms -verify -binary -inform DER -in "$1" -content "$2" \
		-CAfile "$ca" -purpose any -out /dev/null 2>"$T/cms"
}

ib_mount
got=$(ls -A "$M" | tr '\n' ' ')
[ "$got" = "a a.sig e.sig e.sig.sig rel.tar.gz rel.tar.gz.sig rel.tar.gz.sig.sig " ] ||
	fail "view: $got"
# the served signatures are the files' own
cms "$M/a.sig" "$M/a" || { cat "$T/cms" >&2; fail "a.sig"; }
cms "$M/rel.tar.gz.sig.sig" "$M/rel.tar.gz.sig" ||
	{ cat "$T/cms" >&2; fail "rel.tar.gz.sig.sig"; }
[ "$(cat "$M/rel.tar.gz.sig")" = gpg ] || fail "the writer's rel.tar.gz.sig"
[ "$(cat "$M/rel.tar.gz")" = rel.tar.gz ] || fail "rel.tar.gz"
# the writer's name wins over rel.tar.gz's signature, and the log says so
grep -q "rel.tar.gz: its signature is not served as rel.tar.gz.sig" "$IB_LOG" ||
	fail "no notice of the shadowed signature"
# twin: c, whose slot holds a's signature: neither c nor c.sig
for f in c c.sig; do
	[ ! -e "$M/$f" ] || fail "$f served"
done
# twin: e's real signature bytes in a writer's e.sig: e.sig is a file
# (signed as such), e has no signature and is refused
cmp -s "$M/e.sig" "$T/e.sig.bytes" || fail "e.sig content"
cms "$M/e.sig.sig" "$M/e.sig" || { cat "$T/cms" >&2; fail "e.sig.sig"; }
[ ! -e "$M/e" ] || fail "e served with a writer's e.sig as its signature"
ib_umount
"$SIGNETFS" verify --config "$CONF" --root "$B" "$B/e" "$B/c" >"$T/v" 2>&1 &&
	fail "verify accepted e or c"
grep -q "FAIL $B/e: no signature" "$T/v" || fail "verify e: $(cat "$T/v")"

# another sig-suffix: rel.tar.gz's own signature is served again
cp "$CONF" "$T/p7s.conf"
printf '\n[inbox]\nsig-suffix = .p7s\n' >>"$T/p7s.conf"
CONF=$T/p7s.conf ib_mount
got=$(ls -A "$M" | tr '\n' ' ')
[ "$got" = "a a.p7s e.sig e.sig.p7s rel.tar.gz rel.tar.gz.p7s rel.tar.gz.sig rel.tar.gz.sig.p7s " ] ||
	fail "view with .p7s: $got"
cms "$M/rel.tar.gz.p7s" "$M/rel.tar.gz" || { cat "$T/cms" >&2; fail ".p7s"; }
cms "$M/rel.tar.gz.sig.p7s" "$M/rel.tar.gz" &&
	fail "rel.tar.gz.sig's signature accepted for rel.tar.gz"
[ ! -e "$M/rel.tar.gz.sig.sig" ] && [ ! -e "$M/a.sig" ] ||
	fail ".sig names served with sig-suffix .p7s"
ib_umount
exit 0
