#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# signetfs why: "why is this file a 404?" answered as the inbox answers it.
# One file per refusal reason the inbox's verdict gives (all but io-error
# and internal-error, which a test cannot make happen to root): each is
# read through a mounted inbox (ENOENT), its verify-denied record's reason
# is taken from the audit log, and `why` must name the same reason (exit
# 1), explain it and say what to do. A served file is served for `why`
# too (exit 0), with its signer. What the inbox hides without a verdict
# or a record (missing, symlink, FIFO, a file below a symlinked directory)
# and a .sig (shown beside a served file only; in audit mode every slot,
# its file there or not), a name too long to have a slot (no-signature,
# as the inbox says), a writer's own FILE.sig
# (layout 2: stored as FILE.sig~, served under its name, which then is no
# signature), paths given as BACKING stores them, directories, audit mode
# (served, the reason in user.signetfs.reason)
# and usage errors (exit 2) are covered too. Without --root, each path is
# taken in the mount and answered the same. The reasons of timestamps
# (issue 16: a development TSA stamps, why_sig.py spoils each token one
# way) and of versions (issue 15: a state-dir, a version put back, an
# entry edited) are among them.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup
command -v python3 >/dev/null || skip "no python3"
MODULE=/usr/lib/softhsm/libsofthsm2.so
KEY='pkcs11:token=signetfs;object=signing-key;type=private'
fp() { openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }

# Two more CAs with a token each: X is trusted (its CA in the bundle) but
# has no CRL, U is not trusted at all.
for o in x u; do sfs_init "$T/$o"; done
cat "$T/tok/ca.pem" "$T/x/ca.pem" >"$T/bundle.pem"

