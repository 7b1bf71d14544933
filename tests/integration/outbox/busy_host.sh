#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A close signs before it returns on a busy machine too. To know that no
# process started since the open holds the file, the outbox looked at
# every pid handed out since, and gave up above 1,024: the close then
# returned unsigned and the release signed later (fsx_outbox met this
# while other jobs started ~270 processes a second). Now the live
# processes are listed from /proc instead. The token is slowed (p11fault,
# C_Sign 300 ms) so that a signature left to the release cannot be there
# yet when close returns. Twin: a child started after the open that keeps
# the descriptor is still found among those thousands, and its write is
# signed by its own close, not by the opener's.
. "$(dirname "$0")/common.sh"
ob_p11fault_token C_Sign.delay_ms=300
ob_start

# writer NAME HOW: open NAME, start 1,500 processes (each gone at once),
# then HOW: close (write, close, and say whether NAME.sig exists the moment
# close returned) or child (fork a child that keeps the descriptor, close
# it in the opener: the child writes, closes and exits; say whether the
# .sig existed before the child wrote).
writer() {
	python3 - "$M/$1" "$B/$1.sig" "$2" <<'PY'
import os, subprocess, sys
path, sig, how = sys.argv[1:4]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
first = int(open("/proc/sys/kernel/ns_last_pid").read())
if how == "child":
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(w)
        os.read(r, 1)
        os.write(fd, b"from the child\n")
        os.close(fd)
        os._exit(0)
    os.close(r)
subprocess.run(["sh", "-c", "i=0; while [ $i -lt 1500 ]; do /bin/true; i=$((i + 1)); done"], check=True)
started = int(open("/proc/sys/kernel/ns_last_pid").read()) - first
if started < 0:  # the pid counter wrapped (to 300, the kernel's RESERVED_PIDS)
    started += int(open("/proc/sys/kernel/pid_max").read()) - 300
if started < 1100:
    sys.exit(f"only {started} processes started")
if how == "close":
    os.write(fd, b"written by the opener\n")
    os.close(fd)
    print("sig at close:", os.path.exists(sig))
    sys.exit(0)
os.close(fd)
print("sig before the child wrote:", os.path.exists(sig))
os.write(w, b"g")
os.close(w)
os.waitpid(child, 0)
PY
}

out=$(writer a close) || fail "writer a: $out"
[ "$out" = "sig at close: True" ] || fail "a: close returned before a.sig existed ($out)"
ob_ok a
[ "$(cat "$B/a")" = "written by the opener" ] || fail "a content"

out=$(writer b child) || fail "writer b: $out"
[ "$out" = "sig before the child wrote: False" ] ||
	fail "b: the opener's close signed while a child held the file ($out)"
wait_for 10 ob_records_is sign b 1 || fail "b: no sign record after the child's close"
# The sign record is written before the token is asked (300 ms here):
# the .sig follows it once the token has signed.
b_verifies() { "$SIGNETFS" verify --config "$CONF" --root "$B" "$B/b" >/dev/null 2>&1; }
wait_for 10 b_verifies || fail "b: no valid .sig after its sign record"
ob_ok b
[ "$(cat "$B/b")" = "from the child" ] || fail "b content"
ob_forge_flip b
ob_stop
ob_audit_verify
