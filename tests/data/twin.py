#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Forgery twins of a signature's signetfs-version attribute (.1.3).

Each twin is the golden signature with that one attribute changed and the
DER around it re-encoded (lengths, and the signed attributes re-sorted as
DER sorts a SET OF), so that it still parses as DER and only the attribute
is wrong. The signature over the attributes no longer verifies either: the
verifier must refuse each at the attribute rule, with the reason written
to twins.txt, before it gets to the signature (docs/signature-format.md,
"Versions and golden fixtures").

usage: twin.py GOLDEN.sig OUTDIR     writes OUTDIR/NAME.sig, OUTDIR/twins.txt
"""
import os
import sys

# 2.25.106367305641964467425266344124869205754.1.3, the OID's content bytes
OID_VERSION = bytes.fromhex('6981a085ccc487bfbaa3cd98a3cac4f7adedbd7a0103')


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, 'big')
    return bytes([0x80 | len(b)]) + b


class Node:
    def __init__(self, tag, content, raw):
        self.tag, self.content, self.raw = tag, content, raw
        self.kids = None
        self.dirty = False
        self.indefinite = False
        if tag & 0x20:
            self.kids, i = [], 0
            while i < len(content):
                kid, i = parse(content, i)
                self.kids.append(kid)

    def encode(self):
        if not self.dirty:
            return self.raw
        body = b''.join(k.encode() for k in self.kids)
        if self.indefinite:
            return bytes([self.tag, 0x80]) + body + b'\0\0'
        return bytes([self.tag]) + der_len(len(body)) + body


def parse(b, i=0):
    start, tag = i, b[i]
    n = b[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7f
        n = int.from_bytes(b[i:i + k], 'big')
        i += k
    return Node(tag, b[i:i + n], b[start:i + n]), i + n


def node(hexbytes):
    return parse(bytes.fromhex(hexbytes.replace(' ', '')))[0]


def find(n, path):
    """The path from n to the signetfs-version Attribute."""
    if n.kids is None:
        return None
    if (n.tag == 0x30 and n.kids and n.kids[0].tag == 0x06 and
            n.kids[0].content == OID_VERSION):
        return path + [n]
    for k in n.kids:
        p = find(k, path + [n])
        if p:
            return p
    return None


def twin(golden, change):
    root = parse(golden)[0]
    path = find(root, [])
    if not path:
        sys.exit('twin.py: no signetfs-version attribute in the golden')
    attrs, attr = path[-2], path[-1]
    change(attrs, attr)
    for n in path:
        n.dirty = True
    # signedAttrs is a SET OF: DER orders its members by their encoding.
    attrs.kids.sort(key=lambda k: k.encode())
    return root.encode()


def value(hexbytes):
    def change(attrs, attr):
        attr.kids[1].kids[0] = node(hexbytes)
        attr.kids[1].dirty = True
    return change


def indefinite(attrs, attr):
    v = node('30 06 02 01 01 02 01 02')
    v.dirty = v.indefinite = True
    attr.kids[1].kids[0] = v
    attr.kids[1].dirty = True


def twice(attrs, attr):
    attrs.kids.append(node(attr.raw.hex()))


def two_values(attrs, attr):
    attr.kids[1].kids.append(node('30 06 02 01 01 02 01 03'))
    attr.kids[1].kids.sort(key=lambda k: k.encode())
    attr.kids[1].dirty = True


TWINS = [
    ('zero', value('30 06 02 01 01 02 01 00'), 'attribute-malformed'),
    ('negative', value('30 06 02 01 01 02 01 ff'), 'attribute-malformed'),
    ('too-large', value('30 0e 02 01 01 02 09 00 80 00 00 00 00 00 00 00'),
     'attribute-malformed'),
    ('non-minimal', value('30 07 02 01 01 02 02 00 02'), 'attribute-malformed'),
    ('indefinite', indefinite, 'attribute-malformed'),
    ('extra', value('30 09 02 01 01 02 01 02 02 01 00'), 'attribute-malformed'),
    ('bare', value('02 01 02'), 'attribute-malformed'),
    ('v2', value('30 06 02 01 02 02 01 02'), 'attribute-version'),
    ('twice', twice, 'attribute-missing'),
    ('values', two_values, 'attribute-missing'),
    ('bumped', value('30 06 02 01 01 02 01 03'), 'bad-signature'),
]


def main():
    golden = open(sys.argv[1], 'rb').read()
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, 'twins.txt'), 'w') as listing:
        for name, change, reason in TWINS:
            der = twin(golden, change)
            if der == golden:
                sys.exit(f'twin.py: {name} changed nothing')
            with open(os.path.join(out, name + '.sig'), 'wb') as f:
                f.write(der)
            listing.write(f'{name} {reason}\n')


if __name__ == '__main__':
    main()