# Certificates for the token's key from A's CA, with the dates and
# extensions each case needs: a request signed by the token (OpenSSL's
# pkcs11 engine, the PIN from the pin file), issued by `openssl ca`.
ib_ca_init
cat >>"$T/ca/ca.cnf" <<CNF
[ee]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = codeSigning
[noeku]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
[isca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,digitalSignature,keyCertSign
extendedKeyUsage = codeSigning
[tsa]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = critical,timeStamping
[tsanoeku]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
CNF
SOFTHSM2_CONF=$T/tok/softhsm2.conf openssl req -new -engine pkcs11 \
	-keyform engine -key "$KEY" -passin "file:$T/tok/pin" \
	-subj "/CN=token key" -out "$T/ca/token.csr" >"$T/ca/log" 2>&1 ||
	{ cat "$T/ca/log" >&2; skip "no pkcs11 engine for openssl (libengine-pkcs11-openssl)"; }
# issue NAME EXTENSIONS [openssl ca options]
issue() {
	local name=$1 ext=$2
	shift 2
	openssl ca -config "$T/ca/ca.cnf" -batch -notext -extensions "$ext" \
		-extfile "$T/ca/ca.cnf" -subj "/CN=$name" -in "$T/ca/token.csr" \
		-out "$T/ca/$name.pem" "$@" >>"$T/ca/log" 2>&1 ||
		{ cat "$T/ca/log" >&2; fail "issue $name"; }
}
issue expired ee -startdate 20200101000000Z -enddate 20200102000000Z
issue future ee -startdate 20400101000000Z -enddate 20410101000000Z
issue noeku noeku
issue isca isca
issue revoked ee
issue other ee
openssl ca -config "$T/ca/ca.cnf" -batch -revoke "$T/ca/revoked.pem" >>"$T/ca/log" 2>&1 &&
	openssl ca -config "$T/ca/ca.cnf" -batch -gencrl -out "$T/crl.pem" >>"$T/ca/log" 2>&1 ||
	{ cat "$T/ca/log" >&2; fail "CRL"; }

sed -i -e '/^trust *=/d' -e '/^crl *=/d' "$CONF"
printf '\n[signetfs]\ntrust = %s\ncrl = %s\n\n[rule pinned/**]\nsigner-sha256 = %s\n' \
	"$T/bundle.pem" "$T/crl.pem" "$(fp "$T/tok/signer.pem")" >>"$CONF"

# A TSA under A's CA, valid since 2020 so that a certificate made later
# for its key is valid at the genTime of a token made now: its key and
# certificate, and two more certificates for its key with its serial
# (another subject; one without the timeStamping EKU), each from an
# openssl ca database of its own (a serial is refused twice in one).
mkdir -p "$T/tsa"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-out "$T/tsa/tsa.key" 2>>"$T/ca/log" &&
	openssl req -new -key "$T/tsa/tsa.key" -subj "/CN=dev tsa" \
		-out "$T/tsa/tsa.csr" 2>>"$T/ca/log" || fail "TSA key"
tsa_serial=$(cat "$T/ca/serial")
# issue_tsa NAME EXTENSIONS CA_CNF
issue_tsa() {
	openssl ca -config "$3" -batch -notext -extensions "$2" \
		-extfile "$T/ca/ca.cnf" -subj "/CN=$1" -in "$T/tsa/tsa.csr" \
		-out "$T/tsa/$1.pem" -startdate 20200101000000Z \
		-enddate 20400101000000Z >>"$T/ca/log" 2>&1 ||
		{ cat "$T/ca/log" >&2; fail "issue $1"; }
}
issue_tsa tsa tsa "$T/ca/ca.cnf"
for n in tsa-other:tsa tsa-noeku:tsanoeku; do
	d=$T/ca/${n%%:*}
	mkdir -p "$d/new"
	: >"$d/index.txt"
	echo "$tsa_serial" >"$d/serial"
	sed -e "s|^database = .*|database = $d/index.txt|" \
		-e "s|^serial = .*|serial = $d/serial|" \
		-e "s|^new_certs_dir = .*|new_certs_dir = $d/new|" \
		"$T/ca/ca.cnf" >"$d/ca.cnf"
	issue_tsa "${n%%:*}" "${n#*:}" "$d/ca.cnf"
done
"$SFS_SRC/scripts/dev-tsa" --key "$T/tsa/tsa.key" --cert "$T/tsa/tsa.pem" \
	--state "$T/tsa/state" >"$T/tsa/out" 2>"$T/tsa/err" &
SFS_PIDS+=("$!")
wait_for 20 grep -q 'listening on' "$T/tsa/out" ||
	{ cat "$T/tsa/err" >&2; fail "dev-tsa did not start"; }
# Signing with it: A's config and the TSA (the inbox's gets tsa-trust
# only, below, once everything is signed).
STAMPCONF=$T/tok/stamp.conf
{
	cat "$CONF"
	printf '\n[signetfs]\ntsa-url = %s\ntsa-trust = %s\n' \
		"$(sed -n 's/^dev-tsa: listening on //p' "$T/tsa/out")" "$T/tok/ca.pem"
} >"$STAMPCONF"

# sign_with CONF|CERT REL...: with a config, or the token's key and CERT.
sign_with() {
	local how=$1 f args=()
	shift
	for f; do args+=("$B/$f"); done
	case $how in
	*.conf) "$SIGNETFS" sign --config "$how" --root "$B" "${args[@]}" ;;
	*) SOFTHSM2_CONF=$T/tok/softhsm2.conf "$SIGNETFS" sign --module "$MODULE" \
		--key "$KEY" --pin-file "$T/tok/pin" --cert "$how" --root "$B" "${args[@]}" ;;
	esac >"$T/sign.log" 2>&1 || { cat "$T/sign.log" >&2; fail "sign $*"; }
}
# ossl REL OPTS...: REL.sig made by stock openssl cms with A's CA key.
ossl() {
	local f=$1
	shift
	openssl cms -binary -in "$B/$f" -outform DER -out "$B/$f.sig" "$@" ||
		fail "openssl cms for $f"
}
# patch REL MODE: change REL.sig in place, its length kept (docs/signature-
# format.md for the layout): the path attribute's version or first byte,
# the contentType attribute's value, the signer's serial in SignerInfo,
# the signature's last byte.
patch() {
	python3 - "$B/$1.sig" "$1" "$2" <<'PY' || fail "patch $1 $2"
import re, subprocess, sys
sig, rel, mode = sys.argv[1], sys.argv[2].encode(), sys.argv[3]
d = bytearray(open(sig, "rb").read())
def at(needle):
    i = d.find(needle)
    assert i >= 0 and d.find(needle, i + 1) < 0, (mode, needle)
    return i
path_attr = b"\x02\x01\x01\x04" + bytes([len(rel)]) + rel
if mode == "path-version":
    d[at(path_attr) + 2] = 2
elif mode == "path-byte":
    d[at(path_attr) + 5] = ord("/")
elif mode == "content-type":
    oid = bytes.fromhex("06092a864886f70d010903310b06092a864886f70d0107")
    d[at(oid) + len(oid)] = 2  # id-data (.1) becomes signedData (.2)
elif mode == "sid":
    # The SignerInfo's issuerAndSerialNumber: the SEQUENCE after its
    # version, its last byte the serial's last.
    out = subprocess.run(["openssl", "asn1parse", "-inform", "DER", "-in", sig],
                         capture_output=True, text=True, check=True).stdout
    rows = [re.match(r"\s*(\d+):d=(\d+)\s+hl=(\d+) l=\s*(\d+) (\w+):\s*(\S+)", l)
            for l in out.splitlines()]
    rows = [(int(m[1]), int(m[2]), int(m[3]), int(m[4]), m[6]) for m in rows if m]
    sets = [i for i, r in enumerate(rows) if r[1] == 3 and r[4] == "SET"]
    v = sets[-1] + 2  # SignerInfo SEQUENCE, then its version
    assert rows[v][4] == "INTEGER" and rows[v + 1][4] == "SEQUENCE", rows[v:v + 2]
    o, _, hl, l, _ = rows[v + 1]
    d[o + hl + l - 1] ^= 1
elif mode == "last-byte":
    d[-1] ^= 1
open(sig, "wb").write(bytes(d))
PY
}

