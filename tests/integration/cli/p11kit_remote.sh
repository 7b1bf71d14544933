#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Remote token through p11-kit's RPC: `p11-kit server` exports the SoftHSM
# token on a unix socket, signetfs signs through p11-kit-client.so. A
# server that goes away is a clear token error (exit 3, no .sig) that
# names the server's address; signing works again when it is back.
. "$(dirname "$0")/../lib.sh"
[ -e /usr/lib/softhsm/libsofthsm2.so ] || skip "no SoftHSM"
[ -n "$P11_CLIENT" ] || skip "no p11-kit-client.so"

t=$SFS_TMP
sfs_init "$t/key"
sock=$t/p11.sock
start_server() { p11kit_start "$t/key" "$sock"; }
stop_server() { p11kit_stop; }

# The client side's config: only the module and the socket differ.
p11kit_remote_conf "$t/key" "$t/remote.conf"
mkdir "$t/r" && cd "$t/r"
echo one >a; echo two >b; echo three >c

start_server
"$SIGNETFS" sign --config "$t/remote.conf" a || fail "remote sign"
"$SIGNETFS" verify --config "$t/remote.conf" a >/dev/null || fail "remote signature rejected"
# Forgery twin: the remote signature binds content like any other.
echo tampered >>a
"$SIGNETFS" verify --config "$t/remote.conf" a >/dev/null && fail "tampered accepted"

stop_server
rc=0
"$SIGNETFS" sign --config "$t/remote.conf" b 2>"$t/err" || rc=$?
[ $rc -eq 3 ] || { cat "$t/err"; fail "server gone: exit $rc, want 3"; }
[ ! -e b.sig ] || fail "a .sig was written without a server"
note "server gone: $(cat "$t/err")"
# The message names the server that does not answer, not only the module.
grep -qF "the p11-kit server at unix:path=$sock is not answering" "$t/err" ||
	fail "server gone: the message does not name the server: $(cat "$t/err")"

start_server
"$SIGNETFS" sign --config "$t/remote.conf" b c || fail "sign after the server came back"
"$SIGNETFS" verify --config "$t/remote.conf" b c >/dev/null || fail "verify after restart"
stop_server
echo "p11kit_remote: ok"
