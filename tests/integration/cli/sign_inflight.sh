#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# signetfs sign without -j keeps many signatures in flight when the token
# is slow (a network HSM: tests/p11fault delays each C_Sign by 5 ms), and
# a thread per CPU when it is not (the same module, 1 ms). The fault
# module writes the most C_Sign calls it saw waiting at once to
# P11FAULT_PEAK. Twins: -j 2 on the slow token keeps 2; both runs verify.
. "$(dirname "$0")/../lib.sh"
[ -e /usr/lib/softhsm/libsofthsm2.so ] || skip "no SoftHSM"
[ -n "${P11FAULT:-}" ] && [ -e "$P11FAULT" ] || skip "no p11fault module"

t=$SFS_TMP
sfs_init "$t/key"
sed "s|^module = .*|module = $P11FAULT|" "$t/key/signetfs.conf" >"$t/slow.conf"
export P11FAULT_MODULE=/usr/lib/softhsm/libsofthsm2.so
export P11FAULT_CONTROL=$t/ctl P11FAULT_PEAK=$t/peak
cpus=$(nproc)

# run NAME [SIGN ARGS...]: sign 120 fresh files; the peak it reached
run() {
	local d=$t/$1
	shift
	mkdir -p "$d"
	for i in $(seq 1 120); do printf '%s %s\n' "$d" "$i" >"$d/f$i"; done
	rm -f "$t/peak"
	(cd "$d" && "$SIGNETFS" sign --config "$t/slow.conf" --root . "$@" -r .) ||
		fail "sign $*"
	"$SIGNETFS" verify --config "$t/key/signetfs.conf" --root "$d" -r "$d" >/dev/null ||
		fail "what sign $* made does not verify"
	cat "$t/peak"
}

echo 'C_Sign.delay_ms=5' >"$t/ctl"
p=$(run slow)
note "5 ms token, default -j: $p signatures in flight at most ($cpus CPUs)"
[ "$p" -ge 8 ] || fail "a slow token got only $p signatures in flight"
p=$(run slow_j2 -j 2)
note "5 ms token, -j 2: $p"
[ "$p" -le 2 ] || fail "-j 2 kept $p in flight"

# a token at 1 ms a signature is not slow (the threshold is 2 ms): a
# thread per CPU, so at most that many signatures wait at once
echo 'C_Sign.delay_ms=1' >"$t/ctl"
p=$(run fast)
note "1 ms token, default -j: $p"
[ "$p" -le "$cpus" ] || fail "a 1 ms token got $p signatures in flight ($cpus CPUs)"
