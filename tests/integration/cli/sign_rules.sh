#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `signetfs sign --config` signs as the outbox does: a file under a [rule]
# with a key of its own with that key (before: always the global key, so
# the inbox, pinning the rule's signer, hid what the CLI signed); a path
# policy cannot evaluate is refused; NAME.sig is exactly as readable as
# NAME (before: always 0644).
. "$(dirname "$0")/../lib.sh"
command -v setpriv >/dev/null || skip "no setpriv"
t=$SFS_TMP
sfs_init "$t/a"
"$SIGNETFS" init "$t/b" --join "$t/a" --label other >"$t/b.log" 2>&1 ||
	{ cat "$t/b.log" >&2; fail "init --join"; }
fpr() { openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }
uri() { sed -n 's/^key = //p' "$1/signetfs.conf"; }
conf=$t/a/rules.conf
{
	cat "$t/a/signetfs.conf"
	printf '[rule fw/**]\nkey = %s\npin-file = %s/pin\ncert = %s/signer.pem\nsigner-sha256 = %s\n' \
		"$(uri "$t/b")" "$t/b" "$t/b" "$(fpr "$t/b/signer.pem")"
} >"$conf"
r=$t/tree
mkdir -p "$r/fw"
echo firmware >"$r/fw/a"
echo other >"$r/b"
(umask 077; echo secret >"$r/private")
(cd "$r" && "$SIGNETFS" sign --config "$conf" fw/a b private) ||
	fail "sign --config"
signer() {
	"$SIGNETFS" verify --config "$conf" --root "$r" --json "$r/$1" |
		python3 -c 'import json,sys; print(json.loads(sys.stdin.readline()).get("signer_sha256", ""))'
}
[ "$(signer fw/a)" = "$(fpr "$t/b/signer.pem")" ] || fail "fw/a not signed by the rule's key"
[ "$(signer b)" = "$(fpr "$t/a/signer.pem")" ] || fail "b not signed by the global key"
"$SIGNETFS" verify --config "$conf" --root "$r" "$r/fw/a" "$r/b" "$r/private" >/dev/null ||
	fail "verify --config (rule pins the rule's key)"
[ "$(stat -c %a "$r/private.sig")" = 600 ] || fail "private.sig is $(stat -c %a "$r/private.sig")"
if setpriv --reuid 4242 --regid 4242 --clear-groups cat "$r/private.sig" >/dev/null 2>&1; then
	fail "another user read private.sig"
fi
# a path deeper than policy evaluates is refused, not signed
d=$r
for _ in $(seq 1 257); do d=$d/d; done
mkdir -p "$(dirname "$d")"
echo deep >"$d"
if (cd "$r" && "$SIGNETFS" sign --config "$conf" "${d#"$r"/}") 2>"$t/deep.err"; then
	fail "a 257-component path was signed"
fi
grep -q "policy cannot evaluate" "$t/deep.err" || fail "deep: $(cat "$t/deep.err")"
[ ! -e "$d.sig" ] || fail "deep .sig written"
