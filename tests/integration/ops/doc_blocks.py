# SPDX-License-Identifier: Apache-2.0
"""The shell a document tells its reader to type, as one script.

usage: doc_blocks.py TAG FILE...

Every ```sh block of FILE must be preceded by a marker line:
  <!-- doctest: run -->            run by tests/integration/ops/docs.sh
  <!-- doctest: agent -->          run by it too, on a second system (a
                                   build agent of the p11-kit section)
  <!-- doctest: debian -->         run by the CI stage debian (.ci/run)
  <!-- doctest: skip: REASON -->   not run, and why
Prints the blocks tagged TAG, in order, each after a comment naming its
file and line; exits 1 (naming the block) if a sh block has no marker,
so a new step in the docs cannot go untested by accident.
"""
import re
import sys

tag, files = sys.argv[1], sys.argv[2:]
MARK = re.compile(r'<!-- doctest: (run|agent|debian|skip: \S.*?) -->$')
bad = []
out = []
for path in files:
    lines = open(path, encoding='utf-8').read().split('\n')
    i = 0
    while i < len(lines):
        m = re.match(r'```(\w*)', lines[i])
        if not m:
            i += 1
            continue
        start = i
        j = i + 1
        while j < len(lines) and not lines[j].startswith('```'):
            j += 1
        if m.group(1) in ('sh', 'bash', 'shell'):
            k = start - 1
            while k >= 0 and lines[k].strip() == '':
                k -= 1
            mk = MARK.match(lines[k].strip()) if k >= 0 else None
            if not mk:
                bad.append(f'{path}:{start + 1}: sh block without a doctest marker')
            elif mk.group(1) == tag:
                out.append(f'# --- {path}:{start + 1}')
                out.extend(lines[start + 1:j])
        elif start > 0 and MARK.match(lines[start - 1].strip()):
            bad.append(f'{path}:{start + 1}: doctest marker on a non-sh block')
        i = j + 1
for b in bad:
    print(b, file=sys.stderr)
if bad:
    sys.exit(1)
print('\n'.join(out))
