# SPDX-License-Identifier: Apache-2.0
"""docs/cli.md, signetfs(1) and 'signetfs CMD --help' say the same thing.

For every command (and audit's subcommands): each option --help lists is
in the command's section of cli.md (a short alias next to its long
name), and neither cli.md nor the man page names an option in a
command's section that --help does not know. The config keys of cli.md's
tables are exactly those src/policy parses, with the defaults the man
page gives; cli.md's exit codes read as the man page's EXIT STATUS.

usage: doc_agree.py SIGNETFS SRC_DIR BUILT_MAN_PAGE
"""
import re
import subprocess
import sys

signetfs, src, man_built = sys.argv[1:4]
problems = []


def help_of(*cmd):
    r = subprocess.run([signetfs, *cmd, '--help'], capture_output=True,
                       text=True)
    return r.stdout + r.stderr


def longs(text):
    return set(re.findall(r'(?<![\w-])--[a-z][a-z0-9-]*', text))


# Every command takes --help, whether or not its text lists it.
ANY = {'--help'}


def pairs(text):
    return re.findall(r'(?m)^\s+(-[A-Za-z]), (--[a-z][a-z0-9-]*)', text)


top = help_of()
commands = re.findall(r'(?m)^  ([a-z]+) ', top.split('commands:')[1].split('\n\n')[0])
helps = {'': top}
for c in commands:
    h = help_of(c)
    subs = sorted(set(re.findall(rf'signetfs {c} ([a-z]+)', h)))
    if not subs:
        helps[c] = h
    # A command with subcommands ("audit verify", "audit show") shares
    # one text; each subcommand's options are on its usage line.
    for sub in subs:
        hs = help_of(c, sub)
        helps[f'{c} {sub}'] = '\n'.join(
            line for line in hs.splitlines() if f'signetfs {c} {sub} ' in line)

# ---- cli.md ----------------------------------------------------------------
md = open(f'{src}/docs/cli.md', encoding='utf-8').read()
sections = {}
for part in re.split(r'(?m)^## ', md)[1:]:
    head, _, body = part.partition('\n')
    sections[head] = body


def md_sections(cmd):
    """Sections whose heading names `signetfs CMD` (CMD '' : the binary)."""
    want = f'`signetfs {cmd}`' if cmd else '`signetfs`'
    return [h for h in sections if want in h]


for cmd, h in helps.items():
    heads = md_sections(cmd)
    if not heads:
        problems.append(f'cli.md: no section for `{" ".join(["signetfs", cmd]).strip()}`')
        continue
    body = ''.join(sections[x] for x in heads)
    for o in longs(h):
        if f'`{o}' not in body:
            problems.append(f'cli.md, signetfs {cmd}: {o} missing')
    for short, long_ in pairs(h):
        if not re.search(rf'`{short}`, `{long_}[ `]', body):
            problems.append(f'cli.md, signetfs {cmd}: not "`{short}`, `{long_}"')
# Reverse: a section may name only options of the commands it is about.
for head, body in sections.items():
    named = re.findall(r'`signetfs(?: ([a-z]+(?: [a-z]+)?))?`', head)
    if not named:
        continue
    known = set(ANY)
    for n in named:
        known |= longs(helps.get(n, ''))
    for o in sorted(longs(body) - known):
        problems.append(f'cli.md, "{head}": {o} is not an option of it')

# ---- the man page: each command's section names its own options only ---------
roff = open(f'{src}/doc/signetfs.1.in', encoding='utf-8').read()
plain = roff.replace('\\-', '-')
for m in re.finditer(r'(?ms)^\.SS "([a-z]+(?: [a-z]+)?) .*?(?=^\.S[SH] )', plain):
    words = m.group(1).split()
    cmd = ' '.join(words) if ' '.join(words) in helps else words[0]
    if cmd not in helps:
        continue
    known = longs(helps[cmd]) | ANY
    if cmd in ('outbox', 'inbox'):
        known |= longs(helps['outbox']) | longs(helps['inbox'])
    for o in sorted(longs(m.group(0)) - known):
        problems.append(f'signetfs.1, section "{m.group(1)}": {o} is not an option of it')
opts = re.search(r'(?ms)^\.SH OPTIONS\n(.*?)^\.SH ', plain)
if not opts:
    problems.append('signetfs.1: no OPTIONS section (-V, --help)')
