#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Each HSM failure: its own message, exit 3, and no .sig written.
. "$(dirname "$0")/../lib.sh"
[ -e /usr/lib/softhsm/libsofthsm2.so ] || skip "no SoftHSM"

t=$SFS_TMP
sfs_init "$t/key"
k=$t/key
echo data >"$t/f"
base=(--cert "$k/signer.pem")
export SOFTHSM2_CONF=$k/softhsm2.conf

# expect CODE MESSAGE-PART sign-args...
expect() {
	local code=$1 part=$2 rc=0; shift 2
	rm -f "$t/f.sig"
	(cd "$t" && "$SIGNETFS" sign "$@" f) 2>"$t/err" || rc=$?
	[ "$rc" -eq "$code" ] || { cat "$t/err"; fail "exit $rc, want $code for: $part"; }
	grep -qi -- "$part" "$t/err" || { cat "$t/err"; fail "message lacks '$part'"; }
	[ "$(wc -l <"$t/err")" -eq 1 ] || { cat "$t/err"; fail "not one line: $part"; }
	[ ! -e "$t/f.sig" ] || fail "a .sig was written despite: $part"
	! grep -q "$(cat "$k/pin")" "$t/err" || fail "the PIN leaked into a message"
}

uri="pkcs11:token=signetfs;object=signing-key;type=private"
expect 3 "module" --module /nonexistent/libnope.so --key "$uri" \
	--pin-file "$k/pin" "${base[@]}"
printf 'wrong-pin\n' >"$t/badpin"; chmod 600 "$t/badpin"
expect 3 "PIN" --module /usr/lib/softhsm/libsofthsm2.so --key "$uri" \
	--pin-file "$t/badpin" "${base[@]}"
expect 3 "key" --module /usr/lib/softhsm/libsofthsm2.so \
	--key "pkcs11:token=signetfs;object=no-such-key;type=private" \
	--pin-file "$k/pin" "${base[@]}"
expect 3 "token" --module /usr/lib/softhsm/libsofthsm2.so \
	--key "pkcs11:token=no-such-token;object=signing-key" \
	--pin-file "$k/pin" "${base[@]}"
expect 2 "pin" --module /usr/lib/softhsm/libsofthsm2.so --key "$uri" \
	--pin-file /nonexistent/pin "${base[@]}"
# A FIFO as PIN file: refused at once (exit 2), not waited on for a writer.
mkfifo "$t/pinfifo"
rc=0
(cd "$t" && timeout 20 "$SIGNETFS" sign --module /usr/lib/softhsm/libsofthsm2.so \
	--key "$uri" --pin-file "$t/pinfifo" "${base[@]}" f) 2>"$t/err" || rc=$?
[ "$rc" -ne 124 ] || fail "a FIFO as PIN file hung"
[ "$rc" -eq 2 ] && grep -q "not a regular file" "$t/err" ||
	{ cat "$t/err"; fail "FIFO PIN file: exit $rc"; }
[ ! -e "$t/f.sig" ] || fail "a .sig was written with a FIFO PIN file"
# A certificate of another key: refused before anything is signed.
sfs_init "$t/key2"
expect 3 "does not match" --module /usr/lib/softhsm/libsofthsm2.so \
	--key "$uri" --pin-file "$k/pin" --cert "$t/key2/signer.pem"

# The positive twin: the same call with the right PIN signs.
(cd "$t" && "$SIGNETFS" sign --module /usr/lib/softhsm/libsofthsm2.so \
	--key "$uri?pin-source=file:$k/pin" "${base[@]}" f) || fail "good sign"
"$SIGNETFS" verify --trust "$k/ca.pem" --root "$t" "$t/f" >/dev/null ||
	fail "good signature rejected"
# Usage errors exit 2.
rc=0; "$SIGNETFS" sign f 2>/dev/null || rc=$?
[ $rc -eq 2 ] || fail "usage exit $rc"
rc=0; "$SIGNETFS" nosuch 2>/dev/null || rc=$?
[ $rc -eq 2 ] || fail "unknown command exit $rc"
echo "hsm_errors: ok"