# 257 components: one more than policy evaluates.
deep=deep$(printf '/d%.0s' $(seq 255))/f
# A name that is stored but whose slot's name would pass NAME_MAX: it
# can have no signature (the inbox says no-signature, not an I/O error).
long=r/$(printf 'n%.0s' $(seq 253))
declare -A want=(
	[r/no-signature]=no-signature
	[$long]=no-signature
	[r/sig-empty]=sig-empty
	[r/sig-too-large]=sig-too-large
	[r/sig-malformed]=sig-malformed
	[r/sig-trailing-data]=sig-trailing-data
	[r/not-signed-data]=not-signed-data
	[r/not-detached]=not-detached
	[r/econtent-type]=econtent-type
	[r/signer-count]=signer-count
	[r/digest-algorithm]=digest-algorithm
	[r/no-signed-attributes]=no-signed-attributes
	[r/attribute-missing]=attribute-missing
	[r/attribute-malformed]=attribute-malformed
	[r/attribute-version]=attribute-version
	[r/content-type-attribute]=content-type-attribute
	[r/signer-cert-missing]=signer-cert-missing
	[r/bad-signature]=bad-signature
	[r/untrusted]=untrusted
	[r/cert-expired]=cert-expired
	[r/cert-not-yet-valid]=cert-not-yet-valid
	[r/no-codesigning-eku]=no-codesigning-eku
	[r/revoked]=revoked
	[r/crl-error]=crl-error
	[pinned/signer-not-pinned]=signer-not-pinned
	[r/path-mismatch]=path-mismatch
	[r/content-digest]=content-digest
	[$deep]=policy-error
	[r/signer-is-ca]=signer-is-ca
	[r/unsigned-attribute]=unsigned-attribute
	[t/tsa-imprint-mismatch]=tsa-imprint-mismatch
	[t/tsa-token-count]=tsa-token-count
	[t/tsa-token-malformed]=tsa-token-malformed
	[t/tsa-bad-signature]=tsa-bad-signature
	[t/tsa-ess-mismatch]=tsa-ess-mismatch
	[t/tsa-no-timestamping-eku]=tsa-no-timestamping-eku
	[tu/tsa-untrusted]=tsa-untrusted
	[tp/tsa-policy-mismatch]=tsa-policy-mismatch
	[t/tsa-time-outside-validity]=tsa-time-outside-validity
	[st/rollback]=rollback
	[st/state-error]=state-error
)
mkdir -p "$B/r" "$B/pinned" "$B/ok" "$B/n/dir" "$B/$(dirname "$deep")" \
	"$B/t" "$B/tu" "$B/tp" "$B/st"
