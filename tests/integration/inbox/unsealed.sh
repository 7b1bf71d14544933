#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The inbox signs nothing but audit checkpoints: when the config's key
# cannot be opened it still mounts and serves, says so, and keeps a
# hash-chained log without checkpoints (audit verify: intact but unsealed;
# --live accepts it). With the key, ib_umount checks the sealed log.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup
printf 'signed\n' >"$B/ok"
printf 'unsigned\n' >"$B/nosig"
ib_sign ok
# The mount's own log: `signetfs sign` above sealed its records in $AUDIT.
AUDIT=$T/inbox-audit.jsonl
printf '\n[signetfs]\npin-file = %s\naudit-log = %s\n' "$T/no-such-pin" \
	"$AUDIT" >>"$CONF"

ib_mount
visible ok
hidden nosig
audited nosig no-signature
sfs_umount "$M" "$IB_PID" "$IB_LOG"
grep -q 'audit log without checkpoints: cannot open the key' "$IB_LOG" ||
	fail "no word about the unsealed log: $(cat "$IB_LOG")"
! grep -q '"event":"checkpoint"' "$AUDIT" || fail "a checkpoint without a key"
"$SIGNETFS" audit verify --trust "$T/tok/ca.pem" "$AUDIT" >"$T/v.out" 2>&1 &&
	fail "an unsealed log verified as sealed"
grep -q 'final checkpoint' "$T/v.out" || fail "audit verify: $(cat "$T/v.out")"
"$SIGNETFS" audit verify --live --trust "$T/tok/ca.pem" "$AUDIT" >"$T/v.out" 2>&1 ||
	fail "the chain of an unsealed log: $(cat "$T/v.out")"
