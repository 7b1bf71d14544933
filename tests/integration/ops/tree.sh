#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# sign -r / verify -r over a tree: every regular file signed, *.sig and
# temp files left out, symlinks not followed; one tampered file fails alone;
# a progress line only on a terminal.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib_ops.sh"
[ -e /usr/lib/softhsm/libsofthsm2.so ] || skip "no SoftHSM"
t=$SFS_TMP
sfs_init "$t/key"
conf=$t/key/signetfs.conf
mkdir -p "$t/root/tree/a/b" "$t/root/tree/c" "$t/outside"
cd "$t/root"
for i in $(seq 1 40); do echo "file $i" >"tree/a/f$i"; done
head -c 3000000 /dev/urandom >tree/a/b/big
: >tree/c/empty
printf 'x' >"tree/c/name with spaces"
echo secret >"$t/outside/secret"
ln -s "$t/outside/secret" tree/c/link       # not followed
ln -s "$t/outside" tree/c/dirlink           # not descended
tmp=.sfs-tmp-abc123def456.sig.sig           # a signetfs temp file (layout 2)
printf 'stale' >"tree/c/$tmp"
mkfifo tree/c/fifo

"$SIGNETFS" sign --config "$conf" -r tree/ 2>"$t/err" ||
	{ cat "$t/err"; fail "sign -r"; }
[ ! -s "$t/err" ] || { cat "$t/err"; fail "sign -r printed on a non-terminal"; }
n=$(find tree -type f ! -name '*.sig' | wc -l)
[ "$(find tree -name '*.sig' ! -name "$tmp" | wc -l)" -eq "$n" ] ||
	fail "not one .sig per file"
[ -s tree/a/b/big.sig ] && [ -s tree/c/empty.sig ] || fail "missing .sig"
[ ! -e tree/c/link.sig ] || fail "a symlink was signed"
[ ! -e "tree/c/$tmp.sig" ] || fail "a temp file was signed"
[ ! -e "$t/outside/secret.sig" ] || fail "followed a directory symlink"
[ ! -e tree/a/f1.sig.sig ] || fail "signed a .sig"

# Verifying the tree: one line per file, all OK.
"$SIGNETFS" verify --config "$conf" -r tree >"$t/out" 2>"$t/err" ||
	{ cat "$t/out" "$t/err"; fail "verify -r"; }
[ "$(grep -c '^OK ' "$t/out")" -eq "$n" ] || fail "not $n OK lines"
grep -q '^OK tree/a/b/big$' "$t/out" || fail "paths not as walked"
[ ! -s "$t/err" ] || fail "verify -r printed on stderr"
# Each file was signed with its own path: the same tree under another
# root is refused.
(cd tree && "$SIGNETFS" verify --config "$conf" -r a >/dev/null) &&
	fail "path binding lost with -r"

# Tamper with one file: exactly that one fails, exit 1.
echo "file 7, changed" >tree/a/f7
rc=0
"$SIGNETFS" verify --config "$conf" -r tree >"$t/out" || rc=$?
[ "$rc" -eq 1 ] || fail "tampered tree: exit $rc, want 1"
[ "$(grep -c '^FAIL' "$t/out")" -eq 1 ] || fail "not exactly one FAIL"
grep -q '^FAIL tree/a/f7: .*content does not match' "$t/out" ||
	fail "wrong file or reason: $(grep FAIL "$t/out")"
# A file added without a signature is reported too.
echo new >tree/c/unsigned
out=$("$SIGNETFS" verify --config "$conf" -r --json tree) && fail "unsigned"
echo "$out" | python3 -c '
import json, sys
bad = sorted(r["file"] for r in map(json.loads, sys.stdin) if not r["ok"])
assert bad == ["tree/a/f7", "tree/c/unsigned"], bad' || fail "json -r"

# An unreadable directory makes verify -r fail, naming it.
if [ "$(id -u)" -ne 0 ]; then
	mkdir tree/locked && chmod 000 tree/locked
	"$SIGNETFS" verify --config "$conf" -r tree >/dev/null 2>"$t/err" &&
		fail "unreadable directory ignored"
	grep -q 'tree/locked' "$t/err" || fail "unreadable directory not named"
	chmod 700 tree/locked
fi

# Progress: on a terminal a \r-redrawn line with files, bytes, rate, ETA
# and a closing summary; stdout keeps one result line per file.
rm tree/c/unsigned
echo "file 7" >tree/a/f7
python3 - "$SIGNETFS" "$conf" "$n" <<'PY' || fail "progress on a terminal"
import os, pty, subprocess, sys
master, slave = pty.openpty()
p = subprocess.run([sys.argv[1], "verify", "--config", sys.argv[2], "-r",
                    "tree"], stdout=subprocess.PIPE, stderr=slave)
os.close(slave)
err = b""
while True:
    try:
        d = os.read(master, 65536)
    except OSError:
        break
    if not d:
        break
    err += d
err = err.decode()
assert p.returncode == 0, (p.returncode, err)
assert "\r" in err and "ETA" in err and "files" in err, repr(err)
n = int(sys.argv[3])
assert "verify: 0/%d files, 0 B/" % n in err, repr(err)
assert err.rstrip().splitlines()[-1].split("\r")[-1].startswith(
    "verify: %d files, " % n), repr(err)
out = p.stdout.decode().splitlines()
assert len(out) == n and all(l.startswith("OK ") for l in out), out
PY
echo "tree: ok"