for rel in "${!want[@]}" ok/good r/elsewhere deepsrc n/dir/inner t/stamped \
	t/donor; do
	[ "$rel" = "$deep" ] || mkdata "$B/$rel" 3000
done
# The signetfs-signed ones, by A (the config's key).
sign_with "$CONF" ok/good n/dir/inner r/sig-empty r/sig-trailing-data \
	r/attribute-malformed r/attribute-version r/content-type-attribute \
	r/signer-cert-missing r/bad-signature r/elsewhere r/content-digest deepsrc
: >"$B/r/sig-empty.sig"
head -c 300000 /dev/urandom >"$B/r/sig-too-large.sig"
printf 'this is not DER\n' >"$B/r/sig-malformed.sig"
printf '\0' >>"$B/r/sig-trailing-data.sig"
patch r/attribute-malformed path-byte
patch r/attribute-version path-version
patch r/content-type-attribute content-type
patch r/signer-cert-missing sid
patch r/bad-signature last-byte
mv "$B/r/elsewhere" "$B/r/path-mismatch"
mv "$B/r/elsewhere.sig" "$B/r/path-mismatch.sig"
flip r/content-digest 100
mv "$B/deepsrc" "$B/$deep"
mv "$B/deepsrc.sig" "$B/$deep.sig"
# Stock openssl with A's CA key: well-formed CMS, not a signetfs v1 one.
ca=(-signer "$T/tok/ca.pem" -inkey "$T/tok/ca.key")
ossl r/not-signed-data -data_create
ossl r/not-detached -sign "${ca[@]}" -nodetach
ossl r/econtent-type -sign "${ca[@]}" -econtent_type 1.2.3.4
ossl r/signer-count -sign "${ca[@]}" -signer "$T/u/ca.pem" -inkey "$T/u/ca.key"
ossl r/digest-algorithm -sign "${ca[@]}" -md sha224
ossl r/no-signed-attributes -sign "${ca[@]}" -noattr
ossl r/attribute-missing -sign "${ca[@]}" -nosmimecap
# Other signers.
sign_with "$T/u/signetfs.conf" r/untrusted
sign_with "$T/x/signetfs.conf" r/crl-error
for c in expired:r/cert-expired future:r/cert-not-yet-valid \
	noeku:r/no-codesigning-eku isca:r/signer-is-ca revoked:r/revoked \
	other:pinned/signer-not-pinned; do
	sign_with "$T/ca/${c%%:*}.pem" "${c#*:}"
done
# Not a token, where only a token may be.
sign_with "$CONF" r/unsigned-attribute
# sig MODE REL [ARGS]: why_sig.py spoils REL.sig one way (its usage).
sig() {
	python3 "$(dirname "$0")/why_sig.py" "$1" "$B/$2.sig" "${@:3}" ||
		fail "why_sig.py $*"
}
sig other r/unsigned-attribute
# Timestamped by the TSA, then each token made wrong in one way; tu/ and
# tp/ get a tsa-trust and a tsa-policy of their own (below) that the TSA
# does not meet; the expired signer stamped now, after its notAfter.
sign_with "$STAMPCONF" t/stamped t/donor t/tsa-imprint-mismatch \
	t/tsa-token-count t/tsa-token-malformed t/tsa-bad-signature \
	t/tsa-ess-mismatch t/tsa-no-timestamping-eku tu/tsa-untrusted \
	tp/tsa-policy-mismatch
