#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# signetfs status on an inbox (issue 7, item 3): after a known sequence the
# counters read through the root's xattr say what happened, and
# --prometheus output passes a strict check of the text exposition format.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup
command -v python3 >/dev/null || skip "no python3"

N=12
M_DENIED=5
mkdir -p "$B/pub/sub"
bytes=0
for i in $(seq 1 $N); do
	f=pub/f$i
	[ "$i" -gt 8 ] && f=pub/sub/f$i
	mkdata "$B/$f" $((1000 * i))
	bytes=$((bytes + 1000 * i))
	ib_sign "$f"
done
for i in $(seq 1 $M_DENIED); do printf 'unsigned %d\n' "$i" >"$B/pub/u$i"; done

ib_mount --prewarm
st() { "$SIGNETFS" status --json "$M" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
prewarmed() { [ "$(st prewarm_total)" -eq $((N + M_DENIED)) ] &&
	[ "$(st prewarm_done)" -eq $((N + M_DENIED)) ]; }
wait_for 20 prewarmed || fail "prewarm: $(st prewarm_done)/$(st prewarm_total)"
for i in 1 2 3; do ls -lR "$M" >/dev/null; done
cat "$M/pub/f1" "$M/pub/sub/f9" "$M/pub/f1.sig" >/dev/null
hidden pub/u1

# The stats xattr is on the root only, and listed there only.
getfattr -d -m - "$M" 2>/dev/null | grep -q '^user.signetfs.stats=' ||
	fail "root does not list user.signetfs.stats"
getfattr -d -m - "$M/pub/f1" 2>/dev/null | grep -q 'signetfs.stats' &&
	fail "a file lists user.signetfs.stats"

"$SIGNETFS" status --prometheus "$M" >"$T/prom.txt" || fail "status --prometheus"
"$SIGNETFS" status "$M" >"$T/human.txt" || fail "status"
python3 - "$T/prom.txt" "$N" "$M_DENIED" "$bytes" "$(realpath "$M")" <<'PY'
"""Strict check of the Prometheus text exposition format (0.0.4)."""
import math, re, sys

path, n_ok, n_denied, n_bytes, mnt = sys.argv[1], *map(int, sys.argv[2:5]), sys.argv[5]
NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
LNAME = r'[a-zA-Z_][a-zA-Z0-9_]*'
TYPES = {'counter', 'gauge', 'histogram', 'summary', 'untyped'}

def die(lineno, why):
    sys.exit(f'FAIL: prometheus line {lineno}: {why}')

def parse_float(s, lineno):
    if s in ('+Inf', 'Inf'):
        return math.inf
    if s == '-Inf':
        return -math.inf
    if s == 'NaN':
        return math.nan
    if not re.fullmatch(r'[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?', s):
        die(lineno, f'bad float {s!r}')
    return float(s)

def parse_labels(s, lineno):
    """s is what follows '{'; returns (labels, rest after '}')."""
    labels, i = {}, 0
    while True:
        if s[i:i + 1] == '}':
            return labels, s[i + 1:]
        m = re.match(LNAME, s[i:])
        if not m:
            die(lineno, 'bad label name')
        name = m.group(0)
        i += len(name)
        if s[i:i + 2] != '="':
            die(lineno, 'label without ="')
        i += 2
        val = []
        while True:
            if i >= len(s):
                die(lineno, 'unterminated label value')
            c = s[i]
            if c == '\\':
                esc = s[i + 1:i + 2]
                if esc not in ('\\', '"', 'n'):
                    die(lineno, f'bad escape \\{esc}')
                val.append('\n' if esc == 'n' else esc)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == '\n':
                die(lineno, 'raw newline in label value')
            else:
                val.append(c)
                i += 1
        if name in labels:
            die(lineno, f'label {name} twice')
        labels[name] = ''.join(val)
        if s[i:i + 1] == ',':
            i += 1
        elif s[i:i + 1] != '}':
            die(lineno, 'expected , or }')

text = open(path, encoding='utf-8').read()
if not text.endswith('\n'):
    die(0, 'no final newline')
help_, type_, samples, seen_series = {}, {}, [], set()
current, closed = None, set()
for lineno, line in enumerate(text[:-1].split('\n'), 1):
    if line == '':
        die(lineno, 'empty line')
    if line.startswith('#'):
        m = re.fullmatch(rf'# (HELP|TYPE) ({NAME}) (.*)', line)
        if not m:
            if re.match(r'# (HELP|TYPE) ', line):
                die(lineno, 'malformed HELP/TYPE')
            continue
        kind, fam, rest = m.groups()
        if fam in closed or (fam != current and any(s[4] == fam for s in samples)):
            die(lineno, f'{kind} for {fam} after its samples')
        if current and fam != current:
            closed.add(current)
        current = fam
        table = help_ if kind == 'HELP' else type_
        if fam in table:
            die(lineno, f'second {kind} for {fam}')
        if kind == 'TYPE' and rest not in TYPES:
            die(lineno, f'unknown type {rest}')
        if kind == 'HELP' and re.search(r'\\[^\\n]', rest):
            die(lineno, 'bad escape in HELP')
        table[fam] = rest
        continue
    m = re.match(NAME, line)
    if not m:
        die(lineno, 'bad metric name')
    name, rest = m.group(0), line[m.end():]
    labels = {}
    if rest.startswith('{'):
        labels, rest = parse_labels(rest[1:], lineno)
    parts = rest.split(' ')
    if parts[0] != '' or len(parts) not in (2, 3):
        die(lineno, 'expected exactly one space, a value, maybe a timestamp')
    value = parse_float(parts[1], lineno)
    if len(parts) == 3 and not re.fullmatch(r'-?\d+', parts[2]):
        die(lineno, 'bad timestamp')
    fam = name
    for suffix in ('_bucket', '_sum', '_count'):
        base = name[:-len(suffix)]
        if name.endswith(suffix) and type_.get(base) in ('histogram', 'summary'):
            fam = base
    if fam not in type_ or fam not in help_:
        die(lineno, f'sample {name} before HELP and TYPE of {fam}')
    if fam != current:
        die(lineno, f'sample of {fam} outside its family block')
    if type_[fam] in ('counter', 'gauge') and name != fam:
        die(lineno, f'{name} in {type_[fam]} family {fam}')
    if type_[fam] == 'counter' and (value < 0 or math.isnan(value)):
        die(lineno, 'negative counter')
    key = (name, tuple(sorted(labels.items())))
    if key in seen_series:
        die(lineno, f'duplicate series {key}')
    seen_series.add(key)
    samples.append((lineno, name, labels, value, fam))

# Histograms: per label set, buckets ascending in le, cumulative,
# le="+Inf" last and equal to _count; _sum present.
for fam, t in type_.items():
    if t != 'histogram':
        continue
    groups = {}
    for lineno, name, labels, value, f in samples:
        if f != fam:
            continue
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != 'le'))
        g = groups.setdefault(rest, {'buckets': [], 'sum': None, 'count': None})
        if name == fam + '_bucket':
            if 'le' not in labels:
                die(lineno, 'bucket without le')
            g['buckets'].append((parse_float(labels['le'], lineno), value, lineno))
        elif name == fam + '_sum':
            g['sum'] = value
        elif name == fam + '_count':
            g['count'] = value
        else:
            die(lineno, f'{name} in histogram {fam}')
    if not groups:
        sys.exit(f'FAIL: histogram {fam} has no samples')
    for rest, g in groups.items():
        b = g['buckets']
        if not b or b[-1][0] != math.inf:
            sys.exit(f'FAIL: {fam}: last bucket is not le="+Inf"')
        for (le0, v0, _), (le1, v1, ln) in zip(b, b[1:]):
            if not le1 > le0:
                die(ln, 'le not ascending')
            if v1 < v0:
                die(ln, 'buckets not cumulative')
        if g['count'] is None or g['sum'] is None:
            sys.exit(f'FAIL: {fam}: _sum or _count missing')
        if b[-1][1] != g['count']:
            sys.exit(f'FAIL: {fam}: +Inf bucket {b[-1][1]} != _count {g["count"]}')

