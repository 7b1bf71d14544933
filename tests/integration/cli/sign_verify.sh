#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# signetfs sign on a real SoftHSM token; signetfs verify and stock openssl
# accept the result, and reject each forgery twin.
. "$(dirname "$0")/../lib.sh"
[ -e /usr/lib/softhsm/libsofthsm2.so ] || skip "no SoftHSM"

t=$SFS_TMP
sfs_init "$t/key"
conf=$t/key/signetfs.conf
mkdir -p "$t/root/pkg" "$t/root/other"
cd "$t/root"
printf 'firmware 1.0\n' >pkg/fw.bin
head -c 100000 /dev/urandom >pkg/blob
: >pkg/empty
printf 'x' >"pkg/a name with spaces"
printf 'y' >"pkg/new
line"
printf 'z' >"$(printf 'pkg/latin1-\xe9')"
files=(pkg/fw.bin pkg/blob pkg/empty "pkg/a name with spaces" "pkg/new
line" "$(printf 'pkg/latin1-\xe9')")

"$SIGNETFS" sign --config "$conf" "${files[@]}" || fail "sign"
for f in "${files[@]}"; do
	[ -s "$f.sig" ] || fail "no signature for $f"
done
"$SIGNETFS" verify --config "$conf" "${files[@]}" >"$t/out" ||
	{ cat "$t/out"; fail "verify rejected fresh signatures"; }
[ "$(grep -c '^OK ' "$t/out")" -eq ${#files[@]} ] || fail "not all OK"
for f in pkg/fw.bin pkg/blob pkg/empty; do
	openssl cms -verify -binary -inform DER -in "$f.sig" -content "$f" \
		-CAfile "$t/key/ca.pem" -purpose any -out /dev/null 2>"$t/ossl" ||
		{ cat "$t/ossl"; fail "openssl cms -verify rejected $f"; }
done
# The signature is DER with exactly the v1 attributes.
openssl cms -cmsout -print -inform DER -in pkg/fw.bin.sig >"$t/dump"
grep -q "2.25.106367305641964467425266344124869205754.1.1" "$t/dump" ||
	fail "no signetfs-path attribute"
grep -q "id-smime-aa-signingCertificateV2" "$t/dump" || fail "no ESS v2"
grep -q "eContent: <ABSENT>" "$t/dump" || fail "not detached"

# --root: the same file signed relative to another root binds another path.
(cd pkg && "$SIGNETFS" verify --config "$conf" fw.bin >/dev/null) &&
	fail "path binding ignored with another root"
"$SIGNETFS" verify --config "$conf" --root pkg pkg/fw.bin >/dev/null &&
	fail "path binding ignored with --root"

# Forgery twins.
printf 'firmware 1.1\n' >pkg/fw.bin
out=$("$SIGNETFS" verify --config "$conf" pkg/fw.bin) && fail "tampered content accepted"
[[ $out == *"content does not match"* ]] || fail "wrong reason: $out"
openssl cms -verify -binary -inform DER -in pkg/fw.bin.sig -content pkg/fw.bin \
	-CAfile "$t/key/ca.pem" -purpose any -out /dev/null 2>/dev/null &&
	fail "openssl accepted tampered content"
mv pkg/blob other/blob && mv pkg/blob.sig other/blob.sig
out=$("$SIGNETFS" verify --config "$conf" other/blob) && fail "moved file accepted"
[[ $out == *"signed path differs"* ]] || fail "wrong reason: $out"
cp pkg/empty.sig other/blob.sig
"$SIGNETFS" verify --config "$conf" other/blob >/dev/null && fail "another file's .sig accepted"
rm pkg/empty.sig
out=$("$SIGNETFS" verify --config "$conf" pkg/empty) && fail "missing .sig accepted"
[[ $out == *"no signature file"* ]] || fail "wrong reason: $out"

# JSON output is one parseable object per file.
{ "$SIGNETFS" verify --config "$conf" --json pkg/fw.bin "pkg/a name with spaces" || true; } |
	python3 -c 'import json,sys; r=[json.loads(l) for l in sys.stdin]; assert [x["ok"] for x in r]==[False,True], r; assert r[1]["signed_path"]=="pkg/a name with spaces"' ||
	fail "json output"

# Refusals: outside the root, a .sig itself.
"$SIGNETFS" sign --config "$conf" /etc/hostname 2>"$t/err" && fail "signed outside root"
grep -q "outside the root" "$t/err" || fail "no clear message for outside root"
"$SIGNETFS" sign --config "$conf" pkg/fw.bin.sig 2>/dev/null && fail "signed a .sig"
# --sync on a file in the current directory: the .sig and its directory
# are fsynced, and the exit says so (the directory is ".", not a dup of
# AT_FDCWD). Twin: the .sig verifies, and a changed byte is refused.
printf 'synced\n' >pkg/synced
(cd pkg && "$SIGNETFS" sign --config "$conf" --root .. --sync synced) >"$t/out" 2>&1 ||
	fail "sign --sync in the current directory: $(cat "$t/out")"
"$SIGNETFS" verify --config "$conf" pkg/synced >/dev/null || fail "--sync'ed .sig does not verify"
printf 'Synced\n' >pkg/synced
"$SIGNETFS" verify --config "$conf" pkg/synced >/dev/null && fail "changed file verifies"
# Without an audit log the .sig files are installed in batches of 64 too
# (sign_files.c): 150 files on 3 threads (two full batches and a rest that
# only the final flush installs) all get a .sig that verifies, re-signed
# over the old ones as well; its twin with the audit log does the same.
grep -v '^audit-log' "$conf" >"$t/noaudit.conf"
mkdir -p "$t/root/many"
for i in $(seq 1 150); do printf '%s\n' "$i" >"many/f$i"; done
for c in "$t/noaudit.conf" "$conf" "$t/noaudit.conf"; do
	"$SIGNETFS" sign --config "$c" -j 3 -r many >"$t/out" 2>&1 ||
		fail "sign -r of 150 files with $c: $(cat "$t/out")"
	[ "$(find many -name '*.sig' | wc -l)" -eq 150 ] ||
		fail "$(find many -name '*.sig' | wc -l) of 150 .sig files with $c"
	"$SIGNETFS" verify --config "$conf" -r many >"$t/out" 2>&1 ||
		fail "150 files signed with $c do not verify: $(grep -v '^OK' "$t/out" | head -3)"
done
echo "sign_verify: ok"
