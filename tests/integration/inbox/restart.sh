#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Verdicts kept across a remount (state-dir), and their forgery twins
# (issue 15). After a remount an unchanged tree is listed without hashing
# a byte (bytes_hashed 0, state_hits = files) and its first read is still
# checked; each of these, done while unmounted, is refused after the
# remount and recorded: content changed with size and mtime put back;
# a .sig swapped; the state's entry edited to match the changed file; the
# CRL changed (the signer revoked); the trust store changed; the CRL's
# nextUpdate passed.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup
S=$T/state
printf '\n[signetfs]\nstate-dir = %s\ncrl = %s\n' "$S" "$T/crl.pem" >>"$CONF"
cp "$T/tok/crl.pem" "$T/crl.pem"

st() { "$SIGNETFS" status --json "$M" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
ctime_ns() { python3 -c "import os,sys; print(os.stat(sys.argv[1]).st_ctime_ns)" "$1"; }

mkdir -p "$B/d"
for f in a b c e g; do mkdata "$B/d/$f" 20000; done
mkdata "$B/d/big" $((3 << 20))
ib_sign d/a d/b d/c d/e d/g d/big
total=$((5 * 20000 + (3 << 20)))

# First mount: everything hashed once, verdicts kept. Under umask 000:
# the modes of S and its files must not come from the umask.
um=$(umask)
umask 000
ib_mount
umask "$um"
ls -l "$M/d" >/dev/null
for f in a b c e g big; do visible "d/$f"; done
[ "$(st bytes_hashed)" -eq "$total" ] || fail "first mount hashed $(st bytes_hashed), want $total"
[ "$(st state_hits)" -eq 0 ] || fail "state_hits $(st state_hits) on a fresh state"
ib_umount
[ -f "$S/key" ] && [ -f "$S/inbox.db" ] || fail "nothing kept in $S"
# Made by the mount, ours alone whatever the umask (000 above).
[ "$(stat -c %a "$S")" = 700 ] || fail "state dir mode $(stat -c %a "$S")"
for f in key inbox.db inbox.seal; do
	[ "$(stat -c %a "$S/$f")" = 600 ] || fail "$f mode $(stat -c %a "$S/$f")"
done

# Remount, nothing changed: listed from the kept verdicts, no byte hashed.
ib_mount
ls -l "$M/d" >/dev/null
[ "$(st bytes_hashed)" -eq 0 ] || fail "remount listing hashed $(st bytes_hashed) bytes"
[ "$(st state_hits)" -eq 6 ] || fail "state_hits $(st state_hits), want 6"
getfattr -n user.signetfs.sha256 --only-values "$M/d/a" >"$T/xattr" 2>/dev/null ||
	fail "no xattr from a kept verdict"
[ "$(cat "$T/xattr")" = "$(sha256sum <"$B/d/a" | cut -c1-64)" ] || fail "kept digest differs"
cmp -s "$M/d/a.sig" "$B/d/a.sig" || fail "kept .sig served differs"
# The first read still hashes the file (block tags are per mount).
visible d/a
visible d/big
[ "$(st bytes_hashed)" -eq $((20000 + (3 << 20))) ] ||
	fail "reads after remount hashed $(st bytes_hashed)"
ib_umount

# Twins, while unmounted.
# 1. content changed, size and mtime put back (ctime moves: it cannot be set).
mt=$(stat -c %Y "$B/d/a")
mkdata "$B/d/a" 20000
touch -d "@$mt" "$B/d/a"
# 2. .sig swapped for another valid one (of another path).
cp "$B/d/c.sig" "$B/d/b.sig"
# 3. content changed and the state's entry edited to match it: the stamp
#    (rec bytes 42..49: the content's ctime in ns, little-endian) now
#    says what BACKING says; only the MAC can tell.
mt=$(stat -c %Y "$B/d/e")
mkdata "$B/d/e" 20000
touch -d "@$mt" "$B/d/e"
le=$(python3 -c "import sys; print(int(sys.argv[1]).to_bytes(8,'little').hex())" "$(ctime_ns "$B/d/e")")
sqlite3 "$S/inbox.db" "UPDATE verdicts SET rec = CAST(substr(rec, 1, 41) || x'$le' || substr(rec, 50) AS BLOB) WHERE path = CAST('d/e' AS BLOB)"
[ "$(sqlite3 "$S/inbox.db" "SELECT count(*) FROM verdicts WHERE hex(substr(rec, 42, 8)) = upper('$le')")" -eq 1 ] ||
	fail "state entry not edited"
# A store edited after its clean unmount is refused whole (its seal:
# rollback.sh); with the seal gone, as after a crash, the entry's MAC
# alone must catch the edit.
if "$SIGNETFS" inbox --config "$CONF" "$B" "$M" >"$T/m.log" 2>&1; then
	fusermount3 -u "$M" 2>/dev/null
	fail "mounted an edited state"
fi
grep -q "was changed since" "$T/m.log" || fail "edited state: $(cat "$T/m.log")"
# As a crash leaves it: no seal, no mark of a clean close in the store.
rm "$S/inbox.seal"
sqlite3 "$S/inbox.db" "DELETE FROM meta WHERE k='closed'"
ib_mount
ls -l "$M/d" >/dev/null
hidden d/a
hidden d/b
hidden d/e
visible d/c
visible d/g
audited d/a content-digest
audited d/b path-mismatch
audited d/e content-digest
ib_umount

# 4. The CRL changed while unmounted: the signer revoked. 5. Then the trust
#    store replaced by another CA's. Nothing kept under the old ones holds.
ib_ca_init
openssl ca -config "$T/ca/ca.cnf" -batch -revoke "$T/tok/signer.pem" >"$T/ca.log" 2>&1 &&
	openssl ca -config "$T/ca/ca.cnf" -batch -gencrl -out "$T/crl.pem" >>"$T/ca.log" 2>&1 ||
	{ cat "$T/ca.log" >&2; fail "openssl ca"; }
ib_mount
hidden d/c
hidden d/g
[ "$(st state_hits)" -eq 0 ] || fail "a verdict kept under the old CRL was used"
audited d/g revoked
ib_umount
cp "$T/tok/crl.pem" "$T/crl.pem"
"$SIGNETFS" init "$T/other" >"$T/other.log" 2>&1 || { cat "$T/other.log" >&2; fail "init other"; }
trust=$(sed -n 's/^trust *= *//p' "$CONF" | head -1)
case $trust in /*) ;; *) trust=$T/tok/$trust ;; esac
cp "$trust" "$T/ca-saved.pem"
# The CRL is the first CA's: with only the other CA trusted it cannot be
# checked; drop it, so that the refusal says what changed: the trust.
sed -i '/^crl = /d' "$CONF"
cp "$T/other/ca.pem" "$trust"
ib_mount
hidden d/g
[ "$(st state_hits)" -eq 0 ] || fail "a verdict kept under the old trust store was used"
audited d/g untrusted
# Unmounted without ib_umount's audit check: the log's checkpoints are
# signed by the first CA's key, which this trust store does not know.
sfs_umount "$M" "$IB_PID" "$IB_LOG"
# Back to the first trust store and CRL: the untouched files verify again.
cp "$T/ca-saved.pem" "$trust"
printf 'crl = %s\n' "$T/crl.pem" >>"$CONF"
ib_mount
visible d/c
visible d/g
hidden d/a
ib_umount

# 6. The CRL's nextUpdate passed while unmounted, the CRL file untouched
#    (the trust epoch the same): only the kept OK's time refuses it. Its
#    twin: remounted before then, the same verdicts are used.
ib_ca_init
start=$SECONDS
openssl ca -config "$T/ca/ca.cnf" -gencrl -crlsec 8 -out "$T/crl.pem" \
	>"$T/ca.log" 2>&1 || { cat "$T/ca.log" >&2; fail "openssl ca -gencrl"; }
ib_mount
ls "$M/d" >/dev/null
ib_umount
ib_mount
ls "$M/d" >/dev/null
[ "$(st state_hits)" -eq 3 ] || fail "state_hits $(st state_hits) under a current CRL, want 3"
ib_umount
[ $((SECONDS - start)) -lt 8 ] || fail "too slow: the CRL expired before its twin ran"
while [ $((SECONDS - start)) -le 8 ]; do sleep 1; done
ib_mount
[ ! -e "$M/d/g" ] || fail "d/g served from a verdict kept past its CRL's nextUpdate"
[ "$(st state_hits)" -eq 0 ] || fail "a verdict kept past its CRL's nextUpdate was used"
audited d/g crl-error
SFS_LOG_ALLOW='CRL|crl' ib_umount
echo "restart: ok"