def value(metric):
    vals = [v for _, n, l, v, _ in samples if n == metric]
    if len(vals) != 1:
        sys.exit(f'FAIL: {metric}: {len(vals)} samples')
    lab = [l for _, n, l, v, _ in samples if n == metric][0]
    if lab.get('mountpoint') != mnt or lab.get('mode') != 'inbox':
        sys.exit(f'FAIL: {metric}: labels {lab}')
    return vals[0]

want = {
    'signetfs_files_verified_total': n_ok,
    'signetfs_files_denied_total': n_denied,
    'signetfs_verify_cache_misses_total': n_ok + n_denied,
    'signetfs_hashed_bytes_total': n_bytes,
    'signetfs_prewarm_found_files': n_ok + n_denied,
    'signetfs_prewarm_checked_files': n_ok + n_denied,
    'signetfs_files_signed_total': 0,
}
for metric, v in want.items():
    if value(metric) != v:
        sys.exit(f'FAIL: {metric} = {value(metric)}, want {v}')
if value('signetfs_verify_cache_hits_total') < 3 * (n_ok + n_denied):
    sys.exit('FAIL: too few cache hits for three listings')
print(f'# {len(samples)} samples in {len(type_)} families parse strictly')
PY
grep -q "files_verified *$N\$" "$T/human.txt" || fail "human status: $(cat "$T/human.txt")"
[ "$(grep -c '"event":"verify-denied"' "$AUDIT")" -eq "$M_DENIED" ] ||
	fail "verify-denied records != files_denied"
ib_umount
