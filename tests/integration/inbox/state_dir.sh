#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Where a state directory may be (issue 15): never inside BACKING, ours
# alone (owner, modes, its key 0600), and made for this BACKING: one copied
# from another mount, or the same one used for another BACKING, proves
# nothing, so the mount refuses it and says how to start over. Started
# over, the inbox hashes the tree again (what the copy said is not used).
# After a crash (no seal) the store is taken, with a warning.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup
st() { "$SIGNETFS" status --json "$M" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

mkdir -p "$B/d"
mkdata "$B/d/f" 10000
ib_sign d/f

with_state() { # DIR: CONF with state-dir = DIR
	sed -i '/^state-dir = /d' "$CONF"
	printf '\n[signetfs]\nstate-dir = %s\n' "$1" >>"$CONF"
}
refused() { # BACKING TEXT: the inbox does not mount, and says TEXT
	if "$SIGNETFS" inbox --config "$CONF" "$1" "$M" >"$T/m.log" 2>&1; then
		fusermount3 -u "$M" 2>/dev/null
		fail "mounted $1 with $(grep '^state-dir' "$CONF")"
	fi
	grep -q "$2" "$T/m.log" || fail "no '$2' in: $(cat "$T/m.log")"
}

# Inside BACKING: anyone who can write BACKING could write the state.
with_state "$B/.state"
refused "$B" "is inside"
[ ! -e "$B/.state" ] || fail "a state directory was made inside BACKING"
with_state "$B"
refused "$B" "is inside"
# Not ours, or writable by others.
mkdir -m 0777 "$T/loose"
with_state "$T/loose"
refused "$B" "not be writable by group or others"
mkdir -m 0700 "$T/theirs" && chown 4242 "$T/theirs"
with_state "$T/theirs"
refused "$B" "owned by uid 4242"
mkdir -m 0700 "$T/keyed"
head -c 32 /dev/urandom >"$T/keyed/key" && chmod 0644 "$T/keyed/key"
with_state "$T/keyed"
refused "$B" "mode 0600"

# A good one, used once.
with_state "$T/state"
ib_mount
visible d/f
ib_umount

# Copied (another inode: another machine, or a backup put elsewhere).
cp -a "$T/state" "$T/copy"
with_state "$T/copy"
refused "$B" "was made for another"
# The same directory for another BACKING (same files, other inodes).
cp -a "$B" "$T/backing2"
with_state "$T/state"
refused "$T/backing2" "was made for another"
refused "$T/backing2" "remove it to start over"
# Its content copied into the directory of another mount: refused too.
mkdir -m 0700 "$T/state2"
with_state "$T/state2"
B0=$B
B=$T/backing2
ib_mount
visible d/f
ib_umount
cp "$T/state/key" "$T/state/inbox.db" "$T/state2/"
refused "$T/backing2" "was made for another"
# Started over, it verifies again: nothing of the copy is used.
rm "$T/state2/inbox.db"
ib_mount
ls -l "$M/d" >/dev/null
[ "$(st state_hits)" -eq 0 ] || fail "state_hits $(st state_hits) after starting over"
[ "$(st bytes_hashed)" -eq 10000 ] || fail "bytes_hashed $(st bytes_hashed) after starting over"
visible d/f
ib_umount
# A crash (kill -9): no seal was written (it is removed at mount). The
# next mount takes the store, says it was not closed cleanly, and what it
# kept still proves what it says: nothing hashed for the listing.
ib_mount
ls -l "$M/d" >/dev/null
[ ! -e "$T/state2/inbox.seal" ] || fail "a seal while mounted"
kill -9 "$IB_PID"
wait "$IB_PID" 2>/dev/null || true
fusermount3 -u "$M"
[ ! -e "$T/state2/inbox.seal" ] || fail "a seal after a crash"
ib_mount
ls -l "$M/d" >/dev/null
grep -q "not closed cleanly" "$IB_LOG" || fail "no word of the crash: $(cat "$IB_LOG")"
[ "$(st bytes_hashed)" -eq 0 ] || fail "bytes_hashed $(st bytes_hashed) after a crash"
visible d/f
# Without ib_umount's audit check: the crashed session's records have no
# final checkpoint (that is the audit log's business, not the state's).
sfs_umount "$M" "$IB_PID" "$IB_LOG"
[ -e "$T/state2/inbox.seal" ] || fail "no seal after a clean unmount"
B=$B0
echo "state_dir: ok"