sig graft t/tsa-imprint-mismatch "$B/t/donor.sig"
sig twice t/tsa-token-count
sig garbage t/tsa-token-malformed
patch t/tsa-bad-signature last-byte # the token ends the .sig
sig cert t/tsa-ess-mismatch "$T/tsa/tsa-other.pem"
sig noeku t/tsa-no-timestamping-eku "$T/tsa/tsa-noeku.pem" "$T/tsa/tsa.key"
sign_with "$T/ca/expired.pem" t/tsa-time-outside-validity
"$SIGNETFS" timestamp --config "$STAMPCONF" --root "$B" \
	"$B/t/tsa-time-outside-validity" >"$T/stamp.log" 2>&1 ||
	{ cat "$T/stamp.log" >&2; fail "timestamp"; }
# Versions: both signed as version 1, then 2 (sign --state); the inbox
# will see 2 (below).
SI=$T/state-inbox
for v in 1 2; do
	mkdata "$B/st/rollback" $((3000 + v))
	mkdata "$B/st/state-error" $((3000 + v))
	"$SIGNETFS" sign --config "$CONF" --root "$B" --state "$T/state-sign" \
		"$B/st/rollback" "$B/st/state-error" >"$T/sign.log" 2>&1 ||
		{ cat "$T/sign.log" >&2; fail "sign --state"; }
	mkdir -p "$T/v$v"
	cp -p "$B/st/rollback" "$B/st/rollback.sig" "$T/v$v/"
done
# A release's own signature file beside it (layout 2: the writer's
# w/rel.tar.gz.sig is stored as w/rel.tar.gz.sig~), both signed.
mkdir -p "$B/w"
mkdata "$B/w/rel.tar.gz" 3000
mkdata "$B/w/rel.tar.gz.sig~" 566
sign_with "$CONF" w/rel.tar.gz "w/rel.tar.gz.sig~"
# What the inbox hides without a verdict.
ln -s good "$B/ok/link"
ln -s ../ok "$B/n/linkdir"
mkfifo "$B/n/fifo"
# Signatures without their file: of none (o/gone), of a FIFO (o/fifo).
mkdir -p "$B/o"
mkfifo "$B/o/fifo"
cp "$B/ok/good.sig" "$B/o/gone.sig"
cp "$B/ok/good.sig" "$B/o/fifo.sig"

# why_of REL [ARGS]: why's output in $T/why.out, its exit code in $rc.
why_of() {
	rc=0
	"$SIGNETFS" why --config "$CONF" --root "$B" "$@" >"$T/why.out" 2>&1 || rc=$?
}
# record REL: the reason of REL's verify-denied records (one per line).
record() {
	python3 - "$AUDIT" "$1" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["event"] == "verify-denied" and r.get("path") == sys.argv[2]:
        print(r["reason"])
PY
}

# The inbox's config from here on: a state-dir, the TSA's trust, and
# tu/'s and tp/'s rules. It sees version 2 of st/*; then st/state-error's
# entry is edited (its MAC fails) and the seal and the mark of a clean
# close go, as after a crash;
# version 1 of st/rollback is put back with its own .sig.
printf '\n[signetfs]\nstate-dir = %s\ntsa-trust = %s\n\n[rule tu/**]\ntsa-trust = %s\n\n[rule tp/**]\ntsa-policy = 1.2.3.4.5.6\n' \
	"$SI" "$T/tok/ca.pem" "$T/u/ca.pem" >>"$CONF"
ib_mount
visible st/rollback
visible st/state-error
ib_umount
sqlite3 "$SI/inbox.db" "UPDATE versions SET version = 1 WHERE path = CAST('st/state-error' AS BLOB)" ||
	fail "sqlite3"
rm "$SI/inbox.seal"
sqlite3 "$SI/inbox.db" "DELETE FROM meta WHERE k='closed'" || fail "sqlite3"
cp -p "$T/v1/rollback" "$T/v1/rollback.sig" "$B/st/"

