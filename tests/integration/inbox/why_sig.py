#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Edit a signetfs .sig in place for inbox/why: the RFC 3161 token in its
unsigned attributes (docs/signature-format.md), each mode making one of
the verdict's tsa-* reasons, or an unsigned attribute that is no token.
Standard library and the openssl command only.

  why_sig.py graft SIG FROM       FROM.sig's token replaces SIG's
  why_sig.py twice SIG            its token twice (two attributes)
  why_sig.py garbage SIG          the token's value an OCTET STRING
  why_sig.py cert SIG CERT        the token's TSA certificate replaced by
                                  CERT (same issuer and serial, same key)
  why_sig.py noeku SIG CERT KEY   as cert, and the token's ESS names CERT,
                                  its signed attributes signed again by KEY
  why_sig.py other SIG            an unsigned attribute 1.2.3.4 (no token)
"""
import hashlib
import subprocess
import sys
import tempfile

TOKEN_OID = bytes.fromhex('060b2a864886f70d010910020e')  # timeStampToken


def parse(b, i=0):
    """The DER element at i: (tag, value, end); a constructed value is a
    list of elements, a primitive one its bytes."""
    tag, n, s = b[i], b[i + 1], i + 2
    if n & 0x80:
        k = n & 0x7f
        n, s = int.from_bytes(b[s:s + k], 'big'), s + k
    e = s + n
    if not tag & 0x20:
        return (tag, b[s:e], e)
    kids, j = [], s
    while j < e:
        t, v, j = parse(b, j)
        kids.append((t, v))
    return (tag, kids, e)


def der(node):
    tag, v = node
    body = b''.join(der(k) for k in v) if isinstance(v, list) else v
    n = len(body)
    head = bytes([n]) if n < 0x80 else \
        bytes([0x80 | (n.bit_length() + 7) // 8]) + \
        n.to_bytes((n.bit_length() + 7) // 8, 'big')
    return bytes([tag]) + head + body


def load(path):
    t, v, _ = parse(open(path, 'rb').read())
    return (t, v)


def signer_info(ci):
    """ContentInfo -> [0] -> SignedData -> signerInfos -> the SignerInfo."""
    return ci[1][1][1][0][1][-1][1][0]


def token_attrs(si):
    return [a for a in (si[1][-1][1] if si[1][-1][0] == 0xa1 else [])
            if der(a[1][0]).startswith(TOKEN_OID)]


def token_of(ci):
    (attr,) = token_attrs(signer_info(ci))
    return attr[1][1][1][0]  # Attribute: type, values SET { token }


def set_token(si, token, copies=1):
    """SignerInfo si with token as its only unsigned attribute(s)."""
    attr = (0x30, [(0x06, TOKEN_OID[2:]), (0x31, [token])])
    kids = si[1][:-1] if si[1][-1][0] == 0xa1 else si[1]
    si[1][:] = kids + [(0xa1, [attr] * copies)]


def token_parts(tok):
    """The token's SignedData children and its SignerInfo's children."""
    sd = tok[1][1][1][0][1]
    return sd, sd[-1][1][0][1]


def sign_attrs(signed, key):
    """The signed attributes, as the SET they are signed as, by key."""
    with tempfile.NamedTemporaryFile() as f:
        f.write(der((0x31, signed[1])))
        f.flush()
        return subprocess.run(['openssl', 'dgst', '-sha256', '-sign', key,
                               f.name], capture_output=True,
                              check=True).stdout


def cert_der(pem):
    return subprocess.run(['openssl', 'x509', '-in', pem, '-outform', 'DER'],
                          capture_output=True, check=True).stdout


def main():
    mode, sig = sys.argv[1], sys.argv[2]
    ci = load(sig)
    si = signer_info(ci)
    if mode == 'graft':
        set_token(si, token_of(load(sys.argv[3])))
    elif mode == 'twice':
        set_token(si, token_of(ci), 2)
    elif mode == 'garbage':
        set_token(si, (0x04, b'no TimeStampToken'))
    elif mode in ('cert', 'noeku'):
        tok = token_of(ci)
        sd, tsi = token_parts(tok)
        new = parse(cert_der(sys.argv[3]))[:2]
        signed = next(k for k in tsi if k[0] == 0xa0)
        blob = der(signed)
        # The TSA's own certificate: the one the ESS attribute names.
        certs = next(k for k in sd if k[0] == 0xa0)[1]
        (at,) = [i for i, c in enumerate(certs)
                 if hashlib.sha256(der(c)).digest() in blob]
        h_old = hashlib.sha256(der(certs[at])).digest()
        certs[at] = new
        if mode == 'noeku':
            h_new = hashlib.sha256(der(new)).digest()
            signed = parse(blob.replace(h_old, h_new))[:2]
            tsi[:] = [signed if k[0] == 0xa0 else k for k in tsi]
            tsi[-1] = (0x04, sign_attrs(signed, sys.argv[4]))
        set_token(si, tok)
    elif mode == 'other':
        attr = (0x30, [(0x06, bytes.fromhex('2a0304')), (0x31, [(0x05, b'')])])
        kids = si[1][:-1] if si[1][-1][0] == 0xa1 else si[1]
        si[1][:] = kids + [(0xa1, [attr])]
    else:
        sys.exit(f'why_sig.py: unknown mode {mode}')
    open(sig, 'wb').write(der(ci))


main()
