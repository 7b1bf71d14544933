#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# signetfs status --prometheus against a known workload: N files copied
# into an outbox, then an inbox over its BACKING where M of them are read
# and K unsigned files looked up. Both mounts go in one exposition (each
# family's HELP and TYPE once, a sample per mount); the mountpoint label
# is the absolute path though a relative one was typed; names follow the
# Prometheus conventions (signetfs_ prefix, unit in the name, _total on
# counters only); and the values are the workload's.
# hsm_operations_total must be N (it was 2N: one signature counted twice)
# and hashed_bytes_total the N files' size (it was 0 when the running
# digest covered a file).
. "$(dirname "$0")/../lib.sh"
sfs_need_fuse
t=$SFS_TMP
sfs_init "$t/key"
conf=$t/key/signetfs.conf
N=5 M=3 K=2
cd "$t"
mkdir -p src back ob ib
size=0
for i in $(seq 1 $N); do
	head -c $((70000 * i + 13)) /dev/urandom >"src/f$i"
	size=$((size + 70000 * i + 13))
done
read_size=0
for i in $(seq 1 $M); do read_size=$((read_size + 70000 * i + 13)); done

sfs_mount outbox "$conf" back ob
ob_pid=$SFS_PID ob_log=$SFS_LOG
cp src/f* ob/ || fail "cp into the outbox"
for i in $(seq 1 $N); do [ -s "back/f$i.sig" ] || fail "f$i not signed"; done
for i in $(seq 1 $K); do echo "unsigned $i" >"back/u$i"; done
sfs_mount inbox "$conf" back ib
ib_pid=$SFS_PID ib_log=$SFS_LOG
for i in $(seq 1 $M); do cmp -s "ib/f$i" "src/f$i" || fail "ib/f$i not served"; done
for i in $(seq 1 $K); do [ ! -e "ib/u$i" ] || fail "ib/u$i served"; done

# Relative paths, as typed by an operator in the directory above.
"$SIGNETFS" status --prometheus ob >one.txt || fail "status --prometheus ob"
grep -q "^signetfs_files_signed_total{mountpoint=\"$t/ob\",mode=\"outbox\"} $N\$" one.txt ||
	fail "not the absolute mount point, or not $N: $(grep -m1 '^signetfs_files_signed' one.txt)"
"$SIGNETFS" status --prometheus ob ib >prom.txt || fail "status --prometheus ob ib"
python3 - prom.txt "$t/ob" "$t/ib" "$N" "$size" "$M" "$read_size" "$K" <<'PY'
import re, sys
path, ob, ib = sys.argv[1:4]
n, size, m, read_size, k = map(int, sys.argv[4:])
helps, types, val = {}, {}, {}
fam = None
for line in open(path):
    line = line.rstrip('\n')
    h = re.fullmatch(r'# (HELP|TYPE) (\S+) (.+)', line)
    if h:
        table = helps if h[1] == 'HELP' else types
        if h[2] in table:
            sys.exit(f'FAIL: second {h[1]} for {h[2]}')
        table[h[2]] = h[3]
        fam = h[2]
        continue
    s = re.fullmatch(r'([a-z_]+)\{mountpoint="([^"]*)",mode="([a-z]+)"(,le="[^"]+")?\} (\S+)', line)
    if not s:
        sys.exit(f'FAIL: unexpected line {line!r}')
    name, mnt, md, le, v = s.groups()
    if not name.startswith(fam):
        sys.exit(f'FAIL: {name} outside its family {fam}')
    if mnt not in (ob, ib):
        sys.exit(f'FAIL: mountpoint label {mnt!r} is not {ob!r} or {ib!r}')
    if md != ('outbox' if mnt == ob else 'inbox'):
        sys.exit(f'FAIL: {mnt} has mode {md}')
    if not le:
        val[(name, mnt)] = float(v)
# Conventions: prefix; counters and only counters end in _total; a
# quantity of bytes or seconds says so at the end of its name.
for f, t in types.items():
    if f not in helps:
        sys.exit(f'FAIL: {f} has no HELP')
    if not f.startswith('signetfs_'):
        sys.exit(f'FAIL: {f} lacks the signetfs_ prefix')
    if (t == 'counter') != f.endswith('_total'):
        sys.exit(f'FAIL: {f} is a {t}: _total is for counters, and every counter')
    base = f[:-len('_total')] if f.endswith('_total') else f
    if 'bytes' in f and not base.endswith('_bytes'):
        sys.exit(f'FAIL: {f}: the unit bytes belongs at the end')
    if t == 'histogram' and not f.endswith('_seconds'):
        sys.exit(f'FAIL: {f}: a duration in seconds says so')
for f in types:
    for mnt in (ob, ib):
        if types[f] != 'histogram' and (f, mnt) not in val:
            sys.exit(f'FAIL: no {f} for {mnt}')
def check(name, mnt, want):
    got = val.get((name, mnt))
    if got != want:
        sys.exit(f'FAIL: {name}{{mountpoint="{mnt}"}} = {got}, want {want}')
check('signetfs_hsm_operations_total', ob, n)
check('signetfs_hashed_bytes_total', ob, size)
check('signetfs_files_signed_total', ob, n)
check('signetfs_hsm_sign_duration_seconds_count', ob, n)
check('signetfs_sign_failures_total', ob, 0)
check('signetfs_sign_refusals_total', ob, 0)
check('signetfs_files_verified_total', ob, 0)
check('signetfs_files_signed_total', ib, 0)
check('signetfs_hsm_operations_total', ib, 0)
check('signetfs_files_verified_total', ib, m)
check('signetfs_files_denied_total', ib, k)
check('signetfs_verify_cache_misses_total', ib, m + k)
check('signetfs_hashed_bytes_total', ib, read_size)
served = val[('signetfs_read_bytes_total', ib)] + \
    val[('signetfs_page_cache_filled_bytes_total', ib)]
if served != read_size:
    sys.exit(f'FAIL: inbox read + filled bytes {served}, want {read_size}')
print(f'# {len(types)} families, values as the workload says')
PY
# Two mounts, one family block each: HELP and TYPE once per name.
[ "$(grep -c '^# TYPE signetfs_files_signed_total ' prom.txt)" -eq 1 ] ||
	fail "TYPE repeated per mount"
"$SIGNETFS" status ob >human.txt || fail "status"
head -n1 human.txt | grep -qx "$t/ob (outbox)" || fail "human: $(head -n1 human.txt)"
sfs_umount "$t/ib" "$ib_pid" "$ib_log"
sfs_umount "$t/ob" "$ob_pid" "$ob_log"
rc=0
"$SIGNETFS" status ob >/dev/null 2>err.txt || rc=$?
[ "$rc" -eq 2 ] && grep -q 'not a signetfs mount' err.txt || fail "status of a plain dir: $rc"
echo "metrics: ok"
