#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Issue 6 item 1 through the outbox: the PKCS#11 module is p11fault (tests/
# p11fault) in front of SoftHSM. For each injected fault, close() fails
# with EIO (cp exits non-zero), no valid signature exists, exactly one
# sign-failed record names the cause, and once the control file is
# cleared the next write is signed without a remount. A delay is not a
# failure: the close waits for the token (there is no timeout).
. "$(dirname "$0")/common.sh"
ob_p11fault_token
ob_start
src=$SFS_TMP/src
head -c 200000 /dev/urandom >"$src"
cp "$src" "$M/healthy"
ob_ok healthy

# control TEXT: the rules, written atomically (the module rereads them)
control() { printf '%s\n' "$@" >"$CTL.new"; mv "$CTL.new" "$CTL"; }

# answered_pair NAME CAUSE_REGEX: NAME's records are exactly sign,
# sign-failed; the sign-failed names the sign record's seq (the record was
# written before the token was asked, its fdatasync overlapping the
# signing) and its reason matches CAUSE_REGEX.
answered_pair() {
	python3 - "$AUDIT" "$1" "$2" <<'PY' || fail "$1: records"
import json, re, sys
recs = [r for r in map(json.loads, open(sys.argv[1], "rb"))
        if r.get("path") == sys.argv[2]]
evs = [r.get("event") for r in recs]
if evs != ["sign", "sign-failed"]:
    sys.exit(f"{sys.argv[2]}: records {evs}, expected sign, sign-failed")
if recs[1].get("answers") != recs[0]["seq"]:
    sys.exit(f"{sys.argv[2]}: sign-failed answers {recs[1].get('answers')}, "
             f"not the sign record {recs[0]['seq']}")
r = recs[-1]
if not re.search(sys.argv[3], r.get("reason", ""), re.I):
    sys.exit(f"reason {r.get('reason')!r} does not match {sys.argv[3]!r}")
print(f"# {sys.argv[2]}: {r['reason']}")
PY
}

# failing NAME CAUSE_REGEX: cp into NAME fails with EIO, nothing valid is
# left, one sign-failed record for NAME whose reason matches CAUSE_REGEX,
# answering NAME's sign record.
failing() {
	if cp "$src" "$M/$1" 2>"$SFS_TMP/cp.err"; then
		fail "$1: cp succeeded"
	fi
	grep -q "Input/output error" "$SFS_TMP/cp.err" ||
		fail "$1: not EIO: $(cat "$SFS_TMP/cp.err")"
	[ ! -e "$B/$1.sig" ] || fail "$1: a .sig exists"
	ob_bad "$1"
	ob_record_writer sign-failed "$1" 0 /usr/bin/cp 1
	answered_pair "$1" "$2"
}

# recovered NAME: with the control file cleared, the next write is signed
# (after the HSM layer's 250 ms back-off from a failed recovery).
recovered() {
	control ''
	sleep 0.3
	cp "$src" "$M/$1" || { cat "$OB_LOG" >&2; fail "$1: not signed after recovery"; }
	ob_ok "$1"
	ob_record_writer sign "$1" 0 /usr/bin/cp 1
}

for fault in C_Sign=CKR_DEVICE_REMOVED C_Sign=CKR_SESSION_HANDLE_INVALID \
	C_SignInit=CKR_TOKEN_NOT_PRESENT C_Sign=CKR_GENERAL_ERROR; do
	name=${fault#*=}
	case $name in
	CKR_DEVICE_REMOVED|CKR_TOKEN_NOT_PRESENT) cause='not present' ;;
	CKR_SESSION_HANDLE_INVALID) cause='session handle invalid|CKR 0xb3' ;;
	CKR_GENERAL_ERROR) cause='general error|CKR 0x5\)' ;;
	esac
	control "$fault"
	failing "$name" "$cause"
	recovered "after-$name"
done