ib_mount
visible ok/good
visible ok/good.sig
visible t/stamped
for rel in "${!want[@]}"; do
	hidden "$rel"
done
for rel in "${!want[@]}"; do
	got=$(record "$rel")
	[ "$got" = "${want[$rel]}" ] ||
		fail "$rel: the inbox recorded '$got', want ${want[$rel]}"
	why_of "$rel"
	[ "$rc" -eq 1 ] || { cat "$T/why.out" >&2; fail "why $rel: exit $rc, want 1"; }
	[ "$(head -n1 "$T/why.out")" = "$rel: not served: $got" ] ||
		{ cat "$T/why.out" >&2; fail "why $rel: not the inbox's reason $got"; }
	grep -q '^  why: ..' "$T/why.out" && grep -q '^  fix: ..' "$T/why.out" ||
		{ cat "$T/why.out" >&2; fail "why $rel: no explanation or no fix"; }
done
note "why agrees with the inbox's records on ${#want[@]} reasons"

# has REL TEXT: why REL says TEXT (a fixed string).
has() {
	why_of "$1"
	grep -qF -- "$2" "$T/why.out" || { cat "$T/why.out" >&2; fail "why $1: no '$2'"; }
}
fpA=$(fp "$T/tok/signer.pem")
has r/no-signature "there is no r/no-signature.sig beside it in $B"
has r/path-mismatch "signed as r/elsewhere, served as r/path-mismatch"
has pinned/signer-not-pinned "(certificate sha256 $(fp "$T/ca/other.pem")); [rule pinned/**] accepts only: $fpA"
has r/cert-expired "valid from 2020-01-01T00:00:00Z to 2020-01-02T00:00:00Z: certificate has expired"
has r/cert-not-yet-valid "valid from 2040-01-01T00:00:00Z"
has r/revoked "(certificate sha256 $(fp "$T/ca/revoked.pem")): certificate is revoked (crl = $T/crl.pem)"
has r/untrusted "(certificate sha256 $(fp "$T/u/signer.pem")), which does not chain to the trust store (trust = $T/bundle.pem)"
has r/content-digest "the file (3000 bytes) has $(sha256sum <"$B/r/content-digest" | cut -d' ' -f1)"
has r/signer-is-ca "signed by /CN=isca"
has t/tsa-time-outside-validity "valid from 2020-01-01T00:00:00Z to 2020-01-02T00:00:00Z: the timestamp token says it was signed outside that"
has tu/tsa-untrusted "(tsa-trust = $T/u/ca.pem, tsa-policy = any)"
has tp/tsa-policy-mismatch "tsa-policy = 1.2.3.4.5.6)"
has t/tsa-imprint-mismatch "the token was moved from another .sig"
has st/rollback "older than one the inbox has served at this path (its state-dir $SI keeps the highest)"
has st/state-error "the entry for st/state-error in the inbox's version map (state-dir $SI)"
has t/stamped "t/stamped: served: verified, signed by /CN=signetfs signer"
has t/stamped ", timestamped at "

# Served: the file (exit 0, its signer), its .sig, a directory, the root.
for p in ok/good "$B/ok/good" ok/good.sig n/dir ""; do
	why_of "$p"
	[ "$rc" -eq 0 ] || { cat "$T/why.out" >&2; fail "why '$p': exit $rc, want 0"; }
	grep -q "^$p: served: " "$T/why.out" || { cat "$T/why.out" >&2; fail "why '$p': not served"; }
done
has ok/good "ok/good: served: verified, signed by /CN=signetfs signer (certificate sha256 $fpA)"
# Layout 2: the writer's name wins over rel.tar.gz's signature; its own
# signature is served as rel.tar.gz.sig.sig. why says what the inbox
# shows, also for paths given as BACKING stores them.
cmp -s "$M/w/rel.tar.gz.sig" "$B/w/rel.tar.gz.sig~" ||
	fail "the inbox does not serve the writer's w/rel.tar.gz.sig"