else:
    for short, long_ in pairs(top):
        if short not in opts.group(1) or long_ not in opts.group(1):
            problems.append(f'signetfs.1, OPTIONS: {short}, {long_} missing')
    for o in sorted(longs(opts.group(1)) - longs(top)):
        problems.append(f'signetfs.1, OPTIONS: {o} is not a top-level option')

# ---- config keys and defaults ----------------------------------------------------
conf_c = open(f'{src}/src/policy/config.c', encoding='utf-8').read()
code_keys = set(re.findall(r'strcmp\(k, "([a-z0-9-]+)"\)', conf_c))
rule_keys = set(re.findall(r'strcmp\(k, "([a-z0-9-]+)"\)',
                           open(f'{src}/src/policy/policy.c', encoding='utf-8').read()))
md_defaults = {}
for sec in ('`[signetfs]`', '`[outbox]`', '`[inbox]`'):
    m = re.search(rf'(?ms)^### {re.escape(sec)}\n(.*?)(?=^#|\Z)', md)
    if not m:
        problems.append(f'cli.md: no table for {sec}')
        continue
    for row in re.findall(r'(?m)^\| (`[^|]*) \| .* \| ([^|]*) \|$', m.group(1)):
        for k in re.findall(r'`([a-z0-9-]+)`', row[0]):
            md_defaults[k] = row[1].strip()
for k in sorted(code_keys - set(md_defaults)):
    problems.append(f'cli.md: config key {k} missing')
for k in sorted(set(md_defaults) - code_keys):
    problems.append(f'cli.md: config key {k} is not one the parser knows')
rule = re.search(r'(?ms)^### `\[rule GLOB\]`\n(.*?)(?=^#|\Z)', md)
for k in sorted(rule_keys - set(re.findall(r'`([a-z0-9-]+)`', rule.group(1) if rule else ''))):
    problems.append(f'cli.md, [rule GLOB]: key {k} missing')

# The man page's CONFIGURATION: ".B key" / ".BR a , b" tags, then the text.
conf_man = re.search(r'(?ms)^\.SH CONFIGURATION\n(.*?)^\.SH ', plain).group(1)
man_defaults = {}
for tag, text in re.findall(r'(?ms)^\.TP\n\.BR? ([^\n]+)\n(.*?)(?=^\.TP|^\.SS|\Z)', conf_man):
    keys = re.findall(r'([a-z][a-z0-9-]*)', tag.replace('"', ' '))
    words = re.sub(r'\s+', ' ', re.sub(r'(?m)^\.[A-Z]+ ?|\\f[BIRP]', '', text))
    d = re.search(r'\bdefault:? ([^).;:,]+)', words)
    for k in keys:
        if k in code_keys:
            man_defaults[k] = d.group(1).strip() if d else '—'
for k in sorted(code_keys):
    a, b = md_defaults.get(k), man_defaults.get(k)
    if b is None:
        problems.append(f'signetfs.1: config key {k} has no entry')
    elif a is not None and a != b:
        problems.append(f'default of {k}: cli.md says {a!r}, signetfs.1 {b!r}')

# ---- exit codes: the same words ------------------------------------------------
text = subprocess.run(['groff', '-man', '-Tutf8', '-rLL=1000n', '-rHY=0',
                       '-P-cbou', man_built], capture_output=True,
                      text=True).stdout
exit_man = re.search(r'(?ms)^EXIT STATUS\n(.*?)^\S', text).group(1)
man_codes = dict(re.findall(r'(?m)^\s+([0-3])\s+(\S.*)$', exit_man))
md_codes = dict(re.findall(r'(?m)^\| ([0-3]) \| (.*) \|$', md))
norm = lambda s: re.sub(r'\s+', ' ', s.replace('`', '')).strip()
for code in '0123':
    if code not in md_codes or code not in man_codes:
        problems.append(f'exit code {code}: missing from cli.md or signetfs.1')
    elif norm(md_codes[code]) != norm(man_codes[code]):
        problems.append(f'exit code {code}: cli.md says "{norm(md_codes[code])}", '
                        f'signetfs.1 "{norm(man_codes[code])}"')

for p in problems:
    print(f'disagree: {p}', file=sys.stderr)
sys.exit(1 if problems else 0)
