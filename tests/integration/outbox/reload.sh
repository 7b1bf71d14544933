#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# SIGHUP reloads the config without a remount: a changed rule takes effect
# for the next operation, a handle open across the reload still signs; a
# config that does not parse, or whose key does not open, is rejected and
# the old policy stays. One config-reloaded audit record each time, and
# one line in the daemon's log per rejected reload.
. "$(dirname "$0")/common.sh"
mkdir -p "$SFS_TMP/backing/locked"
ob_start "$(printf '[rule locked/**]\nwriters-uid = 4242')"
records() { grep -c '"event":"config-reloaded"' "$AUDIT" || true; }
# hup N: signal a reload and wait for the Nth config-reloaded record
at_least() { [ "$(records)" -ge "$1" ]; }
hup() {
	kill -HUP "$OB_PID"
	wait_for 10 at_least "$1" ||
		fail "no config-reloaded record after SIGHUP $1"
}
ob_errno EACCES "open('$M/locked/a', 'w')"
ob_audited policy-denied locked/a
# a writer with a handle open across the reload
exec 3>"$M/open-across"
echo before >&3
sed -i 's/^writers-uid = 4242$/writers-uid = 0/' "$CONF"
hup 1
grep '"event":"config-reloaded"' "$AUDIT" | grep -q '"reason":"loaded ' ||
	fail "the reload record does not say it loaded"
echo after >&3
exec 3>&-
ob_ok open-across
echo now-allowed >"$M/locked/a"
ob_ok locked/a
# A config that does not parse: rejected, the old policy stays.
good=$TOK/good.conf # next to CONF: same relative paths
cp "$CONF" "$good"
printf '[rule locked/**]\nwriters-uid = 4242\nthis line is not INI\n' >>"$CONF"
hup 2
tail -1 "$AUDIT" | grep '"event":"config-reloaded"' | grep -q '"reason":"rejected' ||
	fail "no rejected record: $(tail -1 "$AUDIT")"
echo still-allowed >"$M/locked/b"
CONF=$good ob_ok locked/b
# A config whose key does not open: rejected too.
sed 's/^key = .*/key = pkcs11:token=signetfs;object=no-such-key;type=private/' \
	"$good" >"$CONF"
grep -q 'object=no-such-key' "$CONF" || fail "test setup: no key line"
hup 3
tail -1 "$AUDIT" | grep -q '"reason":"rejected' || fail "bad key accepted"
echo signed-by-old-key >"$M/locked/c"
CONF=$good ob_ok locked/c
# Back to a good config that locks root out again: in force at once.
sed 's/^writers-uid = 0$/writers-uid = 4242/' "$good" >"$CONF"
hup 4
ob_errno EACCES "open('$M/locked/d', 'w')"
ob_records_match_stats
[ "$(records)" -eq 4 ] || fail "$(records) config-reloaded records for 4 SIGHUPs"
# Each rejected reload is one line in the daemon's log, not two.
[ "$(grep -c 'reload' "$OB_LOG")" -eq 2 ] ||
	{ cat "$OB_LOG" >&2; fail "want one log line per rejected reload (2)"; }
grep -q 'reload failed, keeping the old settings: .*outbox.conf:[0-9]*: syntax error' "$OB_LOG" ||
	{ cat "$OB_LOG" >&2; fail "the rejected reload's line does not say why"; }
SFS_LOG_ALLOW='reload|rejected|no-such-key|not INI|key|token|PKCS|pkcs11|object' ob_stop
"$SIGNETFS" audit verify --config "$CONF" "$AUDIT" >/dev/null ||
	fail "audit verify rejected the log"