has w/rel.tar.gz.sig "w/rel.tar.gz.sig: served: verified"
has w/rel.tar.gz.sig.sig "w/rel.tar.gz.sig.sig: served: the signature of w/rel.tar.gz.sig, which is served"
has "$B/w/rel.tar.gz.sig~" "$B/w/rel.tar.gz.sig~: served: verified"
has "$B/ok/good.sig" "$B/ok/good.sig: served: the signature of ok/good, which is served"
# Several at once: the worst exit code.
why_of ok/good r/no-signature
[ "$rc" -eq 1 ] || fail "why of a served and a refused file: exit $rc, want 1"
# One run, one read of the version map, each PATH judged against it.
why_of st/rollback ok/good st/state-error
[ "$rc" -eq 1 ] && grep -qx "st/rollback: not served: rollback" "$T/why.out" &&
	grep -qx "st/state-error: not served: state-error" "$T/why.out" &&
	grep -q "^ok/good: served: verified" "$T/why.out" ||
	{ cat "$T/why.out" >&2; fail "why of several paths with a state-dir: exit $rc"; }

# Hidden without a verdict or a record: the inbox's view, then why's.
for c in n/missing:not-found ok/link:not-regular-file n/linkdir/good:not-regular-file \
	n/fifo:not-regular-file; do
	rel=${c%%:*}
	hidden "$rel"
	[ -z "$(record "$rel")" ] || fail "$rel: the inbox recorded a verdict"
	why_of "$rel"
	[ "$rc" -eq 1 ] && [ "$(head -n1 "$T/why.out")" = "$rel: not served: ${c#*:}" ] ||
		{ cat "$T/why.out" >&2; fail "why $rel: exit $rc"; }
	grep -qF "(the inbox hides it without a verify-denied record)" "$T/why.out" ||
		fail "why $rel: does not say there is no record"
done
has n/linkdir/good "n/linkdir is a symlink"
# A .sig is shown beside a served file only; refused with its file's reason.
hidden r/content-digest.sig
why_of r/content-digest.sig
[ "$rc" -eq 1 ] || fail "why of a .sig of a refused file: exit $rc"
grep -qF "r/content-digest.sig: not served: it is the signature of r/content-digest" "$T/why.out" &&
	grep -qF "r/content-digest: not served: content-digest" "$T/why.out" ||
	{ cat "$T/why.out" >&2; fail "why r/content-digest.sig"; }
for rel in o/gone.sig o/fifo.sig; do
	hidden "$rel"
	why_of "$rel"
	[ "$rc" -eq 1 ] && grep -qF "$rel: not served: it is the signature of ${rel%.sig}" "$T/why.out" ||
		{ cat "$T/why.out" >&2; fail "why $rel: exit $rc"; }
done

# Without --root: PATH as a web server opens it in the mount, BACKING the
# mount's source (the one reader of /proc/self/mountinfo the double-mount
# check uses too). Whatever the inbox hides, the same answer as with
# --root BACKING and the path in it, word for word.
Breal=$(realpath "$B")
for rel in "${!want[@]}" ok/good ok/good.sig n/dir n/missing n/missing/deeper \
	ok/good/below ok/link n/fifo n/linkdir/good r/content-digest.sig; do
	rc=0
	"$SIGNETFS" why --config "$CONF" --root "$Breal" "$rel" >"$T/why.root" 2>&1 || rc=$?
	r1=$rc
	rc=0
	"$SIGNETFS" why --config "$CONF" "$M/$rel" >"$T/why.mnt" 2>&1 || rc=$?
	[ "$rc" -eq "$r1" ] && [ "$r1" -ne 2 ] &&
		diff <(sed "s|^$M/||" "$T/why.mnt") "$T/why.root" >&2 ||
		{ cat "$T/why.mnt" >&2; fail "why $M/$rel: exit $rc, not as with --root (exit $r1)"; }
