#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The outbox signing through a remote token: p11-kit server exports the
# SoftHSM token on a unix socket, the outbox loads p11-kit-client.so. The
# signatures verify; when the server goes away close() fails with EIO and
# nothing is signed; when it is back, signing resumes without a remount.
. "$(dirname "$0")/../lib.sh"
sfs_need_fuse
[ -n "$P11_CLIENT" ] || skip "no p11-kit-client.so"

t=$SFS_TMP
sfs_init "$t/key"
sock=$t/p11.sock
start_server() { p11kit_start "$t/key" "$sock"; }
stop_server() { p11kit_stop; }

p11kit_remote_conf "$t/key" "$t/remote.conf" "audit-log = $t/audit.log"
head -c 300000 /dev/urandom >"$t/src"
start_server
mkdir -p "$t/b"
sfs_mount outbox "$t/remote.conf" "$t/b" "$t/m"
pid=$SFS_PID log=$SFS_LOG

cp "$t/src" "$t/m/a" || fail "cp through the remote token"
sfs_verify_both "$t/remote.conf" "$t/b" "$t/b/a" "$t/key/ca.pem"
# Forgery twin.
printf x >>"$t/b/a"
"$SIGNETFS" verify --config "$t/remote.conf" --root "$t/b" "$t/b/a" >/dev/null &&
	fail "tampered file accepted"

stop_server
if cp "$t/src" "$t/m/gone" 2>"$t/cp.err"; then fail "cp succeeded without a server"; fi
grep -q "Input/output error" "$t/cp.err" || fail "not EIO: $(cat "$t/cp.err")"
[ ! -e "$t/b/gone.sig" ] || fail "a .sig exists without a server"
grep -q '"event":"sign-failed","path":"gone"' "$t/audit.log" || fail "no sign-failed record"

start_server
# The HSM layer retries with a short back-off: poll with a deadline.
cp_ok() { cp "$t/src" "$t/m/back" 2>/dev/null; }
wait_for 15 cp_ok || { cat "$log" >&2; fail "not signed after the server came back"; }
sfs_verify_both "$t/remote.conf" "$t/b" "$t/b/back" "$t/key/ca.pem"
cp "$t/src" "$t/m/gone" || fail "rewrite after recovery"
sfs_verify_both "$t/remote.conf" "$t/b" "$t/b/gone" "$t/key/ca.pem"

SFS_LOG_ALLOW='PKCS|pkcs11|token|slot|session|sign|login|module|CKR_|p11-kit' \
	sfs_umount "$t/m" "$pid" "$log"
stop_server
"$SIGNETFS" audit verify --config "$t/remote.conf" "$t/audit.log" >/dev/null ||
	fail "audit log does not verify"
echo "p11kit_outbox: ok"