# CKR_PIN_INCORRECT on C_Login during recovery: a failed signature marks
# the token broken, the next signature reloads the module and logs in.
control C_Sign=CKR_DEVICE_REMOVED
failing broken 'not present'
control C_Login=CKR_PIN_INCORRECT
failing pin 'wrong PIN'
grep -q 'C_Login' "$P11FAULT_LOG" || fail "C_Login was not faulted"
recovered after-pin

# A delay: the close waits for the token and signs.
control C_Sign.delay_ms=600
t0=$(date +%s%N)
cp "$src" "$M/slow"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -ge 550 ] || fail "the delay was not seen ($ms ms)"
ob_ok slow
note "C_Sign delayed 600 ms: close took $ms ms and signed"
# A delay then a failure: still EIO, one record.
control C_Sign.delay_ms=300 C_Sign=CKR_GENERAL_ERROR
failing slow-fail 'general error|CKR 0x5\)'
recovered after-slow-fail

# A rename re-signs for the new path. With the token failing, the rename
# fails with EIO and changes nothing: the file keeps its name and its
# signature, the new name has neither, and its sign record (written
# before the token was asked) is answered by sign-failed.
cp "$src" "$M/mv-src"
ob_ok mv-src
control C_Sign=CKR_DEVICE_REMOVED
if mv "$M/mv-src" "$M/mv-dst" 2>"$SFS_TMP/mv.err"; then
	fail "mv succeeded with the token failing"
fi
grep -q "Input/output error" "$SFS_TMP/mv.err" ||
	fail "mv: not EIO: $(cat "$SFS_TMP/mv.err")"
[ ! -e "$B/mv-dst" ] && [ ! -e "$B/mv-dst.sig" ] || fail "mv-dst exists"
ob_ok mv-src
answered_pair mv-dst 'not present'
control ''
sleep 0.3 # the HSM layer's 250 ms back-off from a failed recovery
mv "$M/mv-src" "$M/mv-dst" || fail "mv after recovery"
ob_ok mv-dst

# A directory exchanged with a signed file, the token failing: EIO,
# nothing changes. The failure is recorded for the path the directory
# would have had, which is the file's: that sign-failed answers no sign
# record, so the file's own sign record still vouches for its signature.
mkdir "$M/xd"
cp "$src" "$M/xd/in"
cp "$src" "$M/xf"
ob_ok xd/in
ob_ok xf
control C_Sign=CKR_GENERAL_ERROR
if python3 - "$M/xd" "$M/xf" <<'PY'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.renameat2(-100, sys.argv[1].encode(), -100, sys.argv[2].encode(), 2):
    sys.exit(os.strerror(ctypes.get_errno()))
PY
then
	fail "RENAME_EXCHANGE succeeded with the token failing"
fi
control ''
ob_ok xd/in
ob_ok xf
[ -d "$B/xd" ] && [ -f "$B/xf" ] || fail "the exchange changed something"
python3 - "$AUDIT" <<'PY' || fail "xf: records"
import json, sys
recs = list(map(json.loads, open(sys.argv[1], "rb")))
signs = [r for r in recs if r.get("event") == "sign" and r.get("path") == "xf"]
answered = {r.get("answers") for r in recs if r.get("event") == "sign-failed"}
stray = [r for r in recs if r.get("event") == "sign-failed" and
         r.get("path") == "xf" and r.get("answers") is None]
if len(signs) != 1 or signs[0]["seq"] in answered:
    sys.exit(f"xf's sign record is answered: {signs}, answers {answered}")
if len(stray) != 1:
    sys.exit(f"xf: expected one failure record that answers nothing: {stray}")
print(f"# xf: its sign record {signs[0]['seq']} stands; the exchange's "
      f"failure {stray[0]['seq']} answers nothing")
PY

ob_records_match_stats
SFS_LOG_ALLOW='signing .* failed|token|PKCS|pkcs11|login|session|CKR_|PIN|module' ob_stop
ob_audit_verify