done
# The mount point itself, relative to the current directory, a trailing /.
for p in "$M" "$M/" "$M/n/dir/"; do
	rc=0
	"$SIGNETFS" why --config "$CONF" "$p" >"$T/why.out" 2>&1 || rc=$?
	[ "$rc" -eq 0 ] && grep -qF "$p: served: a directory" "$T/why.out" ||
		{ cat "$T/why.out" >&2; fail "why $p: exit $rc"; }
done
rc=0
(cd "$M/r" && "$SIGNETFS" why --config "$CONF" revoked no-signature) >"$T/why.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] && grep -qx "revoked: not served: revoked" "$T/why.out" &&
	grep -qx "no-signature: not served: no-signature" "$T/why.out" ||
	{ cat "$T/why.out" >&2; fail "why in the mount's r/: exit $rc"; }
# Not in an inbox: BACKING itself is not the mount. Usage, exit 2.
rc=0
"$SIGNETFS" why --config "$CONF" "$B/ok/good" >"$T/why.out" 2>&1 || rc=$?
[ "$rc" -eq 2 ] && grep -qF "$B/ok/good: not inside a mounted signetfs inbox; give --root BACKING" "$T/why.out" ||
	fail "why of a path in BACKING without --root: exit $rc: $(cat "$T/why.out")"
# BACKING replaced under the mount: its source no longer names what it serves.
mv "$B" "$B.moved"
mkdir "$B"
rc=0
"$SIGNETFS" why --config "$CONF" "$M/ok/good" >"$T/why.out" 2>&1 || rc=$?
rmdir "$B"
mv "$B.moved" "$B"
[ "$rc" -eq 2 ] && grep -qF "no longer the directory it serves" "$T/why.out" ||
	fail "why with BACKING replaced: exit $rc: $(cat "$T/why.out")"
ib_umount

# Audit mode: served, and why says so with the reason the xattr carries.
ib_mount --mode audit
for rel in r/no-signature r/revoked pinned/signer-not-pinned; do
	visible "$rel"
	x=$(getfattr --only-values -n user.signetfs.reason "$M/$rel" 2>/dev/null) || true
	why_of --mode audit "$rel"
	[ "$rc" -eq 0 ] || { cat "$T/why.out" >&2; fail "why --mode audit $rel: exit $rc"; }
	[ "$(head -n1 "$T/why.out")" = "$rel: served unverified (audit mode; user.signetfs.reason says why): $x" ] &&
		[ "$x" = "${want[$rel]}" ] ||
		{ cat "$T/why.out" >&2; fail "why --mode audit $rel: xattr '$x'"; }
done
# Every signature slot that is a regular file, its file there or not.
for rel in o/gone.sig o/fifo.sig ok/good.sig; do
	visible "$rel"
	why_of --mode audit "$rel"
	[ "$rc" -eq 0 ] && grep -qF "$rel: served: the signature of ${rel%.sig} (audit mode shows every one)" "$T/why.out" ||
		{ cat "$T/why.out" >&2; fail "why --mode audit $rel: exit $rc"; }
done
ib_umount

# Usage: exit 2, the problem named.
usage() {
	why_of "$@"
	[ "$rc" -eq 2 ] || { cat "$T/why.out" >&2; fail "why $*: exit $rc, want 2"; }
}
usage ../escape
grep -qF "../escape: not a path inside $B" "$T/why.out" || fail "why ../escape: $(cat "$T/why.out")"
usage /etc/passwd
usage ok/./good
usage --mode lenient ok/good
rc=0
"$SIGNETFS" why --root "$B" ok/good >"$T/why.out" 2>&1 || rc=$?
[ "$rc" -eq 2 ] && grep -qF -- "give the inbox's --config CONF" "$T/why.out" ||
	fail "why without --config: exit $rc: $(cat "$T/why.out")"
rc=0
"$SIGNETFS" why --config "$CONF" --root "$T/no-such-dir" ok/good >"$T/why.out" 2>&1 || rc=$?
[ "$rc" -eq 2 ] && grep -qF "No such file or directory" "$T/why.out" ||
	fail "why with a missing root: exit $rc: $(cat "$T/why.out")"
