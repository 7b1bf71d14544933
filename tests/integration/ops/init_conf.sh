#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The config `signetfs init` writes works wherever it is copied to (as an
# operator copies it to /etc/signetfs/NAME.conf): every path in it is
# absolute, also for an init given a relative DIR and for --join. It names
# the CRL init made, and that CRL is used: once it revokes the signer,
# verification fails. A file the config names that cannot be read is an
# error that says why (strerror), not only which file. DIR's missing
# parents are made, as on a host where /var/lib/signetfs does not exist.
. "$(dirname "$0")/../lib.sh"
t=$SFS_TMP
[ -e /usr/lib/softhsm/libsofthsm2.so ] || skip "no SoftHSM"
cd "$t"
"$SIGNETFS" init keys >init.log 2>&1 || { cat init.log >&2; fail "init keys"; }
"$SIGNETFS" init other --join keys --label other >join.log 2>&1 ||
	{ cat join.log >&2; fail "init --join"; }
for d in keys other; do
	# key = is a PKCS#11 URI and module = the module: the rest are files.
	awk -F' = ' '/ = / && $1 != "key" && $1 != "module" && $2 !~ /^\// { print; bad = 1 }
		     END { exit bad }' "$d/signetfs.conf" ||
		fail "$d/signetfs.conf has relative paths"
done
grep -qx "crl = $t/keys/crl.pem" keys/signetfs.conf || fail "keys: no crl line"
# A joined token's certificate comes from EXISTING's CA: its CRL.
grep -qx "crl = $t/keys/crl.pem" other/signetfs.conf || fail "other: no crl line"
grep -q "CRL      $t/keys/crl.pem (next update 20" init.log ||
	fail "init does not say when the CRL needs renewing"

# The operator's copy, used from another directory.
mkdir -p etc/signetfs rel/bin
cp keys/signetfs.conf etc/signetfs/rel.conf
cp other/signetfs.conf etc/signetfs/other.conf
echo 'echo hi' >rel/bin/app
echo 'echo ho' >rel/bin/app2
cd rel
"$SIGNETFS" sign --config ../etc/signetfs/rel.conf bin/app >../sign.log 2>&1 ||
	{ cat ../sign.log >&2; fail "sign with the copied config"; }
"$SIGNETFS" sign --config ../etc/signetfs/other.conf bin/app2 >../sign2.log 2>&1 ||
	{ cat ../sign2.log >&2; fail "sign with the copied --join config"; }
cd /
"$SIGNETFS" verify --config "$t/etc/signetfs/rel.conf" --root "$t/rel" \
	"$t/rel/bin/app" "$t/rel/bin/app2" >"$t/verify.log" 2>&1 ||
	{ cat "$t/verify.log" >&2; fail "verify with the copied config"; }
# The audit log is the init directory's, wherever the config is.
grep -q '"event":"sign"' "$t/keys/audit.log" || fail "no sign record in keys/audit.log"

# The CRL is used: revoke the signer with stock `openssl ca`, replace
# crl.pem, and the signature no longer verifies.
mkdir -p "$t/ca"
: >"$t/ca/index.txt"
cat >"$t/ca/ca.cnf" <<CNF
[ca]
default_ca = dev
[dev]
database = $t/ca/index.txt
certificate = $t/keys/ca.pem
private_key = $t/keys/ca.key
default_md = sha256
default_crl_days = 30
CNF
openssl ca -config "$t/ca/ca.cnf" -batch -revoke "$t/keys/signer.pem" \
	>"$t/ca.log" 2>&1 || { cat "$t/ca.log" >&2; fail "openssl ca -revoke"; }
openssl ca -config "$t/ca/ca.cnf" -batch -gencrl -out "$t/keys/crl.pem" \
	>>"$t/ca.log" 2>&1 || { cat "$t/ca.log" >&2; fail "openssl ca -gencrl"; }
rc=0
"$SIGNETFS" verify --config "$t/etc/signetfs/rel.conf" --root "$t/rel" \
	"$t/rel/bin/app" >"$t/verify.log" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || { cat "$t/verify.log" >&2; fail "revoked signer: exit $rc, not 1"; }
grep -qi "revoked" "$t/verify.log" || { cat "$t/verify.log" >&2; fail "not refused as revoked"; }
# The other token's certificate is not revoked.
"$SIGNETFS" verify --config "$t/etc/signetfs/rel.conf" --root "$t/rel" \
	"$t/rel/bin/app2" >"$t/verify.log" 2>&1 ||
	{ cat "$t/verify.log" >&2; fail "revoking one signer refused the other"; }

# A file that cannot be read: the message says why.
sed "s|^cert = .*|cert = $t/nope/signer.pem|" "$t/etc/signetfs/rel.conf" >"$t/bad.conf"
rc=0
(cd "$t/rel" && "$SIGNETFS" sign --config "$t/bad.conf" bin/app) >"$t/err" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || { cat "$t/err" >&2; fail "missing cert: exit $rc, not 2"; }
grep -q "cannot read certificate file $t/nope/signer.pem: No such file or directory" "$t/err" ||
	{ cat "$t/err" >&2; fail "missing cert: no reason given"; }

# A fresh host has no /var/lib/signetfs: init makes DIR's parents (0755).
"$SIGNETFS" init "$t/fresh/lib/keys" >"$t/fresh.log" 2>&1 ||
	{ cat "$t/fresh.log" >&2; fail "init into a DIR without its parents"; }
[ "$(stat -c %a "$t/fresh/lib" "$t/fresh/lib/keys" | tr '\n' ' ')" = "755 700 " ] ||
	fail "modes of the made parents / DIR"
echo "init_conf: ok"
