#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Messages that say what is wrong (issue 14, "Vague messages"), each with
# its exit code: verify of a missing file says the file does not exist
# (not "no signature file"); verify of a .sig says it is a signature and
# names the file to verify; a file or trust file that cannot be opened
# carries the errno's text; a bad --key-type, a verify without --config
# or --trust, and a wrong or missing argument name the problem before the
# usage; audit show refuses an unknown --event or a --since that is no
# time (exit 2, naming the valid values and the format) and prints each
# field under its own column. The twins: what is right still works.
. "$(dirname "$0")/../lib.sh"
[ -e /usr/lib/softhsm/libsofthsm2.so ] || skip "no SoftHSM"

t=$SFS_TMP
sfs_init "$t/key"
conf=$t/key/signetfs.conf
mkdir -p "$t/r"
cd "$t/r"
echo payload >a
"$SIGNETFS" sign --config "$conf" a || fail "sign a"

# run WANT_RC CMD...: stdout and stderr in $out, the exit code checked.
run() {
	local want=$1 rc=0
	shift
	out=$("$SIGNETFS" "$@" 2>&1) || rc=$?
	[ "$rc" -eq "$want" ] || fail "signetfs $*: exit $rc, want $want: $out"
}
has() { grep -qF -- "$1" <<<"$out" || fail "$2: '$1' not in: $out"; }
hasnt() { ! grep -qF -- "$1" <<<"$out" || fail "$2: '$1' in: $out"; }

# verify of a file that is not there, and of a .sig.
run 1 verify --config "$conf" missing.bin
has "FAIL missing.bin: the file does not exist" "missing file"
hasnt "no signature" "missing file"
run 1 verify --config "$conf" --json missing.bin
has '"message":"the file does not exist"' "missing file, --json"
run 1 verify --config "$conf" a.sig
has "FAIL a.sig: this is a signature file, not a signed file: verify the file it belongs to, a" "a .sig"
# Twin: the file it belongs to verifies; a file without a .sig still says so.
run 0 verify --config "$conf" a
echo unsigned >b
run 1 verify --config "$conf" b
has "FAIL b: no signature file" "unsigned file"

# Files that cannot be opened: the errno's text.
run 1 sign --config "$conf" missing.bin
has "missing.bin: cannot open: No such file or directory" "sign of a missing file"
run 2 verify --trust "$t/no-ca.pem" a
has "cannot load trust store $t/no-ca.pem: No such file or directory" "missing trust store"
run 2 verify --trust "$t/key/ca.pem" --crl "$t/no-crl.pem" a
has "cannot read CRL file $t/no-crl.pem: No such file or directory" "missing CRL"
printf '[signetfs]\ntrust-dir = %s\n' "$t/no-dir" >"$t/dir.conf"
run 2 verify --config "$t/dir.conf" a
has "cannot load trust directory $t/no-dir: No such file or directory" "missing trust-dir"
# Twin: a file that is there but holds no certificate says that instead.
echo junk >"$t/junk.pem"
run 2 verify --trust "$t/junk.pem" a
has "cannot load trust store $t/junk.pem (no certificate in it)" "junk trust store"

# The problem named, then the usage.
run 2 init "$t/x" --key-type ed25519
has "--key-type ed25519: not a key type init makes (ec-p256 or rsa-3072)" "init --key-type"
has "usage: signetfs init" "init --key-type"
[ ! -e "$t/x" ] || fail "init --key-type ed25519 created $t/x"
run 2 init
has "no DIR to initialise" "init without DIR"
run 2 verify a
has "nothing to verify against: give --config CONF or --trust CA.pem" "verify without trust"
has "usage: signetfs verify" "verify without trust"
run 2 verify --config "$conf"
has "no FILE or DIR to verify" "verify without files"

# audit show: a log with a denial (a reason, no writer) and a signature
# (a writer, no reason), as the daemons write them.
log=$t/show.jsonl
cat >"$log" <<'LOG'
{"v":2,"seq":1,"session":"00","time":"2026-11-29T10:00:00.000001Z","event":"verify-denied","path":"rel/app.bin","size":5,"reason":"content-digest","prev":"00"}
{"v":2,"seq":2,"session":"00","time":"2026-11-30T09:00:00.000001Z","event":"sign","path":"rel/b","size":7,"sha256":"ab12ab12ab12ab12ab12","writer":{"uid":1000,"gid":1000,"pid":42,"user":"builder","exe":"/usr/bin/cp"},"prev":"00"}
LOG
run 2 audit show --event bogus "$log"
has "--event bogus: not an event; one of: open mount unmount key-loaded sign sign-failed sign-refused verify-denied policy-denied config-reloaded records-lost checkpoint timestamp timestamp-failed" "--event bogus"
hasnt "SEQ EVENT" "--event bogus prints no table"
run 2 audit show --since yesterday "$log"
has "--since yesterday: not a time; RFC 3339 in UTC" "--since yesterday"
hasnt "SEQ EVENT" "--since yesterday prints no table"
run 2 audit show --since 2026-13 "$log"
has "--since 2026-13: not a time" "--since with month 13"
# Twins: valid values filter.
for since in 2026-11-30 2026-11-30T09 2026-11-30T09:00:00Z 2026-11-30T09:00:00.000001Z; do
	run 0 audit show --since "$since" "$log"
	[ "$(wc -l <<<"$out")" -eq 2 ] && has "rel/b" "--since $since" ||
		fail "--since $since: $out"
done
run 0 audit show --event verify-denied "$log"
[ "$(wc -l <<<"$out")" -eq 2 ] && has "rel/app.bin" "--event verify-denied" ||
	fail "--event verify-denied: $out"
# The outbox's stamper and `signetfs timestamp` write these two.
for ev in timestamp timestamp-failed; do
	run 0 audit show --event "$ev" "$log"
	[ "$(wc -l <<<"$out")" -eq 1 ] || fail "--event $ev: $out"
done
# Each field under its column: the reason under REASON, the writer under
# WRITER, "-" where a record has none.
run 0 audit show "$log"
python3 - "$out" <<'PY' || fail "audit show columns: $out"
import sys
head, denied, signed = sys.argv[1].splitlines()
w, r = head.index("WRITER"), head.index("REASON")
assert denied[w:].split()[0] == "-", denied
assert denied[r:] == "content-digest", denied
assert signed[w:].startswith("builder(1000) pid 42 /usr/bin/cp"), signed
assert signed[r:] == "-", signed
PY
echo "messages: ok"
