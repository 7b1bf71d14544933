# SPDX-License-Identifier: Apache-2.0
# Audit-log cases, sourced after ../lib.sh: fingerprints, the forger, and
# what `audit verify` must say.
FORGE=$(dirname "${BASH_SOURCE[0]}")/audit_forge.py

# cert_sha256 PEM: SHA-256 of the certificate's DER (--signer-sha256).
cert_sha256() {
	openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1
}

# av_sealed ARGS...: `audit verify ARGS` exits 0 and calls the log sealed.
av_sealed() {
	local out
	out=$("$SIGNETFS" audit verify "$@" 2>&1) ||
		fail "audit verify $*: $out"
	[[ $out == OK*", sealed" ]] || fail "audit verify $*: not sealed: $out"
}

# av_bad LINE WHY ARGS...: `audit verify ARGS` exits 1 (not intact), names
# LINE and says WHY.
av_bad() {
	local line=$1 why=$2 out rc=0
	shift 2
	out=$("$SIGNETFS" audit verify "$@" 2>&1) || rc=$?
	[ "$rc" -eq 1 ] || fail "expected FAIL (exit 1), got exit $rc: $out"
	[[ $out == *"line $line: "* ]] || fail "expected line $line: $out"
	[[ $out == *"$why"* ]] || fail "expected \"$why\": $out"
	note "$out"
}

# set_log CONF LOG: CONF's audit log is LOG.
set_log() {
	sed -i "s|^audit-log = .*|audit-log = $2|" "$1"
}
