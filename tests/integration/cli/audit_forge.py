#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""What an editor of an audit log can do, for the audit cases.

  audit_forge.py append LOG --like EVENT [--like-path P] --path P
                 [--session keep|new]
      Append a copy of the last EVENT record (the last with path P when
      --like-path is given) naming --path, with seq and prev continuing
      the chain, in the same session (keep) or a fresh one (new).

  audit_forge.py reseal LOG OUT --sign CMD
      Remove the last record before the log's final checkpoint and that
      checkpoint, and write a new final checkpoint whose "sig" is what CMD
      prints (base64 DER) when given on stdin the bytes a checkpoint signs:
      format 1, the line before it (its messageDigest is the chain head);
      format 2, the domain and the checkpoint line up to "sig". Everything
      else in it (seq, prev, its session's hash) is correct: only the
      signature decides.

Format-aware on purpose: the same forgery runs against a signetfs that
writes format 1 (to show it was accepted there) and one that writes 2.
"""
import argparse
import hashlib
import json
import secrets
import subprocess
import sys

DOMAIN = b"signetfs-audit-checkpoint-v2\n"


def dumps(o):
    return json.dumps(o, separators=(",", ":"), ensure_ascii=False).encode()


def read(path):
    data = open(path, "rb").read()
    if not data.endswith(b"\n"):
        sys.exit(f"{path}: does not end with a newline")
    return data[:-1].split(b"\n")


def sha(line):
    return hashlib.sha256(line).hexdigest()


def append(a):
    lines = read(a.log)
    recs = [json.loads(l) for l in lines]
    tmpl = [r for r in recs if r.get("event") == a.like and
            (a.like_path is None or r.get("path") == a.like_path)]
    if not tmpl:
        sys.exit(f"no {a.like} record to copy")
    o = dict(tmpl[-1])
    o.pop("prev")
    o["seq"] = recs[-1]["seq"] + 1
    o["path"] = a.path
    if "session" in o and a.session == "new":
        o["session"] = secrets.token_hex(16)
    o["prev"] = sha(lines[-1])
    with open(a.log, "ab") as f:
        f.write(dumps(o) + b"\n")


def session_state(recs, lines, sid):
    """Recompute what a checkpoint of session sid seals (audit.c)."""
    h, n, records = bytes(32), 0, 0
    for r, l in zip(recs, lines):
        if r.get("session") != sid:
            continue
        records = 0 if r["event"] == "checkpoint" else records + 1
        h = hashlib.sha256(h + hashlib.sha256(l).digest()).digest()
        n += 1
    return h.hex(), n, records


def sign(cmd, content):
    out = subprocess.run(cmd, input=content, stdout=subprocess.PIPE,
                         check=True, shell=True).stdout
    return out.decode().strip()


def reseal(a):
    lines = read(a.log)
    last = json.loads(lines[-1])
    if last.get("event") != "checkpoint" or last.get("final") is not True:
        sys.exit("the log does not end with a final checkpoint")
    keep = lines[:-2]
    recs = [json.loads(l) for l in keep]
    head = sha(keep[-1])
    if last["v"] == 1:
        sig = sign(a.sign, keep[-1])
        cp = {"v": 1, "seq": recs[-1]["seq"] + 1, "time": last["time"],
              "event": "checkpoint", "final": True,
              "records": last["records"] - 1, "key": last["key"],
              "head": head, "sig": sig, "prev": head}
        out = dumps(cp)
    else:
        h, n, records = session_state(recs, keep, last["session"])
        cp = {"v": last["v"], "seq": recs[-1]["seq"] + 1,
              "session": last["session"], "time": last["time"],
              "event": "checkpoint", "final": True, "records": records,
              "session_lines": n, "session_hash": h, "key": last["key"],
              "prev": head}
        body = dumps(cp)[:-1]
        out = body + b',"sig":"' + sign(a.sign, DOMAIN + body).encode() + \
            b'"}'
    with open(a.out, "wb") as f:
        f.write(b"\n".join(keep + [out]) + b"\n")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("append")
    s.add_argument("log")
    s.add_argument("--like", required=True)
    s.add_argument("--like-path")
    s.add_argument("--path", required=True)
    s.add_argument("--session", choices=["keep", "new"], default="keep")
    s = sub.add_parser("reseal")
    s.add_argument("log")
    s.add_argument("out")
    s.add_argument("--sign", required=True)
    a = p.parse_args()
    append(a) if a.cmd == "append" else reseal(a)


main()
